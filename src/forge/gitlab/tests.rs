use gitlab::api::Endpoint;

use super::endpoints::AutoMerge;
use super::parse_base;

#[test]
fn base_urls() {
    let url = |s: &str| parse_base(s).map(|u| u.to_string()).unwrap_or_default();
    assert_eq!(url("https://gitlab.com"), "https://gitlab.com/");
    assert_eq!(url("git.example"), "https://git.example/");
    assert_eq!(url("127.0.0.1:8080"), "http://127.0.0.1:8080/");
    assert_eq!(
        url("http://git.internal/gitlab"),
        "http://git.internal/gitlab"
    );
    assert!(parse_base("ftp://x").is_err());
}

#[test]
fn auto_merge_asks_both_ways_for_the_head() {
    let e = AutoMerge {
        project: 42,
        iid: 7,
        sha: "abc",
    };
    assert_eq!(e.endpoint(), "projects/42/merge_requests/7/merge");
    let (mime, body) = e.body().expect("body").expect("some");
    assert_eq!(mime, "application/x-www-form-urlencoded");
    assert_eq!(
        String::from_utf8(body).expect("utf-8"),
        "auto_merge=true&merge_when_pipeline_succeeds=true&sha=abc&squash=true"
    );
}
