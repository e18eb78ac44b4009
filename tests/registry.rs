//! The registry client against a real registry (Debian's `docker-registry`)
//! over real HTTP, plus a canned-answer server for 429/5xx/401 handling.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use imagebump::domain::{Digest, ImageRepo};
use imagebump::registry::{Client, Credentials, Options, Registry, RegistryError};
use serde_json::json;
use support::{FakeServer, Reply, TestRegistry, free_port, write_docker_config};

fn repo(host: &str, path: &str) -> ImageRepo {
    ImageRepo::parse(&format!("{host}/{path}")).expect("repo name")
}

fn fast_options() -> Options {
    Options {
        retry_base: Duration::from_millis(1),
        timeout: Duration::from_secs(5),
        max_rps_per_host: 0.0,
        ..Options::default()
    }
}

fn client(options: Options) -> Client {
    Registry::new(options, Credentials::default())
        .expect("registry")
        .client()
}

/// Debian's registry (distribution 2.8) ignores `n` on tag lists and sends
/// every tag, unsorted, without `Link`: the client must still get the full
/// set when the registry answers more than a page. `Link` pagination itself
/// is covered by `follows_link_pagination_relative_and_absolute` below.
#[tokio::test]
async fn lists_all_tags_of_a_repo_with_more_tags_than_a_page() {
    let registry = TestRegistry::start();
    let tags = [
        "1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0", "3.0.0", "latest",
    ];
    registry.push_tags("acme/web", &tags).await;
    let client = client(Options {
        page_size: 3,
        ..fast_options()
    });

    let listed = client
        .list_tags(&repo(&registry.host(), "acme/web"))
        .await
        .expect("tags");

    let mut listed = listed.to_vec();
    listed.sort();
    assert_eq!(listed.to_vec(), tags);
    // A full page without `Link` is followed by `?last=`; a page that brings
    // nothing new ends the listing.
    assert!(
        (1..=3).contains(&client.requests_made()),
        "{}",
        client.requests_made()
    );
}

#[tokio::test]
async fn tags_are_listed_once_per_client() {
    let registry = TestRegistry::start();
    registry.push_tags("acme/web", &["1.0", "1.1"]).await;
    registry.push_tags("acme/api", &["2.0"]).await;
    let web = repo(&registry.host(), "acme/web");
    let api = repo(&registry.host(), "acme/api");
    let client = client(fast_options());

    let mut first = client.list_tags(&web).await.expect("tags").to_vec();
    first.sort();
    let after_first = client.requests_made();
    let mut second = client.list_tags(&web).await.expect("tags").to_vec();
    second.sort();
    assert_eq!(first, second);
    assert_eq!(
        client.requests_made(),
        after_first,
        "second listing came from the cache"
    );

    let many = client
        .list_tags_many(&[api.clone(), web.clone(), api.clone(), web.clone()])
        .await;
    assert_eq!(many.len(), 2);
    assert_eq!(many[&api].as_ref().expect("api tags").to_vec(), ["2.0"]);
    let mut web_tags = many[&web].clone().expect("web tags").to_vec();
    web_tags.sort();
    assert_eq!(web_tags.to_vec(), ["1.0", "1.1"]);
    assert_eq!(
        client.requests_made(),
        after_first + 1,
        "only acme/api was fetched"
    );
}

#[tokio::test]
async fn concurrent_listings_of_one_repo_share_one_request() {
    let registry = TestRegistry::start();
    registry.push_tags("acme/web", &["1.0"]).await;
    let web = repo(&registry.host(), "acme/web");
    let client = client(fast_options());
    let (a, b) = tokio::join!(client.list_tags(&web), client.list_tags(&web));
    assert_eq!(a.expect("a"), b.expect("b"));
    assert_eq!(client.requests_made(), 1);
}

#[tokio::test]
async fn digest_of_a_tag_is_the_pushed_manifest_digest() {
    let registry = TestRegistry::start();
    let one = registry.push_image("acme/web", "1.0").await;
    let two = registry.push_image("acme/web", "2.0").await;
    assert_ne!(one, two, "distinct tags get distinct images");
    let client = client(fast_options());
    let web = repo(&registry.host(), "acme/web");

    assert_eq!(client.digest(&web, "1.0").await.expect("digest"), one);
    assert_eq!(client.digest(&web, "2.0").await.expect("digest"), two);
}

/// A tag's build time is its image config's `created`; for an index, its
/// linux/amd64 image's. The digest is the tag's own manifest digest, the
/// key the store caches the time under.
#[tokio::test]
async fn build_time_is_the_image_configs_created() {
    let registry = TestRegistry::start();
    let single = registry
        .push_image_created("acme/sha", "aaaaaaa", Some("2026-11-02T10:00:00Z"))
        .await;
    let index = registry
        .push_index_created(
            "acme/sha",
            "bbbbbbb",
            [
                Some("2026-11-03T10:00:00.5+01:00"),
                Some("2020-01-01T00:00:00Z"),
            ],
        )
        .await;
    registry.push_image("acme/sha", "ccccccc").await;
    let client = client(fast_options());
    let image = repo(&registry.host(), "acme/sha");

    let (digest, created) = client.build_time(&image, "aaaaaaa").await.expect("single");
    assert_eq!(digest, single);
    assert_eq!(created, Some(1_793_613_600_000));
    let (digest, created) = client.build_time(&image, "bbbbbbb").await.expect("index");
    assert_eq!(digest, index);
    assert_eq!(created, Some(1_793_696_400_500), "the amd64 image's time");
    let (_, created) = client
        .build_time(&image, "ccccccc")
        .await
        .expect("no created");
    assert_eq!(created, None);
    let missing = client.build_time(&image, "ddddddd").await;
    assert!(
        matches!(missing, Err(RegistryError::NotFound { .. })),
        "{missing:?}"
    );
}

#[tokio::test]
async fn digest_of_a_multi_arch_tag_is_the_index_digest() {
    let registry = TestRegistry::start();
    let index = registry.push_index("acme/multi", "1.0").await;
    let client = client(fast_options());

    let digest = client
        .digest(&repo(&registry.host(), "acme/multi"), "1.0")
        .await
        .expect("digest");

    assert_eq!(digest, index);
}

async fn lists_and_resolves_with_docker_config(auth_entry: serde_json::Value) {
    let registry = TestRegistry::start_with_htpasswd("alice", "s3cret-pw");
    let pushed = registry.push_image("acme/private", "1.0").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_docker_config(dir.path(), json!({ registry.host(): auth_entry }));
    let credentials = Credentials::from_docker_config(&config).expect("docker config");
    let client = Registry::new(fast_options(), credentials)
        .expect("registry")
        .client();
    let private = repo(&registry.host(), "acme/private");

    assert_eq!(
        client.list_tags(&private).await.expect("tags").to_vec(),
        ["1.0"]
    );
    assert_eq!(
        client.digest(&private, "1.0").await.expect("digest"),
        pushed
    );
}

#[tokio::test]
async fn basic_auth_with_docker_config_auth_field() {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pw");
    lists_and_resolves_with_docker_config(json!({ "auth": auth })).await;
}

#[tokio::test]
async fn basic_auth_with_docker_config_username_and_password() {
    lists_and_resolves_with_docker_config(json!({ "username": "alice", "password": "s3cret-pw" }))
        .await;
}

#[tokio::test]
async fn wrong_password_is_unauthorized_and_not_retried() {
    let registry = TestRegistry::start_with_htpasswd("alice", "s3cret-pw");
    registry.push_image("acme/web", "1.0").await;
    let mut credentials = Credentials::default();
    credentials.insert_basic(&registry.host(), "alice", "wrong");
    let client = Registry::new(fast_options(), credentials)
        .expect("registry")
        .client();

    let err = client
        .list_tags(&repo(&registry.host(), "acme/web"))
        .await
        .expect_err("refused");

    assert!(
        matches!(err, RegistryError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert_eq!(
        message,
        format!(
            "registry {} refused credentials for acme/web (401): check the credentials for this host",
            registry.host()
        )
    );
    assert!(!message.contains("wrong"));
    assert!(
        client.requests_made() <= 2,
        "401 is not retried: {}",
        client.requests_made()
    );
}

#[tokio::test]
async fn missing_credentials_are_unauthorized_anonymous_access() {
    let registry = TestRegistry::start_with_htpasswd("alice", "s3cret-pw");
    let client = client(fast_options());

    let err = client
        .list_tags(&repo(&registry.host(), "acme/web"))
        .await
        .expect_err("refused");

    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("refused anonymous access for acme/web"),
        "{err}"
    );
    assert_eq!(client.requests_made(), 1);
}

#[tokio::test]
async fn unknown_repository_and_tag_are_not_found() {
    let registry = TestRegistry::start();
    registry.push_image("acme/web", "1.0").await;
    let client = client(fast_options());

    let err = client
        .list_tags(&repo(&registry.host(), "acme/nope"))
        .await
        .expect_err("missing");
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "repository acme/nope not found on registry {}: check the image name",
            registry.host()
        )
    );

    let err = client
        .digest(&repo(&registry.host(), "acme/web"), "9.9")
        .await
        .expect_err("missing");
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("tag 9.9 of repository acme/web not found"),
        "{err}"
    );
    assert_eq!(client.requests_made(), 2, "404 is not retried");
}

#[tokio::test]
async fn registry_that_is_down_is_a_transport_error_after_retries() {
    let host = format!("127.0.0.1:{}", free_port());
    let client = client(Options {
        max_retries: 2,
        ..fast_options()
    });

    let err = client
        .list_tags(&repo(&host, "acme/web"))
        .await
        .expect_err("down");

    match &err {
        RegistryError::Transport { attempts, .. } => assert_eq!(*attempts, 3),
        other => panic!("expected Transport, got {other:?}"),
    }
    assert!(
        err.to_string().starts_with(&format!(
            "cannot reach registry {host} for acme/web after 3 attempts"
        )),
        "{err}"
    );
    assert_eq!(client.requests_made(), 3);
}

fn tags_reply(tags: &[&str]) -> Reply {
    Reply::json(200, json!({ "name": "acme/web", "tags": tags }))
}

/// A server answering `first` to the first request and tags afterwards.
fn first_then_tags(first: Reply) -> FakeServer {
    let hits = Arc::new(AtomicUsize::new(0));
    FakeServer::start(move |_| {
        if hits.fetch_add(1, Ordering::SeqCst) == 0 {
            first.clone()
        } else {
            tags_reply(&["1.0"])
        }
    })
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after_then_succeeds() {
    let server = first_then_tags(Reply::new(429).header("retry-after", "1"));
    let client = client(fast_options());
    let started = Instant::now();

    let tags = client
        .list_tags(&repo(&server.host(), "acme/web"))
        .await
        .expect("tags");

    assert_eq!(tags.to_vec(), ["1.0"]);
    assert_eq!(server.hits("/v2/acme/web/tags/list"), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn too_many_requests_forever_is_rate_limited() {
    let server = FakeServer::start(|_| Reply::new(429).header("retry-after", "0"));
    let client = client(Options {
        max_retries: 3,
        ..fast_options()
    });

    let err = client
        .list_tags(&repo(&server.host(), "acme/web"))
        .await
        .expect_err("429");

    assert!(
        matches!(err, RegistryError::RateLimited { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn server_error_is_retried_then_succeeds() {
    let server = first_then_tags(Reply::new(503));
    let client = client(fast_options());

    let tags = client
        .list_tags(&repo(&server.host(), "acme/web"))
        .await
        .expect("tags");

    assert_eq!(tags.to_vec(), ["1.0"]);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn server_error_forever_fails_after_max_retries() {
    let server = FakeServer::start(|_| Reply::new(502));
    let client = client(Options {
        max_retries: 2,
        ..fast_options()
    });

    let err = client
        .list_tags(&repo(&server.host(), "acme/web"))
        .await
        .expect_err("502");

    assert!(
        matches!(
            err,
            RegistryError::Server {
                status: 502,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn unauthorized_is_not_retried() {
    let server =
        FakeServer::start(|_| Reply::new(401).header("www-authenticate", r#"Basic realm="test""#));
    let mut credentials = Credentials::default();
    credentials.insert_basic(&server.host(), "alice", "wrong");
    let client = Registry::new(fast_options(), credentials)
        .expect("registry")
        .client();

    let err = client
        .list_tags(&repo(&server.host(), "acme/web"))
        .await
        .expect_err("401");

    assert!(
        matches!(err, RegistryError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "one anonymous try, one with credentials");
    assert_eq!(requests[0].header("authorization"), None);
    assert!(
        requests[1]
            .header("authorization")
            .is_some_and(|a| a.starts_with("Basic "))
    );
}

/// A registry that challenges for a bearer token (`t1`, from its `/token`
/// realm, for `acme/web`) and answers authorized requests with `route`.
fn bearer_server(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> FakeServer {
    FakeServer::start(move |request| {
        if request.path() == "/token" {
            return Reply::json(200, json!({ "token": "t1", "expires_in": 300 }));
        }
        if request.header("authorization") != Some("Bearer t1") {
            let challenge = format!(
                r#"Bearer realm="http://{}/token",service="test",scope="repository:acme/web:pull""#,
                request.server
            );
            return Reply::new(401).header("www-authenticate", &challenge);
        }
        route(request.path())
    })
}

#[tokio::test]
async fn bearer_challenge_token_is_fetched_once_and_reused() {
    let digest = Digest::sha256_of(b"manifest");
    let manifest_digest = digest.to_string();
    let server = bearer_server(move |path| match path {
        "/v2/acme/web/tags/list" => tags_reply(&["1.0", "1.1"]),
        "/v2/acme/web/manifests/1.1" => {
            Reply::new(200).header("docker-content-digest", &manifest_digest)
        }
        _ => Reply::new(404),
    });
    let client = client(fast_options());
    let web = repo(&server.host(), "acme/web");

    assert_eq!(
        client.list_tags(&web).await.expect("tags").to_vec(),
        ["1.0", "1.1"]
    );
    assert_eq!(client.digest(&web, "1.1").await.expect("digest"), digest);

    assert_eq!(server.hits("/token"), 1, "the token is reused");
    let token_request = server
        .requests()
        .into_iter()
        .find(|r| r.path() == "/token")
        .expect("token request");
    assert!(
        token_request.target.contains("service=test"),
        "{}",
        token_request.target
    );
    assert!(
        token_request
            .target
            .contains("scope=repository%3Aacme%2Fweb%3Apull"),
        "{}",
        token_request.target
    );
    assert_eq!(client.requests_made(), 4, "401, token, tags, HEAD manifest");
}

#[tokio::test]
async fn a_new_run_lists_again_but_keeps_the_token() {
    let server = bearer_server(|path| match path {
        "/v2/acme/web/tags/list" => tags_reply(&["1.0", "1.1"]),
        _ => Reply::new(404),
    });
    let service = Registry::new(fast_options(), Credentials::default()).expect("registry");
    let web = repo(&server.host(), "acme/web");
    let first = service.client();
    first.list_tags(&web).await.expect("tags");
    first.list_tags(&web).await.expect("tags");
    assert_eq!(
        server.hits("/v2/acme/web/tags/list"),
        2,
        "401, then the list"
    );

    let second = service.client();
    assert_eq!(second.requests_made(), 0, "each run counts its own");
    second.list_tags(&web).await.expect("tags");
    assert_eq!(
        server.hits("/v2/acme/web/tags/list"),
        3,
        "a new run lists again, with the token it already has"
    );
    assert_eq!(server.hits("/token"), 1, "the token carries over");
    assert_eq!(second.requests_made(), 1);
}

#[tokio::test]
async fn digest_without_header_hashes_the_manifest() {
    let body = r#"{"schemaVersion":2}"#;
    let server = FakeServer::start(move |_| Reply::new(200).body(body));
    let client = client(fast_options());

    let digest = client
        .digest(&repo(&server.host(), "acme/web"), "1.0")
        .await
        .expect("digest");

    assert_eq!(digest, Digest::sha256_of(body.as_bytes()));
    let methods: Vec<String> = server.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["HEAD", "GET"]);
}

#[tokio::test]
async fn link_less_full_pages_continue_with_last() {
    let server = FakeServer::start(|request| {
        if request.target.contains("last=b") {
            tags_reply(&["c"])
        } else {
            tags_reply(&["a", "b"])
        }
    });
    let client = client(Options {
        page_size: 2,
        ..fast_options()
    });

    let tags = client
        .list_tags(&repo(&server.host(), "acme/web"))
        .await
        .expect("tags");

    assert_eq!(tags.to_vec(), ["a", "b", "c"]);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn follows_link_pagination_relative_and_absolute() {
    let server = FakeServer::start(|request| {
        let target = request.target.as_str();
        if target.contains("last=b") {
            // Absolute link to the last page.
            let next = format!(
                "<http://{}/v2/acme/web/tags/list?n=2&last=d>; rel=\"next\"",
                request.server
            );
            tags_reply(&["c", "d"]).header("link", &next)
        } else if target.contains("last=d") {
            tags_reply(&["e"])
        } else {
            tags_reply(&["a", "b"])
                .header("link", r#"</v2/acme/web/tags/list?n=2&last=b>; rel="next""#)
        }
    });
    let client = client(Options {
        page_size: 2,
        ..fast_options()
    });

    let tags = client
        .list_tags(&repo(&server.host(), "acme/web"))
        .await
        .expect("tags");

    assert_eq!(tags.to_vec(), ["a", "b", "c", "d", "e"]);
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets[0], "/v2/acme/web/tags/list?n=2");
    assert_eq!(targets.len(), 3, "{targets:?}");
    assert_eq!(client.requests_made(), 3);
}
