//! The cost of `tags.order: newest` (`cargo bench --bench newest`): 100
//! images × 500 git-sha tags, each tag its own image whose config has a
//! `created` time, served by a loopback registry that counts requests. A
//! plan of one reference per image runs through the service's tag source
//! (a real SQLite store behind `reconcile::CachedSource`), cold (empty
//! store) and warm (a new run, the lists listed again). The registry
//! budget is lifted so that what is timed is imagebump, not the cap; with
//! the default cap (100 requests/s per host) a run takes at least its
//! requests / 100 seconds.
//!
//! Figures are printed, never asserted.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imagebump::clock::Clock;
use imagebump::domain::Digest;
use imagebump::plan::{SourceFile, plan};
use imagebump::policy::parse_config;
use imagebump::reconcile::{CachedSource, TagCache};
use imagebump::registry::{Credentials, Options, Registry};
use imagebump::store::Store;
use serde_json::json;
use support::{FakeServer, Reply};

const IMAGES: usize = 100;
const TAGS: usize = 500;
const T0: i64 = 1_900_000_000_000;
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn sha(i: usize, t: usize) -> String {
    format!("{:07x}", (i * TAGS + t) * 7919 % 0xfffffff)
}

/// Per image: its tag list; per (image, tag): the manifest; per digest:
/// the config blob.
struct Images {
    lists: HashMap<String, Vec<String>>,
    manifests: HashMap<String, String>,
    blobs: HashMap<String, String>,
}

fn images() -> Images {
    let (mut lists, mut manifests, mut blobs) = (HashMap::new(), HashMap::new(), HashMap::new());
    for i in 0..IMAGES {
        let mut tags = Vec::new();
        for t in 0..TAGS {
            let tag = sha(i, t);
            // Built an hour apart, in no order of their names.
            let created = chrono::DateTime::from_timestamp(1_700_000_000 + (t as i64) * 3600, 0)
                .unwrap()
                .to_rfc3339();
            let config = json!({"architecture": "amd64", "os": "linux", "created": created,
                "rootfs": {"type": "layers", "diff_ids": []}})
            .to_string();
            let config_digest = Digest::sha256_of(config.as_bytes()).to_string();
            let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config_digest, "size": config.len()},
                "layers": []})
            .to_string();
            manifests.insert(format!("/v2/bench/img{i}/manifests/{tag}"), manifest);
            blobs.insert(format!("/v2/bench/img{i}/blobs/{config_digest}"), config);
            tags.push(tag);
        }
        lists.insert(format!("/v2/bench/img{i}/tags/list"), tags);
    }
    Images {
        lists,
        manifests,
        blobs,
    }
}

fn server(images: Arc<Images>) -> FakeServer {
    FakeServer::start(move |request| {
        let path = request.path();
        if let Some(tags) = images.lists.get(path) {
            return Reply::json(200, json!({"name": "bench", "tags": tags}));
        }
        if let Some(m) = images.manifests.get(path) {
            return Reply::new(200)
                .header("content-type", OCI_MANIFEST)
                .body(m.clone());
        }
        if let Some(b) = images.blobs.get(path) {
            return Reply::new(200).body(b.clone());
        }
        Reply::new(404)
    })
}

#[tokio::main]
async fn main() {
    let images = Arc::new(images());
    let server = server(Arc::clone(&images));
    let host = server.host();
    let mut policies = String::from("policies:\n");
    let mut files = Vec::new();
    for i in 0..IMAGES {
        policies.push_str(&format!(
            "  - name: p{i}\n    image: {host}/bench/img{i}\n    tags:\n      pattern: '^[0-9a-f]{{7}}$'\n      order: newest\n"
        ));
        files.push(SourceFile {
            path: format!("apps/app{i}.yaml"),
            text: format!("image: {host}/bench/img{i}:{}\n", sha(i, 0)),
        });
    }
    let config = parse_config(".imagebump.yaml", &policies).expect("config");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&format!(
        "sqlite://{}",
        dir.path().join("store.db").display()
    ))
    .await
    .expect("store");
    let options = Options {
        max_rps_per_host: 0.0,
        ..Options::default()
    };
    let registry = Registry::new(options, Credentials::default()).expect("registry");
    for (round, at) in [("cold", T0), ("warm", T0 + 3_600_000)] {
        // A cache made now, with no reuse: every run lists the images again.
        let clock = Clock::new(move || at);
        let cache = TagCache::new(store.clone(), Duration::ZERO, clock);
        let client = registry.client();
        let source = CachedSource::new(&client, Some(&cache));
        let before = server.requests().len();
        let started = Instant::now();
        let report = plan(&config, &files, &source, at).await;
        let took = started.elapsed();
        let requests = server.requests();
        let made = &requests[before..];
        let per_tag = made
            .iter()
            .filter(|r| r.path().contains("/manifests/") || r.path().contains("/blobs/"))
            .count();
        assert_eq!(report.bumps.len(), IMAGES, "{:?}", report.errors);
        println!(
            "newest, {IMAGES} images x {TAGS} tags, {round}: {} registry requests ({} per-tag), {:.2} s, {} bumps",
            made.len(),
            per_tag,
            took.as_secs_f64(),
            report.bumps.len()
        );
    }
}
