//! The cross-replica half of "one writer per env repo" (docs/ARCHITECTURE.md, Invariants): a
//! Postgres advisory lock per repository. [`crate::lock::RepoLocks`] takes
//! it after the in-process lock; nothing else should.
//!
//! The lock is a **session-level `pg_advisory_lock` on a connection of its
//! own**, opened for the guard and never part of the pool:
//! - Release on drop is prompt and needs no `.await`: the connection is
//!   closed (a task sends `Terminate`; without a runtime the socket is just
//!   dropped), the server ends the session, and ending a session releases
//!   every lock it holds. No pooled connection is ever handed back still
//!   holding a session lock (sqlx's `PgAdvisoryLockGuard` only queues the
//!   unlock until its connection is next used).
//! - A crashed replica's sockets are closed by its OS, so Postgres releases
//!   its locks the same way. A replica whose host vanished without closing
//!   anything is found dead by the server's TCP keepalive, set per session
//!   ([`KEEPALIVE_IDLE`]), in about a minute rather than the OS's two hours.
//! - The pool is never touched. A run holds its lock for minutes (fetch,
//!   registries, forge) and may first wait as long for another replica's
//!   run; neither takes one of the
//!   [`POSTGRES_MAX_CONNECTIONS`](super::POSTGRES_MAX_CONNECTIONS) that
//!   claims and the inbox need, however high `concurrency` is.
//!
//! Why not `pg_advisory_xact_lock` in a transaction the guard owns: taken
//! on a pool connection it pins that connection for the whole run (the pool
//! starves when `concurrency` nears its size), and on a connection of its
//! own it releases the same way as a session lock while leaving the session
//! "idle in transaction" for minutes, which monitoring flags and
//! `idle_in_transaction_session_timeout` kills. The price of our choice is
//! one connection set-up per reconcile, next to a git fetch.
//!
//! Deployment note: a server-side `idle_session_timeout` (Postgres 14+) on
//! imagebump's role would end a lock session mid-run; leave it unset.

use std::time::Duration;

use anyhow::{Context, anyhow};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};

use super::{ACQUIRE_TIMEOUT, Backend, Store};

/// `application_name` of lock connections, to tell them apart in
/// `pg_stat_activity`.
pub const LOCK_APPLICATION_NAME: &str = "imagebump-repo-lock";

/// Hashed in front of the repository name, so that our keys are unlikely
/// to equal those another application derives from the same names.
const KEY_NAMESPACE: &[u8] = b"imagebump repo lock\0";

/// Idle time before the server probes a lock connection: a lock whose
/// replica vanished outlives it by about idle + interval × count.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// Time between the server's unanswered probes.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// Unanswered probes after which the server drops the connection.
const KEEPALIVE_COUNT: u32 = 3;

/// How long a released lock's connection may take to say goodbye before
/// its socket is simply dropped (which ends the session too).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The advisory lock key of `repo`: the first 8 bytes (big-endian) of
/// SHA-256 over [`KEY_NAMESPACE`] and the name. The same in every process,
/// build and Rust version, which `std`'s `DefaultHasher` does not promise.
pub fn advisory_key(repo: &str) -> i64 {
    let digest = Sha256::new()
        .chain_update(KEY_NAMESPACE)
        .chain_update(repo.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// A repository's advisory lock, held until dropped.
pub(crate) struct ReplicaLock {
    /// `None` only during drop.
    conn: Option<PgConnection>,
}

impl Drop for ReplicaLock {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // Closing ends the session, which releases the lock. Graceful when a
        // runtime is at hand; otherwise dropping the socket does the same.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
            });
        }
    }
}

impl Store {
    /// Takes `repo`'s cross-replica lock, waiting while another replica
    /// holds it. `None` when the store is SQLite: one process by design, so
    /// the in-process lock is all there is. An unreachable Postgres is an
    /// error, never a silent skip.
    ///
    /// Dropping the future while it waits closes the connection; the
    /// server notices when the lock is granted to it and frees it again.
    pub(crate) async fn lock_repo(&self, repo: &str) -> anyhow::Result<Option<ReplicaLock>> {
        let Backend::Postgres(pool) = &self.backend else {
            return Ok(None);
        };
        let options = (*pool.connect_options())
            .clone()
            .application_name(LOCK_APPLICATION_NAME)
            .options([
                ("tcp_keepalives_idle", KEEPALIVE_IDLE.as_secs().to_string()),
                (
                    "tcp_keepalives_interval",
                    KEEPALIVE_INTERVAL.as_secs().to_string(),
                ),
                ("tcp_keepalives_count", KEEPALIVE_COUNT.to_string()),
                // Wait as long as the other replica's run takes, whatever
                // the role's defaults say.
                ("lock_timeout", "0".to_string()),
                ("statement_timeout", "0".to_string()),
            ]);
        let context = || format!("taking the cross-replica lock of repository `{repo}`");
        let connect = tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options));
        let mut conn = match connect.await {
            Ok(connected) => connected.context("connecting to Postgres"),
            Err(_) => Err(anyhow!(
                "connecting to Postgres timed out after {ACQUIRE_TIMEOUT:?}"
            )),
        }
        .with_context(context)?;
        let key = advisory_key(repo);
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut conn)
            .await
            .with_context(context)?;
        if !free {
            tracing::info!(
                repo,
                "another replica is reconciling this repository; waiting for its run to end"
            );
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(key)
                .execute(&mut conn)
                .await
                .with_context(context)?;
        }
        Ok(Some(ReplicaLock { conn: Some(conn) }))
    }
}
