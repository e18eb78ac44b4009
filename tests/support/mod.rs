//! Shared harness of the integration tests. Use it with `mod support;` at
//! the top of a test file:
//!
//! - [`TestRegistry`]: a real OCI registry (Debian's `docker-registry`) on
//!   127.0.0.1, optionally with htpasswd basic auth, and helpers to push
//!   tiny images and multi-arch indexes.
//! - [`delay_proxy::DelayProxy`]: a loopback proxy in front of it that
//!   answers late, counts requests per path and can hold answers back.
//! - [`FakeServer`]: a canned-answer HTTP/1.1 server, for status codes a
//!   real registry cannot be made to send (429, 503, …).
//! - [`proxy::RegistryProxy`]: a loopback proxy in front of a real
//!   registry, adding what it cannot send (`ratelimit-*` headers, 429s).
//! - [`hook_server::HookServer`]: the webhook endpoint over HTTP with a
//!   real SQLite store; [`hooks`]: fixtures and signatures to send it.
//! - [`postgres::with_fresh_database`]: a fresh Postgres database per test,
//!   dropped afterwards.
//! - [`ssh`]: signing keys from the real `ssh-keygen`, and
//!   `git verify-commit` against an allowed-signers file.
#![allow(dead_code)]

pub mod backends;
pub mod cli;
pub mod delay_proxy;
pub mod fake_http;
pub mod github;
pub mod gitlab;
pub mod gitobj;
pub mod hook_server;
pub mod hooks;
pub mod pg_cluster;
pub mod postgres;
pub mod proxy;
pub mod registry;
pub mod ssh;

#[allow(unused_imports)]
pub use fake_http::{FakeServer, Reply, Request};
#[allow(unused_imports)]
pub use registry::TestRegistry;

/// Runs each story `async fn name(kind: Kind)` against GitHub and GitLab,
/// as `github::name` and `gitlab::name` (`Kind` in scope where it is used).
#[macro_export]
macro_rules! stories {
    ($($name:ident),* $(,)?) => {
        mod github {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Kind::GitHub).await })*
        }
        mod gitlab {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Kind::GitLab).await })*
        }
    };
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Writes a Docker `config.json` with `auths` = `auths_json` into `dir` and
/// returns its path.
pub fn write_docker_config(
    dir: &std::path::Path,
    auths_json: serde_json::Value,
) -> std::path::PathBuf {
    let path = dir.join("config.json");
    let text = serde_json::json!({ "auths": auths_json }).to_string();
    std::fs::write(&path, text).expect("write config.json");
    path
}
pub mod world;

/// GET `path` on 127.0.0.1:`port` over a raw socket: the body of a 200
/// answer, else `None` (no HTTP client needed for probes).
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.starts_with("HTTP/1.1 200")
        .then(|| buf.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

/// Polls `f` until it returns `Some`, failing after `limit` with `what`.
pub fn wait_for<T>(what: &str, limit: std::time::Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
