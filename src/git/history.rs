//! The base branch's first-parent history, newest first: what promotion
//! (`reconcile/promote.rs`) reads to find the commit that introduced a
//! version in an environment, and since when it has been there. On the
//! first-parent line a merged MR is its merge (or squash) commit, whose
//! committer time is when it reached the branch.

use super::Mirror;

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
    /// Up to `limit` commits of `head`'s first-parent line, `head` first
    /// (the walk of [`Mirror::first_parents`]).
    pub fn first_parent_line(&self, head: &str, limit: usize) -> anyhow::Result<Vec<LineCommit>> {
        Ok(self
            .first_parents(head, None, limit)?
            .into_iter()
            .map(|c| LineCommit {
                parent: c.parents.first().cloned(),
                sha: c.sha,
                committed_ms: c.committed_ms,
            })
            .collect())
    }
}
