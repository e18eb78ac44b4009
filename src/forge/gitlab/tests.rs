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
