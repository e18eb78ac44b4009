//! The store (docs/ARCHITECTURE.md, "Queue"): the durable inbox and job
//! queue, webhook delivery dedupe, the registry tag cache, and people's
//! ignores and holds. SQLite by default, Postgres when several replicas
//! share one queue.
//!
//! Invariants callers rely on:
//! - [`Store::accept_batch`] returns only after
//!   each new delivery id and the jobs it asks for are committed in one
//!   transaction, so a webhook may be answered 2xx as soon as it returns. SQLite runs with `synchronous=FULL` (WAL):
//!   a commit is on disk before `accept` returns, not only in the OS cache.
//! - A job is held by at most one worker at a time: [`Store::claim`] leases
//!   one job with a single atomic `UPDATE … RETURNING` (Postgres adds
//!   `FOR UPDATE SKIP LOCKED`). A lease that runs out makes the job
//!   claimable again, so a crashed worker loses nothing.
//! - A repository has at most one live reconcile row (a unique index), so
//!   no two leases ever hold one repository; what is asked while it is
//!   leased waits on that row as its one follow-up (see `lease.rs`).
//! - On Postgres the store also holds each repository's cross-replica
//!   lock for [`RepoLocks`](crate::lock::RepoLocks): an advisory lock on a
//!   connection outside the pool, released when the guard drops or the
//!   replica dies (see `advisory.rs`). SQLite has none: one process.
//! - Callers never see the backend. The SQL is written once, with `$n`
//!   placeholders that both SQLite and Postgres accept; the few dialect
//!   differences live next to the query that needs them.
//!
//! All times are unix milliseconds passed in by the caller (`now_ms`), so
//! the clock is injected and tests need no sleeps.

mod advisory;
mod cache;
mod choices;
mod dead;
mod intake;
mod lease;
mod queue;
mod rollback;
mod runs;
mod times;

pub(crate) use advisory::ReplicaLock;
pub use advisory::{LOCK_APPLICATION_NAME, advisory_key};
pub use cache::TAG_INSERT_BATCH;
pub use choices::IGNORABLE_UPDATE_TYPES;
pub use dead::Revived;
pub use intake::{MAX_DELIVERY_KEY, MAX_SHOWN, delivery_key, shown_id};
pub use runs::LastRun;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::event::Command;

/// Attempts (claims) a job gets before it goes to the dead letters.
pub const MAX_ATTEMPTS: u32 = 5;

/// How long a delivery id is remembered. Platforms redeliver within hours;
/// a week also covers a person pressing "redeliver" on an old event.
pub const DELIVERY_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Delay before the first retry of a failed job; doubles per attempt.
pub const RETRY_BACKOFF_BASE: Duration = Duration::from_secs(30);

/// Longest delay between retries: a registry or forge outage of an hour
/// should not push a job further out than the poller would anyway.
pub const RETRY_BACKOFF_CAP: Duration = Duration::from_secs(60 * 60);

/// How long a connection waits for SQLite's write lock before failing.
/// Writes are short (one job, one delivery), so waiting this long means
/// something is wrong.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite connections: writes serialize anyway; a few allow parallel reads.
pub const SQLITE_MAX_CONNECTIONS: u32 = 1;

/// Postgres connections per process: workers, the HTTP inbox and the poller.
pub const POSTGRES_MAX_CONNECTIONS: u32 = 16;

/// How long `open` and each query wait for a free (or new) connection.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQLite schema, embedded so the binary needs no files at run time.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "tag_lists_forgotten",
        include_str!("../../migrations/sqlite/0002_tag_lists_forgotten.sql"),
    ),
    (
        3,
        "pushed_tags",
        include_str!("../../migrations/sqlite/0003_pushed_tags.sql"),
    ),
    (
        4,
        "one_reconcile_per_repo",
        include_str!("../../migrations/sqlite/0004_one_reconcile_per_repo.sql"),
    ),
    (
        5,
        "command_jobs",
        include_str!("../../migrations/sqlite/0005_command_jobs.sql"),
    ),
    (
        6,
        "delivery_shown",
        include_str!("../../migrations/sqlite/0006_delivery_shown.sql"),
    ),
    (
        7,
        "rollback_holds",
        include_str!("../../migrations/sqlite/0007_rollback_holds.sql"),
    ),
    (
        8,
        "build_times_and_timers",
        include_str!("../../migrations/sqlite/0008_build_times_and_timers.sql"),
    ),
    (
        9,
        "run_outcomes",
        include_str!("../../migrations/sqlite/0009_run_outcomes.sql"),
    ),
];

/// The Postgres schema; same versions and meaning as [`SQLITE_MIGRATIONS`].
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "tag_lists_forgotten",
        include_str!("../../migrations/postgres/0002_tag_lists_forgotten.sql"),
    ),
    (
        3,
        "pushed_tags",
        include_str!("../../migrations/postgres/0003_pushed_tags.sql"),
    ),
    (
        4,
        "one_reconcile_per_repo",
        include_str!("../../migrations/postgres/0004_one_reconcile_per_repo.sql"),
    ),
    (
        5,
        "command_jobs",
        include_str!("../../migrations/postgres/0005_command_jobs.sql"),
    ),
    (
        6,
        "delivery_shown",
        include_str!("../../migrations/postgres/0006_delivery_shown.sql"),
    ),
    (
        7,
        "rollback_holds",
        include_str!("../../migrations/postgres/0007_rollback_holds.sql"),
    ),
    (
        8,
        "build_times_and_timers",
        include_str!("../../migrations/postgres/0008_build_times_and_timers.sql"),
    ),
    (
        9,
        "run_outcomes",
        include_str!("../../migrations/postgres/0009_run_outcomes.sql"),
    ),
];

/// The durable store. Cheap to clone (a handle on a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// When abandoned jobs were last dead-lettered (ms); see [`BURY_EVERY`].
    last_bury_ms: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// See [`Store::with_min_run_gap`].
    min_run_gap: Duration,
}

/// How often claims look for jobs whose last attempt lost its lease (a
/// write; not worth doing on every claim).
pub const BURY_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool. The body is
/// written once and type-checked for each backend.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// One webhook delivery to store, with the jobs it asks for (see
/// [`crate::work::router`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub source: String,
    pub delivery: String,
    pub jobs: Vec<JobKind>,
    /// The pushes this delivery reports, recorded for the tag cache
    /// ([`Store::report_push`]) in the same transaction as its jobs.
    pub pushes: Vec<Pushed>,
}

/// A reported push of an image: the news a registry webhook brings to the
/// tag cache. `image` is the cache's key of the image.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pushed {
    pub image: String,
    /// The pushed tag, when the webhook names one: the cached list takes
    /// it in after one manifest HEAD. Without it, the cached list is stale.
    pub tag: Option<String>,
}

/// What [`Store::accept_batch`] did with a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// New delivery: recorded, with this many jobs enqueued.
    Stored { jobs: usize },
    /// Replay of a delivery seen within [`DELIVERY_TTL`]: nothing written.
    Duplicate,
}

/// What [`Store::fail`] did with a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failed {
    /// Scheduled again; claimable from `at_ms`.
    Retrying { at_ms: i64 },
    /// Out of attempts: moved to the dead letters.
    Dead,
}

/// What asks for a reconcile, which decides when it may run (see
/// [`Store::enqueue_reconcile`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// News: a webhook or a comment command. Due at once, or
    /// [`min_run_gap`](Store::with_min_run_gap) after the repository's
    /// previous run finished, whichever is later.
    Event,
    /// The poller, the safety net for news no webhook brought: due at
    /// once, whatever the gap.
    Poll,
}

/// What a job asks a worker to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// Reconcile one env repo (poller, webhooks, commands). `reason`
    /// lists, comma-separated, why it was asked, each reason once.
    Reconcile { repo: String, reason: String },
    /// Carry out a comment command on an MR of the configured repository
    /// `repo`, then reconcile it (see [`crate::work::commands`]).
    Command { repo: String, command: Command },
}

/// A claimed job. Finish it with [`Store::complete`] or [`Store::fail`]
/// before its lease runs out: after that another worker may claim it, and
/// this claim can no longer end it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: JobKind,
    /// Claims so far, this one included.
    pub attempts: u32,
    pub enqueued_at_ms: i64,
    /// Webhook source and delivery id, for command jobs.
    pub source: Option<String>,
    pub delivery: Option<String>,
    /// The worker that claimed it, and when its lease ends: with the id,
    /// they name this claim (a later claim of the job has a later end).
    pub leased_by: String,
    pub lease_until_ms: i64,
}

/// A job that ran out of attempts (or could not be decoded any more).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadJob {
    pub id: i64,
    /// `None` when the stored payload no longer decodes; see `payload`.
    pub kind: Option<JobKind>,
    /// The stored command JSON, for command jobs.
    pub payload: Option<String>,
    pub attempts: u32,
    pub enqueued_at_ms: i64,
    pub dead_at_ms: i64,
    pub last_error: String,
    pub source: Option<String>,
    pub delivery: Option<String>,
}

/// Queue gauges for `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueStats {
    /// Jobs pending (due or scheduled) or leased.
    pub depth: u64,
    /// Age of the oldest such job.
    pub oldest_age_ms: Option<i64>,
    /// Jobs in the dead letters.
    pub dead: u64,
}

/// The cached tag list of one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedTags {
    /// When the listing that produced this list started.
    pub fetched_at_ms: i64,
    /// When a push of the image was last reported ([`Store::forget_tags`]):
    /// a list fetched before that is stale whatever its age.
    pub forgotten_at_ms: Option<i64>,
    /// When the image was first listed: a tag first seen then was there
    /// already, made whenever; one first seen later appeared then.
    pub first_listed_ms: Option<i64>,
    /// `(tag, first_seen_ms, digest)`, oldest first.
    pub tags: Vec<(String, i64, Option<String>)>,
    /// `(tag, reported_at_ms)`: tags reported pushed that no saved listing
    /// has seen yet ([`Store::report_push`]), oldest report first.
    pub pushed: Vec<(String, i64)>,
}

/// What people asked to ignore in one repo, by policy name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ignored {
    pub versions: HashMap<String, HashSet<String>>,
    /// `"major"` and/or `"minor"`.
    pub update_types: HashMap<String, HashSet<String>>,
}

impl Store {
    /// Opens `sqlite://path/imagebump.db` (file and parent directories
    /// created if missing), `sqlite::memory:` (tests only: one connection,
    /// nothing durable) or `postgres://…`, and applies the migrations not
    /// yet applied.
    pub async fn open(url: &str) -> anyhow::Result<Store> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(open_sqlite(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(open_postgres(url).await?)
        } else {
            bail!(
                "unsupported store URL {:?}: expected sqlite://PATH or postgres://…",
                redact(url)
            );
        };
        let store = Store {
            backend,
            last_bury_ms: Default::default(),
            min_run_gap: Duration::ZERO,
        };
        store
            .migrate()
            .await
            .with_context(|| format!("migrating the store at {}", redact(url)))?;
        Ok(store)
    }

    /// This handle with the service's `min_run_gap`: a reconcile asked by
    /// an event ([`Trigger::Event`]) runs no sooner than `gap` after the
    /// repository's previous run *finished*, and so does the follow-up of
    /// a run that events asked for while it ran. Measured from the end,
    /// not the start, so that a run longer than the gap is still followed
    /// by a quiet gap in which a storm's events gather into one run. A
    /// store opened without it has no gap.
    pub fn with_min_run_gap(mut self, gap: Duration) -> Store {
        self.min_run_gap = gap;
        self
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await.context("pinging the store")?;
        });
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Sqlite(pool) => migrator(SQLITE_MIGRATIONS).run(pool).await?,
            Backend::Postgres(pool) => migrator(POSTGRES_MIGRATIONS).run(pool).await?,
        }
        Ok(())
    }

    /// True on Postgres, for the few queries whose SQL differs.
    fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }
}

/// A sqlx migrator over embedded SQL. It records applied versions and
/// checksums in `_sqlx_migrations` and takes a lock while migrating, so
/// reopening is a no-op and replicas starting together do not race.
fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(sql),
                    false,
                )
            })
            .collect(),
    )
}

async fn open_sqlite(url: &str) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("parsing SQLite store URL {url:?}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: in WAL mode NORMAL may lose the last commits on power loss,
        // which would break the promise made by a 2xx to a webhook.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    let path = options.get_filename();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("creating the store directory {}", dir.display()))?;
    }
    let shown = path.display().to_string();
    let pool = SqlitePoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_release(|conn, _| Box::pin(outside_transaction(conn)));
    let pool = if url.contains(":memory:") || url.contains("mode=memory") {
        // An in-memory database lives as long as its last connection: keep
        // exactly one, forever. For tests; nothing survives a restart.
        pool.max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        pool.max_connections(SQLITE_MAX_CONNECTIONS)
    };
    pool.connect_with(options)
        .await
        .with_context(|| format!("opening the SQLite store {shown}"))
}

/// Whether a connection given back to the pool is outside any
/// transaction, so that it may be reused. A COMMIT that fails (a full
/// disk: SQLITE_FULL) can leave SQLite's transaction open while sqlx counts
/// it as ended; the connection's next transactions would then be savepoints
/// inside it, visible to that connection alone, answered as stored and lost
/// when it closes (tests/faults.rs, the full-disk test). Such a connection
/// is closed instead, which rolls the stale transaction back.
async fn outside_transaction(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    // BEGIN fails inside a transaction; otherwise the empty one is undone.
    let clean = sqlx::raw_sql("BEGIN; ROLLBACK").execute(conn).await.is_ok();
    if !clean {
        tracing::warn!("an SQLite connection was left inside a transaction; closing it");
    }
    Ok(clean)
}

async fn open_postgres(url: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("parsing Postgres store URL {}", redact(url)))?;
    PgPoolOptions::new()
        .max_connections(POSTGRES_MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to the Postgres store at {}", redact(url)))
}

/// The URL without a password or query string, fit for logs and errors.
fn redact(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Delay before the retry that follows `attempts` failed attempts:
/// base × 2^(attempts−1), at most the cap.
pub fn retry_backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    RETRY_BACKOFF_BASE
        .saturating_mul(1u32 << doublings)
        .min(RETRY_BACKOFF_CAP)
}

/// `Duration` as milliseconds for arithmetic on `now_ms`.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
