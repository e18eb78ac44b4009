use super::*;

#[test]
fn messages_in_every_shape() {
    assert_eq!(
        error_message(r#"{"message":"404 Project Not Found"}"#),
        "404 Project Not Found"
    );
    assert_eq!(error_message(r#"{"message":["a","b"]}"#), "a; b");
    assert_eq!(
        error_message(r#"{"message":{"title":["can't be blank"]}}"#),
        "title can't be blank"
    );
    assert_eq!(
        error_message(r#"{"error":"title is missing"}"#),
        "title is missing"
    );
    assert_eq!(
        error_message("<html>bad gateway</html>"),
        "<html>bad gateway</html>"
    );
}

#[test]
fn the_token_goes_only_under_the_configured_api() {
    let base = Url::parse("https://git.example/gitlab").unwrap();
    let api = Api::new(base, Token::new("t")).unwrap();
    let url = |s: &str| Url::parse(s).unwrap();
    assert!(api.ours(&url("https://git.example/gitlab/api/v4/projects/1")));
    assert!(!api.ours(&url("https://evil.example/gitlab/api/v4/projects/1")));
    assert!(!api.ours(&url("http://git.example/gitlab/api/v4/projects/1")));
    assert!(!api.ours(&url("https://git.example/gitlab/api/v4x/projects")));
    assert!(!api.ours(&url("https://git.example/other/api/v4/projects")));
}

#[test]
fn endpoints_are_joined_under_a_sub_path() {
    use gitlab::api::RestClient;
    let base = Url::parse("https://git.example/gitlab/").unwrap();
    let api = Api::new(base, Token::new("t")).unwrap();
    assert_eq!(
        api.rest_endpoint("projects/42/merge_requests")
            .unwrap()
            .as_str(),
        "https://git.example/gitlab/api/v4/projects/42/merge_requests"
    );
}
