//! The base branch's first-parent history, newest first: what promotion
//! (`reconcile/promote.rs`) reads to find the commit that introduced a
//! version in an environment, and since when it has been there. On the
//! first-parent line a merged MR is its merge (or squash) commit, whose
//! committer time is when it reached the branch.

use anyhow::Context;

use super::Mirror;
use super::tree::find_commit;

/// One commit of the first-parent line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineCommit {
    pub sha: String,
    /// Its first parent; `None` for a root commit.
    pub parent: Option<String>,
    /// Committer time, in milliseconds since the Unix epoch.
    pub committed_ms: i64,
}

impl Mirror {
    /// Up to `limit` commits of `head`'s first-parent line, `head` first.
    pub fn first_parents(&self, head: &str, limit: usize) -> anyhow::Result<Vec<LineCommit>> {
        let repo = self.local()?;
        let mut out = Vec::new();
        let mut next = Some(head.to_string());
        while let Some(sha) = next.take() {
            if out.len() >= limit {
                break;
            }
            let commit = find_commit(&repo, &sha)?;
            let seconds = commit
                .committer()
                .with_context(|| format!("reading the committer of {sha}"))?
                .time()
                .with_context(|| format!("reading the commit time of {sha}"))?
                .seconds;
            let parent = commit.parent_ids().next().map(|id| id.to_string());
            out.push(LineCommit {
                sha: commit.id.to_string(),
                parent: parent.clone(),
                committed_ms: seconds.saturating_mul(1000),
            });
            next = parent;
        }
        Ok(out)
    }
}
