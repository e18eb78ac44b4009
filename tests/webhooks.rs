//! The webhook endpoint over real HTTP (actix-web) with a real SQLite
//! store: status codes, durability before 2xx, dedupe, limits, and a flood
//! of forged requests that must not touch the store.

mod support;

use std::collections::{BTreeMap, HashMap};

use std::sync::Arc;

use imagebump::clock::now_ms;
use imagebump::store::JobKind;
use imagebump::work::router::{Router, Target};
use support::hook_server::HookServer;
use support::hooks::{hmac256_hex, settings};

const SECRET: &str = "s3cret-github";

/// GitHub, and Docker Hub behind a path token.
async fn start(body_limit: usize) -> HookServer {
    HookServer::start(
        BTreeMap::from([
            ("github".to_string(), settings(&[SECRET], None)),
            (
                "dockerhub".to_string(),
                settings(&[], Some("hub-token-123")),
            ),
        ]),
        body_limit,
    )
    .await
}

fn sign(body: &[u8]) -> String {
    format!("sha256={}", hmac256_hex(SECRET, body))
}

fn push_body() -> Vec<u8> {
    push_body_of("acme/env")
}

fn push_body_of(repo: &str) -> Vec<u8> {
    support::hooks::github_push_body(repo)
}

fn github_headers(body: &[u8], delivery: &str) -> Vec<(&'static str, String)> {
    support::hooks::github_push_headers(SECRET, body, delivery)
}

#[tokio::test]
async fn signed_push_is_stored_then_a_replay_is_a_duplicate() {
    let s = start(1 << 20).await;
    let body = push_body();
    let (status, answer) = s
        .post("/hooks/github", &body, &github_headers(&body, "d-1"))
        .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (202, Some("stored")),
        "{answer}"
    );
    assert_eq!(s.depth().await, 1, "committed before the answer");
    let (status, answer) = s
        .post("/hooks/github", &body, &github_headers(&body, "d-1"))
        .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(s.depth().await, 1, "no second job");
}

#[tokio::test]
async fn routed_pushes_of_a_configured_repo_become_one_pending_reconcile() {
    let router = Router::new(vec![Target {
        name: "env".into(),
        project: Some("acme/env".into()),
        branch: "main".into(),
    }]);
    let s = HookServer::start_routed(
        BTreeMap::from([("github".to_string(), settings(&[SECRET], None))]),
        1 << 20,
        Arc::new(router),
    )
    .await;
    let body = push_body();
    for id in ["r-1", "r-2", "r-3"] {
        let (status, answer) = s
            .post("/hooks/github", &body, &github_headers(&body, id))
            .await;
        assert_eq!(
            (status, answer["jobs"].as_u64()),
            (202, Some(1)),
            "{answer}"
        );
    }
    assert_eq!(s.depth().await, 1, "three pushes, one pending reconcile");

    // A push of a repository nobody configured (an organization-wide
    // hook): recorded, so its replay is a duplicate, but no job.
    let other = push_body_of("acme/unrelated");
    let (status, answer) = s
        .post("/hooks/github", &other, &github_headers(&other, "u-1"))
        .await;
    assert_eq!(
        (status, answer["jobs"].as_u64()),
        (202, Some(0)),
        "{answer}"
    );
    let (status, answer) = s
        .post("/hooks/github", &other, &github_headers(&other, "u-1"))
        .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(s.depth().await, 1);

    let job = s
        .store
        .claim("w", std::time::Duration::from_secs(60), now_ms())
        .await
        .unwrap()
        .expect("the reconcile");
    assert_eq!(
        job.kind,
        JobKind::Reconcile {
            repo: "env".into(),
            reason: "repository pushed".into()
        }
    );
}

#[tokio::test]
async fn bad_requests_get_their_status_and_store_nothing() {
    let s = start(4096).await;
    let body = push_body();
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, String)>, u16);
    let cases: Vec<Case> = vec![
        (
            "wrong signature",
            body.clone(),
            {
                let mut h = github_headers(&body, "x1");
                h[3].1 = sign(b"other");
                h
            },
            401,
        ),
        (
            "missing signature",
            body.clone(),
            github_headers(&body, "x2")[..3].to_vec(),
            401,
        ),
        ("tampered body", tampered, github_headers(&body, "x3"), 401),
        (
            "wrong content type",
            body.clone(),
            {
                let mut h = github_headers(&body, "x4");
                h[0].1 = "text/plain".into();
                h
            },
            415,
        ),
        (
            "malformed JSON",
            b"{not json".to_vec(),
            github_headers(b"{not json", "x5"),
            400,
        ),
        (
            "too large",
            vec![b' '; 5000],
            github_headers(&vec![b' '; 5000], "x6"),
            413,
        ),
    ];
    for (what, body, headers, expected) in cases {
        let (status, answer) = s.post("/hooks/github", &body, &headers).await;
        assert_eq!(status, expected, "{what}: {answer}");
        assert!(
            answer["error"].is_string(),
            "{what}: a short reason: {answer}"
        );
    }
    let (status, _) = s
        .post(
            "/hooks/nope",
            b"{}",
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(status, 404, "unknown source");
    let (status, _) = s
        .post(
            "/hooks/dockerhub",
            b"{}",
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(
        status, 401,
        "a source that cannot sign is reachable only at its secret path"
    );
    assert_eq!(s.depth().await, 0);
}

#[tokio::test]
async fn ping_is_answered_200_and_stores_nothing() {
    let s = start(1 << 20).await;
    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#.to_vec();
    let mut headers = github_headers(&body, "p-1");
    headers[1].1 = "ping".into();
    let (status, answer) = s.post("/hooks/github", &body, &headers).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")));
    assert_eq!(s.depth().await, 0);
}

/// The repro of the pre-authentication panic: a `webhook-timestamp` near
/// 2^64 on `/hooks/generic` got no answer at all. Now it is a 401, and the
/// server goes on serving.
#[tokio::test]
async fn a_timestamp_beyond_any_clock_is_a_401_not_a_panic() {
    let s = HookServer::start(
        BTreeMap::from([(
            "generic".to_string(),
            settings(&[support::hooks::WHSEC], None),
        )]),
        1 << 20,
    )
    .await;
    for ts in ["18446744073709551615", "9223372036854775808"] {
        let (status, answer) = s
            .post(
                "/hooks/generic",
                b"{}",
                &[
                    ("content-type", "application/json".to_string()),
                    ("webhook-id", "x".to_string()),
                    ("webhook-timestamp", ts.to_string()),
                    ("webhook-signature", "v1,AAAA".to_string()),
                ],
            )
            .await;
        assert_eq!(status, 401, "{ts}: {answer}");
        assert_eq!(
            answer["error"].as_str(),
            Some("timestamp in the future"),
            "{answer}"
        );
    }
    assert_eq!(s.depth().await, 0);
    let health = reqwest::get(format!("{}/healthz", s.base)).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn flood_of_forged_requests_writes_nothing_and_stays_ready() {
    let s = start(1 << 20).await;
    let body = push_body();
    let client = reqwest::Client::new();
    let url = format!("{}/hooks/github", s.base);
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let per_task = 10_000 / 20;
    for t in 0..20 {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        tasks.spawn(async move {
            let mut seen = HashMap::new();
            for i in 0..per_task {
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-github-event", "push")
                    .header("x-github-delivery", format!("flood-{t}-{i}"))
                    .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
                    .body(body.clone())
                    .send()
                    .await;
                *seen
                    .entry(r.map(|r| r.status().as_u16()).unwrap_or(0))
                    .or_insert(0) += 1;
            }
            seen
        });
    }
    while let Some(r) = tasks.join_next().await {
        for (k, v) in r.unwrap() {
            *statuses.entry(k).or_insert(0) += v;
        }
    }
    assert_eq!(statuses, HashMap::from([(401, 10_000)]));
    assert_eq!(s.depth().await, 0, "no store writes");
    // The forged delivery ids were not recorded: a real one with such an id is stored.
    let (status, _) = s
        .post("/hooks/github", &body, &github_headers(&body, "flood-0-0"))
        .await;
    assert_eq!(status, 202);
    let ready = client
        .get(format!("{}/readyz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let metrics = client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("imagebump_webhook_signature_failures_total{source=\"github\"}"),
        "{metrics}"
    );
}

/// actix-http 3.20 (the newest) unwraps `HeaderName::from_bytes` in its
/// HTTP/1 decoder (`h1/decoder.rs`), which refuses names over 65,535 bytes:
/// such a request panics in actix before any of our code runs, and the
/// request head is bounded only by actix's fixed 128 KiB buffer. What we
/// can show: only that connection drops; the server goes on answering
/// others, webhooks included, and stores nothing for it.
#[tokio::test]
async fn a_header_name_over_64_kib_drops_only_its_connection() {
    use std::io::{Read, Write};
    let s = start(1 << 20).await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let name = "x".repeat(70_000);
    let answer = tokio::task::spawn_blocking(move || {
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let _ = write!(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n{name}: v\r\n\r\n");
        let mut buf = Vec::new();
        let _ = c.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
    .await
    .unwrap();
    // The panic closes the connection with no answer at all.
    assert_eq!(answer, "", "no answer on that connection");
    for _ in 0..3 {
        let health = reqwest::get(format!("{}/healthz", s.base)).await.unwrap();
        assert_eq!(health.status(), 200);
    }
    assert_eq!(s.depth().await, 0);
    let body = push_body();
    let (status, _) = s
        .post(
            "/hooks/github",
            &body,
            &github_headers(&body, "after-panic"),
        )
        .await;
    assert_eq!(status, 202, "webhooks are still stored");
    assert_eq!(s.depth().await, 1);
}
