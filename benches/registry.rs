//! An image with 10,000 tags (`cargo bench --bench registry`), served over
//! OCI `Link` pagination by a loopback server (Debian's registry ignores
//! `n`, so pages need a server that honours it):
//!
//! 1. listing every tag (10 pages of the default 1000) with a fresh client
//!    each round, then choosing the target among them;
//! 2. what news of one pushed tag costs instead: one manifest HEAD.
//!
//! Figures are printed, never asserted.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::time::{Duration, Instant};

use imagebump::domain::ImageRepo;
use imagebump::policy::{Decision, choose, parse_config};
use imagebump::registry::{Credentials, Options, Registry};
use serde_json::json;
use support::{FakeServer, Reply};

const TAGS: usize = 10_000;
const ROUNDS: usize = 7;

fn tag(i: usize) -> String {
    format!("1.{}.{}", i / 100, i % 100)
}

/// `?n=…&last=…` of a tag-list request.
fn query(target: &str, key: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.replace("%2E", "."))
    })
}

/// Tag pages in lexical order with `Link: <…>; rel="next"`, and a digest
/// for every manifest HEAD.
fn server(tags: Vec<String>) -> FakeServer {
    FakeServer::start(move |request| {
        let path = request.path();
        if path.contains("/manifests/") {
            return Reply::new(200).header(
                "docker-content-digest",
                &format!("sha256:{}", "ab".repeat(32)),
            );
        }
        let n: usize = query(&request.target, "n")
            .and_then(|n| n.parse().ok())
            .unwrap_or(100);
        let start = match query(&request.target, "last") {
            Some(last) => tags.partition_point(|t| *t <= last),
            None => 0,
        };
        let page = &tags[start..(start + n).min(tags.len())];
        let mut reply = Reply::json(200, json!({ "name": "bench/big", "tags": page }));
        if start + n < tags.len() {
            let last = page.last().expect("a full page");
            reply = reply.header("link", &format!("<{path}?n={n}&last={last}>; rel=\"next\""));
        }
        reply
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn summary(times: &mut [Duration]) -> String {
    times.sort();
    format!(
        "min {}, median {}, max {}",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    )
}

#[tokio::main]
async fn main() {
    let mut tags: Vec<String> = (0..TAGS).map(tag).collect();
    tags.sort();
    let server = server(tags);
    let image = ImageRepo::parse(&format!("{}/bench/big", server.host())).expect("image");
    let yaml = format!("policies:\n  - name: big\n    image: {image}\n    semver: '^1.0'\n");
    let config = parse_config(".imagebump.yaml", &yaml).expect("config");
    let policy = &config.policies[0];
    // The default budget, as `check` and `serve` use it.
    let registry = Registry::new(Options::default(), Credentials::default()).expect("registry");

    let (mut list, mut pick, mut head) = (Vec::new(), Vec::new(), Vec::new());
    let mut requests = 0;
    for _ in 0..ROUNDS {
        let client = registry.client();
        let started = Instant::now();
        let listed = client.list_tags(&image).await.expect("tags");
        list.push(started.elapsed());
        requests = client.requests_made();
        assert_eq!(listed.len(), TAGS);

        let started = Instant::now();
        let decision = choose(policy, "1.0.0", &listed, false);
        pick.push(started.elapsed());
        assert!(
            matches!(&decision, Decision::Bump { to, .. } if to == "1.99.99"),
            "{decision:?}"
        );

        let started = Instant::now();
        client.digest(&image, "1.99.99").await.expect("HEAD");
        head.push(started.elapsed());
    }
    println!(
        "list {TAGS} tags over Link pagination ({requests} requests): {}",
        summary(&mut list)
    );
    println!("choose among them: {}", summary(&mut pick));
    println!(
        "confirm one pushed tag instead (1 manifest HEAD): {}",
        summary(&mut head)
    );
}
