//! What each repository's latest run ended with (`repo_runs`, written by
//! `Store::complete` and `Store::fail`; migrations/*/0009), for the status
//! page and `imagebump status` (src/status/).

use anyhow::Context;

use super::{Store, with_pool};

const LAST_RUNS: &str = "SELECT repo, finished_at_ms, outcome, error FROM repo_runs ORDER BY repo";

/// One repository's latest run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LastRun {
    pub repo: String,
    pub finished_at_ms: i64,
    /// `ok` or `failed`; `None` for a run recorded before it was kept.
    pub outcome: Option<String>,
    /// The error of a failed run.
    pub error: Option<String>,
}

impl Store {
    /// The latest run of every repository that ran, by name.
    pub async fn last_runs(&self) -> anyhow::Result<Vec<LastRun>> {
        let rows: Vec<(String, i64, Option<String>, Option<String>)> = with_pool!(self, pool =>
            sqlx::query_as(LAST_RUNS).fetch_all(pool).await.context("reading the latest runs")?);
        Ok(rows
            .into_iter()
            .map(|(repo, finished_at_ms, outcome, error)| LastRun {
                repo,
                finished_at_ms,
                outcome,
                error,
            })
            .collect())
    }
}
