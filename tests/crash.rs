//! kill -9 crash trials (issue 12): nothing acknowledged is lost and
//! nothing is done twice when `imagebump serve` is killed with SIGKILL at
//! a random moment under load.
//!
//! One trial, on a fresh store (a SQLite file, or a fresh Postgres
//! database), a bare env repo (real `git`, `direct = "base"`) deploying
//! `acme/web:1.4.2`, and a real registry:
//!
//! 1. `serve` (the real binary) starts with a short `job_lease`.
//! 2. A few senders deliver at once, each delivery with an id of its own:
//!    Distribution notifications of tags they push to the registry just
//!    before (one or two per envelope), signed GitHub `push` events of the
//!    env repo, and replays of deliveries already answered. Each answer is
//!    recorded: 202 and 200 are acknowledgements.
//! 3. At a random moment (from the seed) the service and what it started
//!    are killed with SIGKILL.
//! 4. The store, opened directly, must hold every acknowledged delivery
//!    id; and every acknowledged delivery whose work is not done yet (its
//!    tag not on `main` yet; for a repository push, no run finished after
//!    it was stored) must still have its reconcile queued (a leased job
//!    counts: its lease runs out).
//! 5. `serve` restarts on the same store. The senders retry what got no
//!    answer, as platforms do (a delivery stored before the kill but not
//!    answered is then a duplicate). Once `main` deploys the newest tag and
//!    the queue is empty: no tag was bumped twice in git history, and
//!    every acknowledged delivery sent again is a duplicate (200
//!    `{"status":"duplicate"}`) that queues nothing and commits nothing.
//!
//! `CRASH_TRIALS` (default 2) trials run per backend, trial `i` with seed
//! `CRASH_SEED + i` (`CRASH_SEED` defaults to the clock; each trial prints
//! its seed, and `CRASH_SEED=<seed> CRASH_TRIALS=1` plans that trial
//! again: the same senders, deliveries and kill delay; the moments are the
//! machine's). Each trial prints a `crash-trial` line and a
//! `crash-violation` line for anything that went wrong (with the service's
//! last log lines), each backend a `crash-summary` line; a backend with a
//! violation fails after its last trial. `scripts/crash-trials` runs many
//! and collects the lines.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imagebump::store::delivery_key;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::backends::Backend;
use support::cli::Serving;
use support::delay_proxy::DelayProxy;
use support::hook_server::post;
use support::hooks::{distribution_pushes, github_push_body, github_push_headers};
use support::registry::TestRegistry;
use support::world::{git, seed_env_repo, write_direct_config};
use support::{http_get, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_imagebump");
const PATH_TOKEN: &str = "crash-path-token-41c2";
const AUTH: &str = "Bearer crash-registry-secret";
const GITHUB_SECRET: &str = "crash-github-secret-9e0d";
const DISTRIBUTION_TYPE: &str = "application/vnd.docker.distribution.events.v1+json";
/// The service's `job_lease`: a job the killed process held runs again
/// this long after its claim.
const LEASE: &str = "2s";
/// Senders deliver for this long, unless the kill comes first.
const LOAD_WINDOW: Duration = Duration::from_millis(1500);
/// The kill comes this long after the load starts, at most: sometimes
/// after the load, while the reconciles it asked for run.
const KILL_WINDOW: Duration = Duration::from_millis(1900);
/// How long the restarted service may take to converge.
const CONVERGE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite() {
    run_trials(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    run_trials(Kind::Postgres).await;
}

/// A run that outlives its lease, then SIGKILL (the case that
/// tests/store.rs shows on the store alone, here with the real binary):
/// the start-up poll's run is held up at the registry while a push is
/// acknowledged (its follow-up); the lease runs out and a second worker
/// takes the job, the follow-up with it; then the first run ends, and the
/// service is killed before the second run can have ended. The push's
/// bump must be on `main` or its reconcile still queued.
mod outlived_lease {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        with_store(Kind::Sqlite, outlived_lease).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        with_store(Kind::Postgres, outlived_lease).await;
    }
}

/// The live reconcile row of `env`: `(leased_by, lease_until_ms)`.
async fn env_row(store: &Backend) -> Option<(Option<String>, Option<i64>)> {
    jobs(store)
        .await
        .into_iter()
        .find(|j| j.kind == "reconcile" && j.dead_at_ms.is_none())
        .map(|j| (j.leased_by, j.lease_until_ms))
}

async fn outlived_lease(url: String) {
    let registry = TestRegistry::start();
    registry.push_tags("acme/web", &["1.4.2"]).await;
    // Images are named by the proxy's host: the service reaches the
    // registry through it; the harness pushes to the registry itself.
    let proxy = DelayProxy::start(&registry.host(), Duration::ZERO).await;
    let host = proxy.host();
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let (remote, config) = service(dir.path(), &host, port, &url);
    let logs = [dir.path().join("serve.log")];
    let store = Backend::open(&url).await;
    // Every answer about acme/web waits: the start-up poll's run hangs.
    let hold = proxy.hold("/acme/web/");
    let mut serving = start_serve(&config, &logs[0], port);
    let slow = Duration::from_secs(30);
    let first = poll_until!("the start-up run to wait on the registry", slow, {
        if hold.held() == 0 {
            None
        } else {
            env_row(&store).await.and_then(|(_, until)| until)
        }
    });
    let load = Load::new(registry, host, port, 0);
    load.image_pushes(1).await;
    let pushed = load.sent.lock().unwrap()[0].clone();
    assert_eq!(pushed.answer, Some(202), "{}", log_tail(&logs));
    // The lease runs out: another worker takes the job over (and waits
    // for the repository's lock, which the first run holds).
    poll_until!(
        "a second claim of the job",
        slow,
        env_row(&store)
            .await
            .and_then(|(_, until)| until)
            .filter(|until| *until > first)
    );
    hold.release();
    // The first run ends. Kill as soon as the job is gone or the bump is
    // on main: if the first run's end had ended the job, before the
    // second run can have pushed.
    poll_until!(
        "the job to end or the bump",
        slow,
        (deployed(&remote) == Some(0) || env_row(&store).await.is_none()).then_some(())
    );
    serving.kill9();
    let on_main = deployed(&remote);
    let row = env_row(&store).await;
    assert!(
        on_main == Some(0) || row.is_some(),
        "the acknowledged push of 1.5.0 was lost: main deploys {:?} and nothing is queued \
         ({:#?})\n{}",
        on_main.map(tag_name),
        jobs(&store).await,
        log_tail(&logs)
    );
    // Restarted, the service bumps once.
    let _serving = start_serve(&config, &logs[0], port);
    poll_until!("the bump after the restart", slow, {
        let depth = store
            .store
            .queue_stats(imagebump::clock::now_ms())
            .await
            .unwrap()
            .depth;
        (deployed(&remote) == Some(0) && depth == 0).then_some(())
    });
    assert_eq!(bump_subjects(&remote).get("Bump web to 1.5.0"), Some(&1));
    store.store.close().await;
}

/// Evaluates `$probe` (an `Option`, awaiting as it likes) every 2 ms
/// until it is `Some`, failing after `$limit` with `$what`.
macro_rules! poll_until {
    ($what:expr, $limit:expr, $probe:expr) => {{
        let start = Instant::now();
        loop {
            if let Some(v) = $probe {
                break v;
            }
            assert!(
                start.elapsed() < $limit,
                "waited {:?} for {}",
                $limit,
                $what
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }};
}
use poll_until;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }
}

/// Runs `test` on the URL of a fresh store of `kind`: a SQLite file in a
/// temporary directory, or a fresh Postgres database, dropped afterwards.
async fn with_store<F, Fut, T>(kind: Kind, test: F) -> T
where
    F: FnOnce(String) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            test(format!(
                "sqlite://{}/store/imagebump.db",
                dir.path().display()
            ))
            .await
        }
        Kind::Postgres => {
            let out = Arc::new(Mutex::new(None));
            let slot = out.clone();
            support::postgres::with_fresh_database(move |db| async move {
                let value = test(db.url.clone()).await;
                *slot.lock().unwrap() = Some(value);
            })
            .await;
            let value = out.lock().unwrap().take();
            value.expect("the test's outcome")
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={value:?} is not a number: {e}")),
    )
}

async fn run_trials(kind: Kind) {
    let trials = env_u64("CRASH_TRIALS").unwrap_or(2);
    let seed = env_u64("CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            % 1_000_000_000
    });
    println!(
        "crash-trials backend={} trials={trials} seed={seed}",
        kind.name()
    );
    let started = Instant::now();
    let mut total = Summary::default();
    let mut failed = Vec::new();
    for i in 0..trials {
        let trial_seed = seed.wrapping_add(i);
        let report = with_store(kind, move |url| trial(url, trial_seed)).await;
        println!(
            "crash-trial backend={} trial={} seed={trial_seed} kill_after_ms={} phase={} \
             sent={} acked={} stored_unanswered={} replays={} bumps={} \
             lost={} duplicate_commits={} violations={} secs={:.1}",
            kind.name(),
            i + 1,
            report.kill_after.as_millis(),
            report.phase,
            report.sent,
            report.acked,
            report.stored_unanswered,
            report.replays,
            report.bumps,
            report.lost,
            report.duplicate_commits,
            report.violations.len(),
            report.elapsed.as_secs_f64(),
        );
        for v in &report.violations {
            println!(
                "crash-violation backend={} seed={trial_seed} (CRASH_SEED={trial_seed} \
                 CRASH_TRIALS=1 plans this trial again): {v}",
                kind.name()
            );
        }
        if !report.violations.is_empty() {
            failed.push(trial_seed);
        }
        total.add(&report);
    }
    println!(
        "crash-summary backend={} trials={trials} kills={} sent={} acked={} \
         stored_unanswered={} replays={} bumps={} lost={} duplicate_commits={} failed_trials={} \
         phases={} secs={:.1}",
        kind.name(),
        total.kills,
        total.sent,
        total.acked,
        total.stored_unanswered,
        total.replays,
        total.bumps,
        total.lost,
        total.duplicate_commits,
        failed.len(),
        total
            .phases
            .iter()
            .map(|(p, n)| format!("{p}:{n}"))
            .collect::<Vec<_>>()
            .join(","),
        started.elapsed().as_secs_f64(),
    );
    assert!(
        failed.is_empty(),
        "{} of {trials} {} trials failed (see the crash-violation lines), seeds {failed:?}",
        failed.len(),
        kind.name()
    );
}

/// What one trial saw.
#[derive(Default)]
struct Report {
    kill_after: Duration,
    /// What was going on at the kill: `intake` (deliveries in flight),
    /// `reconcile` (a job leased), both, or `idle`.
    phase: String,
    /// Distinct deliveries made (each acknowledged by the end).
    sent: usize,
    /// Distinct deliveries acknowledged before the kill: those checked.
    acked: usize,
    /// Deliveries that got no answer before the kill and were answered as
    /// duplicates when retried: stored, their answer lost.
    stored_unanswered: usize,
    /// Replays sent before the kill (each answered as a duplicate, or not
    /// at all).
    replays: usize,
    /// Bump commits on `main` at the end.
    bumps: usize,
    /// Acknowledged deliveries not recorded, or whose work was neither
    /// done nor queued, after the kill.
    lost: usize,
    /// Bump commits made again (a tag bumped twice).
    duplicate_commits: usize,
    /// Everything that went wrong, each with the service's last log lines.
    violations: Vec<String>,
    elapsed: Duration,
}

#[derive(Default)]
struct Summary {
    kills: usize,
    sent: usize,
    acked: usize,
    stored_unanswered: usize,
    replays: usize,
    bumps: usize,
    lost: usize,
    duplicate_commits: usize,
    phases: BTreeMap<String, usize>,
}

impl Summary {
    fn add(&mut self, r: &Report) {
        self.kills += 1;
        self.sent += r.sent;
        self.acked += r.acked;
        self.stored_unanswered += r.stored_unanswered;
        self.replays += r.replays;
        self.bumps += r.bumps;
        self.lost += r.lost;
        self.duplicate_commits += r.duplicate_commits;
        *self.phases.entry(r.phase.clone()).or_default() += 1;
    }
}

/// One delivery as its sender made it.
#[derive(Clone, Debug)]
struct Sent {
    /// The webhook source, as the store records deliveries.
    source: &'static str,
    /// The delivery id, as the source derives it from the request.
    id: String,
    path: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    /// Tags of `acme/web` it reports pushed.
    tags: Vec<u32>,
    /// The status of its answer before the kill, if it got one.
    answer: Option<u16>,
}

impl Sent {
    fn acked(&self) -> bool {
        matches!(self.answer, Some(200 | 202))
    }
}

/// What the senders share.
struct Load {
    registry: TestRegistry,
    /// The registry host images are named by (the registry's, or a proxy's
    /// in front of it).
    image_host: String,
    client: reqwest::Client,
    base: String,
    seed: u64,
    sent: Mutex<Vec<Sent>>,
    /// Replays sent before the kill.
    replays: AtomicUsize,
    /// Answers other than 202 `stored` to a new delivery or 200
    /// `duplicate` to a replay (or 503: not acknowledged).
    bad_answers: Mutex<Vec<String>>,
    /// The patch number of the next tag, `1.5.<n>`.
    next_tag: AtomicU32,
    /// The highest tag pushed to the registry so far.
    pushed: Mutex<Option<u32>>,
    stop: AtomicBool,
    in_flight: AtomicUsize,
}

impl Load {
    fn new(registry: TestRegistry, image_host: String, port: u16, seed: u64) -> Load {
        Load {
            registry,
            image_host,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            seed,
            sent: Mutex::default(),
            replays: AtomicUsize::new(0),
            bad_answers: Mutex::default(),
            next_tag: AtomicU32::new(0),
            pushed: Mutex::new(None),
            stop: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
        }
    }
}

fn tag_name(n: u32) -> String {
    format!("1.5.{n}")
}

impl Load {
    /// Sends delivery `i`; records its answer unless the kill came first.
    async fn send(&self, i: usize) {
        let s = self.sent.lock().unwrap()[i].clone();
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let answer = post(
            &self.client,
            &format!("{}{}", self.base, s.path),
            &s.body,
            &s.headers,
        )
        .await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Ok((status, body)) = answer {
            if !(status == 202 && body["status"] == "stored" || status == 503) {
                self.bad_answers
                    .lock()
                    .unwrap()
                    .push(format!("new delivery {} answered {status} {body}", s.id));
            }
            self.sent.lock().unwrap()[i].answer = Some(status);
        }
    }

    fn record(&self, sent: Sent) -> usize {
        let mut all = self.sent.lock().unwrap();
        all.push(sent);
        all.len() - 1
    }

    /// Pushes `count` new tags of `acme/web` and delivers their
    /// notification.
    async fn image_pushes(&self, count: usize) {
        let host = &self.image_host;
        let mut pushes = Vec::new();
        for _ in 0..count {
            let n = self.next_tag.fetch_add(1, Ordering::SeqCst);
            let digest = self.registry.push_image("acme/web", &tag_name(n)).await;
            {
                let mut top = self.pushed.lock().unwrap();
                *top = Some(top.map_or(n, |t| t.max(n)));
            }
            pushes.push((n, digest.to_string(), format!("evt-{:x}-{n}", self.seed)));
        }
        let tags: Vec<String> = pushes.iter().map(|(n, _, _)| tag_name(*n)).collect();
        let events: Vec<(&str, &str, &str)> = pushes
            .iter()
            .zip(&tags)
            .map(|((_, digest, id), tag)| (tag.as_str(), digest.as_str(), id.as_str()))
            .collect();
        let body = distribution_pushes(host, "acme/web", &events).into_bytes();
        let id = pushes
            .iter()
            .map(|(_, _, id)| id.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let i = self.record(Sent {
            source: "distribution",
            id,
            path: format!("/hooks/distribution/{PATH_TOKEN}"),
            body,
            headers: vec![
                ("authorization".into(), AUTH.into()),
                ("content-type".into(), DISTRIBUTION_TYPE.into()),
            ],
            tags: pushes.iter().map(|(n, _, _)| *n).collect(),
            answer: None,
        });
        if !self.stop.load(Ordering::SeqCst) {
            self.send(i).await;
        }
    }

    /// Delivers a GitHub push of the env repo's `main`.
    async fn repo_push(&self, sender: usize, n: usize) {
        let id = format!("gh-{:x}-{sender}-{n}", self.seed);
        let body = github_push_body("acme/env");
        let headers = github_push_headers(GITHUB_SECRET, &body, &id)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let i = self.record(Sent {
            source: "github",
            id,
            path: "/hooks/github".into(),
            body,
            headers,
            tags: Vec::new(),
            answer: None,
        });
        self.send(i).await;
    }

    /// Sends again a delivery already acknowledged: a duplicate.
    async fn replay(&self, rng: &mut StdRng) {
        let acked: Vec<Sent> = self
            .sent
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.acked())
            .cloned()
            .collect();
        if acked.is_empty() {
            return;
        }
        let s = &acked[rng.random_range(0..acked.len())];
        self.replays.fetch_add(1, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let answer = post(
            &self.client,
            &format!("{}{}", self.base, s.path),
            &s.body,
            &s.headers,
        )
        .await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Ok((status, body)) = answer
            && !(status == 200 && body["status"] == "duplicate")
            && status != 503
        {
            self.bad_answers
                .lock()
                .unwrap()
                .push(format!("replay of {} answered {status} {body}", s.id));
        }
    }

    /// One sender: deliveries one after another until the load window
    /// ends or the kill comes.
    async fn sender(self: Arc<Self>, sender: usize, mut rng: StdRng, until: Instant) {
        let mut n = 0;
        while !self.stop.load(Ordering::SeqCst) && Instant::now() < until {
            match rng.random_range(0..10) {
                0..6 => {
                    self.image_pushes(if rng.random_bool(0.25) { 2 } else { 1 })
                        .await
                }
                6..9 => self.repo_push(sender, n).await,
                _ => self.replay(&mut rng).await,
            }
            n += 1;
            let pause = rng.random_range(0..15);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }
}

/// The tag `apps/web.yaml` deploys on `main` (`1.5.<n>`: `Some(n)`;
/// the seed's `1.4.2`: `None`).
fn deployed(remote: &Path) -> Option<u32> {
    let file = git(remote, &["show", "refs/heads/main:apps/web.yaml"]);
    let tag = file.rsplit(':').next().unwrap_or_default().trim();
    tag.strip_prefix("1.5.").map(|n| n.parse().unwrap())
}

/// Bump subjects on `main` and how often each occurs.
fn bump_subjects(remote: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for subject in git(remote, &["log", "--format=%s", "refs/heads/main"]).lines() {
        if subject.starts_with("Bump ") {
            *counts.entry(subject.to_string()).or_default() += 1;
        }
    }
    counts
}

/// A row of the store's `jobs`.
#[derive(Debug)]
#[allow(dead_code)] // read through Debug, in failure messages
struct JobRow {
    id: i64,
    kind: String,
    repo: Option<String>,
    reason: Option<String>,
    rerun_reason: Option<String>,
    leased_by: Option<String>,
    lease_until_ms: Option<i64>,
    attempts: i64,
    dead_at_ms: Option<i64>,
    last_error: Option<String>,
}

type JobTuple = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    Option<i64>,
    Option<String>,
);

/// Every row of `jobs` (live and dead), oldest first.
async fn jobs(store: &Backend) -> Vec<JobRow> {
    let rows: Vec<JobTuple> = store
        .rows(
            "SELECT id, kind, repo, reason, rerun_reason, leased_by, lease_until_ms, attempts, \
             dead_at_ms, last_error FROM jobs ORDER BY id",
        )
        .await;
    rows.into_iter()
        .map(|r| JobRow {
            id: r.0,
            kind: r.1,
            repo: r.2,
            reason: r.3,
            rerun_reason: r.4,
            leased_by: r.5,
            lease_until_ms: r.6,
            attempts: r.7,
            dead_at_ms: r.8,
            last_error: r.9,
        })
        .collect()
}

/// `(source, key)` → `received_at_ms` of every recorded delivery.
async fn deliveries(store: &Backend) -> HashMap<(String, String), i64> {
    let rows: Vec<(String, String, i64)> = store
        .rows("SELECT source, delivery, received_at_ms FROM deliveries")
        .await;
    rows.into_iter().map(|(s, d, at)| ((s, d), at)).collect()
}

/// When the env repo's latest run ended, if it ever did.
async fn last_run_end(store: &Backend) -> Option<i64> {
    let rows: Vec<(i64,)> = store
        .rows("SELECT finished_at_ms FROM repo_runs WHERE repo = 'env'")
        .await;
    rows.first().map(|r| r.0)
}

/// The last lines of the service's logs, for a failure's message.
fn log_tail(paths: &[PathBuf]) -> String {
    let mut out = String::new();
    for (i, path) in paths.iter().enumerate() {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        out.push_str(&format!("--- serve run {} (last lines)\n", i + 1));
        for l in &lines[from..] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// A bare env repo in `dir` deploying `<host>/acme/web:1.4.2`, and the
/// config of a service on `port` with the store at `url` managing it
/// (`direct = "base"`, both webhook sources, a short lease, polling off).
/// Returns the repo's path and the config's.
fn service(dir: &Path, host: &str, port: u16, url: &str) -> (PathBuf, PathBuf) {
    let remote = seed_env_repo(
        dir,
        &format!("policies:\n  - name: web\n    image: {host}/acme/web\n"),
        &format!("{host}/acme/web:1.4.2"),
    );
    let extra = format!(
        "listen = \"127.0.0.1:{port}\"\npoll_interval = \"1h\"\njob_lease = \"{LEASE}\"\n\
         min_run_gap = \"100ms\"\nstore = \"{url}\"\n\
         [hooks.distribution]\nsecrets = [\"{AUTH}\"]\npath_token = \"{PATH_TOKEN}\"\n\
         [hooks.github]\nsecrets = [\"{GITHUB_SECRET}\"]\n"
    );
    let config = write_direct_config(dir, &remote, &extra, "base");
    // The repo's platform name, for GitHub's push events.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("project = \"acme/env\"\n");
    std::fs::write(&config, text).unwrap();
    (remote, config)
}

fn start_serve(config: &Path, log: &Path, port: u16) -> Serving {
    let serving = Serving::start_logged(BIN, config, log, &[("IMAGEBUMP_LOG", "imagebump=info")]);
    wait_for("serve to answer /readyz", Duration::from_secs(30), || {
        http_get(port, "/readyz").filter(|b| b == "ready\n")
    });
    serving
}

async fn trial(url: String, seed: u64) -> Report {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let registry = TestRegistry::start();
    registry.push_tags("acme/web", &["1.4.2"]).await;
    let host = registry.host();
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let (remote, config) = service(dir.path(), &host, port, &url);
    let logs = [
        dir.path().join("serve-1.log"),
        dir.path().join("serve-2.log"),
    ];
    let mut r = Report::default();
    // A violation after which the trial cannot go on.
    macro_rules! fail {
        ($($what:tt)*) => {{
            r.violations.push(format!("{}\n{}", format!($($what)*), log_tail(&logs)));
            r.elapsed = started.elapsed();
            return r;
        }};
    }

    // 1-3: load, and the kill at a random moment of it.
    let mut serving = start_serve(&config, &logs[0], port);
    let senders = rng.random_range(2..=6);
    let kill_after = Duration::from_millis(rng.random_range(0..=KILL_WINDOW.as_millis() as u64));
    let load = Arc::new(Load::new(registry, host, port, seed));
    let load_start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for s in 0..senders {
        let sender_rng = StdRng::seed_from_u64(rng.random());
        tasks.spawn(load.clone().sender(s, sender_rng, load_start + LOAD_WINDOW));
    }
    tokio::time::sleep_until((load_start + kill_after).into()).await;
    load.stop.store(true, Ordering::SeqCst);
    let in_flight = load.in_flight.load(Ordering::SeqCst);
    let kill_ms = imagebump::clock::now_ms();
    serving.kill9();
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    r.kill_after = kill_after;
    r.replays = load.replays.load(Ordering::SeqCst);
    let bad = load.bad_answers.lock().unwrap().clone();
    if !bad.is_empty() {
        r.violations.push(format!(
            "answers before the kill: {bad:#?}\n{}",
            log_tail(&logs)
        ));
    }
    let sent: Vec<Sent> = load.sent.lock().unwrap().clone();
    let acked_at_kill: Vec<&Sent> = sent.iter().filter(|s| s.acked()).collect();

    // 4: the store right after the kill.
    let store = Backend::open(&url).await;
    let recorded = deliveries(&store).await;
    let queued = jobs(&store).await;
    let live: Vec<&JobRow> = queued
        .iter()
        .filter(|j| j.dead_at_ms.is_none() && j.kind == "reconcile")
        .collect();
    let leased = live
        .iter()
        .any(|j| j.leased_by.is_some() && j.lease_until_ms.is_some_and(|u| u > kill_ms));
    let phase = match (in_flight > 0, leased) {
        (true, true) => "intake+reconcile",
        (true, false) => "intake",
        (false, true) => "reconcile",
        (false, false) => "idle",
    }
    .to_string();
    let on_main = deployed(&remote);
    let run_end = last_run_end(&store).await;
    let mut lost = Vec::new();
    for s in &acked_at_kill {
        let key = (s.source.to_string(), delivery_key(&s.id).into_owned());
        let Some(&received) = recorded.get(&key) else {
            lost.push(format!(
                "{} delivery {} was answered {:?} but is not recorded",
                s.source, s.id, s.answer
            ));
            continue;
        };
        if !live.is_empty() {
            continue;
        }
        let undone: Vec<u32> = s
            .tags
            .iter()
            .copied()
            .filter(|t| on_main.is_none_or(|m| m < *t))
            .collect();
        if !undone.is_empty() {
            lost.push(format!(
                "delivery {} reported {:?}, main deploys {:?}, and no reconcile is queued",
                s.id,
                undone.iter().map(|t| tag_name(*t)).collect::<Vec<_>>(),
                on_main.map(tag_name)
            ));
        }
        if s.source == "github" && run_end.is_none_or(|end| end < received) {
            lost.push(format!(
                "repository push {} stored at {received} ms, no run ended since ({run_end:?}), \
                 and no reconcile is queued",
                s.id
            ));
        }
    }
    r.phase = phase.clone();
    r.sent = sent.len();
    r.acked = acked_at_kill.len();
    r.lost = lost.len();
    let dead: Vec<&JobRow> = queued.iter().filter(|j| j.dead_at_ms.is_some()).collect();
    if !lost.is_empty() || !dead.is_empty() {
        r.violations.push(format!(
            "after the kill ({kill_after:?} into the load, phase {phase}): lost {lost:#?}; \
             dead jobs {dead:#?}; jobs {queued:#?}\n{}",
            log_tail(&logs)
        ));
    }

    // 5: restart; the senders retry what got no answer.
    // Before the start: its start-up run may end before /readyz answers.
    let restarted_ms = imagebump::clock::now_ms();
    let mut serving = start_serve(&config, &logs[1], port);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for s in sent.iter().filter(|s| !s.acked()) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let (status, body) = loop {
            match post(&client, &format!("{base}{}", s.path), &s.body, &s.headers).await {
                Ok((503, _)) | Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(answer) => break answer,
                Err(e) => fail!("retrying {} after the restart: {e}", s.id),
            }
        };
        match (status, body["status"].as_str()) {
            (202, Some("stored")) => {}
            (200, Some("duplicate")) => r.stored_unanswered += 1,
            _ => fail!(
                "{} retried after the restart was answered {status} {body}",
                s.id
            ),
        }
    }
    let newest = *load.pushed.lock().unwrap();
    let converged = Instant::now() + CONVERGE;
    loop {
        let depth = store
            .store
            .queue_stats(imagebump::clock::now_ms())
            .await
            .unwrap()
            .depth;
        let ran = last_run_end(&store)
            .await
            .is_some_and(|e| e >= restarted_ms);
        if deployed(&remote) == newest && depth == 0 && ran {
            // Still empty a moment later: nothing was on its way in.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let depth = store
                .store
                .queue_stats(imagebump::clock::now_ms())
                .await
                .unwrap()
                .depth;
            if depth == 0 {
                break;
            }
        }
        if Instant::now() > converged {
            fail!(
                "no convergence within {CONVERGE:?} of the restart: main deploys {:?}, the \
                 newest tag pushed is {:?}, queue depth {depth}, jobs {:#?}",
                deployed(&remote).map(tag_name),
                newest.map(tag_name),
                jobs(&store).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let subjects = bump_subjects(&remote);
    r.bumps = subjects.values().sum();
    let twice: Vec<(&String, &usize)> = subjects.iter().filter(|(_, n)| **n > 1).collect();
    r.duplicate_commits = twice.iter().map(|(_, n)| **n - 1).sum();
    if !twice.is_empty() {
        r.violations.push(format!(
            "bump commits made more than once: {twice:?}\n{}\n{}",
            git(&remote, &["log", "--format=%h %s", "refs/heads/main"]),
            log_tail(&logs)
        ));
    }
    let dead: Vec<JobRow> = jobs(&store)
        .await
        .into_iter()
        .filter(|j| j.dead_at_ms.is_some())
        .collect();
    if !dead.is_empty() {
        fail!("dead jobs after the restart: {dead:#?}");
    }

    // Every acknowledged delivery again: a duplicate, and no new work.
    let head = git(&remote, &["rev-parse", "refs/heads/main"]);
    let before = deliveries(&store).await;
    for s in &sent {
        let answer = post(&client, &format!("{base}{}", s.path), &s.body, &s.headers).await;
        let (status, body) = match answer {
            Ok(answer) => answer,
            Err(e) => fail!("re-sending {}: {e}", s.id),
        };
        if !(status == 200 && body["status"] == "duplicate") {
            fail!(
                "{} {} sent again was answered {status} {body}",
                s.source,
                s.id
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_jobs = jobs(&store).await;
    if !after_jobs.is_empty() {
        fail!("duplicates queued work: {after_jobs:#?}");
    }
    if deliveries(&store).await != before {
        fail!("duplicates changed the recorded deliveries");
    }
    if git(&remote, &["rev-parse", "refs/heads/main"]) != head {
        fail!("duplicates made a commit");
    }
    serving.kill9();
    store.store.close().await;
    r.elapsed = started.elapsed();
    r
}
