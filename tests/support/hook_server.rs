//! The webhook endpoint as production runs it: `imagebump::server` (actix)
//! on 127.0.0.1 with the given sources, committing to a real SQLite store
//! in a temp dir; and what a test reads back: the answer to a POST, the
//! queue depth and the delivery ids the store remembers.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use imagebump::config::HookSettings;
use imagebump::server::{self, AppState, hooks};
use imagebump::store::Store;
use imagebump::work::router::{Router, Target};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

/// The env repositories of the fixtures under `tests/data/hooks`: `env`
/// is `acme/env` (GitHub, Gitea, Bitbucket) and takes every image push, as
/// a repository not reconciled yet does; `platform` is the GitLab project
/// `acme/platform/env` and, as if reconciled, uses no image. Both watch
/// `main`. So each event of a fixture asks for one reconcile.
pub fn env_repos() -> Router {
    let target = |name: &str, project: &str| Target {
        name: name.into(),
        project: Some(project.into()),
        branch: "main".into(),
    };
    let router = Router::new(vec![
        target("env", "acme/env"),
        target("platform", "acme/platform/env"),
    ]);
    router.learned("platform", Default::default());
    router
}

/// POSTs `body` to `url` with these headers: the status and the JSON
/// answer (`Null` if it is not JSON or cut off), or the error of a
/// request that got no status (the server is down, or died first).
pub async fn post<K: AsRef<str>, V: AsRef<str>>(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    headers: &[(K, V)],
) -> reqwest::Result<(u16, serde_json::Value)> {
    let mut req = client.post(url).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k.as_ref(), v.as_ref());
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    // An answer whose body is cut off still said its status.
    let body = resp.bytes().await.unwrap_or_default();
    Ok((
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    ))
}

/// A running webhook server; stopped when dropped.
pub struct HookServer {
    pub base: String,
    pub store: Store,
    db: PathBuf,
    _dir: tempfile::TempDir,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for HookServer {
    fn drop(&mut self) {
        // The stop command is sent at once; nothing needs to await it.
        drop(self.handle.stop(false));
    }
}

impl HookServer {
    /// Serves the sources of `settings` (name → settings) with this body
    /// limit, once `/healthz` answers, routing to [`env_repos`].
    pub async fn start(settings: BTreeMap<String, HookSettings>, body_limit: usize) -> HookServer {
        HookServer::start_routed(settings, body_limit, Arc::new(env_repos())).await
    }

    /// As [`start`](Self::start), routing with `router`: deliveries are
    /// stored as the jobs they ask for, as `serve` does.
    pub async fn start_routed(
        settings: BTreeMap<String, HookSettings>,
        body_limit: usize,
        router: Arc<Router>,
    ) -> HookServer {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("imagebump.db");
        let store = Store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        HookServer::start_with(store, db, dir, settings, body_limit, router).await
    }

    /// Serves the sources of `settings`, routing to [`env_repos`], on the
    /// store at `url` (its faults are the test's to cause).
    pub async fn start_on(
        url: &str,
        settings: BTreeMap<String, HookSettings>,
        body_limit: usize,
    ) -> HookServer {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(url).await.unwrap();
        let db = dir.path().join("not-sqlite");
        HookServer::start_with(store, db, dir, settings, body_limit, Arc::new(env_repos())).await
    }

    async fn start_with(
        store: Store,
        db: PathBuf,
        dir: tempfile::TempDir,
        settings: BTreeMap<String, HookSettings>,
        body_limit: usize,
        router: Arc<Router>,
    ) -> HookServer {
        let sources: HashMap<String, Arc<dyn hooks::Source>> =
            hooks::build_all(&settings).await.unwrap();
        let port = super::free_port();
        let state = Arc::new(AppState {
            sources,
            store: store.clone(),
            inbox: server::Inbox::new(
                store.clone(),
                router,
                Arc::default(),
                Arc::default(),
                Default::default(),
            ),
            clock: Default::default(),
            metrics: imagebump::metrics::install(),
            draining: Default::default(),
            status: None,
            body_limit,
        });
        let http = server::start(&format!("127.0.0.1:{port}"), state).unwrap();
        let handle = http.handle();
        tokio::spawn(http);
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        HookServer {
            base,
            store,
            db,
            _dir: dir,
            handle,
        }
    }

    /// POSTs `body` to `path` with these headers; the status and the JSON
    /// answer (`Null` if it is not JSON).
    pub async fn post<K: AsRef<str>, V: AsRef<str>>(
        &self,
        path: &str,
        body: &[u8],
        headers: &[(K, V)],
    ) -> (u16, serde_json::Value) {
        post(
            &reqwest::Client::new(),
            &format!("{}{path}", self.base),
            body,
            headers,
        )
        .await
        .unwrap()
    }

    /// POSTs `body` over a raw socket with `Transfer-Encoding: chunked`
    /// (no `Content-Length`, so the server learns the size only while
    /// reading) in chunks of `chunk` bytes; the status and the JSON answer.
    pub async fn post_chunked(
        &self,
        path: &str,
        body: &[u8],
        headers: &[(String, String)],
        chunk: usize,
    ) -> (u16, serde_json::Value) {
        use std::io::{Read, Write};
        let addr = self.base.trim_start_matches("http://").to_string();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
        );
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        for part in body.chunks(chunk) {
            bytes.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            bytes.extend_from_slice(part);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        let answer = tokio::task::spawn_blocking(move || {
            let mut socket = std::net::TcpStream::connect(&addr).unwrap();
            // The server may answer (and stop reading) before the last chunk.
            let _ = socket.write_all(&bytes);
            let mut answer = Vec::new();
            let _ = socket.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer).into_owned()
        })
        .await
        .unwrap();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
        let json = answer
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    /// Jobs pending or leased.
    pub async fn depth(&self) -> u64 {
        self.store
            .queue_stats(imagebump::clock::now_ms())
            .await
            .unwrap()
            .depth
    }

    /// The `(source, delivery id)` pairs the store remembers for replay
    /// detection, read through a read-only connection of its own.
    pub async fn deliveries(&self) -> Vec<(String, String)> {
        let options = SqliteConnectOptions::new()
            .filename(&self.db)
            .read_only(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        let rows =
            sqlx::query_as("SELECT source, delivery FROM deliveries ORDER BY source, delivery")
                .fetch_all(&pool)
                .await
                .unwrap();
        pool.close().await;
        rows
    }
}
