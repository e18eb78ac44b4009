//! Finding rollbacks in the base branch's history and keeping the holds in
//! the store: each run compares the new base HEAD with the last one seen
//! (kept per repository in the store), walking the first-parent commits in
//! between, oldest first, and reading only the files each commit changed.

use std::collections::BTreeMap;

use crate::clock::Clock;
use crate::git::CommitInfo;
use crate::plan::SourceFile;
use crate::policy::RepoConfig;
use crate::reconcile::{Repo, decode_marker};
use crate::store::Store;

use super::{Made, RefKey, RollbackHold, managed_in, moves, reverted, superseded, take};

/// The most commits one run walks between the last base HEAD seen and the
/// new one (a longer gap is read from its newest end).
pub const MAX_WALK: usize = 200;

/// How far back the first run of a repository looks, with no HEAD seen.
pub const FIRST_WINDOW: usize = 50;

/// Where a repository's rollback holds live: the service's store, on the
/// service's clock.
#[derive(Clone, Debug)]
pub struct Book {
    store: Store,
    clock: Clock,
}

impl Book {
    pub fn new(store: Store, clock: Clock) -> Book {
        Book { store, clock }
    }

    /// Finds the rollbacks among the base commits since the last HEAD seen,
    /// records the holds they make and release (and those the base at
    /// `head`, whose selected `files` are given, no longer bears; `unread`
    /// are the selected files that could not be read there), and
    /// returns the holds standing. The HEAD is recorded as seen last, so a
    /// second run at the same HEAD reads no history and writes nothing.
    pub async fn track(
        &self,
        repo: &Repo,
        config: &RepoConfig,
        head: &str,
        files: &[SourceFile],
        unread: &[&str],
    ) -> anyhow::Result<Vec<RollbackHold>> {
        let name = repo.mirror.name();
        let stored = self.store.rollback_holds(name).await?;
        let mut holds: BTreeMap<RefKey, RollbackHold> =
            stored.iter().map(|h| (h.key.clone(), h.clone())).collect();
        let last = self.store.base_head(name).await?;
        if last.as_deref() != Some(head) {
            let limit = if last.is_some() {
                MAX_WALK
            } else {
                FIRST_WINDOW
            };
            let commits = repo.mirror.first_parents(head, last.as_deref(), limit)?;
            let now = self.clock.now_ms();
            for c in commits.iter().rev() {
                self.take_commit(repo, config, c, now, &mut holds)?;
            }
        }
        for (hold, why) in superseded(&mut holds, config, files, unread) {
            tracing::info!(repo = name, hold = %hold.describe(), "rollback hold released: {why}");
        }
        for old in &stored {
            if !holds.contains_key(&old.key) {
                self.store.release_rollback_hold(name, &old.key).await?;
            }
        }
        for hold in holds.values() {
            if !stored.contains(hold) {
                tracing::info!(repo = name, hold = %hold.describe(), "a person rolled a reference back: held");
                self.store.save_rollback_hold(name, hold).await?;
            }
        }
        if last.as_deref() != Some(head) {
            self.store.set_base_head(name, head).await?;
        }
        crate::metrics::rollback_holds(name, holds.len());
        Ok(holds.into_values().collect())
    }

    /// Takes one base commit into `holds`: a person's commit that lowers a
    /// reference (or reverts a bot commit) holds it; one that raises a held
    /// reference releases it. The bot's own commits change nothing.
    fn take_commit(
        &self,
        repo: &Repo,
        config: &RepoConfig,
        c: &CommitInfo,
        now: i64,
        holds: &mut BTreeMap<RefKey, RollbackHold>,
    ) -> anyhow::Result<()> {
        let Some(parent) = c.parents.first() else {
            return Ok(()); // the first commit: nothing before it to lower
        };
        if is_bots(repo, c) {
            return Ok(());
        }
        let revert = reverted(&c.message).is_some_and(|sha| {
            repo.mirror
                .commit_info(sha)
                .is_ok_and(|reverted| is_bots(repo, &reverted))
        });
        let (before, after) = repo.mirror.changed_files(
            parent,
            &c.sha,
            &config.files,
            &config.exclude,
            config.max_file_bytes,
        )?;
        let moved = moves(
            config,
            &managed_in(config, &before),
            &managed_in(config, &after),
            revert,
        );
        let made = Made {
            commit: &c.sha,
            author: &c.author_email,
            at_ms: now,
        };
        take(holds, config, &moved, made);
        Ok(())
    }
}

/// Whether a base commit is the bot's change: authored by the bot (its
/// `[git]` identity, or the platform's API commits for it), carrying the
/// hidden marker of a bot MR (a squash merge keeps the MR's description),
/// or a merge commit whose merged side is the bot's (the platform merging
/// a bot MR).
fn is_bots(repo: &Repo, c: &CommitInfo) -> bool {
    let by_bot =
        |email: &str| email == repo.identity.email || repo.api_author.as_deref() == Some(email);
    if by_bot(&c.author_email) || decode_marker(&c.message).is_some() {
        return true;
    }
    c.parents.len() > 1
        && c.parents[1..].iter().all(|p| {
            repo.mirror
                .commit_info(p)
                .is_ok_and(|merged| by_bot(&merged.author_email))
        })
}
