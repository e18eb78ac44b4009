//! The service as a process, driven by webhooks: the real registry's own
//! notifications open an MR on the fake GitHub with polling effectively
//! off; a forged notification for a tag the registry lacks opens nothing;
//! and a service killed after answering 202 opens the MR exactly once after
//! a restart.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::github::FakeGitHub;
use support::registry::TestRegistry;
use support::world::{default_config, git, seed_env_repo};
use support::{http_get, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_imagebump");
const PATH_TOKEN: &str = "dist-path-token-7f3a";
const AUTH: &str = "Bearer registry-notify-secret";

struct Service {
    child: Child,
    port: u16,
    /// Its stderr: JSON log lines.
    log: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Env {
    dir: tempfile::TempDir,
    remote: PathBuf,
    fake: FakeGitHub,
    port: u16,
}

/// An env repo deploying acme/web:1.4.2 from `host`, its fake GitHub, and a
/// service config (webhooks on, polling every hour).
async fn env(host: &str, port: u16) -> Env {
    env_with(host, port, "").await
}

/// [`env`], with the top-level config keys `extra` added.
async fn env_with(host: &str, port: u16, extra: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let remote = seed_env_repo(
        dir.path(),
        &default_config(host),
        &format!("{host}/acme/web:1.4.2"),
    );
    let fake = FakeGitHub::start("acme/env", &remote).await;
    let config = format!(
        "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{data}\"\npoll_interval = \"1h\"\njob_lease = \"2s\"\n{extra}\
         [git]\nname = \"imagebump\"\nemail = \"bot@imagebump.test\"\n\
         [hooks.distribution]\nsecrets = [\"{AUTH}\"]\npath_token = \"{PATH_TOKEN}\"\n\
         [[repos]]\nname = \"env\"\nurl = \"file://{remote}\"\nforge = \"github\"\napi_url = \"{api}\"\nproject = \"acme/env\"\ntoken = \"{token}\"\n",
        data = dir.path().join("data").display(),
        remote = remote.display(),
        api = fake.url(),
        token = fake.token(),
    );
    std::fs::write(dir.path().join("imagebump.toml"), config).unwrap();
    Env {
        dir,
        remote,
        fake,
        port,
    }
}

fn serve(e: &Env) -> Service {
    let log_path = e.dir.path().join(format!("serve-{}.log", now_tag()));
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(BIN)
        .args([
            "serve",
            "--config",
            e.dir.path().join("imagebump.toml").to_str().unwrap(),
        ])
        .env("DOCKER_CONFIG", "/nonexistent-imagebump-test")
        .env("IMAGEBUMP_LOG", "imagebump=debug")
        .env("IMAGEBUMP_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let s = Service {
        child,
        port: e.port,
        log: log_path,
    };
    wait_for(
        "the service to answer /readyz",
        Duration::from_secs(30),
        || http_get(s.port, "/readyz").filter(|b| b == "ready\n"),
    );
    s
}

fn now_tag() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Reconciles finished so far, from the service's own metrics.
fn finished(port: u16) -> usize {
    let text = http_get(port, "/metrics").unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("imagebump_reconcile_duration_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<usize>().ok())
        .sum()
}

/// Reconciles started so far, as the fake saw them (each lists open PRs once).
fn reconciles(fake: &FakeGitHub) -> usize {
    fake.requests()
        .iter()
        .filter(|(m, p)| m == "GET" && p.ends_with("/pulls"))
        .count()
}

/// A distribution notification for `repo:tag` (as the registry sends it).
fn notification(host: &str, repo: &str, tag: &str, digest: &str) -> String {
    let id = format!("evt-{tag}-{}", now_tag());
    support::hooks::distribution_pushes(host, repo, &[(tag, digest, &id)])
}

fn post_notification(port: u16, body: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /hooks/distribution/{PATH_TOKEN} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nContent-Type: application/vnd.docker.distribution.events.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    buf.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn open_prs(fake: &FakeGitHub) -> Vec<support::github::FakePr> {
    fake.prs()
        .into_iter()
        .filter(|p| p.state == "open")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_notification_opens_an_mr_without_polling() {
    let port = support::free_port();
    let registry = TestRegistry::start_with_notifications(
        &format!("http://127.0.0.1:{port}/hooks/distribution/{PATH_TOKEN}"),
        AUTH,
    );
    registry.push_image("acme/web", "1.4.2").await;
    let e = env(&registry.host(), port).await;
    let _service = serve(&e);
    wait_for("the start-up reconcile", Duration::from_secs(30), || {
        (reconciles(&e.fake) >= 1).then_some(())
    });
    assert!(e.fake.prs().is_empty());

    registry.push_image("acme/web", "1.4.3").await;
    let pr = wait_for(
        "an MR from the registry's notification",
        Duration::from_secs(30),
        || open_prs(&e.fake).into_iter().next(),
    );
    assert_eq!(pr.title, "Bump web to 1.4.3");
    assert_eq!(e.fake.prs().len(), 1);
    // The run that opened the MR records push -> MR latency once it ends.
    wait_for("the detect -> MR latency", Duration::from_secs(10), || {
        http_get(port, "/metrics").filter(|m| m.contains("imagebump_detect_to_mr_seconds_count 1"))
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_notification_for_a_missing_tag_opens_nothing() {
    let registry = TestRegistry::start();
    registry.push_image("acme/web", "1.4.2").await;
    let port = support::free_port();
    let e = env(&registry.host(), port).await;
    let service = serve(&e);
    wait_for("the start-up reconcile", Duration::from_secs(30), || {
        (reconciles(&e.fake) >= 1).then_some(())
    });
    let before = reconciles(&e.fake);
    let forged = notification(
        &registry.host(),
        "acme/web",
        "9.9.9",
        &format!("sha256:{}", "e".repeat(64)),
    );
    assert_eq!(post_notification(port, &forged), 202);
    wait_for(
        "the reconcile the event asked for",
        Duration::from_secs(30),
        || (reconciles(&e.fake) > before).then_some(()),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        e.fake.prs().is_empty(),
        "the registry has no 9.9.9: nothing to bump"
    );
    assert!(git(&e.remote, &["branch", "--list", "imagebump/*"]).is_empty());

    // The log says where each line came from: the hook request's span
    // (source, delivery), and the job's and the reconcile's for the run.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&service.log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let stored = lines
        .iter()
        .find(|l| l["fields"]["message"] == "webhook stored")
        .unwrap_or_else(|| panic!("no `webhook stored` line: {lines:?}"));
    assert_eq!(stored["span"]["name"], "hook");
    assert_eq!(stored["span"]["source"], "distribution");
    assert!(
        stored["span"]["delivery"]
            .as_str()
            .is_some_and(|d| d.starts_with("evt-9.9.9-")),
        "{stored}"
    );
    let runs: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "reconciled")
        .collect();
    assert_eq!(runs.len(), 2, "start-up and the event's: {runs:?}");
    let run = runs[1];
    assert_eq!(run["spans"][0]["name"], "job");
    assert_eq!(run["spans"][0]["repo"], "env");
    assert!(
        run["spans"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("image pushed")),
        "{run}"
    );
    assert_eq!(run["spans"][1]["name"], "reconcile");
    // The registry's lines of that run carry its spans too.
    let listed = lines
        .iter()
        .rfind(|l| l["fields"]["message"] == "tag page")
        .unwrap_or_else(|| panic!("no `tag page` line: {lines:?}"));
    assert_eq!(listed["spans"][0]["name"], "job", "{listed}");
    assert_eq!(listed["spans"][1]["repo"], "env", "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_202_the_mr_appears_exactly_once_after_restart() {
    let registry = TestRegistry::start();
    registry.push_image("acme/web", "1.4.2").await;
    let port = support::free_port();
    let e = env(&registry.host(), port).await;
    let mut service = serve(&e);
    wait_for("the start-up reconcile", Duration::from_secs(30), || {
        (reconciles(&e.fake) >= 1).then_some(())
    });
    let before = reconciles(&e.fake);

    let digest = registry.push_image("acme/web", "1.4.3").await;
    // The event's reconcile will hang in its first forge call: kill it there.
    e.fake
        .delay_next("GET", "/repos/acme/env/pulls", 1, Duration::from_secs(20));
    let body = notification(&registry.host(), "acme/web", "1.4.3", digest.as_str());
    assert_eq!(post_notification(port, &body), 202);
    wait_for("the job to start", Duration::from_secs(30), || {
        (reconciles(&e.fake) > before).then_some(())
    });
    service.child.kill().unwrap(); // SIGKILL
    service.child.wait().unwrap();
    assert!(e.fake.prs().is_empty(), "killed before the MR");

    let _service = serve(&e);
    let pr = wait_for("the MR after the restart", Duration::from_secs(60), || {
        open_prs(&e.fake).into_iter().next()
    });
    assert_eq!(pr.title, "Bump web to 1.4.3");
    // The leased job is claimed again after its lease (2 s); the start-up
    // poll, asked while the repository was leased, joined that run: wait
    // until the restarted service has finished it.
    wait_for("the reclaimed job", Duration::from_secs(30), || {
        (finished(port) >= 1).then_some(())
    });
    assert_eq!(e.fake.prs().len(), 1, "exactly once");
    assert_eq!(
        post_notification(port, &body),
        200,
        "the stored delivery is a duplicate after the restart"
    );
}

/// `min_run_gap` from the service config: the start-up poll runs at once,
/// and a push reported right after that run is held back the gap (an hour
/// here) after its end, as the service's own store records it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_run_gap_from_the_config_holds_back_the_next_event_triggered_run() {
    let registry = TestRegistry::start();
    registry.push_image("acme/web", "1.4.2").await;
    let port = support::free_port();
    let e = env_with(&registry.host(), port, "min_run_gap = \"1h\"\n").await;
    let _service = serve(&e);
    let db = format!(
        "sqlite://{}?mode=ro",
        e.dir.path().join("data/imagebump.db").display()
    );
    let store = sqlx::SqlitePool::connect(&db).await.unwrap();
    let mut finished_at: Option<i64> = None;
    for _ in 0..600 {
        finished_at = sqlx::query_scalar("SELECT finished_at_ms FROM repo_runs WHERE repo = 'env'")
            .fetch_optional(&store)
            .await
            .unwrap();
        if finished_at.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let finished_at = finished_at.expect("the start-up poll ran");

    let digest = registry.push_image("acme/web", "1.4.3").await;
    let body = notification(&registry.host(), "acme/web", "1.4.3", digest.as_str());
    assert_eq!(post_notification(port, &body), 202);
    let (reason, due_at): (String, i64) = sqlx::query_as(
        "SELECT reason, due_at_ms FROM jobs WHERE kind = 'reconcile' AND repo = 'env'",
    )
    .fetch_one(&store)
    .await
    .unwrap();
    assert_eq!(reason, "image pushed");
    assert_eq!(due_at, finished_at + 3_600_000);
    assert!(e.fake.prs().is_empty(), "not run yet");
    store.close().await;
}
