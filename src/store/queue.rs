//! The job queue's enqueue side (with the coalescing of reconciles per
//! repository), queue stats and dead letters. Deliveries are stored in
//! `intake.rs`; claims, completion, retries and leases are in `lease.rs`.
//!
//! A job row is *pending* (no lease, or a lease that ran out), *leased*
//! (`lease_until_ms` in the future) or *dead* (`dead_at_ms` set); a
//! completed job is deleted, or, for a reconcile asked again while it ran,
//! becomes its follow-up. Every state change is one statement or one
//! transaction, so concurrent workers and webhook handlers never see half
//! of one. Each claim counts as an attempt, so a job that keeps crashing
//! its worker still reaches the dead letters after
//! [`MAX_ATTEMPTS`](super::MAX_ATTEMPTS).

use anyhow::{Context, bail};

use super::lease::merge_reasons;
use super::{DeadJob, Job, JobKind, QueueStats, Store, Trigger, millis, with_pool};

/// Asks for a reconcile of `$1` for reason `$2` at `$3` (now), due no
/// sooner than `$4` ms after the repository's previous run finished (0 for
/// a poll). The repository's one live reconcile row absorbs it: if that
/// row is leased, the request becomes (or joins) the row's follow-up run;
/// if it is waiting, the request joins it, pulling it earlier if this one
/// is due sooner. See `lease.rs`.
pub(super) const UPSERT_RECONCILE: &str = concat!(
    "INSERT INTO jobs (kind, repo, reason, attempts, enqueued_at_ms, due_at_ms)
VALUES ('reconcile', $1, $2, 0, $3, COALESCE(
    (SELECT CASE WHEN finished_at_ms + $4 > $3 THEN finished_at_ms + $4 ELSE $3 END
     FROM repo_runs WHERE repo = $1), $3))
ON CONFLICT (repo) WHERE kind = 'reconcile' AND dead_at_ms IS NULL DO UPDATE SET
    reason = CASE WHEN jobs.lease_until_ms > $3 THEN jobs.reason ELSE ",
    merge_reasons!("jobs.reason", "excluded.reason"),
    " END,
    rerun_reason = CASE WHEN jobs.lease_until_ms > $3 THEN ",
    merge_reasons!("jobs.rerun_reason", "excluded.reason"),
    " ELSE jobs.rerun_reason END,
    rerun_at_ms = CASE WHEN jobs.lease_until_ms > $3 THEN COALESCE(jobs.rerun_at_ms, $3)
                  ELSE jobs.rerun_at_ms END,
    due_at_ms = CASE WHEN jobs.lease_until_ms > $3 OR jobs.due_at_ms <= excluded.due_at_ms
                THEN jobs.due_at_ms ELSE excluded.due_at_ms END"
);

const STATS: &str = "\
SELECT COUNT(CASE WHEN dead_at_ms IS NULL THEN 1 END),
       COUNT(dead_at_ms),
       MIN(CASE WHEN dead_at_ms IS NULL THEN enqueued_at_ms END)
FROM jobs";

const DEAD_LETTERS: &str = "\
SELECT id, kind, payload, repo, reason, source, delivery, attempts, enqueued_at_ms,
       dead_at_ms, last_error
FROM jobs WHERE dead_at_ms IS NOT NULL ORDER BY id";

/// `id, kind, payload, repo, reason, source, delivery, attempts, enqueued_at_ms`.
pub(super) type JobRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

/// A [`JobRow`] followed by `dead_at_ms, last_error`.
type DeadRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

impl Store {
    /// Asks for a reconcile of `repo`. A poll is due at once; an event
    /// no sooner than [`min_run_gap`](Store::with_min_run_gap) after the
    /// repository's previous run finished. The repository's one live
    /// reconcile absorbs the request: a waiting one runs for it too (due
    /// at the sooner of the two), and a leased one gets it as its one
    /// follow-up, which runs after the leased run ends, since that run may
    /// have read HEAD and the registry before the news.
    pub async fn enqueue_reconcile(
        &self,
        repo: &str,
        reason: &str,
        trigger: Trigger,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let gap_ms = match trigger {
            Trigger::Event => millis(self.min_run_gap),
            Trigger::Poll => 0,
        };
        with_pool!(self, pool => {
            sqlx::query(UPSERT_RECONCILE)
                .bind(repo)
                .bind(reason)
                .bind(now_ms)
                .bind(gap_ms)
                .execute(pool)
                .await
                .with_context(|| format!("enqueueing a reconcile of {repo}"))?;
        });
        Ok(())
    }

    /// Queue depth (pending and leased), age of its oldest job, and the
    /// number of dead letters.
    pub async fn queue_stats(&self, now_ms: i64) -> anyhow::Result<QueueStats> {
        let (depth, dead, oldest): (i64, i64, Option<i64>) = with_pool!(self, pool =>
            sqlx::query_as(STATS).fetch_one(pool).await.context("reading queue stats")?);
        Ok(QueueStats {
            depth: u64::try_from(depth).unwrap_or(0),
            oldest_age_ms: oldest.map(|at| now_ms.saturating_sub(at).max(0)),
            dead: u64::try_from(dead).unwrap_or(0),
        })
    }

    /// The dead letters, oldest first.
    pub async fn dead_letters(&self) -> anyhow::Result<Vec<DeadJob>> {
        let rows: Vec<DeadRow> = with_pool!(self, pool =>
            sqlx::query_as(DEAD_LETTERS).fetch_all(pool).await.context("reading dead letters")?);
        Ok(rows.into_iter().map(dead_from_row).collect())
    }
}

fn kind_from_columns(
    kind: &str,
    payload: Option<&str>,
    repo: Option<String>,
    reason: Option<String>,
) -> anyhow::Result<JobKind> {
    match kind {
        "command" => {
            let payload = payload.context("command job without payload")?;
            Ok(JobKind::Command {
                repo: repo.context("command job without repo")?,
                command: serde_json::from_str(payload).context("decoding the job's command")?,
            })
        }
        "reconcile" => Ok(JobKind::Reconcile {
            repo: repo.context("reconcile job without repo")?,
            reason: reason.unwrap_or_default(),
        }),
        // Stored by a version that routed events in the workers; it names
        // no configured repository, so it goes to the dead letters with
        // this message (docs/ARCHITECTURE.md, "Queue").
        "event" => bail!(
            "an event job stored by an older imagebump, which routed events in the workers; \
             re-send the comment command if it still matters"
        ),
        other => bail!("unknown job kind {other:?}"),
    }
}

/// The job `row` names, as claimed by `leased_by` until `lease_until_ms`.
pub(super) fn job_from_row(
    row: JobRow,
    leased_by: &str,
    lease_until_ms: i64,
) -> anyhow::Result<Job> {
    let (id, kind, payload, repo, reason, source, delivery, attempts, enqueued_at_ms) = row;
    Ok(Job {
        id,
        kind: kind_from_columns(&kind, payload.as_deref(), repo, reason)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        enqueued_at_ms,
        source,
        delivery,
        leased_by: leased_by.to_string(),
        lease_until_ms,
    })
}

fn dead_from_row(row: DeadRow) -> DeadJob {
    let (id, kind, payload, repo, reason, source, delivery, attempts, enqueued_at_ms, dead, error) =
        row;
    DeadJob {
        id,
        kind: kind_from_columns(&kind, payload.as_deref(), repo, reason).ok(),
        payload,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        enqueued_at_ms,
        dead_at_ms: dead.unwrap_or_default(),
        last_error: error.unwrap_or_default(),
        source,
        delivery,
    }
}
