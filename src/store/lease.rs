//! Claims and how they end: one job per claim, completion (with the
//! repository's follow-up run), failures with retries and dead letters,
//! leases given back, and abandoned leases buried.
//!
//! A repository has at most one live reconcile row (the unique index of
//! `migrations/*/0003_one_reconcile_per_repo.sql`). While it is leased, a
//! request for the repository is kept on that row as its follow-up
//! (`rerun_reason`, see [`UPSERT_RECONCILE`]). When the run completes, the
//! row becomes that follow-up, due [`min_run_gap`](Store::with_min_run_gap)
//! later; without one it is deleted. A claim leases one row, so a worker
//! holds one reconcile at a time, repositories spread over the workers,
//! and no repository is ever leased twice (docs/ARCHITECTURE.md, "Queue").

use std::time::Duration;

use anyhow::{Context, bail};

use super::queue::{JobRow, UPSERT_RECONCILE, job_from_row};
use super::{Failed, Job, MAX_ATTEMPTS, Store, millis, retry_backoff, with_pool};

/// `a` and `b` (comma-separated lists of reasons, either NULL) as one
/// list; `b` is added unless `a` already holds it.
macro_rules! merge_reasons {
    ($a:literal, $b:literal) => {
        concat!(
            "CASE WHEN ",
            $b,
            " IS NULL THEN ",
            $a,
            " WHEN ",
            $a,
            " IS NULL OR ",
            $a,
            " = '' THEN ",
            $b,
            " WHEN (', ' || ",
            $a,
            " || ', ') LIKE ('%, ' || ",
            $b,
            " || ', %') THEN ",
            $a,
            " ELSE ",
            $a,
            " || ', ' || ",
            $b,
            " END"
        )
    };
}
pub(super) use merge_reasons;

/// The claim, as one statement: the due job first due (then oldest),
/// leased until `$2`, one attempt more; a follow-up asked before the claim
/// joins the run that starts now. `{lock}` is empty on SQLite (a write
/// statement holds the database lock from its start) and
/// `FOR UPDATE SKIP LOCKED` on Postgres: a row another claim is taking is
/// skipped, and one leased since this statement's snapshot is re-checked
/// and passed over.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET leased_by = $1, lease_until_ms = $2, attempts = attempts + 1,
    reason = ",
            merge_reasons!("reason", "rerun_reason"),
            ", rerun_reason = NULL, rerun_at_ms = NULL
WHERE id IN (
    SELECT id FROM jobs
    WHERE dead_at_ms IS NULL AND due_at_ms <= $3
      AND (lease_until_ms IS NULL OR lease_until_ms <= $3)
    ORDER BY due_at_ms, id LIMIT 1 ",
            $lock,
            ")
RETURNING id, kind, payload, repo, reason, source, delivery, attempts, enqueued_at_ms"
        )
    };
}
const CLAIM_SQLITE: &str = claim_sql!("");
const CLAIM_POSTGRES: &str = claim_sql!("FOR UPDATE SKIP LOCKED");

/// Moves jobs whose last permitted attempt lost its lease to the dead
/// letters ($1 = now, $2 = MAX_ATTEMPTS); returns the follow-ups they held.
const BURY_ABANDONED: &str = "\
UPDATE jobs
SET dead_at_ms = $1, leased_by = NULL, lease_until_ms = NULL,
    last_error = 'lease expired: the worker crashed or hung'
                 || COALESCE('; previous error: ' || last_error, '')
WHERE dead_at_ms IS NULL AND lease_until_ms <= $1 AND attempts >= $2
RETURNING repo, rerun_reason";

/// Dead-letters one job at once (a payload that no longer decodes).
const BURY_ONE: &str = "\
UPDATE jobs SET dead_at_ms = $2, leased_by = NULL, lease_until_ms = NULL, last_error = $3
WHERE id = $1";

/// The claim `($1, $2, $3)` = (job id, leased_by, lease_until_ms) still
/// holds its row: no later claim took it over after its lease ran out.
macro_rules! held_by_claim {
    () => {
        "id = $1 AND leased_by = $2 AND lease_until_ms = $3 AND dead_at_ms IS NULL"
    };
}

/// A job done with no follow-up asked: gone. Runs before
/// [`RUN_FOLLOW_UP`], so that a follow-up asked meanwhile is never lost:
/// a request that sees the row deleted inserts a new one.
const DELETE_DONE: &str = concat!(
    "DELETE FROM jobs WHERE ",
    held_by_claim!(),
    " AND rerun_reason IS NULL RETURNING kind, repo"
);

/// A reconcile done whose follow-up was asked: the row becomes that run,
/// due at `$4`, with fresh attempts.
const RUN_FOLLOW_UP: &str = concat!(
    "UPDATE jobs SET reason = rerun_reason, enqueued_at_ms = rerun_at_ms,
    rerun_reason = NULL, rerun_at_ms = NULL, leased_by = NULL, lease_until_ms = NULL,
    attempts = 0, last_error = NULL, due_at_ms = $4
WHERE ",
    held_by_claim!(),
    " AND rerun_reason IS NOT NULL
RETURNING kind, repo"
);

/// When the repository's latest run ended (`repo_runs`, for the gap), and
/// what it ended with (the status page, src/status/).
const RECORD_RUN: &str = "\
INSERT INTO repo_runs (repo, finished_at_ms, outcome, error) VALUES ($1, $2, $3, $4)
ON CONFLICT (repo) DO UPDATE SET finished_at_ms = excluded.finished_at_ms,
    outcome = excluded.outcome, error = excluded.error";

/// Runs [`RECORD_RUN`] in the transaction `$tx` (either backend). A run's
/// end is recorded after its job row is updated, the order every
/// transaction here takes its locks in.
macro_rules! record_run {
    ($tx:ident, $repo:expr, $now:expr, $error:expr) => {
        sqlx::query(RECORD_RUN)
            .bind($repo)
            .bind($now)
            .bind(if $error.is_some() { "failed" } else { "ok" })
            .bind($error)
            .execute(&mut *$tx)
    };
}

const ATTEMPTS: &str = concat!(
    "SELECT attempts, kind, repo, rerun_reason FROM jobs WHERE ",
    held_by_claim!()
);

/// Scheduled again at `$3`, or at `$5` (the gap after this run) when a
/// follow-up was asked and that is sooner: the retry is that follow-up.
const RETRY: &str = "\
UPDATE jobs SET leased_by = NULL, lease_until_ms = NULL, last_error = $2,
    due_at_ms = CASE WHEN rerun_reason IS NOT NULL AND $5 < $3 THEN $5 ELSE $3 END
WHERE id = $1 AND attempts = $4 AND dead_at_ms IS NULL
RETURNING due_at_ms";

const KILL: &str = "\
UPDATE jobs SET leased_by = NULL, lease_until_ms = NULL, last_error = $2, dead_at_ms = $3
WHERE id = $1 AND attempts = $4 AND dead_at_ms IS NULL";

const RELEASE: &str = "\
UPDATE jobs SET leased_by = NULL, lease_until_ms = NULL,
    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
WHERE id = $1 AND dead_at_ms IS NULL";

impl Store {
    /// Claims one due job (not leased, or its lease ran out) until
    /// `now + lease`, counting an attempt: the one due first, then the
    /// oldest. Concurrent claimers never get the same job, and never a
    /// reconcile of a repository another lease holds.
    pub async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        now_ms: i64,
    ) -> anyhow::Result<Option<Job>> {
        let lease_until_ms = now_ms.saturating_add(millis(lease));
        let claim_sql = if self.is_postgres() {
            CLAIM_POSTGRES
        } else {
            CLAIM_SQLITE
        };
        let last = self.last_bury_ms.load(std::sync::atomic::Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= millis(super::BURY_EVERY) || now_ms < last {
            self.last_bury_ms
                .store(now_ms, std::sync::atomic::Ordering::Relaxed);
            self.bury_abandoned(now_ms).await?;
        }
        with_pool!(self, pool => {
            // Undecodable jobs are dead-lettered; claim again until a
            // decodable job comes back or none is due.
            loop {
                let row: Option<JobRow> = sqlx::query_as(claim_sql)
                    .bind(worker)
                    .bind(lease_until_ms)
                    .bind(now_ms)
                    .fetch_optional(pool)
                    .await
                    .context("claiming a job")?;
                let Some(row) = row else { return Ok(None) };
                let id = row.0;
                match job_from_row(row, worker, lease_until_ms) {
                    Ok(job) => return Ok(Some(job)),
                    Err(error) => {
                        tracing::error!(job = id, "dead-lettering an undecodable job: {error:#}");
                        sqlx::query(BURY_ONE)
                            .bind(id)
                            .bind(now_ms)
                            .bind(format!("{error:#}"))
                            .execute(pool)
                            .await
                            .with_context(|| format!("dead-lettering job {id}"))?;
                    }
                }
            }
        })
    }

    /// Dead-letters the jobs whose last attempt lost its lease; a
    /// follow-up one of them held is queued afresh.
    async fn bury_abandoned(&self, now_ms: i64) -> anyhow::Result<()> {
        let context = || "dead-lettering abandoned jobs";
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.with_context(context)?;
            let buried: Vec<(Option<String>, Option<String>)> = sqlx::query_as(BURY_ABANDONED)
                .bind(now_ms)
                .bind(i64::from(MAX_ATTEMPTS))
                .fetch_all(&mut *tx)
                .await
                .with_context(context)?;
            for (repo, reason) in buried {
                let (Some(repo), Some(reason)) = (repo, reason) else { continue };
                sqlx::query(UPSERT_RECONCILE)
                    .bind(repo)
                    .bind(reason)
                    .bind(now_ms)
                    .bind(millis(self.min_run_gap))
                    .execute(&mut *tx)
                    .await
                    .with_context(context)?;
            }
            tx.commit().await.with_context(context)?;
        });
        Ok(())
    }

    /// Finishes the claimed `job` successfully at `now_ms`. Without a
    /// follow-up it is deleted; a reconcile whose follow-up was asked while
    /// it ran becomes that run, due `min_run_gap` from now. If its lease ran
    /// out and another worker claimed it meanwhile, the job is left to that
    /// claim: this run may have started before what the later claim took
    /// up (a follow-up asked meanwhile joins the later claim), so only the
    /// later claim may end it.
    pub async fn complete(&self, job: &Job, now_ms: i64) -> anyhow::Result<()> {
        let job_id = job.id;
        let follow_up_due = now_ms.saturating_add(millis(self.min_run_gap));
        let context = || format!("completing job {job_id}");
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.with_context(context)?;
            let mut done: Option<(String, Option<String>)> = sqlx::query_as(DELETE_DONE)
                .bind(job_id)
                .bind(&job.leased_by)
                .bind(job.lease_until_ms)
                .fetch_optional(&mut *tx)
                .await
                .with_context(context)?;
            if done.is_none() {
                done = sqlx::query_as(RUN_FOLLOW_UP)
                    .bind(job_id)
                    .bind(&job.leased_by)
                    .bind(job.lease_until_ms)
                    .bind(follow_up_due)
                    .fetch_optional(&mut *tx)
                    .await
                    .with_context(context)?;
            }
            match done {
                None => tracing::warn!(
                    job = job_id,
                    "completed a job that is no longer this claim's (its lease ran out and it \
                     was claimed again, or it is gone); leaving it to the later claim"
                ),
                Some((kind, Some(repo))) if kind == "reconcile" => {
                    record_run!(tx, repo, now_ms, None::<&str>).await.with_context(context)?;
                }
                Some(_) => {}
            }
            tx.commit().await.with_context(context)?;
        });
        Ok(())
    }

    /// Records a failed attempt. With attempts left the job is scheduled
    /// again after [`retry_backoff`] (sooner, `min_run_gap` from now, when
    /// a follow-up was asked while it ran); otherwise it goes to the dead
    /// letters, and a follow-up it held is queued afresh. Either way
    /// `error` is kept as its last error. Fails if the job is gone or was
    /// claimed again meanwhile (its lease ran out): then it is the later
    /// claim's.
    pub async fn fail(&self, job: &Job, error: &str, now_ms: i64) -> anyhow::Result<Failed> {
        let job_id = job.id;
        let context = || format!("recording the failure of job {job_id}");
        let gap_ms = millis(self.min_run_gap);
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.with_context(context)?;
            let row: Option<(i64, String, Option<String>, Option<String>)> =
                sqlx::query_as(ATTEMPTS)
                    .bind(job_id)
                    .bind(&job.leased_by)
                    .bind(job.lease_until_ms)
                    .fetch_optional(&mut *tx)
                    .await
                    .with_context(context)?;
            let Some((attempts, kind, repo, follow_up)) = row else {
                bail!(
                    "job {job_id} is no longer this claim's (completed, dead, or claimed again \
                     after its lease ran out)"
                );
            };
            let repo = repo.filter(|_| kind == "reconcile");
            let done = u32::try_from(attempts).unwrap_or(u32::MAX);
            let outcome = if done < MAX_ATTEMPTS {
                let backoff_at = now_ms.saturating_add(millis(retry_backoff(done)));
                let at_ms: Option<i64> = sqlx::query_scalar(RETRY)
                    .bind(job_id)
                    .bind(error)
                    .bind(backoff_at)
                    .bind(attempts)
                    .bind(now_ms.saturating_add(gap_ms))
                    .fetch_optional(&mut *tx)
                    .await
                    .with_context(context)?;
                let Some(at_ms) = at_ms else {
                    bail!("job {job_id} was claimed again before its failure was recorded");
                };
                if let Some(repo) = &repo {
                    record_run!(tx, repo, now_ms, Some(error)).await.with_context(context)?;
                }
                Failed::Retrying { at_ms }
            } else {
                let killed = sqlx::query(KILL)
                    .bind(job_id)
                    .bind(error)
                    .bind(now_ms)
                    .bind(attempts)
                    .execute(&mut *tx)
                    .await
                    .with_context(context)?
                    .rows_affected();
                if killed == 0 {
                    bail!("job {job_id} was claimed again before its failure was recorded");
                }
                if let Some(repo) = &repo {
                    record_run!(tx, repo, now_ms, Some(error)).await.with_context(context)?;
                }
                if let (Some(repo), Some(reason)) = (&repo, &follow_up) {
                    sqlx::query(UPSERT_RECONCILE)
                        .bind(repo)
                        .bind(reason)
                        .bind(now_ms)
                        .bind(gap_ms)
                        .execute(&mut *tx)
                        .await
                        .with_context(context)?;
                }
                Failed::Dead
            };
            tx.commit().await.with_context(context)?;
            Ok(outcome)
        })
    }

    /// Gives back the leases of `job_ids`, the unfinished jobs of a worker
    /// that is stopping: due at once for any replica, and the attempt that
    /// was cut short does not count. A follow-up asked meanwhile joins the
    /// next claim of the job.
    pub async fn release(&self, job_ids: &[i64]) -> anyhow::Result<()> {
        for id in job_ids {
            with_pool!(self, pool => sqlx::query(RELEASE)
                .bind(id)
                .execute(pool)
                .await
                .with_context(|| format!("releasing the lease of job {id}"))?
                .rows_affected());
        }
        Ok(())
    }
}
