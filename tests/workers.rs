//! The worker pool (`Workers::run`, src/work/workers.rs) against real parts:
//! environment repositories in bare git remotes (direct mode), a real
//! registry behind a loopback proxy that can hold its answers back
//! (tests/support/delay_proxy.rs), and the store on SQLite and on Postgres
//! (`both!(name)` makes `name::sqlite` and `name::postgres`).
//!
//! Holding the registry's answers keeps runs in progress, so what the
//! workers hold at that moment can be read from the store; runs are
//! counted by the tag listings that reach the registry (one per run: these
//! repositories are built without a tag cache) and by the commits on main.

mod support;

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use imagebump::clock::now_ms;
use imagebump::config::ServiceConfig;
use imagebump::event::{Event, ImagePushed};
use imagebump::lock::RepoLocks;
use imagebump::reconcile::Repo;
use imagebump::server::Inbox;
use imagebump::store::{Accepted, Store, Trigger};
use imagebump::work::workers::Workers;
use support::backends::Backend;
use support::delay_proxy::DelayProxy;
use support::registry::TestRegistry;
use support::world::{git, seed_env_repo};

const LEASE: Duration = Duration::from_secs(60);
/// How long a test waits for something before it fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// The store under test (tests/support/backends.rs).
type Db = Backend;

impl Db {
    /// `(worker, repo)` of every reconcile lease live now.
    async fn live_leases(&self) -> Vec<(String, String)> {
        self.rows(&format!(
            "SELECT leased_by, repo FROM jobs WHERE kind = 'reconcile' AND lease_until_ms > {}",
            now_ms()
        ))
        .await
    }

    /// `(repo, reason)` of every job queued, leased or not.
    async fn jobs(&self) -> Vec<(String, String)> {
        self.rows(
            "SELECT COALESCE(repo, ''), COALESCE(reason, '') FROM jobs WHERE dead_at_ms IS NULL",
        )
        .await
    }
}

/// Environment repositories `env-<r>`, each deploying `fleet/r<r>:1.0.0`
/// while the registry also has 1.1.0, built as `serve` builds them.
struct Fleet {
    registry: TestRegistry,
    proxy: DelayProxy,
    remotes: Vec<PathBuf>,
    repos: Vec<Arc<Repo>>,
    _dir: tempfile::TempDir,
}

impl Fleet {
    async fn new(n: usize) -> Fleet {
        let registry = TestRegistry::start();
        let proxy = DelayProxy::start(&registry.host(), Duration::ZERO).await;
        let host = proxy.host();
        let dir = tempfile::tempdir().unwrap();
        let mut toml = format!(
            "data_dir = \"{}\"\n[git]\nname = \"imagebump\"\nemail = \"bot@imagebump.test\"\n",
            dir.path().join("data").display()
        );
        let mut remotes = Vec::new();
        for r in 0..n {
            registry
                .push_tags(&format!("fleet/r{r}"), &["1.0.0", "1.1.0"])
                .await;
            let repo_dir = dir.path().join(format!("env-{r}"));
            std::fs::create_dir_all(&repo_dir).unwrap();
            let policy =
                format!("policies:\n  - name: web\n    image: {host}/fleet/r{r}\n    semver: ^1\n");
            let remote = seed_env_repo(&repo_dir, &policy, &format!("{host}/fleet/r{r}:1.0.0"));
            toml.push_str(&format!(
                "[[repos]]\nname = \"env-{r}\"\nurl = \"file://{}\"\nforge = \"direct\"\ndirect = \"base\"\n",
                remote.display()
            ));
            remotes.push(remote);
        }
        let path = dir.path().join("imagebump.toml");
        std::fs::write(&path, toml).unwrap();
        let config = ServiceConfig::load_from(Some(&path), Vec::new()).unwrap();
        let mut repos = Vec::new();
        // One registry state for the process, as `serve` has.
        let shared = imagebump::service::registry(&config.registry).unwrap();
        for settings in &config.repos {
            let repo = imagebump::service::build_repo(
                &config,
                settings,
                None,
                &shared,
                &Default::default(),
            )
            .await
            .unwrap();
            repos.push(Arc::new(repo));
        }
        // The process's registry state meets a host one request at a time
        // until it has answered once (src/registry/budget.rs): one answered
        // listing of an image no repository deploys, before any test holds
        // answers back.
        registry.push_tags("fleet/warm-up", &["0.0.1"]).await;
        let warm_up =
            imagebump::domain::ImageRepo::parse(&format!("{host}/fleet/warm-up")).unwrap();
        shared.client().list_tags(&warm_up).await.unwrap();
        Fleet {
            registry,
            proxy,
            remotes,
            repos,
            _dir: dir,
        }
    }

    fn workers(&self, store: &Store, wake: Arc<tokio::sync::Notify>) -> Arc<Workers> {
        Workers::new(
            store.clone(),
            self.repos.clone(),
            RepoLocks::for_store(store),
            wake,
            LEASE,
            Default::default(),
        )
    }

    /// The tag a repository deploys now, on its remote's main.
    fn deployed(&self, r: usize) -> String {
        let file = git(&self.remotes[r], &["show", "main:apps/web.yaml"]);
        file.rsplit(':').next().unwrap().to_string()
    }

    /// Commits on a repository's main after its seed.
    fn bump_commits(&self, r: usize) -> usize {
        let n: usize = git(&self.remotes[r], &["rev-list", "--count", "main"])
            .parse()
            .unwrap();
        n - 1
    }
}

/// Waits until `done` holds, failing with `what` and `state` after
/// [`DEADLINE`].
async fn wait_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let start = std::time::Instant::now();
    loop {
        match done().await {
            Ok(()) => return,
            Err(state) if start.elapsed() > DEADLINE => {
                panic!("waited {DEADLINE:?} for {what}; {state}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

async fn queue_empty(store: &Store) -> Result<(), String> {
    let stats = store.queue_stats(now_ms()).await.unwrap();
    (stats.depth == 0).then_some(()).ok_or(format!("{stats:?}"))
}

both!(four_workers_each_hold_one_repository_and_together_bump_all);
async fn four_workers_each_hold_one_repository_and_together_bump_all(db: Db) {
    const REPOS: usize = 8;
    const WORKERS: usize = 4;
    let fleet = Fleet::new(REPOS).await;
    let store = db.store.clone();
    for r in 0..REPOS {
        store
            .enqueue_reconcile(&format!("env-{r}"), "poll", Trigger::Poll, now_ms())
            .await
            .unwrap();
    }
    let hold = fleet.proxy.hold("/tags/list");
    let workers = fleet.workers(&store, Arc::default());
    let running = tokio::spawn(workers.clone().run(WORKERS));

    // Every worker's run reaches the registry and waits there.
    wait_until("a run per worker at the registry", || async {
        let leases = db.live_leases().await;
        (hold.held() == WORKERS).then_some(()).ok_or(format!(
            "{} held at the registry; leases {leases:?}",
            hold.held()
        ))
    })
    .await;
    let leases = db.live_leases().await;
    let holders: HashSet<&str> = leases.iter().map(|(w, _)| w.as_str()).collect();
    let repos: HashSet<&str> = leases.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        (leases.len(), holders.len(), repos.len()),
        (WORKERS, WORKERS, WORKERS),
        "one repository per worker: {leases:?}"
    );

    hold.release();
    wait_until("every repository done", || queue_empty(&store)).await;
    workers.stop();
    running.await.unwrap();
    for r in 0..REPOS {
        assert_eq!(fleet.deployed(r), "1.1.0", "env-{r}");
        assert_eq!(fleet.bump_commits(r), 1, "env-{r}");
        assert_eq!(
            fleet.proxy.requests(&format!("/v2/fleet/r{r}/tags/list")),
            1,
            "env-{r} ran once"
        );
    }
}

fn pushed(host: &str, repository: &str, tag: &str) -> Event {
    Event::ImagePushed(ImagePushed {
        registry: host.to_string(),
        repository: repository.to_string(),
        tag: Some(tag.to_string()),
        digest: None,
    })
}

both!(a_burst_of_pushes_during_a_run_costs_exactly_one_follow_up_run);
async fn a_burst_of_pushes_during_a_run_costs_exactly_one_follow_up_run(db: Db) {
    const BURST: usize = 50;
    let fleet = Fleet::new(1).await;
    let host = fleet.proxy.host();
    let store = db
        .store
        .clone()
        .with_min_run_gap(Duration::from_millis(200));
    let wake = Arc::new(tokio::sync::Notify::new());
    let workers = fleet.workers(&store, wake.clone());
    let inbox = Inbox::new(
        store.clone(),
        workers.router(),
        workers.detect_clock(),
        wake,
        Default::default(),
    );
    let hold = fleet.proxy.hold("/tags/list");
    let running = tokio::spawn(workers.clone().run(4));

    // A push reported: its run lists the registry, whose answer (1.0.0,
    // 1.1.0) is held back.
    let first = inbox
        .accept(
            "distribution",
            "push-0",
            vec![pushed(&host, "fleet/r0", "1.1.0")],
        )
        .await
        .unwrap();
    assert_eq!(first, Accepted::Stored { jobs: 1 });
    wait_until("the first run at the registry", || async {
        (hold.held() == 1)
            .then_some(())
            .ok_or(format!("{} held", hold.held()))
    })
    .await;

    // Meanwhile 1.2.0 is pushed, and reported again and again.
    fleet.registry.push_image("fleet/r0", "1.2.0").await;
    for i in 1..=BURST {
        let delivery = format!("push-{i}");
        let event = pushed(&host, "fleet/r0", "1.2.0");
        inbox
            .accept("distribution", &delivery, vec![event])
            .await
            .unwrap();
    }
    // All of it waits as one follow-up: nothing else of the repository runs.
    assert_eq!(
        db.jobs().await,
        [("env-0".to_string(), "image pushed".to_string())]
    );
    assert_eq!(db.live_leases().await.len(), 1);
    assert_eq!(fleet.proxy.requests("/v2/fleet/r0/tags/list"), 1);

    hold.release();
    wait_until("the repository current and the queue empty", || async {
        let deployed = fleet.deployed(0);
        if deployed != "1.2.0" {
            return Err(format!("deploys {deployed}"));
        }
        queue_empty(&store).await
    })
    .await;
    workers.stop();
    running.await.unwrap();
    assert_eq!(
        fleet.proxy.requests("/v2/fleet/r0/tags/list"),
        2,
        "the first run and one follow-up"
    );
    assert_eq!(fleet.bump_commits(0), 2, "to 1.1.0, then to 1.2.0");
}
