//! The service's tag cache, end to end: a real registry (which logs every
//! request it answers, so tag listings are counted where they land), a
//! real bare env repository in `direct` mode, a SQLite store file, and the
//! `Repo` built from a service config with `registry.tag_cache_ttl`.
//!
//! The cache's clock is the system clock plus an offset a test can move
//! forward ([`Env::advance`]), so a TTL passes without sleeping while
//! times written by the worker (the system clock) stay comparable.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use imagebump::clock::now_ms;
use imagebump::config::ServiceConfig;
use imagebump::domain::ImageRepo;
use imagebump::event::{Event, ImagePushed};
use imagebump::lock::RepoLocks;
use imagebump::reconcile::{self, Repo, tag_cache_key};
use imagebump::server::Inbox;
use imagebump::store::{Accepted, Store, Trigger};
use imagebump::work::workers::Workers;
use sqlx::{AssertSqlSafe, SqlitePool};
use support::TestRegistry;
use support::world::{git, seed_env_repo, write_direct_config};

const LEASE: Duration = Duration::from_secs(60);

struct Env {
    registry: TestRegistry,
    _dir: tempfile::TempDir,
    remote: PathBuf,
    store: Store,
    store_url: String,
    repo: Arc<Repo>,
    locks: RepoLocks,
    /// Added to the system clock by the tag cache's clock.
    offset: Arc<AtomicI64>,
}

/// acme/web:1.4.2 in the registry and deployed; `ttl` as the service
/// config's `registry.tag_cache_ttl`.
/// The system clock moved on by `offset` ms (see [`Env::advance`]).
fn clock(offset: &Arc<AtomicI64>) -> imagebump::clock::Clock {
    let offset = offset.clone();
    imagebump::clock::Clock::new(move || now_ms() + offset.load(Ordering::SeqCst))
}

async fn env(ttl: &str) -> Env {
    let registry = TestRegistry::start_with_access_log();
    registry.push_tags("acme/web", &["1.4.2"]).await;
    let host = registry.host();
    let dir = tempfile::tempdir().unwrap();
    let remote = seed_env_repo(
        dir.path(),
        &format!("policies:\n  - name: web\n    image: {host}/acme/web\n    semver: ^1.4\n"),
        &format!("{host}/acme/web:1.4.2"),
    );
    let path = write_direct_config(
        dir.path(),
        &remote,
        &format!("[registry]\ntag_cache_ttl = \"{ttl}\""),
        "base",
    );
    let config = ServiceConfig::load_from(Some(&path), Vec::new()).unwrap();
    let store_url = config.store_url();
    let store = Store::open(&store_url).await.unwrap();
    let offset = Arc::new(AtomicI64::new(0));
    let repo = imagebump::service::build_repo(
        &config,
        &config.repos[0],
        Some(&store),
        &imagebump::service::registry(&config.registry).unwrap(),
        &clock(&offset),
    )
    .await
    .unwrap();
    Env {
        registry,
        _dir: dir,
        remote,
        store,
        store_url,
        repo: Arc::new(repo),
        locks: RepoLocks::default(),
        offset,
    }
}

impl Env {
    async fn reconcile(&self) {
        let outcome = reconcile::reconcile(&self.repo, &self.locks)
            .await
            .expect("reconcile");
        assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
    }

    /// Tag listings of acme/web the registry has answered.
    fn listings(&self) -> usize {
        self.registry.tag_list_requests("acme/web")
    }

    fn deployed(&self) -> String {
        let file = git(&self.remote, &["show", "refs/heads/main:apps/web.yaml"]);
        file.rsplit(':').next().unwrap_or_default().to_string()
    }

    /// The tag cache's time (what the worker's `now_ms` would be if the
    /// system clock had moved as far).
    fn now(&self) -> i64 {
        now_ms() + self.offset.load(Ordering::SeqCst)
    }

    fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap();
        self.offset.fetch_add(ms, Ordering::SeqCst);
    }

    /// The image's key in the store, as the cache and the worker use it.
    fn key(&self) -> String {
        let image = ImageRepo::parse(&format!("{}/acme/web", self.registry.host())).unwrap();
        tag_cache_key(&image)
    }

    /// `(tag, first seen)` of the cached list, oldest first.
    async fn first_seen(&self) -> Vec<(String, i64)> {
        let cached = self.store.cached_tags(&self.key()).await.unwrap();
        let cached = cached.expect("a cached list");
        cached
            .tags
            .into_iter()
            .map(|(t, seen, _)| (t, seen))
            .collect()
    }

    /// Runs `sql` on a connection of its own to the store's SQLite file.
    async fn sql(&self, sql: &str) {
        let pool = SqlitePool::connect(&self.store_url).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }

    fn workers(&self) -> Arc<Workers> {
        Workers::new(
            self.store.clone(),
            vec![self.repo.clone()],
            self.locks.clone(),
            Arc::default(),
            LEASE,
            Default::default(),
        )
    }
}

/// Processes every due job, as the service's workers would.
async fn drain(store: &Store, workers: &Workers) {
    for _ in 0..20 {
        let Some(job) = store.claim("test", LEASE, now_ms()).await.unwrap() else {
            let stats = store.queue_stats(now_ms()).await.unwrap();
            assert_eq!(stats.depth, 0, "a job failed (see the log)");
            return;
        };
        workers.process(job).await;
    }
    panic!("the queue did not drain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_the_ttl_a_reconcile_asks_the_registry_for_no_tag_list() {
    let e = env("1m").await;
    let cache = e
        .repo
        .tag_cache
        .as_ref()
        .expect("the service's repo has a cache");
    assert_eq!(cache.ttl(), Duration::from_secs(60), "from the config");

    e.reconcile().await;
    assert_eq!(e.listings(), 1);
    e.registry.push_image("acme/web", "1.4.3").await;
    e.advance(Duration::from_secs(50));
    e.reconcile().await;
    assert_eq!(e.listings(), 1, "the second reconcile used the cached list");
    assert_eq!(e.deployed(), "1.4.2", "so it has not seen 1.4.3 yet");

    // Past the TTL the registry is asked again, and the new tag is seen.
    e.advance(Duration::from_secs(15));
    e.reconcile().await;
    assert_eq!(e.listings(), 2);
    assert_eq!(e.deployed(), "1.4.3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgetting_the_tags_makes_the_next_reconcile_list_and_see_the_new_tag() {
    let e = env("1m").await;
    e.reconcile().await;
    e.registry.push_image("acme/web", "1.4.3").await;
    e.reconcile().await;
    assert_eq!((e.listings(), e.deployed().as_str()), (1, "1.4.2"));

    e.store.forget_tags(&e.key(), e.now()).await.unwrap();
    e.advance(Duration::from_millis(1)); // the next listing starts after the mark
    e.reconcile().await;
    assert_eq!(e.listings(), 2);
    assert_eq!(e.deployed(), "1.4.3");
    // That listing is fresh again.
    e.reconcile().await;
    assert_eq!(e.listings(), 2);
}

/// The registry's notification, as a webhook source normalises it.
fn pushed(e: &Env, tag: Option<&str>) -> Event {
    Event::ImagePushed(ImagePushed {
        registry: e.registry.host(),
        repository: "acme/web".into(),
        tag: tag.map(str::to_string),
        digest: None,
    })
}

/// Polls acme/web once with a warm cache, then pushes 1.4.3 to the
/// registry: a poll within the TTL does not see it.
async fn warm_cache_then_push_143(e: &Env, workers: &Workers) {
    e.store
        .enqueue_reconcile("env", "poll", Trigger::Poll, now_ms())
        .await
        .unwrap();
    drain(&e.store, workers).await;
    assert_eq!(e.listings(), 1);
    e.registry.push_image("acme/web", "1.4.3").await;
    e.store
        .enqueue_reconcile("env", "poll", Trigger::Poll, now_ms())
        .await
        .unwrap();
    drain(&e.store, workers).await;
    assert_eq!(
        (e.listings(), e.deployed().as_str()),
        (1, "1.4.2"),
        "a poll within the TTL uses the cached list"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_tag_is_confirmed_with_one_head_and_merged_without_listing() {
    let e = env("1m").await;
    let workers = e.workers();
    warm_cache_then_push_143(&e, &workers).await;
    assert_eq!(e.registry.manifest_heads("acme/web", "1.4.3"), 0);

    // Through the inbox, as the webhook endpoint stores it.
    let inbox = Inbox::new(
        e.store.clone(),
        workers.router(),
        workers.detect_clock(),
        Arc::default(),
        Default::default(),
    );
    let stored = inbox
        .accept("distribution", "d-1", vec![pushed(&e, Some("1.4.3"))])
        .await
        .unwrap();
    assert_eq!(stored, Accepted::Stored { jobs: 1 });
    drain(&e.store, &workers).await;
    assert_eq!(e.deployed(), "1.4.3", "the pushed tag was chosen");
    assert_eq!(e.listings(), 1, "no tag listing");
    assert_eq!(
        e.registry.manifest_heads("acme/web", "1.4.3"),
        1,
        "one HEAD"
    );
    let seen = e.first_seen().await;
    assert_eq!(
        seen.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["1.4.2", "1.4.3"],
        "merged into the cached list"
    );
    // Settled: the next poll asks the registry nothing.
    e.store
        .enqueue_reconcile("env", "poll", Trigger::Poll, now_ms())
        .await
        .unwrap();
    drain(&e.store, &workers).await;
    assert_eq!(e.listings(), 1);
    assert_eq!(e.registry.manifest_heads("acme/web", "1.4.3"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_tag_the_registry_does_not_have_is_dismissed_after_one_head() {
    let e = env("1m").await;
    let workers = e.workers();
    warm_cache_then_push_143(&e, &workers).await;
    let inbox = Inbox::new(
        e.store.clone(),
        workers.router(),
        workers.detect_clock(),
        Arc::default(),
        Default::default(),
    );
    inbox
        .accept("distribution", "d-1", vec![pushed(&e, Some("1.5.0"))])
        .await
        .unwrap();
    drain(&e.store, &workers).await;
    assert_eq!(e.registry.manifest_heads("acme/web", "1.5.0"), 1);
    assert_eq!(e.listings(), 1, "the cached list stays in use");
    assert_eq!(
        e.deployed(),
        "1.4.2",
        "nothing is taken from the event itself"
    );
    let cached = e.store.cached_tags(&e.key()).await.unwrap().unwrap();
    assert!(cached.pushed.is_empty(), "{:?}", cached.pushed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_without_a_tag_makes_the_next_reconcile_list() {
    let e = env("1m").await;
    let workers = e.workers();
    warm_cache_then_push_143(&e, &workers).await;
    let inbox = Inbox::new(
        e.store.clone(),
        workers.router(),
        workers.detect_clock(),
        Arc::default(),
        Default::default(),
    );
    inbox
        .accept("distribution", "d-1", vec![pushed(&e, None)])
        .await
        .unwrap();
    drain(&e.store, &workers).await;
    assert_eq!(e.listings(), 2);
    assert_eq!(e.deployed(), "1.4.3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_seen_times_of_known_tags_survive_a_refresh() {
    let e = env("1m").await;
    e.reconcile().await;
    let before = e.first_seen().await;
    assert_eq!(before.len(), 1);
    let (_, seen_142) = before[0].clone();

    e.registry.push_image("acme/web", "1.4.3").await;
    e.advance(Duration::from_secs(120));
    e.reconcile().await;
    assert_eq!(e.listings(), 2);
    let after = e.first_seen().await;
    assert_eq!(after[0], ("1.4.2".to_string(), seen_142), "kept");
    assert_eq!(after[1].0, "1.4.3");
    assert!(after[1].1 >= seen_142 + 120_000, "{after:?}");

    // A reported push refreshes the list without resetting them either.
    e.store.forget_tags(&e.key(), e.now()).await.unwrap();
    e.advance(Duration::from_millis(1));
    e.reconcile().await;
    assert_eq!(e.listings(), 3);
    assert_eq!(e.first_seen().await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_falls_back_to_the_registry() {
    let e = env("1m").await;
    e.registry.push_image("acme/web", "1.4.3").await;
    // Saving a list fails (reading works, and finds nothing).
    e.sql(
        "CREATE TRIGGER full_disk BEFORE INSERT ON tags \
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    )
    .await;
    e.reconcile().await;
    assert_eq!(e.listings(), 1);
    assert_eq!(
        e.deployed(),
        "1.4.3",
        "the registry's list was planned with"
    );
    assert_eq!(e.store.cached_tags(&e.key()).await.unwrap(), None);
    e.reconcile().await;
    assert_eq!(e.listings(), 2, "nothing was cached: listed again");

    // Reading fails too.
    e.sql("DROP TABLE tags; DROP TABLE tag_lists;").await;
    assert!(e.store.cached_tags(&e.key()).await.is_err());
    e.registry.push_image("acme/web", "1.4.4").await;
    e.reconcile().await;
    assert_eq!(e.listings(), 3);
    assert_eq!(e.deployed(), "1.4.4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_ttl_lists_on_every_reconcile_and_still_records_the_list() {
    let e = env("0s").await;
    e.reconcile().await;
    e.reconcile().await;
    assert_eq!(e.listings(), 2);
    let seen = e.first_seen().await;
    assert_eq!(
        seen.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["1.4.2"]
    );
}

/// Catching up after downtime (webhooks sent meanwhile are lost): a list
/// cached before the service (re)started is not reused, though well within
/// its TTL. A tag pushed while the service was down is bumped by the first
/// reconcile after start-up, not a poll interval later; after that, the
/// new listing is reused again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_first_reconcile_lists_afresh_and_bumps_a_tag_pushed_while_down() {
    let e = env("1h").await;
    e.reconcile().await;
    assert_eq!((e.listings(), e.deployed().as_str()), (1, "1.4.2"));
    // Down: 1.4.3 is pushed, its webhook is lost.
    e.registry.push_image("acme/web", "1.4.3").await;
    e.reconcile().await;
    assert_eq!(e.listings(), 1, "the running service reuses its list");

    // The service starts again, on the same store and data dir: the
    // repository as `serve` builds it.
    e.advance(Duration::from_secs(60));
    let config =
        ServiceConfig::load_from(Some(&e._dir.path().join("imagebump.toml")), Vec::new()).unwrap();
    let restarted = imagebump::service::build_repo(
        &config,
        &config.repos[0],
        Some(&e.store),
        &imagebump::service::registry(&config.registry).unwrap(),
        &clock(&e.offset),
    )
    .await
    .unwrap();
    let run = || async {
        reconcile::reconcile(&restarted, &e.locks)
            .await
            .expect("reconcile")
    };
    run().await;
    assert_eq!(e.listings(), 2, "the first run after start-up listed");
    assert_eq!(e.deployed(), "1.4.3");
    run().await;
    assert_eq!(e.listings(), 2, "then its own listing is reused");
}
