//! One writer per environment repository (docs/ARCHITECTURE.md,
//! Invariants). A [`RepoGuard`] is the proof a push path must hold: `git` refuses to push for a repo
//! without its guard.
//!
//! Taking a repo's guard takes, in this order:
//! 1. the in-process lock, a tokio mutex per repo name. Runs of this
//!    process queue here holding no database connection, so a process uses
//!    at most one lock connection per repo;
//! 2. when the locks were built [`for_store`](RepoLocks::for_store) and that
//!    store is shared by replicas (Postgres), the repo's advisory lock, on a
//!    connection of its own (see the store's `advisory.rs`): a run waits
//!    there for another replica's run to end. Reconcile is idempotent, so
//!    the waiter then simply runs against the fresh state.
//!
//! Dropping the guard releases both; a crashed replica's advisory locks are
//! released by Postgres when its connections die. Taking the advisory lock
//! can fail (Postgres unreachable): [`RepoLocks::acquire`] then returns the
//! error, and the reconcile fails and is retried rather than running
//! unlocked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

use crate::store::{ReplicaLock, Store};

/// The locks of every repository this process manages. Cheap to clone;
/// clones share the locks.
///
/// `RepoLocks::default()` is in-process only: for runs without a store
/// (tests of the git layer). The service builds its locks with
/// [`RepoLocks::for_store`].
#[derive(Clone, Default)]
pub struct RepoLocks {
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Where cross-replica locks come from; `None`: this process only.
    store: Option<Store>,
}

/// Held while a repository is being reconciled; dropping it releases the
/// lock, the advisory lock (if any) first.
pub struct RepoGuard {
    repo: String,
    _replica: Option<ReplicaLock>,
    _local: OwnedMutexGuard<()>,
}

impl RepoGuard {
    /// The repository this guard locks.
    pub fn repo(&self) -> &str {
        &self.repo
    }
}

impl RepoLocks {
    /// Locks that also exclude the other replicas sharing `store`: on
    /// Postgres each guard holds the repo's advisory lock as well; on
    /// SQLite (one process by design) the in-process lock is all there is.
    pub fn for_store(store: &Store) -> RepoLocks {
        RepoLocks {
            locks: Arc::default(),
            store: Some(store.clone()),
        }
    }

    fn lock_of(&self, repo: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(repo.to_string()).or_default().clone()
    }

    /// Waits until no one else — in this process or, with a shared store,
    /// in another replica — reconciles `repo`. Fails only when the
    /// cross-replica lock cannot be taken (the store is unreachable).
    pub async fn acquire(&self, repo: &str) -> anyhow::Result<RepoGuard> {
        let local = self.lock_of(repo).lock_owned().await;
        let replica = match &self.store {
            Some(store) => store.lock_repo(repo).await?,
            None => None,
        };
        Ok(RepoGuard {
            repo: repo.to_string(),
            _replica: replica,
            _local: local,
        })
    }
}
