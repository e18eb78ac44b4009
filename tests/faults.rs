//! Faults injected around the real parts, and the system's convergence
//! once each fault ends: the right bump, made once.
//!
//! - The registry (a real `docker-registry`) behind a loopback proxy that
//!   answers 429 with `Retry-After`, bursts of 503, stalls past the
//!   client's timeout, or cuts a tag-list page mid-body.
//! - The fake forges answering 5xx and secondary rate limits.
//! - A real bare git remote whose `pre-receive` hook declines the bot's
//!   pushes, again and again, while people keep landing commits on `main`.
//! - A Postgres server of the test's own, stopped and started again while
//!   webhooks arrive; an SQLite store on a full (tmpfs) disk.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use imagebump::clock::now_ms;
use imagebump::store::Trigger;
use support::fake_http::{Reply, Request};
use support::hook_server::HookServer;
use support::hooks::{hmac256_hex, settings};
use support::pg_cluster::PgCluster;
use support::world::{Kind, World, git};

fn is_tag_list(r: &Request) -> bool {
    r.path().ends_with("/tags/list")
}

/// The proxy's requests that listed tags.
fn tag_lists(w: &World) -> usize {
    let proxy = w.proxy.as_ref().expect("a fronted world");
    proxy.requests().iter().filter(|r| is_tag_list(r)).count()
}

/// The titles of the bot's MRs, open or not.
fn titles(w: &World) -> Vec<(String, String)> {
    w.mrs().into_iter().map(|m| (m.title, m.state)).collect()
}

/// Problems of a run, joined.
fn errors(out: &imagebump::reconcile::Outcome) -> String {
    let mut lines: Vec<String> = out
        .report
        .errors
        .iter()
        .map(|e| e.message.clone())
        .collect();
    lines.extend(out.problems.iter().cloned());
    lines.join("\n")
}

// Distribution spec (distribution/distribution docs/spec/api.md, "Errors"):
// 429 TOOMANYREQUESTS; RFC 9110 §10.2.3: `Retry-After` in seconds.
fn too_many_requests() -> Reply {
    Reply::json(
        429,
        serde_json::json!({"errors": [{"code": "TOOMANYREQUESTS", "message": "too many requests"}]}),
    )
    .header("retry-after", "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_429s_with_retry_after_are_waited_out_and_the_bump_is_made_once() {
    let left = Arc::new(AtomicUsize::new(2));
    let front = {
        let left = left.clone();
        Box::new(move |r: &Request, forward: &dyn Fn() -> Reply| {
            if is_tag_list(r)
                && left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                return too_many_requests();
            }
            forward()
        })
    };
    let w = World::fronted(Kind::GitHub, "max_retries = 4", front).await;
    w.push_tag("1.5.0").await;
    let out = w.reconcile().await;
    assert_eq!(left.load(Ordering::SeqCst), 0, "both 429s were answered");
    assert_eq!(tag_lists(&w), 3, "two 429s, then the list");
    assert!(out.report.errors.is_empty(), "{}", errors(&out));
    assert_eq!(
        titles(&w),
        [("Bump web to 1.5.0".into(), "open".into())],
        "{:?}",
        out.actions
    );
    let writes = w.write_calls();
    let again = w.reconcile().await;
    assert!(again.actions.is_empty(), "{:?}", again.actions);
    assert_eq!(w.write_calls(), writes, "nothing written again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_burst_longer_than_the_retries_is_reported_and_leaves_the_open_mr_alone() {
    let down = Arc::new(AtomicBool::new(false));
    let front = {
        let down = down.clone();
        // A load balancer in front of a failing registry: an HTML 503.
        Box::new(move |_: &Request, forward: &dyn Fn() -> Reply| {
            if down.load(Ordering::SeqCst) {
                Reply::new(503)
                    .header("content-type", "text/html")
                    .body("<html><body><h1>503 Service Unavailable</h1></body></html>")
            } else {
                forward()
            }
        })
    };
    let w = World::fronted(Kind::GitHub, "max_retries = 1", front).await;
    w.push_tag("1.5.0").await;
    w.reconcile().await;
    let mr = w.only_open_mr();
    assert_eq!(mr.title, "Bump web to 1.5.0");

    w.push_tag("1.5.1").await;
    down.store(true, Ordering::SeqCst);
    let writes = w.write_calls();
    let out = w.reconcile().await;
    let said = errors(&out);
    assert!(
        said.contains("503"),
        "the run names the registry's answer: {said}"
    );
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    assert_eq!(w.write_calls(), writes, "an outage changes no MR");
    assert_eq!(
        w.only_open_mr().title,
        "Bump web to 1.5.0",
        "kept open as it was"
    );

    down.store(false, Ordering::SeqCst);
    w.reconcile().await;
    let after = w.only_open_mr();
    assert_eq!(
        (after.number, after.title.as_str()),
        (mr.number, "Bump web to 1.5.1"),
        "the same MR, brought up to date"
    );
    assert_eq!(w.mrs().len(), 1, "{:?}", titles(&w));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_could_not_list_the_registry_is_retried_with_backoff_not_left_to_the_next_poll()
{
    let down = Arc::new(AtomicBool::new(true));
    let front = {
        let down = down.clone();
        Box::new(move |_: &Request, forward: &dyn Fn() -> Reply| {
            if down.load(Ordering::SeqCst) {
                Reply::new(503)
            } else {
                forward()
            }
        })
    };
    let w = World::fronted(Kind::GitHub, "max_retries = 0", front).await;
    w.push_tag("1.5.0").await;
    enqueue(&w).await;
    let now = now_ms();
    let job = w
        .store
        .claim("test", Duration::from_secs(60), now)
        .await
        .unwrap()
        .expect("the reconcile");
    w.workers.process(job).await;
    assert!(w.mrs().is_empty());
    let stats = w.store.queue_stats(now).await.unwrap();
    assert_eq!((stats.depth, stats.dead), (1, 0), "kept for a retry");
    assert!(
        w.store
            .claim("test", Duration::from_secs(60), now_ms())
            .await
            .unwrap()
            .is_none(),
        "not at once: after a backoff"
    );

    down.store(false, Ordering::SeqCst);
    let backoff = i64::try_from(imagebump::store::retry_backoff(1).as_millis()).unwrap();
    let retry = w
        .store
        .claim("test", Duration::from_secs(60), now + backoff + 1_000)
        .await
        .unwrap()
        .expect("the retry, due after one backoff (long before a poll)");
    w.workers.process(retry).await;
    assert_eq!(w.only_open_mr().title, "Bump web to 1.5.0");
    let stats = w.store.queue_stats(now_ms()).await.unwrap();
    assert_eq!((stats.depth, stats.dead), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_stalling_past_the_timeout_is_reported_then_caught_up() {
    let stall = Arc::new(AtomicBool::new(true));
    let front = {
        let stall = stall.clone();
        Box::new(move |r: &Request, forward: &dyn Fn() -> Reply| {
            if is_tag_list(r) && stall.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_secs(2));
            }
            forward()
        })
    };
    let w = World::fronted(Kind::GitLab, "timeout = \"300ms\"\nmax_retries = 1", front).await;
    w.push_tag("1.5.0").await;
    let out = w.reconcile().await;
    let said = errors(&out);
    assert!(said.contains("timed out"), "{said}");
    assert!(said.contains("after 2 attempts"), "{said}");
    assert!(w.mrs().is_empty(), "nothing proposed from no list");

    stall.store(false, Ordering::SeqCst);
    w.reconcile().await;
    assert_eq!(w.only_open_mr().title, "Bump web to 1.5.0");
}

/// Cuts tag-list answers in half (their full length announced) while
/// `cuts` lasts (`usize::MAX`: for good).
fn cutting(cuts: Arc<AtomicUsize>) -> support::world::Front {
    Box::new(move |r: &Request, forward: &dyn Fn() -> Reply| {
        let reply = forward();
        if is_tag_list(r)
            && cuts
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    if n == usize::MAX {
                        Some(n)
                    } else {
                        n.checked_sub(1)
                    }
                })
                .is_ok()
        {
            let half = reply.body.len() / 2;
            return reply.cut_after(half);
        }
        reply
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_list_cut_mid_body_is_asked_again_and_never_used_half_read() {
    let cuts = Arc::new(AtomicUsize::new(2));
    let w = World::fronted(Kind::GitHub, "max_retries = 2", cutting(cuts.clone())).await;
    for tag in ["1.5.0", "1.5.1", "1.5.2", "1.6.0"] {
        w.push_tag(tag).await;
    }
    let out = w.reconcile().await;
    assert_eq!(cuts.load(Ordering::SeqCst), 0, "two answers were cut");
    assert_eq!(tag_lists(&w), 3, "two cut, asked again");
    assert!(out.report.errors.is_empty(), "{}", errors(&out));
    assert_eq!(w.only_open_mr().title, "Bump web to 1.6.0");

    // Cut for good: the half-read list is never used (a list that lost
    // its newest tags could step the open MR back); the run says why and
    // the MR stays.
    w.push_tag("1.7.0").await;
    cuts.store(usize::MAX, Ordering::SeqCst);
    let writes = w.write_calls();
    let out = w.reconcile().await;
    let said = errors(&out);
    assert!(said.contains("was cut short"), "{said}");
    assert!(said.contains("after 3 attempts"), "{said}");
    assert_eq!(w.write_calls(), writes, "{:?}", out.actions);
    assert_eq!(w.only_open_mr().title, "Bump web to 1.6.0");

    cuts.store(0, Ordering::SeqCst);
    w.reconcile().await;
    assert_eq!(w.only_open_mr().title, "Bump web to 1.7.0");
    assert_eq!(w.mrs().len(), 1, "{:?}", titles(&w));
}

/// Runs the world's queue until it is empty, each claim an hour of
/// backoff later than the one before; the runs taken.
async fn run_queue(w: &World) -> usize {
    for round in 1..=8 {
        let later = now_ms() + i64::from(round) * 3_600_000;
        let Some(job) = w
            .store
            .claim("test", Duration::from_secs(60), later)
            .await
            .unwrap()
        else {
            return round as usize - 1;
        };
        w.workers.process(job).await;
    }
    panic!("the queue did not empty");
}

async fn enqueue(w: &World) {
    w.store
        .enqueue_reconcile(w.repo.mirror.name(), "test", Trigger::Poll, now_ms())
        .await
        .unwrap();
}

/// A remote that declines the bot's first `declines` pushes, landing a
/// person's commit on `main` each time first: the bot's branch is stale
/// the moment it arrives (as when people push to `main` while the bot
/// works). git's `pre-receive` hook (githooks(5)); ref updates inside
/// the quarantine need its environment unset (git-receive-pack(1),
/// "QUARANTINE ENVIRONMENT").
fn decline_pushes(remote: &std::path::Path, declines: usize) {
    let hook = remote.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            r#"#!/bin/sh
n=$(cat declined 2>/dev/null || echo 0)
bot=no
while read old new ref; do
  case "$ref" in refs/heads/imagebump/*) bot=yes ;; esac
done
[ "$bot" = yes ] && [ "$n" -lt {declines} ] || exit 0
echo $((n + 1)) > declined
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
main=$(git rev-parse refs/heads/main)
c=$(GIT_AUTHOR_NAME=Ops GIT_AUTHOR_EMAIL=ops@example.com GIT_COMMITTER_NAME=Ops \
    GIT_COMMITTER_EMAIL=ops@example.com git commit-tree "$main^{{tree}}" -p "$main" -m "ops: hotfix $n")
git update-ref refs/heads/main "$c" "$main"
echo "main moved under this push (non-fast-forward); fetch first" >&2
exit 1
"#
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

async fn declined_pushes_converge(kind: Kind) {
    let w = World::new(kind).await;
    decline_pushes(&w.remote, 3);
    w.push_tag("1.5.0").await;
    enqueue(&w).await;
    let runs = run_queue(&w).await;
    assert_eq!(
        std::fs::read_to_string(w.remote.join("declined"))
            .unwrap()
            .trim(),
        "3"
    );
    assert_eq!(
        runs, 4,
        "three declined runs, retried, then the one that lands"
    );
    let mr = w.only_open_mr();
    assert_eq!(mr.title, "Bump web to 1.5.0");
    assert_eq!(w.mrs().len(), 1, "{:?}", titles(&w));
    let main = w.head_of("main").unwrap();
    let parent = git(&w.remote, &["rev-parse", &format!("{}^", mr.head_sha)]);
    assert_eq!(parent, main, "the MR is built on the newest main");
    let branches = git(&w.remote, &["branch", "--list", "imagebump/*"]);
    assert_eq!(branches.lines().count(), 1, "{branches}");
    let stats = w.store.queue_stats(now_ms()).await.unwrap();
    assert_eq!((stats.depth, stats.dead), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_declining_pushes_again_and_again_ends_in_one_mr_on_the_newest_main_github() {
    declined_pushes_converge(Kind::GitHub).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_declining_pushes_again_and_again_ends_in_one_mr_on_the_newest_main_gitlab() {
    declined_pushes_converge(Kind::GitLab).await;
}

/// MR-opening requests the fake received.
fn creates(w: &World) -> usize {
    let path = match w.kind {
        Kind::GitHub => "/repos/acme/env/pulls".to_string(),
        Kind::GitLab => "merge_requests".to_string(),
    };
    w.requests()
        .iter()
        .filter(|(m, p)| {
            m == "POST"
                && match w.kind {
                    Kind::GitHub => *p == path,
                    Kind::GitLab => p.ends_with(&path),
                }
        })
        .count()
}

async fn forge_faults_converge(kind: Kind) {
    let w = World::new(kind).await;
    // Five failed opens: three in the first run (its retry budget), two
    // in the next, then the MR opens.
    w.fail_next_create(502, 3);
    match &w.fake {
        // GitHub's secondary rate limit: 403 with `retry-after` and this
        // message (docs.github.com, "Rate limits for the REST API",
        // "Exceeding the rate limit").
        support::world::Fake::GitHub(f) => f.fail_next_with(
            "POST",
            "/repos/acme/env/pulls",
            403,
            2,
            vec![("retry-after".into(), "1".into())],
            serde_json::json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
            }),
        ),
        // GitLab: 429 with `Retry-After` (docs.gitlab.com, "Rate limits").
        support::world::Fake::GitLab(f) => {
            f.fail_next("POST", "/projects/:id/merge_requests", 429, 2)
        }
    }
    w.push_tag("1.5.0").await;
    enqueue(&w).await;
    let runs = run_queue(&w).await;
    assert_eq!(runs, 2, "a failed run, then one that opens the MR");
    assert_eq!(creates(&w), 6, "five refused, one opened");
    assert_eq!(w.only_open_mr().title, "Bump web to 1.5.0");
    assert_eq!(w.mrs().len(), 1, "{:?}", titles(&w));
    let branches = git(&w.remote, &["branch", "--list", "imagebump/*"]);
    assert_eq!(branches.lines().count(), 1, "{branches}");
    let stats = w.store.queue_stats(now_ms()).await.unwrap();
    assert_eq!((stats.depth, stats.dead), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forge_5xx_and_a_secondary_rate_limit_end_in_one_mr_github() {
    forge_faults_converge(Kind::GitHub).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forge_5xx_and_rate_limits_end_in_one_mr_gitlab() {
    forge_faults_converge(Kind::GitLab).await;
}

const SECRET: &str = "faults-github-secret";

fn github_source() -> BTreeMap<String, imagebump::config::HookSettings> {
    BTreeMap::from([("github".to_string(), settings(&[SECRET], None))])
}

/// A signed GitHub push of `acme/env` with this delivery id: the status.
async fn deliver(s: &HookServer, delivery: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({
        "ref": "refs/heads/main", "before": "0".repeat(40), "after": "a".repeat(40),
        "repository": {"full_name": "acme/env", "name": "env", "owner": {"login": "acme"}},
        "sender": {"login": "ops"}, "commits": [], "head_commit": null
    })
    .to_string()
    .into_bytes();
    let headers = [
        ("content-type", "application/json".to_string()),
        ("x-github-event", "push".to_string()),
        ("x-github-delivery", delivery.to_string()),
        (
            "x-hub-signature-256",
            format!("sha256={}", hmac256_hex(SECRET, &body)),
        ),
    ];
    s.post("/hooks/github", &body, &headers).await
}

/// The delivery keys the store at `url` remembers, read with a
/// connection of the test's own.
async fn remembered(url: &str) -> Vec<String> {
    const SQL: &str = "SELECT delivery FROM deliveries WHERE source = 'github'";
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let ids = sqlx::query_scalar(SQL).fetch_all(&pool).await.unwrap();
        pool.close().await;
        ids
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let ids = sqlx::query_scalar(SQL).fetch_all(&pool).await.unwrap();
        pool.close().await;
        ids
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_no_acknowledged_delivery() {
    let pg = PgCluster::start();
    let server = Arc::new(HookServer::start_on(&pg.url(), github_source(), 1 << 20).await);
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let refused = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for t in 0..2 {
        let (server, acked, refused, stop) =
            (server.clone(), acked.clone(), refused.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("pg-{t}-{i}");
                i += 1;
                match deliver(&server, &id).await {
                    (202, _) => acked.lock().unwrap().push(id),
                    (503, answer) => {
                        assert_eq!(answer["error"], "cannot store the event now; retry");
                        refused.lock().unwrap().push(id);
                    }
                    other => panic!("{id}: {other:?}"),
                }
            }
        }));
    }
    let count = |v: &std::sync::Mutex<Vec<String>>| v.lock().unwrap().len();
    while count(&acked) < 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = count(&acked);
    tokio::task::block_in_place(|| pg.stop());
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::task::block_in_place(|| pg.restart());
    // Load goes on until the service has stored more after the restart.
    while count(&acked) < before + 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let refused = refused.lock().unwrap().clone();
    let stored = remembered(&pg.url()).await;
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    // Refused ones are the sender's to retry; now they are taken, or known
    // (stored by a commit whose answer was lost in the restart).
    for id in &refused {
        let (status, _) = deliver(&server, id).await;
        assert!(status == 202 || status == 200, "{id}: {status}");
    }
    for id in acked.iter().take(20) {
        assert_eq!(deliver(&server, id).await.0, 200, "{id} again: a duplicate");
    }
    eprintln!(
        "{} acknowledged, {} refused during the restart",
        acked.len(),
        refused.len()
    );
}

/// A tmpfs of `size` mounted on `dir` (unmounted when dropped): a disk
/// that fills up.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs (needs root or CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    /// Fills the disk with `filler` until writes fail with ENOSPC.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.dir.path().join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = f.write_all(&block) {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC: {e}");
                break;
            }
        }
        // Byte by byte, the last partial block too.
        while f.write_all(&[0]).is_ok() {}
    }

    fn free(&self) {
        std::fs::remove_file(self.dir.path().join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_sqlite_store_answers_503_and_loses_nothing_acknowledged() {
    let disk = SmallDisk::mount("16m");
    let url = format!(
        "sqlite://{}",
        disk.dir.path().join("imagebump.db").display()
    );
    let server = HookServer::start_on(&url, github_source(), 1 << 20).await;
    let mut acked = Vec::new();
    for i in 0..20 {
        let id = format!("before-{i}");
        assert_eq!(deliver(&server, &id).await.0, 202, "{id}");
        acked.push(id);
    }
    disk.fill();
    let mut refused = Vec::new();
    for i in 0..200 {
        let id = format!("full-{i}-{}", "x".repeat(100));
        match deliver(&server, &id).await {
            (202, _) => acked.push(id),
            (503, answer) => {
                assert_eq!(answer["error"], "cannot store the event now; retry");
                refused.push(id);
            }
            other => panic!("{id}: {other:?}"),
        }
    }
    assert!(
        !refused.is_empty(),
        "a full disk refuses deliveries ({} taken)",
        acked.len()
    );
    // The service itself is alive and says so.
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert!(health.status().is_success() || health.status() == 503);

    disk.free();
    for id in &refused {
        assert_eq!(deliver(&server, id).await.0, 202, "{id}, the disk freed");
    }
    for id in &acked {
        assert_eq!(deliver(&server, id).await.0, 200, "{id} again: a duplicate");
    }
    drop(server);
    let stored = remembered(&url).await;
    let lost: Vec<&String> = acked
        .iter()
        .chain(&refused)
        .filter(|id| !stored.contains(&imagebump::store::delivery_key(id).into_owned()))
        .collect();
    assert!(lost.is_empty(), "lost: {}", lost.len());
    eprintln!(
        "{} taken before and while full, {} refused while full",
        acked.len(),
        refused.len()
    );
}
