use super::next_link;

#[test]
fn next_link_keeps_path_and_query_only() {
    let h = r#"<https://ghe.example/api/v3/repos/a/b/pulls?page=2&per_page=100>; rel="next", <https://ghe.example/api/v3/repos/a/b/pulls?page=5&per_page=100>; rel="last""#;
    assert_eq!(
        next_link(h).as_deref(),
        Some("/api/v3/repos/a/b/pulls?page=2&per_page=100")
    );
    assert_eq!(next_link(r#"<http://x/y?page=1>; rel="prev""#), None);
}
