//! The inbox and job queue: delivery dedupe, enqueue, lease-based claims,
//! retries with backoff and dead letters.
//!
//! A job row is *pending* (no lease, or a lease that ran out), *leased*
//! (`lease_until_ms` in the future) or *dead* (`dead_at_ms` set); a
//! completed job is deleted. Every state change is one statement or one
//! transaction, so concurrent workers and webhook handlers never see half
//! of one. Each claim counts as an attempt, so a job that keeps crashing
//! its worker still reaches the dead letters after [`MAX_ATTEMPTS`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use anyhow::{Context, bail};

use super::{
    Accepted, DELIVERY_TTL, DeadJob, Delivery, Failed, Job, JobKind, MAX_ATTEMPTS, Pushed,
    QueueStats, Store, millis, retry_backoff, with_pool,
};
use crate::event::Event;

/// Records deliveries, or revives expired records of them: `$1` now,
/// `$2` expiry, then `(source, delivery)` per row. Returns the rows written;
/// a delivery already recorded and still fresh (a replay) is not returned.
fn insert_deliveries_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|i| format!("(${}, ${}, $1, $2)", 2 * i + 3, 2 * i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO deliveries (source, delivery, received_at_ms, expires_at_ms) VALUES {values}
ON CONFLICT (source, delivery) DO UPDATE
    SET received_at_ms = excluded.received_at_ms, expires_at_ms = excluded.expires_at_ms
    WHERE deliveries.expires_at_ms <= $1
RETURNING source, delivery"
    )
}

/// Event jobs: `$1` now, then `(payload, source, delivery)` per row.
fn insert_event_jobs_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|i| {
            let p = 3 * i + 2;
            format!("('event', ${p}, ${}, ${}, 0, $1, $1)", p + 1, p + 2)
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO jobs (kind, payload, source, delivery, attempts, enqueued_at_ms, due_at_ms) \
         VALUES {values}"
    )
}

/// Rows per multi-row statement of [`Store::accept_batch`]: few round
/// trips, far below SQLite's (32,766) and Postgres' (65,535) parameter
/// limits.
const ROWS_PER_STATEMENT: usize = 500;

/// Inserts a reconcile job unless one for the repo is already pending and
/// due (unleased, or its lease ran out).
const INSERT_RECONCILE_JOB: &str = "\
INSERT INTO jobs (kind, repo, reason, attempts, enqueued_at_ms, due_at_ms)
SELECT 'reconcile', $1, $2, 0, $3, $3
WHERE NOT EXISTS (
    SELECT 1 FROM jobs
    WHERE kind = 'reconcile' AND repo = $1 AND dead_at_ms IS NULL
      AND due_at_ms <= $3 AND (lease_until_ms IS NULL OR lease_until_ms <= $3))";

/// Moves jobs whose last permitted attempt lost its lease to the dead
/// letters ($1 = now, $2 = MAX_ATTEMPTS).
const BURY_ABANDONED: &str = "\
UPDATE jobs
SET dead_at_ms = $1, leased_by = NULL, lease_until_ms = NULL,
    last_error = 'lease expired: the worker crashed or hung'
                 || COALESCE('; previous error: ' || last_error, '')
WHERE dead_at_ms IS NULL AND lease_until_ms <= $1 AND attempts >= $2";

/// The claim, as one statement. `{lock}` is empty on SQLite (a write
/// statement holds the database lock from its start) and
/// `FOR UPDATE SKIP LOCKED` on Postgres.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET leased_by = $1, lease_until_ms = $2, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM jobs
    WHERE dead_at_ms IS NULL AND due_at_ms <= $3
      AND (lease_until_ms IS NULL OR lease_until_ms <= $3)
    ORDER BY id LIMIT $4 ",
            $lock,
            ")
RETURNING id, kind, payload, repo, reason, source, delivery, attempts, enqueued_at_ms"
        )
    };
}
const CLAIM_SQLITE: &str = claim_sql!("");
const CLAIM_POSTGRES: &str = claim_sql!("FOR UPDATE SKIP LOCKED");

/// Dead-letters one job at once (a payload that no longer decodes).
const BURY_ONE: &str = "\
UPDATE jobs SET dead_at_ms = $2, leased_by = NULL, lease_until_ms = NULL, last_error = $3
WHERE id = $1";

const RETRY: &str = "\
UPDATE jobs SET leased_by = NULL, lease_until_ms = NULL, last_error = $2, due_at_ms = $3
WHERE id = $1 AND attempts = $4 AND dead_at_ms IS NULL";

const RELEASE: &str = "\
UPDATE jobs SET leased_by = NULL, lease_until_ms = NULL,
    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
WHERE id = $1 AND dead_at_ms IS NULL";

const KILL: &str = "\
UPDATE jobs SET leased_by = NULL, lease_until_ms = NULL, last_error = $2, dead_at_ms = $3
WHERE id = $1 AND attempts = $4 AND dead_at_ms IS NULL";

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
type JobRow = (
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
    /// Records the delivery `(source, delivery)` (remembered for
    /// [`DELIVERY_TTL`]) and enqueues one job per event, in one
    /// transaction. A replay of a fresh delivery writes nothing and
    /// returns [`Accepted::Duplicate`].
    pub async fn accept(
        &self,
        source: &str,
        delivery: &str,
        events: &[Event],
        now_ms: i64,
    ) -> anyhow::Result<Accepted> {
        let one = Delivery {
            source: source.to_string(),
            delivery: delivery.to_string(),
            jobs: events.iter().cloned().map(JobKind::Event).collect(),
            pushes: Vec::new(),
        };
        let mut answers = self
            .accept_batch(std::slice::from_ref(&one), now_ms)
            .await?;
        answers.pop().context("no answer for the delivery")
    }

    /// [`accept`](Self::accept) for several deliveries in ONE transaction
    /// (group commit: one sync to disk for the batch), each with the jobs
    /// it asks for and the pushes it reports (for the tag cache). Answers in order; the same delivery twice in a batch is
    /// stored once. Reconcile jobs coalesce, as in
    /// [`enqueue_reconcile`](Self::enqueue_reconcile), so `Stored { jobs }`
    /// counts the jobs asked for, some of which may have joined one
    /// already pending.
    pub async fn accept_batch(
        &self,
        deliveries: &[Delivery],
        now_ms: i64,
    ) -> anyhow::Result<Vec<Accepted>> {
        // The first of equal deliveries in the batch is the one stored.
        let mut first = HashSet::new();
        let candidates: Vec<&Delivery> = deliveries
            .iter()
            .filter(|d| first.insert((d.source.as_str(), d.delivery.as_str())))
            .collect();
        let expires_at_ms = now_ms.saturating_add(millis(DELIVERY_TTL));
        let context = || format!("storing {} deliveries", deliveries.len());
        let mut fresh: HashSet<(String, String)> = HashSet::new();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.with_context(context)?;
            for chunk in candidates.chunks(ROWS_PER_STATEMENT) {
                let sql = insert_deliveries_sql(chunk.len());
                let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql.as_str()))
                    .persistent(false)
                    .bind(now_ms)
                    .bind(expires_at_ms);
                for d in chunk {
                    q = q.bind(d.source.as_str()).bind(d.delivery.as_str());
                }
                fresh.extend(q.fetch_all(&mut *tx).await.with_context(context)?);
            }
            let stored: Vec<&Delivery> = candidates
                .iter()
                .copied()
                .filter(|d| fresh.contains(&(d.source.clone(), d.delivery.clone())))
                .collect();
            let (events, reconciles) = split_jobs(&stored)?;
            for chunk in events.chunks(ROWS_PER_STATEMENT) {
                let sql = insert_event_jobs_sql(chunk.len());
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .persistent(false)
                    .bind(now_ms);
                for (payload, source, delivery) in chunk {
                    q = q.bind(payload.as_str()).bind(*source).bind(*delivery);
                }
                q.execute(&mut *tx).await.with_context(context)?;
            }
            let pushes: BTreeSet<&Pushed> = stored.iter().flat_map(|d| &d.pushes).collect();
            for p in pushes {
                let query = match &p.tag {
                    Some(tag) => sqlx::query(super::cache::REPORT_TAG).bind(&p.image).bind(tag),
                    None => sqlx::query(super::cache::FORGET_TAGS).bind(&p.image),
                };
                query
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                    .with_context(context)?;
            }
            for (repo, reason) in reconciles {
                sqlx::query(INSERT_RECONCILE_JOB)
                    .bind(repo)
                    .bind(reason)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                    .with_context(context)?;
            }
            tx.commit().await.with_context(context)?;
        });
        let mut answered = HashSet::new();
        Ok(deliveries
            .iter()
            .map(|d| {
                let key = (d.source.clone(), d.delivery.clone());
                if fresh.contains(&key) && answered.insert(key) {
                    Accepted::Stored { jobs: d.jobs.len() }
                } else {
                    Accepted::Duplicate
                }
            })
            .collect())
    }

    /// Enqueues a reconcile of `repo`, due now. Returns false (and writes
    /// nothing) when a reconcile of the repo is already pending and due:
    /// that one will see the same HEAD. A job already claimed does not
    /// count, since its worker may have read HEAD before the news. On
    /// Postgres two concurrent calls may both enqueue; that costs one
    /// extra, harmless reconcile.
    pub async fn enqueue_reconcile(
        &self,
        repo: &str,
        reason: &str,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        let inserted = with_pool!(self, pool => sqlx::query(INSERT_RECONCILE_JOB)
            .bind(repo)
            .bind(reason)
            .bind(now_ms)
            .execute(pool)
            .await
            .with_context(|| format!("enqueueing a reconcile of {repo}"))?
            .rows_affected());
        Ok(inserted > 0)
    }

    /// Claims the oldest due job (not leased, or its lease expired) until
    /// `now + lease`, counting an attempt. Concurrent claimers never get
    /// the same job.
    pub async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        now_ms: i64,
    ) -> anyhow::Result<Option<Job>> {
        Ok(self.claim_many(worker, lease, now_ms, 1).await?.pop())
    }

    /// Claims up to `max` due jobs at once (oldest first), in one statement.
    pub async fn claim_many(
        &self,
        worker: &str,
        lease: Duration,
        now_ms: i64,
        max: usize,
    ) -> anyhow::Result<Vec<Job>> {
        let lease_until_ms = now_ms.saturating_add(millis(lease));
        let claim_sql = if self.is_postgres() {
            CLAIM_POSTGRES
        } else {
            CLAIM_SQLITE
        };
        let last = self.last_bury_ms.load(std::sync::atomic::Ordering::Relaxed);
        let bury = now_ms.saturating_sub(last) >= millis(super::BURY_EVERY) || now_ms < last;
        with_pool!(self, pool => {
            if bury {
                self.last_bury_ms.store(now_ms, std::sync::atomic::Ordering::Relaxed);
                sqlx::query(BURY_ABANDONED)
                    .bind(now_ms)
                    .bind(i64::from(MAX_ATTEMPTS))
                    .execute(pool)
                    .await
                    .context("dead-lettering abandoned jobs")?;
            }
            // Undecodable jobs are dead-lettered; claim again until a
            // decodable job comes back or none is due.
            loop {
                let rows: Vec<JobRow> = sqlx::query_as(claim_sql)
                    .bind(worker)
                    .bind(lease_until_ms)
                    .bind(now_ms)
                    .bind(i64::try_from(max.max(1)).unwrap_or(1))
                    .fetch_all(pool)
                    .await
                    .context("claiming jobs")?;
                let rows_claimed = rows.len();
                let mut jobs = Vec::with_capacity(rows.len());
                for row in rows {
                    let id = row.0;
                    match job_from_row(row) {
                        Ok(job) => jobs.push(job),
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
                if !jobs.is_empty() || rows_claimed == 0 {
                    jobs.sort_by_key(|j| j.id);
                    return Ok(jobs);
                }
            }
        })
    }

    /// Completes several jobs (one statement per 500).
    pub async fn complete_many(&self, job_ids: &[i64]) -> anyhow::Result<()> {
        if job_ids.is_empty() {
            return Ok(());
        }
        for chunk in job_ids.chunks(ROWS_PER_STATEMENT) {
            let params = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("DELETE FROM jobs WHERE id IN ({params})");
            with_pool!(self, pool => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).persistent(false);
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(pool).await.context("completing jobs")?;
            });
        }
        Ok(())
    }

    /// Finishes a job successfully: deletes it. (If its lease ran out and
    /// another worker claimed it meanwhile, that run's result is moot: the
    /// work is done, and reconcile is idempotent.)
    pub async fn complete(&self, job_id: i64) -> anyhow::Result<()> {
        let deleted = with_pool!(self, pool => sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(job_id)
            .execute(pool)
            .await
            .with_context(|| format!("completing job {job_id}"))?
            .rows_affected());
        if deleted == 0 {
            tracing::warn!(job = job_id, "completed a job that is no longer queued");
        }
        Ok(())
    }

    /// Records a failed attempt. With attempts left the job is scheduled
    /// again after [`retry_backoff`]; otherwise it goes to the dead
    /// letters. Either way `error` is kept as its last error. Fails if the
    /// job is gone or was claimed again meanwhile (its lease ran out).
    pub async fn fail(&self, job_id: i64, error: &str, now_ms: i64) -> anyhow::Result<Failed> {
        let context = || format!("recording the failure of job {job_id}");
        with_pool!(self, pool => {
            let attempts: Option<i64> =
                sqlx::query_scalar("SELECT attempts FROM jobs WHERE id = $1 AND dead_at_ms IS NULL")
                    .bind(job_id)
                    .fetch_optional(pool)
                    .await
                    .with_context(context)?;
            let Some(attempts) = attempts else {
                bail!("job {job_id} is not in the queue (completed or dead)");
            };
            let done = u32::try_from(attempts).unwrap_or(u32::MAX);
            let (sql, at_ms, outcome) = if done < MAX_ATTEMPTS {
                let at_ms = now_ms.saturating_add(millis(retry_backoff(done)));
                (RETRY, at_ms, Failed::Retrying { at_ms })
            } else {
                (KILL, now_ms, Failed::Dead)
            };
            let updated = sqlx::query(sql)
                .bind(job_id)
                .bind(error)
                .bind(at_ms)
                .bind(attempts)
                .execute(pool)
                .await
                .with_context(context)?
                .rows_affected();
            if updated == 0 {
                bail!("job {job_id} was claimed again before its failure was recorded");
            }
            Ok(outcome)
        })
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

    /// Gives back the leases of `job_ids`, the unfinished jobs of a worker
    /// that is stopping: due at once for any replica, and the attempt that
    /// was cut short does not count.
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

    /// Forgets delivery ids older than [`DELIVERY_TTL`]; returns how many.
    pub async fn purge_expired_deliveries(&self, now_ms: i64) -> anyhow::Result<u64> {
        let purged = with_pool!(self, pool =>
            sqlx::query("DELETE FROM deliveries WHERE expires_at_ms <= $1")
                .bind(now_ms)
                .execute(pool)
                .await
                .context("purging expired deliveries")?
                .rows_affected());
        Ok(purged)
    }
}

fn kind_from_columns(
    kind: &str,
    payload: Option<&str>,
    repo: Option<String>,
    reason: Option<String>,
) -> anyhow::Result<JobKind> {
    match kind {
        "event" => {
            let payload = payload.context("event job without payload")?;
            let event = serde_json::from_str(payload).context("decoding the job's event")?;
            Ok(JobKind::Event(event))
        }
        "reconcile" => Ok(JobKind::Reconcile {
            repo: repo.context("reconcile job without repo")?,
            reason: reason.unwrap_or_default(),
        }),
        other => bail!("unknown job kind {other:?}"),
    }
}

fn job_from_row(row: JobRow) -> anyhow::Result<Job> {
    let (id, kind, payload, repo, reason, source, delivery, attempts, enqueued_at_ms) = row;
    Ok(Job {
        id,
        kind: kind_from_columns(&kind, payload.as_deref(), repo, reason)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        enqueued_at_ms,
        source,
        delivery,
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

/// `(payload, source, delivery)` of each event job, and one reconcile per
/// repository (with the first reason asked), of the deliveries stored.
type SplitJobs<'a> = (Vec<(String, &'a str, &'a str)>, BTreeMap<&'a str, &'a str>);

fn split_jobs<'a>(stored: &[&'a Delivery]) -> anyhow::Result<SplitJobs<'a>> {
    let mut events = Vec::new();
    let mut reconciles = BTreeMap::new();
    for d in stored {
        for job in &d.jobs {
            match job {
                JobKind::Event(e) => events.push((
                    serde_json::to_string(e).context("encoding an event")?,
                    d.source.as_str(),
                    d.delivery.as_str(),
                )),
                JobKind::Reconcile { repo, reason } => {
                    reconciles.entry(repo.as_str()).or_insert(reason.as_str());
                }
            }
        }
    }
    Ok((events, reconciles))
}
