//! What the status page (`/`, src/server/status.rs) and `imagebump status`
//! show, read from the store, so that every replica shows the same: each
//! repository's latest run, holds and ignores; the queue; the dead letters.
//! Never a secret, a webhook body or its headers.

pub mod page;

use serde::Serialize;

use crate::store::{JobKind, LastRun, Store};

/// Everything shown, as read at `now_ms`.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub now_ms: i64,
    pub repos: Vec<RepoStatus>,
    pub queue: Queue,
    pub dead_letters: Vec<DeadLetter>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RepoStatus {
    pub name: String,
    /// `None` before its first run.
    pub last_run: Option<LastRun>,
    /// The latest run's end plus the poll interval (the poller adds jitter);
    /// `None` for a repository no longer configured.
    pub next_poll_ms: Option<i64>,
    /// Policies held by `/imagebump hold`, by name.
    pub holds: Vec<String>,
    pub rollback_holds: Vec<RollbackHoldView>,
    /// `policy: version` and `policy: update type` ignored.
    pub ignores: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RollbackHoldView {
    pub policy: String,
    pub file: String,
    /// The version rolled back from, and to.
    pub from: String,
    pub to: String,
    pub commit: String,
    pub author: String,
    pub at_ms: i64,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Queue {
    pub depth: u64,
    pub oldest_age_ms: Option<i64>,
    pub dead: u64,
}

impl Queue {
    /// The oldest job's age in words, `-` when the queue is empty.
    pub fn oldest(&self) -> String {
        self.oldest_age_ms
            .map(span)
            .unwrap_or_else(|| "-".to_string())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    /// `reconcile`, `command`, or `unreadable`.
    pub kind: String,
    pub repo: Option<String>,
    pub attempts: u32,
    pub dead_at_ms: i64,
    pub last_error: String,
}

/// Reads the status of the repositories `names` (configured ones; any
/// other repository with a recorded run is added) at `now_ms`.
pub async fn collect(
    store: &Store,
    names: &[String],
    poll_interval_ms: i64,
    now_ms: i64,
) -> anyhow::Result<Status> {
    let runs = store.last_runs().await?;
    let mut all: Vec<String> = names.to_vec();
    all.extend(runs.iter().map(|r| r.repo.clone()));
    all.sort();
    all.dedup();
    let mut repos = Vec::with_capacity(all.len());
    for name in all {
        let last_run = runs.iter().find(|r| r.repo == name).cloned();
        let mut holds: Vec<String> = store.holds(&name).await?.into_iter().collect();
        holds.sort();
        let rollback_holds = store
            .rollback_holds(&name)
            .await?
            .into_iter()
            .map(|h| RollbackHoldView {
                policy: h.key.policy,
                file: h.key.file,
                from: h.from.tag,
                to: h.to.tag,
                commit: h.commit,
                author: h.author,
                at_ms: h.at_ms,
            })
            .collect();
        let ignored = store.ignored(&name).await?;
        let mut ignores: Vec<String> = ignored
            .versions
            .iter()
            .flat_map(|(p, vs)| vs.iter().map(move |v| format!("{p}: version {v}")))
            .chain(
                ignored
                    .update_types
                    .iter()
                    .flat_map(|(p, ts)| ts.iter().map(move |t| format!("{p}: {t} updates"))),
            )
            .collect();
        ignores.sort();
        repos.push(RepoStatus {
            next_poll_ms: last_run
                .as_ref()
                .filter(|_| names.contains(&name))
                .map(|r| r.finished_at_ms.saturating_add(poll_interval_ms)),
            name,
            last_run,
            holds,
            rollback_holds,
            ignores,
        });
    }
    let stats = store.queue_stats(now_ms).await?;
    let dead_letters = store
        .dead_letters()
        .await?
        .into_iter()
        .map(|d| {
            let (kind, repo) = match &d.kind {
                Some(JobKind::Reconcile { repo, .. }) => ("reconcile", Some(repo.clone())),
                Some(JobKind::Command { repo, .. }) => ("command", Some(repo.clone())),
                None => ("unreadable", None),
            };
            DeadLetter {
                id: d.id,
                kind: kind.to_string(),
                repo,
                attempts: d.attempts,
                dead_at_ms: d.dead_at_ms,
                last_error: d.last_error,
            }
        })
        .collect();
    Ok(Status {
        now_ms,
        repos,
        queue: Queue {
            depth: stats.depth,
            oldest_age_ms: stats.oldest_age_ms,
            dead: stats.dead,
        },
        dead_letters,
    })
}

pub use crate::timefmt::{span, utc as when};

/// Plain text for `imagebump status`.
pub fn text(s: &Status) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "Repositories");
    for r in &s.repos {
        match &r.last_run {
            Some(run) => {
                let _ = writeln!(
                    out,
                    "  {}: last run {} ({} ago), {}{}",
                    r.name,
                    when(run.finished_at_ms),
                    span(s.now_ms.saturating_sub(run.finished_at_ms)),
                    run.outcome.as_deref().unwrap_or("unknown"),
                    run.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
            }
            None => {
                let _ = writeln!(out, "  {}: not run yet", r.name);
            }
        }
        for h in &r.holds {
            let _ = writeln!(out, "    held: {h} (/imagebump hold)");
        }
        for h in &r.rollback_holds {
            let _ = writeln!(
                out,
                "    rollback hold: {} in {}, {} -> {}, by {} in {} at {}",
                h.policy,
                h.file,
                h.from,
                h.to,
                h.author,
                h.commit,
                when(h.at_ms)
            );
        }
        for i in &r.ignores {
            let _ = writeln!(out, "    ignored: {i}");
        }
    }
    let _ = writeln!(
        out,
        "Queue\n  depth {}, oldest {}, dead letters {}",
        s.queue.depth,
        s.queue.oldest(),
        s.queue.dead
    );
    for d in &s.dead_letters {
        let _ = writeln!(
            out,
            "  dead letter {}: {} {} after {} attempts: {}",
            d.id,
            d.kind,
            d.repo.as_deref().unwrap_or("-"),
            d.attempts,
            d.last_error
        );
    }
    out
}

#[cfg(test)]
mod tests;
