//! One writer per environment repository (DESIGN.md §1): an in-process
//! lock per repo name. A [`RepoGuard`] is the proof a push path must hold:
//! `git` refuses to push for a repo without its guard.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

/// The locks of every repository this process manages.
#[derive(Clone, Default)]
pub struct RepoLocks {
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

/// Held while a repository is being reconciled; dropping it releases the
/// lock.
pub struct RepoGuard {
    repo: String,
    _guard: OwnedMutexGuard<()>,
}

impl RepoGuard {
    /// The repository this guard locks.
    pub fn repo(&self) -> &str {
        &self.repo
    }
}

impl RepoLocks {
    fn lock_of(&self, repo: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(repo.to_string()).or_default().clone()
    }

    /// Waits until no one else reconciles `repo`.
    pub async fn acquire(&self, repo: &str) -> RepoGuard {
        let guard = self.lock_of(repo).lock_owned().await;
        RepoGuard {
            repo: repo.to_string(),
            _guard: guard,
        }
    }

    /// The guard if `repo` is free now.
    pub fn try_acquire(&self, repo: &str) -> Option<RepoGuard> {
        let guard = self.lock_of(repo).try_lock_owned().ok()?;
        Some(RepoGuard {
            repo: repo.to_string(),
            _guard: guard,
        })
    }
}
