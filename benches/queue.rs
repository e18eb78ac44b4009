//! Benchmarks of the job queue under `imagebump serve` (release build,
//! SQLite store, polling every hour), against a real registry behind a
//! loopback proxy that answers each request 20 ms late (a registry far
//! away; see tests/support/delay_proxy.rs). `cargo bench --bench queue`
//! runs both; `-- fleet` or `-- burst` one of them.
//!
//! 1. Fleet: 50 environment repositories (direct mode, file:// remotes),
//!    10 images each, every one with a newer tag at start. Times, from the
//!    moment the service answers /healthz, until every repository's main
//!    carries its bump, with `concurrency = 1` and with `concurrency = 4`,
//!    and reports the efficiency t1 / (4 · t4) (1.0 is ideal).
//! 2. Monorepo burst: one repository with 300 policies (`group: all`).
//!    After the first pass, 300 pushes (10 at a time, through the proxy),
//!    each reported by the registry's own notifications at
//!    /hooks/distribution. Reports the bump commits it took and the time
//!    from the last push until every policy is current.
//!
//! Figures are printed, never asserted.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use support::delay_proxy::DelayProxy;
use support::registry::TestRegistry;
use support::world::{commit_all_as_ops, git};

const BIN: &str = env!("CARGO_BIN_EXE_imagebump");
const DELAY: Duration = Duration::from_millis(20);
const REPOS: usize = 50;
const IMAGES: usize = 10;
const MONO_POLICIES: usize = 300;
const PUSHES_AT_ONCE: usize = 10;
const TOKEN: &str = "bench-path-token";
const AUTH: &str = "Bearer bench-notify";

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(config: &Path) -> Serve {
    let log = std::fs::File::create(config.with_extension("log")).expect("serve log");
    Serve(
        Command::new(BIN)
            .args(["serve", "--config", config.to_str().expect("utf-8")])
            .env("DOCKER_CONFIG", "/nonexistent-imagebump-bench")
            .env("IMAGEBUMP_LOG", "imagebump=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn serve"),
    )
}

fn wait_healthy(port: u16) -> Instant {
    support::wait_for("/healthz", Duration::from_secs(120), || {
        support::http_get(port, "/healthz")
    });
    Instant::now()
}

/// An environment repository at `dir/remote.git` whose `.imagebump.yaml`
/// has a policy per image (`group: all`) and one file per image deploying
/// it at 1.0.0.
fn seed(dir: &Path, images: &[String]) -> PathBuf {
    let work = dir.join("seed");
    std::fs::create_dir_all(work.join("apps")).expect("mkdir");
    let mut policy = String::from("pullRequests:\n  group: all\npolicies:\n");
    for (i, image) in images.iter().enumerate() {
        policy.push_str(&format!(
            "  - name: p{i}\n    image: {image}\n    semver: ^1\n"
        ));
        std::fs::write(
            work.join(format!("apps/app-{i}.yaml")),
            format!("image: {image}:1.0.0\n"),
        )
        .expect("write");
    }
    std::fs::write(work.join(".imagebump.yaml"), policy).expect("write");
    git(dir, &["init", "-q", "-b", "main", "seed"]);
    commit_all_as_ops(&work, "init");
    git(dir, &["clone", "-q", "--bare", "seed", "remote.git"]);
    dir.join("remote.git")
}

/// The remote's `main` once a push wrote it as a loose ref (the clone
/// packed the first one): read from the file, no process per look.
fn pushed_main(remote: &Path) -> Option<String> {
    std::fs::read_to_string(remote.join("refs/heads/main")).ok()
}

fn repo_toml(name: &str, remote: &Path) -> String {
    format!(
        "[[repos]]\nname = \"{name}\"\nurl = \"file://{}\"\nforge = \"direct\"\ndirect = \"base\"\n",
        remote.display()
    )
}

fn service_toml(dir: &Path, port: u16, concurrency: usize, extra: &str) -> String {
    format!(
        "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\npoll_interval = \"1h\"\nconcurrency = {concurrency}\n\
         [git]\nname = \"imagebump\"\nemail = \"bot@imagebump.bench\"\n{extra}",
        dir.join("data").display()
    )
}

async fn push_all(registry: &TestRegistry, images: &[(String, String)]) {
    futures_util::stream::iter(images)
        .map(|(repo, tag)| registry.push_image(repo, tag))
        .buffer_unordered(PUSHES_AT_ONCE)
        .collect::<Vec<_>>()
        .await;
}

/// CPU time of a process and of its children it has waited for (the git
/// commands it ran), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = (11..15)
        .filter_map(|i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// One fleet run with `concurrency` workers: the time until every repo is
/// bumped, and what ran meanwhile.
async fn fleet_run(host: &str, concurrency: usize, registry: &str) -> (Duration, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut remotes = Vec::new();
    let mut repos = String::new();
    for r in 0..REPOS {
        let images: Vec<String> = (0..IMAGES)
            .map(|i| format!("{host}/fleet/r{r}-i{i}"))
            .collect();
        let repo_dir = dir.path().join(format!("env-{r}"));
        std::fs::create_dir_all(&repo_dir).expect("mkdir");
        let remote = seed(&repo_dir, &images);
        repos.push_str(&repo_toml(&format!("env-{r}"), &remote));
        remotes.push(remote);
    }
    let port = support::free_port();
    let config = dir.path().join("imagebump.toml");
    let extra = format!("{registry}{repos}");
    std::fs::write(&config, service_toml(dir.path(), port, concurrency, &extra))
        .expect("write config");
    let serve = serve(&config);
    let start = wait_healthy(port);
    support::wait_for("every repository bumped", Duration::from_secs(600), || {
        remotes
            .iter()
            .all(|r| pushed_main(r).is_some())
            .then_some(())
    });
    let took = start.elapsed();
    for remote in &remotes {
        for i in 0..IMAGES {
            let file = git(remote, &["show", &format!("main:apps/app-{i}.yaml")]);
            assert!(file.ends_with(":1.1.0"), "{}: {file}", remote.display());
        }
    }
    let metrics = support::http_get(port, "/metrics").unwrap_or_default();
    let cpu = cpu_seconds(serve.0.id());
    (
        took,
        format!("{}; service and git CPU {cpu:.2} s", reconciles(&metrics)),
    )
}

/// The sum of the `/metrics` series starting with `name`.
fn metric_sum(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Reconciles run so far and their mean duration, from `/metrics`.
fn reconciles(metrics: &str) -> String {
    let runs = metric_sum(metrics, "imagebump_reconcile_duration_seconds_count");
    let seconds = metric_sum(metrics, "imagebump_reconcile_duration_seconds_sum");
    if runs == 0.0 {
        return "no reconciles".into();
    }
    format!(
        "{runs} reconciles, {:.0} ms each on average",
        seconds / runs * 1000.0
    )
}

async fn fleet() {
    let registry = TestRegistry::start();
    let proxy = DelayProxy::start(&registry.host(), DELAY).await;
    let host = proxy.host();
    let mut images = Vec::new();
    for r in 0..REPOS {
        for i in 0..IMAGES {
            for tag in ["1.0.0", "1.1.0"] {
                images.push((format!("fleet/r{r}-i{i}"), tag.to_string()));
            }
        }
    }
    push_all(&registry, &images).await;
    // With the default per-host budget (100 requests/s, burst 100) the
    // registry's budget, shared by all repositories, bounds the run; with
    // the cap lifted, what is measured is how the claims spread the
    // repositories over the workers.
    for (budget, registry) in [
        ("default registry budget", ""),
        (
            "registry budget lifted",
            "[registry]\nmax_rps_per_host = 100000.0\nburst_per_host = 100000\n",
        ),
    ] {
        let (t1, runs1) = fleet_run(&host, 1, registry).await;
        let (t4, runs4) = fleet_run(&host, 4, registry).await;
        println!(
            "fleet ({budget}): {REPOS} repos x {IMAGES} images, registry +{DELAY:?} per request: \
             1 worker {:.2} s ({runs1}), 4 workers {:.2} s ({runs4}); \
             efficiency t1/(4*t4) = {:.2}",
            t1.as_secs_f64(),
            t4.as_secs_f64(),
            t1.as_secs_f64() / (4.0 * t4.as_secs_f64())
        );
    }
}

async fn burst() {
    let port = support::free_port();
    let mut registry = TestRegistry::start_with_notifications(
        &format!("http://127.0.0.1:{port}/hooks/distribution/{TOKEN}"),
        AUTH,
    );
    let proxy = DelayProxy::start(&registry.host(), DELAY).await;
    let host = proxy.host();
    // Pushes go through the proxy, so the registry's notifications name
    // the host the policies name.
    registry.push_through(&host);
    let pusher = &registry;
    let names: Vec<String> = (0..MONO_POLICIES)
        .map(|i| format!("mono/img-{i}"))
        .collect();
    let first: Vec<(String, String)> = names.iter().map(|n| (n.clone(), "1.0.0".into())).collect();
    push_all(pusher, &first).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let images: Vec<String> = names.iter().map(|n| format!("{host}/{n}")).collect();
    let remote = seed(dir.path(), &images);
    let base = git(&remote, &["rev-parse", "main"]);
    let config = dir.path().join("imagebump.toml");
    let hooks = format!(
        "[hooks.distribution]\nsecrets = [\"{AUTH}\"]\npath_token = \"{TOKEN}\"\n{}",
        repo_toml("mono", &remote)
    );
    std::fs::write(&config, service_toml(dir.path(), port, 4, &hooks)).expect("write config");
    let _serve = serve(&config);
    wait_healthy(port);
    support::wait_for("the first pass", Duration::from_secs(300), || {
        let metrics = support::http_get(port, "/metrics")?;
        (metric_sum(&metrics, "imagebump_reconcile_duration_seconds_count") > 0.0).then_some(())
    });
    let pushes_started = Instant::now();
    let second: Vec<(String, String)> = names.iter().map(|n| (n.clone(), "1.1.0".into())).collect();
    push_all(pusher, &second).await;
    let last_push = Instant::now();
    support::wait_for("every policy current", Duration::from_secs(300), || {
        let stale = Command::new("git")
            .arg("-C")
            .arg(&remote)
            .args(["grep", "-q", ":1.0.0", "main", "--", "apps"])
            .status()
            .expect("git grep");
        (!stale.success()).then_some(())
    });
    let current = last_push.elapsed();
    let commits = git(&remote, &["rev-list", "--count", &format!("{base}..main")]);
    let metrics = support::http_get(port, "/metrics").unwrap_or_default();
    println!(
        "monorepo burst: {MONO_POLICIES} policies, {MONO_POLICIES} pushes in {:.2} s \
         ({PUSHES_AT_ONCE} at a time, +{DELAY:?} per request): {commits} bump commit(s), \
         every policy current {:.2} s after the last push; {} in all",
        (last_push - pushes_started).as_secs_f64(),
        current.as_secs_f64(),
        reconciles(&metrics)
    );
}

fn main() {
    let which = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if which.as_deref().is_none_or(|w| w == "fleet") {
            fleet().await;
        }
        if which.as_deref().is_none_or(|w| w == "burst") {
            burst().await;
        }
    });
}
