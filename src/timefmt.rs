//! How times and spans are written for people: in MR bodies, `check`,
//! `explain`, the status page and `imagebump status`. Pure.

/// `ms` since the Unix epoch as RFC 3339 in UTC, to the second
/// (`2026-11-02T10:00:00Z`); out of range, the number itself.
pub fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{ms} ms after the epoch"))
}

/// A span of milliseconds as `40s`, `3m 20s`, `1h 5m` or `2d 3h`.
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_utc_to_the_second() {
        assert_eq!(utc(1_793_613_600_999), "2026-11-02T10:00:00Z");
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert!(utc(i64::MAX).contains("after the epoch"));
    }

    #[test]
    fn spans_name_their_two_largest_units() {
        assert_eq!(span(-5), "0s");
        assert_eq!(span(40_000), "40s");
        assert_eq!(span(200_000), "3m 20s");
        assert_eq!(span(3_900_000), "1h 5m");
        assert_eq!(span(183_600_000), "2d 3h");
    }
}
