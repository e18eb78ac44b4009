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
fn segments_are_encoded() {
    assert_eq!(encode_segment("group/sub/env"), "group%2Fsub%2Fenv");
    assert_eq!(encode_segment("a b+c"), "a%20b%2Bc");
}

#[test]
fn next_page_from_x_next_page_or_same_origin_link() {
    let base = Url::parse("https://git.example/gitlab").unwrap();
    let api = Api::new(base, Token::new("t")).unwrap();
    let current =
        Url::parse("https://git.example/gitlab/api/v4/projects/1/issues?state=opened&page=1")
            .unwrap();
    let mut h = HeaderMap::new();
    h.insert("x-next-page", "2".parse().unwrap());
    let next = api.next_page(&current, &h).unwrap();
    assert_eq!(next.query(), Some("state=opened&page=2"));
    h.insert(
        "link",
        "<https://evil.example/api/v4/x?page=9>; rel=\"next\""
            .parse()
            .unwrap(),
    );
    assert_eq!(
        api.next_page(&current, &h).unwrap().host_str(),
        Some("git.example")
    );
    h.insert("x-next-page", "".parse().unwrap());
    assert!(api.next_page(&current, &h).is_none());
}

#[test]
fn link_next_is_found() {
    let mut h = HeaderMap::new();
    let v = "<https://x/api/v4/p?page=1>; rel=\"first\", <https://x/api/v4/p?page=3>; rel=\"next\"";
    h.insert("link", v.parse().unwrap());
    assert_eq!(link_next(&h).as_deref(), Some("https://x/api/v4/p?page=3"));
}
