use std::time::{Duration, UNIX_EPOCH};

use super::auth::{Challenge, parse_challenge};
use super::credentials::normalise_registry_key;
use super::http::parse_retry_after;
use super::tags::parse_next_link;
use super::*;

#[test]
fn bearer_challenge_with_all_params() {
    let c = parse_challenge(
        r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:acme/web:pull,push""#,
    );
    assert_eq!(
        c,
        Some(Challenge::Bearer {
            realm: "https://auth.example/token".into(),
            service: Some("registry.example".into()),
            scope: Some("repository:acme/web:pull,push".into()),
        })
    );
}

#[test]
fn bearer_challenge_spacing_case_and_escapes() {
    let c = parse_challenge(r#"bearer  Realm = "http://x/t\"q" , service=plain"#);
    assert_eq!(
        c,
        Some(Challenge::Bearer {
            realm: "http://x/t\"q".into(),
            service: Some("plain".into()),
            scope: None,
        })
    );
}

#[test]
fn bearer_challenge_without_realm_is_unusable() {
    assert_eq!(parse_challenge(r#"Bearer service="x""#), None);
}

#[test]
fn basic_and_unknown_challenges() {
    assert_eq!(
        parse_challenge(r#"Basic realm="Registry Realm""#),
        Some(Challenge::Basic)
    );
    assert_eq!(parse_challenge("Basic"), Some(Challenge::Basic));
    assert_eq!(parse_challenge(r#"Negotiate abc"#), None);
}

#[test]
fn next_link_relative_and_absolute() {
    assert_eq!(
        parse_next_link(r#"</v2/acme/web/tags/list?last=b&n=2>; rel="next""#).as_deref(),
        Some("/v2/acme/web/tags/list?last=b&n=2")
    );
    assert_eq!(
        parse_next_link(r#"<https://r.example/v2/x/tags/list?n=2&last=c>;rel=next"#).as_deref(),
        Some("https://r.example/v2/x/tags/list?n=2&last=c")
    );
}

#[test]
fn next_link_among_other_links() {
    let header = r#"</v2/x/tags/list?last=a>; rel="prev", </v2/x/tags/list?last=z>; rel="next""#;
    assert_eq!(
        parse_next_link(header).as_deref(),
        Some("/v2/x/tags/list?last=z")
    );
    assert_eq!(parse_next_link(r#"</v2/x?last=a>; rel="prev""#), None);
    assert_eq!(parse_next_link(""), None);
}

#[test]
fn retry_after_seconds_and_dates() {
    let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
    assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
        Some(Duration::ZERO)
    );
    // The obsolete RFC 850 form, which recipients must accept.
    assert_eq!(
        parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        parse_retry_after("Sun, 06 Foo 1994 08:49:47 GMT", now),
        None
    );
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-1", now), None);
}

#[test]
fn docker_config_keys_normalise_to_hosts() {
    assert_eq!(
        normalise_registry_key("https://index.docker.io/v1/"),
        "docker.io"
    );
    assert_eq!(normalise_registry_key("registry-1.docker.io"), "docker.io");
    assert_eq!(
        normalise_registry_key("https://Reg.Example:5000/"),
        "reg.example:5000"
    );
    assert_eq!(normalise_registry_key("127.0.0.1:5000"), "127.0.0.1:5000");
}

#[test]
fn loopback_hosts() {
    for h in [
        "127.0.0.1:5000",
        "127.1.2.3",
        "localhost",
        "LOCALHOST:80",
        "[::1]:5000",
        "::1",
    ] {
        assert!(is_loopback(h), "{h}");
    }
    for h in [
        "10.0.0.1:5000",
        "reg.example",
        "[::2]:5000",
        "localhost.example",
    ] {
        assert!(!is_loopback(h), "{h}");
    }
}

#[test]
fn docker_config_auth_and_username_forms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        r#"{
          "auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpwYTpzcw=="},
            "reg.example:5000": {"username": "bob", "password": "pw"},
            "https://other.example/": {"identitytoken": "x"}
          },
          "credsStore": "desktop"
        }"#,
    )
    .unwrap();
    let creds = Credentials::from_docker_config(&path).unwrap();
    assert_eq!(
        creds.get("docker.io"),
        Some(&HostAuth::Basic {
            username: "user".into(),
            password: "pa:ss".into()
        })
    );
    assert_eq!(
        creds.get("reg.example:5000"),
        Some(&HostAuth::Basic {
            username: "bob".into(),
            password: "pw".into()
        })
    );
    assert_eq!(creds.get("other.example"), None);
}

#[test]
fn docker_config_bad_auth_is_an_error_without_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        r#"{"auths": {"r.example": {"auth": "!!notbase64"}}}"#,
    )
    .unwrap();
    let err = format!("{:#}", Credentials::from_docker_config(&path).unwrap_err());
    assert!(err.contains("r.example"), "{err}");
    assert!(!err.contains("notbase64"), "{err}");
}

#[test]
fn secrets_are_hidden_in_debug() {
    let mut creds = Credentials::default();
    creds.insert_basic("r.example", "alice", "s3cret");
    creds.insert_bearer("t.example", "tok3n");
    let shown = format!("{creds:?}");
    assert!(
        !shown.contains("s3cret") && !shown.contains("tok3n"),
        "{shown}"
    );
    assert!(shown.contains("***"), "{shown}");
}

#[test]
fn defaults_are_the_documented_consts() {
    let o = Options::default();
    assert_eq!(o.page_size, DEFAULT_PAGE_SIZE);
    assert_eq!(o.max_retries, DEFAULT_MAX_RETRIES);
    assert_eq!(o.timeout, DEFAULT_TIMEOUT);
    assert_eq!(o.concurrency, DEFAULT_CONCURRENCY);
    assert_eq!(o.retry_base, DEFAULT_RETRY_BASE);
    assert_eq!(o.max_rps_per_host, DEFAULT_MAX_RPS_PER_HOST);
    assert_eq!(o.burst_per_host, DEFAULT_BURST_PER_HOST);
    assert!(o.insecure_hosts.is_empty());
}

#[test]
fn error_messages_name_host_repo_and_action() {
    let e = RegistryError::Unauthorized {
        host: "127.0.0.1:5000".into(),
        repo: "acme/web".into(),
        status: 401,
        who: "credentials",
        hint: "check the credentials for this host",
    };
    assert_eq!(
        e.to_string(),
        "registry 127.0.0.1:5000 refused credentials for acme/web (401): check the credentials for this host"
    );
}

#[test]
fn plain_http_only_for_loopback_and_insecure_hosts() {
    let options = Options {
        insecure_hosts: vec!["reg.internal:5000".into()],
        ..Options::default()
    };
    let client = Registry::new(options, Credentials::default())
        .unwrap()
        .client();
    let url = |name: &str| {
        let repo = ImageRepo::parse(name).unwrap();
        client
            .inner
            .repo_url(&repo, "tags/list")
            .unwrap()
            .to_string()
    };
    assert_eq!(
        url("127.0.0.1:5000/a/b"),
        "http://127.0.0.1:5000/v2/a/b/tags/list"
    );
    assert_eq!(
        url("localhost:5000/a"),
        "http://localhost:5000/v2/a/tags/list"
    );
    assert_eq!(
        url("reg.internal:5000/a"),
        "http://reg.internal:5000/v2/a/tags/list"
    );
    assert_eq!(url("reg.internal/a"), "https://reg.internal/v2/a/tags/list");
    assert_eq!(
        url("nginx"),
        "https://registry-1.docker.io/v2/library/nginx/tags/list"
    );
}

#[tokio::test]
async fn digest_rejects_a_reference_that_is_no_tag() {
    let client = Registry::new(Options::default(), Credentials::default())
        .unwrap()
        .client();
    let repo = ImageRepo::parse("127.0.0.1:1/a").unwrap();
    let err = client.digest(&repo, "../x?y").await.unwrap_err();
    assert!(matches!(err, RegistryError::Protocol { .. }), "{err:?}");
    assert_eq!(client.requests_made(), 0);
}
