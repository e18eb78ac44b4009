//! One writer per env repo (docs/ARCHITECTURE.md, Invariants) across replicas: two `Store`s
//! opened on one Postgres database stand for two replicas, each with its
//! own `RepoLocks`. Postgres on 127.0.0.1:5432 (or `IMAGEBUMP_TEST_POSTGRES`,
//! an admin URL); each test uses a fresh database, dropped at the end.
//! Postgres being unreachable fails the tests; it never skips them.
//!
//! "Still waiting" is shown by the waiter's entry in `pg_locks` (queued for
//! the advisory lock) plus a bounded wait that it has not completed; every
//! wait for progress has a generous deadline. Nothing asserts a duration.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use imagebump::lock::{RepoGuard, RepoLocks};
use imagebump::store::{LOCK_APPLICATION_NAME, Store, advisory_key};
use sqlx::PgPool;
use support::postgres::with_fresh_database;
use tokio::task::JoinHandle;

const REPO: &str = "acme/env";
const OTHER: &str = "acme/other";

/// How long progress (a lock granted, a connection gone) may take before
/// the test fails: a bound that keeps a broken build from hanging, not a
/// performance target.
const DEADLINE: Duration = Duration::from_secs(30);

/// How long a blocked acquire is watched to confirm it stays blocked.
const STILL_PENDING: Duration = Duration::from_millis(300);

/// The database the replica process of [`replica_process`] locks in.
const REPLICA_URL_ENV: &str = "IMAGEBUMP_TEST_LOCK_REPLICA_URL";
/// What the replica process prints once it holds [`REPO`].
const LOCKED_LINE: &str = "replica holds the lock";

/// Looks at the database from a connection of its own.
struct Observer(PgPool);

impl Observer {
    async fn connect(url: &str) -> Observer {
        Observer(PgPool::connect(url).await.unwrap())
    }

    /// Sessions holding (`granted`) or queued for `repo`'s advisory lock,
    /// and how many of them are lock connections (not pool connections).
    async fn advisory(&self, repo: &str, granted: bool) -> (i64, i64) {
        // pg_locks splits a bigint key into classid (high) and objid (low).
        let key = advisory_key(repo) as u64;
        sqlx::query_as(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE a.application_name = $4)
               FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.objsubid = 1
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.granted = $3",
        )
        .bind((key >> 32) as i64)
        .bind((key & 0xffff_ffff) as i64)
        .bind(granted)
        .bind(LOCK_APPLICATION_NAME)
        .fetch_one(&self.0)
        .await
        .unwrap()
    }

    async fn holders(&self, repo: &str) -> i64 {
        self.advisory(repo, true).await.0
    }

    async fn waiters(&self, repo: &str) -> i64 {
        self.advisory(repo, false).await.0
    }

    /// Open lock connections to this database.
    async fn lock_connections(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity
              WHERE datname = current_database() AND application_name = $1",
        )
        .bind(LOCK_APPLICATION_NAME)
        .fetch_one(&self.0)
        .await
        .unwrap()
    }

    /// Polls until `check` holds, failing after [`DEADLINE`].
    async fn eventually(&self, what: &str, mut check: impl AsyncFnMut(&Observer) -> bool) {
        let start = tokio::time::Instant::now();
        while !check(self).await {
            assert!(start.elapsed() < DEADLINE, "waited {DEADLINE:?} for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

type Acquiring = JoinHandle<anyhow::Result<RepoGuard>>;

fn spawn_acquire(locks: &RepoLocks, repo: &'static str) -> Acquiring {
    let locks = locks.clone();
    tokio::spawn(async move { locks.acquire(repo).await })
}

async fn assert_pending(acquiring: &mut Acquiring, what: &str) {
    assert!(
        tokio::time::timeout(STILL_PENDING, acquiring)
            .await
            .is_err(),
        "{what} completed; it should still be waiting"
    );
}

async fn finishes(acquiring: Acquiring, what: &str) -> anyhow::Result<RepoGuard> {
    tokio::time::timeout(DEADLINE, acquiring)
        .await
        .unwrap_or_else(|_| panic!("{what} still waits after {DEADLINE:?}"))
        .unwrap()
}

async fn replicas(url: &str) -> (RepoLocks, RepoLocks) {
    let a = Store::open(url).await.unwrap();
    let b = Store::open(url).await.unwrap();
    (RepoLocks::for_store(&a), RepoLocks::for_store(&b))
}

#[test]
fn advisory_keys_are_stable_and_distinct() {
    // Pinned: a key that changed between releases would let an old and a
    // new replica reconcile the same repository at once during a rollout.
    assert_eq!(advisory_key("acme/env"), -1_385_848_810_538_737_539);
    assert_eq!(advisory_key("group/env"), 835_184_526_764_669_696);
    assert_ne!(advisory_key("acme/env"), advisory_key("acme/env2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_waits_for_the_other_replicas_run_then_runs() {
    with_fresh_database(|db| async move {
        let (a, b) = replicas(&db.url).await;
        let seen = Observer::connect(&db.url).await;

        let held = a.acquire(REPO).await.unwrap();
        assert_eq!(held.repo(), REPO);
        // Held by a lock connection, not by one of the pool's.
        assert_eq!(seen.advisory(REPO, true).await, (1, 1));

        let mut waiting = spawn_acquire(&b, REPO);
        seen.eventually("replica B to queue for the advisory lock", async |s| {
            s.waiters(REPO).await == 1
        })
        .await;
        assert_pending(&mut waiting, "replica B's acquire while A holds the repo").await;

        drop(held);
        let guard = finishes(waiting, "replica B's acquire").await.unwrap();
        assert_eq!(guard.repo(), REPO);
        assert_eq!(seen.advisory(REPO, true).await, (1, 1));
        assert_eq!(seen.waiters(REPO).await, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn different_repos_do_not_block_each_other() {
    with_fresh_database(|db| async move {
        let (a, b) = replicas(&db.url).await;
        let seen = Observer::connect(&db.url).await;

        let _repo_on_a = a.acquire(REPO).await.unwrap();
        let other = finishes(
            spawn_acquire(&b, OTHER),
            "replica B's acquire of another repo",
        )
        .await
        .unwrap();
        assert_eq!(other.repo(), OTHER);
        let _third = finishes(spawn_acquire(&a, "acme/third"), "A's second repo")
            .await
            .unwrap();
        assert_eq!(seen.holders(REPO).await, 1);
        assert_eq!(seen.holders(OTHER).await, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropping_the_guard_releases_the_lock_and_its_connection() {
    with_fresh_database(|db| async move {
        let store = Store::open(&db.url).await.unwrap();
        let locks = RepoLocks::for_store(&store);
        let seen = Observer::connect(&db.url).await;

        for round in 0..3 {
            let guard = locks.acquire(REPO).await.unwrap();
            assert_eq!(seen.advisory(REPO, true).await, (1, 1), "round {round}");
            assert_eq!(seen.lock_connections().await, 1, "round {round}");
            if round == 1 {
                // Dropped outside any runtime: the socket is simply closed.
                std::thread::spawn(move || drop(guard)).join().unwrap();
            } else {
                drop(guard);
            }
            seen.eventually("the lock and its connection to go", async |s| {
                s.holders(REPO).await == 0 && s.lock_connections().await == 0
            })
            .await;
        }
        // The pool was never involved and still works.
        store.ping().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_queued_in_process_hold_no_connection() {
    with_fresh_database(|db| async move {
        let store = Store::open(&db.url).await.unwrap();
        let locks = RepoLocks::for_store(&store);
        let seen = Observer::connect(&db.url).await;

        let first = locks.acquire(REPO).await.unwrap();
        let mut second = spawn_acquire(&locks, REPO);
        assert_pending(&mut second, "a second run of the repo in the same process").await;
        // It waits on the in-process lock, not in Postgres.
        assert_eq!(seen.lock_connections().await, 1);
        assert_eq!(seen.waiters(REPO).await, 0);

        drop(first);
        let _second = finishes(second, "the second run's acquire").await.unwrap();
        assert_eq!(seen.advisory(REPO, true).await, (1, 1));
        seen.eventually("the first run's connection to close", async |s| {
            s.lock_connections().await == 1
        })
        .await;
    })
    .await;
}

/// Kills the child process when dropped (also when the test fails).
struct Replica(Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Not a test by itself: the body of the replica process that
/// `a_crashed_replica_frees_its_lock` starts and kills. It takes [`REPO`]'s
/// lock, says so, and holds it until killed (or until its stdin closes, so
/// it never outlives the test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_process() {
    let Ok(url) = std::env::var(REPLICA_URL_ENV) else {
        return;
    };
    let store = Store::open(&url).await.unwrap();
    let locks = RepoLocks::for_store(&store);
    let _guard = locks.acquire(REPO).await.unwrap();
    println!("{LOCKED_LINE}");
    tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new()))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_replica_frees_its_lock() {
    with_fresh_database(|db| async move {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["replica_process", "--exact", "--nocapture"])
            .env(REPLICA_URL_ENV, &db.url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let replica = Replica(child);
        let locked = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|line| line.contains(LOCKED_LINE))
        });
        assert!(
            tokio::time::timeout(DEADLINE, locked)
                .await
                .unwrap()
                .unwrap(),
            "the replica process ended without taking the lock"
        );

        let store = Store::open(&db.url).await.unwrap();
        let locks = RepoLocks::for_store(&store);
        let seen = Observer::connect(&db.url).await;
        assert_eq!(seen.holders(REPO).await, 1);
        let mut waiting = spawn_acquire(&locks, REPO);
        seen.eventually(
            "this replica to queue behind the other process",
            async |s| s.waiters(REPO).await == 1,
        )
        .await;
        assert_pending(
            &mut waiting,
            "the acquire while the other process holds the repo",
        )
        .await;

        // SIGKILL: no destructor runs; only the OS closes its sockets.
        drop(replica);
        let guard = finishes(waiting, "the acquire after the holder crashed")
            .await
            .unwrap();
        assert_eq!(guard.repo(), REPO);
        assert_eq!(seen.advisory(REPO, true).await, (1, 1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_postgres_while_waiting_is_an_error() {
    with_fresh_database(|db| async move {
        let (a, b) = replicas(&db.url).await;
        let seen = Observer::connect(&db.url).await;

        let _held = a.acquire(REPO).await.unwrap();
        let waiting = spawn_acquire(&b, REPO);
        seen.eventually("replica B to queue for the advisory lock", async |s| {
            s.waiters(REPO).await == 1
        })
        .await;
        // B's lock connection dies (a failover, an administrator).
        db.admin(format!(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l
               JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE a.datname = '{}' AND a.application_name = '{LOCK_APPLICATION_NAME}'
                AND l.locktype = 'advisory' AND NOT l.granted",
            db.name
        ))
        .await;
        let err = match finishes(waiting, "replica B's acquire").await {
            Ok(_) => panic!("B got the lock although its connection died"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            err.contains("cross-replica lock") && err.contains(REPO),
            "{err}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_postgres_is_an_error_and_leaves_the_repo_unlocked() {
    with_fresh_database(|db| async move {
        let store = Store::open(&db.url).await.unwrap();
        let locks = RepoLocks::for_store(&store);
        db.admin(format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
            db.name
        ))
        .await;

        for attempt in 0..2 {
            let err = match finishes(spawn_acquire(&locks, REPO), "the acquire").await {
                Ok(_) => panic!("attempt {attempt}: locked without Postgres"),
                Err(e) => format!("{e:#}"),
            };
            assert!(
                err.contains("cross-replica lock") && err.contains(REPO),
                "attempt {attempt}: {err}"
            );
        }

        db.admin(format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
            db.name
        ))
        .await;
        let guard = locks.acquire(REPO).await.unwrap();
        assert_eq!(guard.repo(), REPO);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_keeps_the_in_process_lock_only() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/imagebump.db", dir.path().display());
    let store = Store::open(&url).await.unwrap();
    let locks = RepoLocks::for_store(&store);

    let first = locks.acquire(REPO).await.unwrap();
    let mut second = spawn_acquire(&locks, REPO);
    assert_pending(&mut second, "a second run of the repo in the same process").await;
    let other = finishes(spawn_acquire(&locks, OTHER), "another repo's acquire")
        .await
        .unwrap();
    assert_eq!(other.repo(), OTHER);
    drop(first);
    let _second = finishes(second, "the second run's acquire").await.unwrap();

    // SQLite is one process by design: there is nothing across processes,
    // so other `RepoLocks` on the same store are independent.
    let elsewhere = RepoLocks::for_store(&Store::open(&url).await.unwrap());
    let _also = finishes(spawn_acquire(&elsewhere, REPO), "an unrelated RepoLocks")
        .await
        .unwrap();
}
