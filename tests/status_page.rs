//! The status page (`/`) of the real `imagebump serve`, loaded in headless
//! Chromium (Debian `chromium`, npm `playwright-core` in tests/browser/,
//! both installed by scripts/install-deps): it shows the repository's last
//! reconcile, a held image, a dead letter, and requeues the dead letter
//! through its form. A screenshot goes to target/test-output/.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use imagebump::store::{MAX_ATTEMPTS, Store, Trigger};
use support::cli::Serving;
use support::world::{web_env, write_direct_config};
use support::{free_port, http_get, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_imagebump");

fn epoch_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// A dead letter made the way the workers make one: a reconcile of a
/// repository claimed and failed `MAX_ATTEMPTS` times, each after its
/// backoff. Returns its id.
async fn make_dead_letter(store: &Store, repo: &str, error: &str) -> i64 {
    let day = 86_400_000;
    let mut now = epoch_ms() - 10 * day;
    store
        .enqueue_reconcile(repo, "test", Trigger::Poll, now)
        .await
        .unwrap();
    for _ in 0..MAX_ATTEMPTS {
        let job = store
            .claim("test-worker", Duration::from_secs(60), now)
            .await
            .unwrap()
            .expect("the reconcile is due");
        store.fail(&job, error, now).await.unwrap();
        now += day;
    }
    let dead = store.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    dead[0].id
}

fn browser(url: &str, status_token: &str, admin: &str, shot: &Path) -> serde_json::Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run scripts/install-deps"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "chromium is missing: run scripts/install-deps"
    );
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("node")
        .current_dir(&dir)
        .arg("status-page.mjs")
        .args([url, status_token, admin])
        .arg(shot)
        .arg(profile.path())
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "browser script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script's JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_state_and_requeues_a_dead_letter_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, remote) = web_env(dir.path(), "").await;
    let port = free_port();
    let (status_token, admin) = ("viewer-token-3f9a", "admin-token-c41e");
    std::fs::write(dir.path().join("admin-token"), format!("{admin}\n")).unwrap();
    let config = write_direct_config(
        dir.path(),
        &remote,
        &format!(
            "listen = \"127.0.0.1:{port}\"\nstatus_page = true\nstatus_token = \"{status_token}\"\nadmin_token_file = \"{}\"",
            dir.path().join("admin-token").display()
        ),
        "base",
    );
    // State put in through the store before the service starts.
    let url = format!("sqlite://{}/data/imagebump.db", dir.path().display());
    let store = Store::open(&url).await.unwrap();
    store.set_hold("env", "web", true).await.unwrap();
    let dead = make_dead_letter(&store, "retired", "cannot reach the forge: timed out").await;
    store.close().await;

    let _serving = Serving::start(BIN, &config);
    wait_for("/healthz", Duration::from_secs(20), || {
        http_get(port, "/healthz")
    });
    // Without the status token the page is refused.
    assert_eq!(http_get(port, "/"), None);
    let store = Store::open(&url).await.unwrap();
    wait_for("the first reconcile", Duration::from_secs(30), || {
        let runs = futures_block(store.last_runs());
        runs.iter().any(|r| r.repo == "env").then_some(())
    });

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-output");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("status-page.png");
    let seen = browser(
        &format!("http://127.0.0.1:{port}/"),
        status_token,
        admin,
        &shot,
    );
    eprintln!("status page screenshot: {}", shot.display());
    assert_eq!(seen["status"], 200);
    let before = seen["before"].as_str().unwrap();
    for shown in [
        "Repositories",
        "env",
        "Last reconcile",
        "ok",
        "Held: web",
        "/imagebump hold",
        "cannot reach the forge: timed out",
        "retired",
    ] {
        assert!(
            before.contains(shown),
            "{shown:?} not on the page:\n{before}"
        );
    }
    for secret in [status_token, admin] {
        assert!(!before.contains(secret), "a token is on the page");
    }
    assert!(std::fs::metadata(&shot).unwrap().len() > 0);
    // The form posted, the page came back, and the dead letter is gone.
    assert!(seen["final_url"].as_str().unwrap().ends_with('/'), "{seen}");
    let after = seen["after"].as_str().unwrap();
    assert!(after.contains("dead letters 0"), "{after}");
    assert!(!after.contains("Requeue"), "{after}");
    let left = store.dead_letters().await.unwrap();
    assert!(left.iter().all(|d| d.id != dead), "{left:?}");
    store.close().await;
}

/// Runs a store future to its end from the synchronous `wait_for`.
fn futures_block<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f)).unwrap()
}

both!(imagebump_status_prints_what_the_store_holds);
/// `imagebump status` reads the service config's store: the repository's
/// holds and ignores, the queue and the dead letter, as text and JSON.
async fn imagebump_status_prints_what_the_store_holds(db: support::backends::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_direct_config(
        dir.path(),
        &dir.path().join("env.git"),
        &format!("store = \"{}\"", db.url),
        "base",
    );
    db.store.set_hold("env", "web", true).await.unwrap();
    db.store
        .ignore_version("env", "api", "2.0.0")
        .await
        .unwrap();
    let dead = make_dead_letter(&db.store, "retired", "registry answered 500").await;
    let run = |format: &str| {
        let out = Command::new(BIN)
            .args([
                "status",
                "--config",
                config.to_str().unwrap(),
                "--format",
                format,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run("text");
    for shown in [
        "env: not run yet",
        "held: web",
        "ignored: api: version 2.0.0",
        "retired: last run",
        "failed: registry answered 500",
        &format!("dead letter {dead}: reconcile retired after {MAX_ATTEMPTS} attempts"),
    ] {
        assert!(text.contains(shown), "{shown:?} not in:\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    assert_eq!(json["queue"]["dead"], 1, "{json}");
    assert_eq!(json["dead_letters"][0]["id"], dead);
    assert_eq!(
        json["dead_letters"][0]["last_error"],
        "registry answered 500"
    );
    let env = json["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "env")
        .unwrap();
    assert_eq!(env["holds"][0], "web");
    assert!(env["last_run"].is_null());
}

/// Without `status_page = true` there is no page; with it, the status
/// token is needed, and a requeue needs the form's CSRF token and the
/// admin token.
#[tokio::test]
async fn the_page_is_off_by_default_and_its_tokens_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, remote) = web_env(dir.path(), "").await;
    let port = free_port();
    let off = write_direct_config(
        dir.path(),
        &remote,
        &format!("listen = \"127.0.0.1:{port}\""),
        "base",
    );
    let serving = Serving::start(BIN, &off);
    wait_for("/healthz", Duration::from_secs(20), || {
        http_get(port, "/healthz")
    });
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let r = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    drop(serving);

    let port = free_port();
    let on = write_direct_config(
        dir.path(),
        &remote,
        &format!(
            "listen = \"127.0.0.1:{port}\"\nstatus_page = true\nstatus_token = \"s3e\"\nadmin_token = \"a9d\""
        ),
        "base",
    );
    let _serving = Serving::start(BIN, &on);
    wait_for("/healthz", Duration::from_secs(20), || {
        http_get(port, "/healthz")
    });
    let base = format!("http://127.0.0.1:{port}");
    let get = |token: &'static str| client.get(format!("{base}/")).bearer_auth(token).send();
    assert_eq!(get("wrong").await.unwrap().status(), 401);
    let page = get("s3e").await.unwrap().text().await.unwrap();
    let csrf = page
        .split("name=csrf value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next());
    // No dead letter, so no form: the CSRF token is not on the page.
    assert_eq!(csrf, None, "{page}");
    let post = |body: String| {
        client
            .post(format!("{base}/status/dead-letters/1/requeue"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    assert_eq!(
        post("csrf=forged&admin_token=a9d".into())
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(post("admin_token=a9d".into()).await.unwrap().status(), 403);
}

/// An empty token would let anyone in: `serve` refuses to start.
#[test]
fn an_empty_status_token_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_direct_config(
        dir.path(),
        &dir.path().join("env.git"),
        "status_page = true\nstatus_token = \"\"",
        "base",
    );
    let out = Command::new(BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("DOCKER_CONFIG", "/nonexistent-imagebump-test")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`status_token` is empty"), "{err}");
}
