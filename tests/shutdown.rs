//! `imagebump serve` stops gracefully on SIGTERM: webhooks and `/readyz`
//! answer 503 with `Connection: close`, running reconciles get
//! `shutdown_grace` to finish, the leases of what did not finish are given
//! back in the store, and the process exits 0. A second replica on the
//! same Postgres then claims the job at once, without waiting out
//! `job_lease` (10 minutes here).

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use imagebump::store::{JobKind, Store};
use support::postgres::with_fresh_database;
use support::world::{seed_env_repo, write_direct_config};
use support::{FakeServer, Reply, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_imagebump");

/// A raw HTTP exchange: the status line and the headers, lowercased.
fn request(port: u16, method: &str, path: &str) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, _) = buf.split_once("\r\n\r\n")?;
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    Some((status.to_string(), headers.to_ascii_lowercase()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_gives_back_the_lease_of_an_unfinished_reconcile() {
    with_fresh_database(|db| async move {
        // A registry that answers nothing for 20 s: the reconcile hangs.
        let registry = FakeServer::start(|_| {
            std::thread::sleep(Duration::from_secs(20));
            Reply::new(503)
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let host = registry.host();
        let remote = seed_env_repo(
            dir.path(),
            &format!("policies:\n  - name: web\n    image: {host}/acme/web\n"),
            &format!("{host}/acme/web:1.0.0"),
        );
        let port = support::free_port();
        let config = write_direct_config(
            dir.path(),
            &remote,
            &format!(
                "listen = \"127.0.0.1:{port}\"\nstore = \"{}\"\npoll_interval = \"1h\"\nshutdown_grace = \"1s\"\n",
                db.url
            ),
            "base",
        );
        let mut child = Command::new(BIN)
            .args(["serve", "--config", config.to_str().expect("utf-8")])
            .env("DOCKER_CONFIG", "/nonexistent-imagebump-test")
            .env("IMAGEBUMP_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve");
        wait_for("/healthz", Duration::from_secs(20), || {
            support::http_get(port, "/healthz")
        });
        wait_for("the reconcile to reach the registry", Duration::from_secs(20), || {
            (!registry.requests().is_empty()).then_some(())
        });
        let (ready, _) = request(port, "GET", "/readyz").expect("readyz");
        assert!(ready.contains(" 200 "), "{ready}");

        let signalled = Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(kill.success());
        // While it drains: webhooks and readiness are refused, and the
        // connection is closed.
        let (status, headers) = wait_for("a 503 while draining", Duration::from_secs(5), || {
            request(port, "POST", "/hooks/generic").filter(|(s, _)| s.contains(" 503 "))
        });
        assert!(status.contains(" 503 "), "{status}");
        assert!(headers.contains("connection: close"), "{headers}");
        let status = child.wait().expect("wait");
        let took = signalled.elapsed();
        let mut log = String::new();
        if let Some(mut err) = child.stderr.take() {
            use std::io::Read;
            let _ = err.read_to_string(&mut log);
        }
        assert!(status.success(), "exit 0 after draining: {status:?}\n{log}");
        assert!(log.contains("gave back the leases of unfinished jobs"), "{log}");
        println!("SIGTERM -> exit with a reconcile hung on the registry: {took:?} (shutdown_grace 1s)");

        // Another replica claims it now, not after the 10-minute lease.
        let store = Store::open(&db.url).await.expect("store");
        let job = store
            .claim("replica-b", Duration::from_secs(600), imagebump::clock::now_ms())
            .await
            .expect("claim")
            .expect("the released job is due at once");
        assert!(
            matches!(&job.kind, JobKind::Reconcile { repo, .. } if repo == "env"),
            "{:?}",
            job.kind
        );
        assert_eq!(job.attempts, 1, "the cut-short attempt does not count");
        store.close().await;
    })
    .await;
}
