//! Build times by manifest digest, and timers: reconciles asked for a
//! later time (docs/ARCHITECTURE.md, "Release age and build order").

use std::collections::HashMap;

use anyhow::Context;

use super::cache::TAG_INSERT_BATCH;
use super::queue::UPSERT_RECONCILE;
use super::{Store, with_pool};

const SAVE_BUILD_TIME: &str =
    "INSERT INTO build_times (digest, created_ms) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING";

/// Keeps the earliest timer of the repository.
const SET_TIMER: &str = "\
INSERT INTO repo_timers (repo, due_at_ms, reason) VALUES ($1, $2, $3)
ON CONFLICT (repo) DO UPDATE SET
    reason = CASE WHEN excluded.due_at_ms < repo_timers.due_at_ms
             THEN excluded.reason ELSE repo_timers.reason END,
    due_at_ms = CASE WHEN excluded.due_at_ms < repo_timers.due_at_ms
                THEN excluded.due_at_ms ELSE repo_timers.due_at_ms END";

const DUE_TIMERS: &str =
    "SELECT repo, reason, due_at_ms FROM repo_timers WHERE due_at_ms <= $1 ORDER BY due_at_ms";

/// Removes the timer fired, unless a later request moved it meanwhile.
const DROP_TIMER: &str = "DELETE FROM repo_timers WHERE repo = $1 AND due_at_ms <= $2";

const TIMERS: &str = "SELECT repo, due_at_ms, reason FROM repo_timers ORDER BY due_at_ms, repo";

fn select_build_times_sql(rows: usize) -> String {
    let params = (1..=rows)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("SELECT digest, created_ms FROM build_times WHERE digest IN ({params})")
}

impl Store {
    /// The known build times of `digests`: `Some(None)` for a digest whose
    /// config has no `created`; digests never saved are absent.
    pub async fn build_times(
        &self,
        digests: &[String],
    ) -> anyhow::Result<HashMap<String, Option<i64>>> {
        let mut out = HashMap::new();
        for chunk in digests.chunks(TAG_INSERT_BATCH) {
            let sql = select_build_times_sql(chunk.len());
            let rows: Vec<(String, Option<i64>)> = with_pool!(self, pool => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for digest in chunk {
                    query = query.bind(digest);
                }
                query.fetch_all(pool).await.context("reading build times")?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// Saves what the config of `digest` says its build time is (a
    /// digest's config never changes: the first answer stays).
    pub async fn save_build_time(
        &self,
        digest: &str,
        created_ms: Option<i64>,
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            sqlx::query(SAVE_BUILD_TIME)
                .bind(digest)
                .bind(created_ms)
                .execute(pool)
                .await
                .with_context(|| format!("saving the build time of {digest}"))?;
        });
        Ok(())
    }

    /// Asks for a reconcile of `repo` at `due_ms`, for `reason`; of two
    /// timers of one repository the earlier stands.
    pub async fn set_timer(&self, repo: &str, due_ms: i64, reason: &str) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            sqlx::query(SET_TIMER)
                .bind(repo)
                .bind(due_ms)
                .bind(reason)
                .execute(pool)
                .await
                .with_context(|| format!("setting a timer for {repo}"))?;
        });
        Ok(())
    }

    /// Every timer, earliest first: `(repo, due_ms, reason)`.
    pub async fn timers(&self) -> anyhow::Result<Vec<(String, i64, String)>> {
        Ok(with_pool!(self, pool => sqlx::query_as(TIMERS)
            .fetch_all(pool)
            .await
            .context("reading timers")?))
    }

    /// Turns every timer due at `now_ms` into a reconcile of its
    /// repository (due at once, as a poll), each in one transaction with
    /// the timer's removal: a crash in between loses neither. Returns the
    /// repositories enqueued.
    pub async fn fire_due_timers(&self, now_ms: i64) -> anyhow::Result<Vec<String>> {
        let due: Vec<(String, String, i64)> = with_pool!(self, pool => sqlx::query_as(DUE_TIMERS)
            .bind(now_ms)
            .fetch_all(pool)
            .await
            .context("reading due timers")?);
        let mut fired = Vec::new();
        for (repo, reason, due_ms) in due {
            let context = || format!("firing the timer of {repo}");
            with_pool!(self, pool => {
                let mut tx = pool.begin().await.with_context(context)?;
                let dropped = sqlx::query(DROP_TIMER)
                    .bind(&repo)
                    .bind(due_ms)
                    .execute(&mut *tx)
                    .await
                    .with_context(context)?
                    .rows_affected();
                // Another replica fired it first.
                if dropped == 0 {
                    continue;
                }
                sqlx::query(UPSERT_RECONCILE)
                    .bind(&repo)
                    .bind(&reason)
                    .bind(now_ms)
                    .bind(0_i64)
                    .execute(&mut *tx)
                    .await
                    .with_context(context)?;
                tx.commit().await.with_context(context)?;
            });
            fired.push(repo);
        }
        Ok(fired)
    }
}
