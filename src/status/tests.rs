use super::*;

#[test]
fn spans_read_as_words() {
    assert_eq!(span(-5), "0s");
    assert_eq!(span(59_999), "59s");
    assert_eq!(span(200_000), "3m 20s");
    assert_eq!(span(7_260_000), "2h 1m");
    assert_eq!(span(90_000_000), "1d 1h");
    assert_eq!(span(i64::MAX), "106751991167d 7h");
}

#[test]
fn times_out_of_range_stay_numbers() {
    assert_eq!(when(0), "1970-01-01T00:00:00Z");
    assert!(when(i64::MAX).ends_with("ms after the epoch"));
}

#[test]
fn html_is_escaped() {
    assert_eq!(
        page::escape("<a href=\"x\">&'"),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
    );
}
