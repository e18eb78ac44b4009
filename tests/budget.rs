//! Each registry host's request budget, for the whole process: one token
//! bucket shared by every env repository, slowed by what the registry
//! says is left of its own budget (`ratelimit-*` headers), and shown as a
//! metric. A real registry (Debian's `docker-registry`), real bare env
//! repositories in `direct` mode; the registry's rate-limit headers are
//! played by a loopback proxy in front of it.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imagebump::config::ServiceConfig;
use imagebump::domain::ImageRepo;
use imagebump::lock::RepoLocks;
use imagebump::reconcile;
use imagebump::registry::{Credentials, Options, Registry};
use support::cli::Serving;
use support::proxy::RegistryProxy;
use support::world::{commit_all_as_ops, git};
use support::{Reply, TestRegistry, http_get, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_imagebump");

/// A bare env repository `dir/<name>.git` whose `.imagebump.yaml` has a
/// policy per image and a manifest per image at `tag`.
fn seed_repo(dir: &Path, name: &str, images: &[String], tag: &str) -> PathBuf {
    let seed = dir.join(name);
    std::fs::create_dir_all(seed.join("apps")).unwrap();
    let mut config = String::from("policies:\n");
    for (i, image) in images.iter().enumerate() {
        config.push_str(&format!("  - name: p{i}\n    image: {image}\n"));
        std::fs::write(
            seed.join(format!("apps/p{i}.yaml")),
            format!("image: {image}:{tag}\n"),
        )
        .unwrap();
    }
    std::fs::write(seed.join(".imagebump.yaml"), config).unwrap();
    git(dir, &["init", "-q", "-b", "main", name]);
    commit_all_as_ops(&seed, "init");
    let bare = format!("{name}.git");
    git(dir, &["clone", "-q", "--bare", name, &bare]);
    dir.join(bare)
}

/// A service config in `dir` with `extra` and one `direct` repository per
/// remote, named `env-<i>`.
fn service_config(dir: &Path, extra: &str, remotes: &[PathBuf]) -> PathBuf {
    let mut text = format!("data_dir = \"{}\"\n{extra}\n", dir.join("data").display());
    for (i, remote) in remotes.iter().enumerate() {
        text.push_str(&format!(
            "[[repos]]\nname = \"env-{i}\"\nurl = \"file://{}\"\nforge = \"direct\"\ndirect = \"base\"\n",
            remote.display()
        ));
    }
    let path = dir.join("imagebump.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Several repositories reconciled at once, on one registry state as
/// `serve` builds it, send no more to the registry host than the one
/// bucket allows: its burst plus its rate over the time they took. With a
/// bucket per repository they would send about four times that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repos_reconciling_at_once_share_the_hosts_cap_and_burst() {
    const RATE: f64 = 20.0;
    const BURST: u32 = 5;
    const REPOS: usize = 4;
    const IMAGES: usize = 8;
    let registry = TestRegistry::start_with_access_log();
    let images: Vec<String> = (0..IMAGES)
        .map(|i| format!("{}/acme/img-{i}", registry.host()))
        .collect();
    for i in 0..IMAGES {
        registry
            .push_tags(&format!("acme/img-{i}"), &["1.0.0", "1.1.0"])
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let remotes: Vec<PathBuf> = (0..REPOS)
        .map(|i| seed_repo(dir.path(), &format!("env-{i}"), &images, "1.0.0"))
        .collect();
    let path = service_config(
        dir.path(),
        &format!("[registry]\nmax_rps_per_host = {RATE:?}\nburst_per_host = {BURST}"),
        &remotes,
    );
    let config = ServiceConfig::load_from(Some(&path), Vec::new()).unwrap();
    let shared = imagebump::service::registry(&config.registry).unwrap();
    let mut repos = Vec::new();
    for settings in &config.repos {
        let repo =
            imagebump::service::build_repo(&config, settings, None, &shared, &Default::default())
                .await
                .unwrap();
        repos.push(repo);
    }
    let locks = RepoLocks::default();

    let before = registry.api_requests();
    let started = Instant::now();
    let outcomes =
        futures_util::future::join_all(repos.iter().map(|r| reconcile::reconcile(r, &locks))).await;
    let elapsed = started.elapsed();
    let sent = registry.api_requests() - before;

    for outcome in outcomes {
        let outcome = outcome.expect("reconcile");
        assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
        assert_eq!(outcome.report.bumps.len(), IMAGES);
    }
    assert!(
        sent >= REPOS * IMAGES,
        "every repo listed every image: {sent}"
    );
    let allowed = f64::from(BURST) + RATE * elapsed.as_secs_f64();
    assert!(
        sent as f64 <= allowed,
        "{sent} requests in {elapsed:?}: more than {allowed:.1} (burst {BURST} + {RATE}/s)"
    );
}

/// A registry that counts a budget in fixed windows from its start, sends
/// `ratelimit-*` headers and answers 429 once a window's budget is spent.
struct FixedWindows {
    started: Instant,
    limit: u64,
    window: Duration,
    used: Mutex<HashMap<u128, u64>>,
    refused: AtomicUsize,
}

impl FixedWindows {
    fn answer(&self, forward: &dyn Fn() -> Reply) -> Reply {
        let now = self.started.elapsed();
        let index = now.as_nanos() / self.window.as_nanos();
        let used = {
            let mut used = self.used.lock().unwrap();
            let n = used.entry(index).or_default();
            *n += 1;
            *n
        };
        let ends = self.window.mul_f64((index + 1) as f64);
        let reset = (ends - now).as_secs_f64().ceil().max(1.0);
        let w = self.window.as_secs();
        let (reply, left) = if used > self.limit {
            self.refused.fetch_add(1, Ordering::SeqCst);
            (Reply::new(429), 0)
        } else {
            (forward(), self.limit - used)
        };
        reply
            .header("ratelimit-limit", &format!("{};w={w}", self.limit))
            .header("ratelimit-remaining", &format!("{left};w={w}"))
            .header("ratelimit-reset", &format!("{reset}"))
    }
}

/// Twelve listings against a budget of five per second: the client spends
/// the budget down to its reserve, then waits for the window to reset
/// instead of sending into a 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_slows_down_before_the_budget_is_spent_not_after_a_429() {
    const LISTINGS: usize = 12;
    let registry = TestRegistry::start();
    for i in 0..LISTINGS {
        registry.push_tags(&format!("acme/r-{i}"), &["1.0"]).await;
    }
    let budget = Arc::new(FixedWindows {
        started: Instant::now(),
        limit: 5,
        window: Duration::from_secs(1),
        used: Mutex::default(),
        refused: AtomicUsize::new(0),
    });
    let windows = budget.clone();
    let proxy = RegistryProxy::start(registry.host(), move |_, forward| windows.answer(forward));
    // No configured cap: only the registry's own budget paces.
    let options = Options {
        max_rps_per_host: 0.0,
        retry_base: Duration::from_millis(1),
        ..Options::default()
    };
    let client = Registry::new(options, Credentials::default())
        .unwrap()
        .client();
    let repos: Vec<ImageRepo> = (0..LISTINGS)
        .map(|i| ImageRepo::parse(&format!("{}/acme/r-{i}", proxy.host())).unwrap())
        .collect();

    let started = Instant::now();
    let listed = client.list_tags_many(&repos).await;
    let elapsed = started.elapsed();

    for repo in &repos {
        assert_eq!(listed[repo].as_deref().unwrap(), ["1.0"], "{repo}");
    }
    assert_eq!(
        budget.refused.load(Ordering::SeqCst),
        0,
        "no request met a 429"
    );
    assert_eq!(proxy.requests().len(), LISTINGS, "and none was retried");
    assert!(
        elapsed >= Duration::from_millis(900),
        "12 requests at 5 per window span at least two windows: {elapsed:?}"
    );
}

/// `imagebump_registry_budget_remaining{host}` on `/metrics` is what the
/// registry last said was left (Docker Hub's headers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_a_registry_reports_is_a_metric_per_host() {
    let registry = TestRegistry::start();
    registry.push_tags("acme/web", &["1.4.2", "1.4.3"]).await;
    let proxy = RegistryProxy::start(registry.host(), |_, forward| {
        forward()
            .header("ratelimit-limit", "100;w=21600")
            .header("ratelimit-remaining", "76;w=21600")
    });
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{}/acme/web", proxy.host());
    let remote = seed_repo(dir.path(), "env", std::slice::from_ref(&image), "1.4.2");
    let port = support::free_port();
    let config = service_config(
        dir.path(),
        &format!("listen = \"127.0.0.1:{port}\"\npoll_interval = \"1h\""),
        std::slice::from_ref(&remote),
    );
    let _serving = Serving::start(BIN, &config);
    wait_for("the bump on main", Duration::from_secs(30), || {
        let file = git(&remote, &["show", "refs/heads/main:apps/p0.yaml"]);
        file.ends_with("web:1.4.3").then_some(())
    });
    let line = format!(
        "imagebump_registry_budget_remaining{{host=\"{}\"}} 76",
        proxy.host()
    );
    let metrics = wait_for("/metrics", Duration::from_secs(10), || {
        http_get(port, "/metrics")
    });
    assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
}
