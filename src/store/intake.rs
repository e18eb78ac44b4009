//! Webhook intake in the store: each delivery's id is recorded (replays
//! are answered as duplicates for [`DELIVERY_TTL`]) in the same
//! transaction as the jobs it asks for and the pushes it reports.
//!
//! - Keys are bounded: a delivery id longer than [`MAX_DELIVERY_KEY`]
//!   bytes (a Distribution notification's joined event ids run to
//!   kilobytes), or one with control characters, is keyed by its SHA-256,
//!   so Postgres' btree index always holds it. The id as sent, made
//!   printable and cut to [`MAX_SHOWN`] bytes, is kept for display.
//! - Rows are written in one order, (source, key), then tags, then
//!   repositories, so two replicas storing the same deliveries cannot
//!   deadlock on each other's rows; a deadlock or a serialization failure
//!   with anything else is retried.
//! - [`Store::accept_each`] answers each delivery on its own: if a batch
//!   cannot be stored for a reason other than a passing fault, each of its
//!   deliveries is stored alone, so one bad delivery fails by itself.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use anyhow::Context;
use rand::Rng;
use sha2::{Digest, Sha256};

use super::queue::UPSERT_RECONCILE;
use super::{Accepted, DELIVERY_TTL, Delivery, JobKind, Pushed, Store, millis, with_pool};

/// Longest delivery id stored as it is; longer ones are keyed by hash.
pub const MAX_DELIVERY_KEY: usize = 128;
/// Longest displayed id, in bytes.
pub const MAX_SHOWN: usize = 256;
/// Attempts at a batch that meets a deadlock, a serialization failure, a
/// busy database or a lost connection.
const ATTEMPTS: u32 = 5;
/// First wait before retrying a batch; doubled each time, with jitter.
const RETRY_BASE: Duration = Duration::from_millis(20);

/// Rows per multi-row statement of [`Store::accept_batch`]: few round
/// trips, far below SQLite's (32,766) and Postgres' (65,535) parameter
/// limits.
const ROWS_PER_STATEMENT: usize = 500;

/// The key a delivery id is recorded under: the id itself when it is
/// short and printable, else `sha256:` and the hex of its SHA-256. An id
/// that starts with `sha256:` is kept only in exactly that form (sources
/// that key a delivery by its body's hash make such ids); any other id
/// with that prefix is hashed too.
pub fn delivery_key(id: &str) -> Cow<'_, str> {
    if is_hash_key(id)
        || (id.len() <= MAX_DELIVERY_KEY
            && !id.chars().any(char::is_control)
            && !id.starts_with("sha256:"))
    {
        Cow::Borrowed(id)
    } else {
        Cow::Owned(format!("sha256:{}", hex::encode(Sha256::digest(id))))
    }
}

/// `sha256:` and 64 lowercase hex digits: the form of a hashed key.
fn is_hash_key(id: &str) -> bool {
    id.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// The id for people: control characters replaced, at most
/// [`MAX_SHOWN`] bytes (cut at a character, marked with `…`).
pub fn shown_id(id: &str) -> String {
    let printable: String = id
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if printable.len() <= MAX_SHOWN {
        return printable;
    }
    let mut end = MAX_SHOWN - '…'.len_utf8();
    while !printable.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &printable[..end])
}

/// Records deliveries, or revives expired records of them: `$1` now,
/// `$2` expiry, then `(source, delivery, shown)` per row. Returns the rows
/// written; a delivery already recorded and still fresh (a replay) is not
/// returned.
fn insert_deliveries_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|i| {
            let p = 3 * i + 3;
            format!("(${p}, ${}, ${}, $1, $2)", p + 1, p + 2)
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO deliveries (source, delivery, shown, received_at_ms, expires_at_ms) \
         VALUES {values}
ON CONFLICT (source, delivery) DO UPDATE
    SET received_at_ms = excluded.received_at_ms, expires_at_ms = excluded.expires_at_ms,
        shown = excluded.shown
    WHERE deliveries.expires_at_ms <= $1
RETURNING source, delivery"
    )
}

/// Command jobs: `$1` now, then `(repo, payload, source, delivery)` per
/// row.
fn insert_command_jobs_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|i| {
            let p = 4 * i + 2;
            format!(
                "('command', ${p}, ${}, ${}, ${}, 0, $1, $1)",
                p + 1,
                p + 2,
                p + 3
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO jobs (kind, repo, payload, source, delivery, attempts, enqueued_at_ms, \
         due_at_ms) VALUES {values}"
    )
}

/// A delivery of the batch with its key and displayed id.
struct Keyed<'a> {
    delivery: &'a Delivery,
    key: Cow<'a, str>,
    shown: String,
}

impl Store {
    /// Stores each delivery (see [`accept_batch`](Self::accept_batch)),
    /// answering each on its own. The batch is one transaction, retried
    /// on a passing fault (deadlock, serialization failure, busy database,
    /// lost connection); if it still fails for another reason, each
    /// delivery is stored alone, so only the ones that cannot be stored
    /// get an error.
    pub async fn accept_each(
        &self,
        deliveries: &[Delivery],
        now_ms: i64,
    ) -> Vec<anyhow::Result<Accepted>> {
        let batch_error = match self.accept_retrying(deliveries, now_ms).await {
            Ok(answers) => return answers.into_iter().map(Ok).collect(),
            Err(e) if deliveries.len() == 1 || is_passing(&e) => {
                let message = format!("{e:#}");
                return deliveries
                    .iter()
                    .map(|_| Err(anyhow::anyhow!("{message}")))
                    .collect();
            }
            Err(e) => e,
        };
        tracing::warn!(
            error = format!("{batch_error:#}"),
            deliveries = deliveries.len(),
            "a batch of deliveries failed; storing each alone"
        );
        let mut answers = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            let one = self.accept_retrying(std::slice::from_ref(d), now_ms).await;
            answers.push(one.and_then(|mut a| a.pop().context("no answer for the delivery")));
        }
        answers
    }

    async fn accept_retrying(
        &self,
        deliveries: &[Delivery],
        now_ms: i64,
    ) -> anyhow::Result<Vec<Accepted>> {
        let mut attempt = 1;
        loop {
            match self.accept_batch(deliveries, now_ms).await {
                Err(e) if attempt < ATTEMPTS && is_passing(&e) => {
                    let wait = RETRY_BASE.saturating_mul(1 << attempt);
                    let jitter = rand::rng().random_range(0..=wait.as_millis() as u64);
                    tracing::debug!(error = format!("{e:#}"), attempt, "retrying a batch");
                    tokio::time::sleep(wait + Duration::from_millis(jitter)).await;
                    attempt += 1;
                }
                answers => return answers,
            }
        }
    }

    /// Records each delivery `(source, delivery)` (remembered for
    /// [`DELIVERY_TTL`], under [`delivery_key`]) with the jobs it asks for
    /// and the pushes it reports (for the tag cache), all in ONE
    /// transaction (group commit: one sync to disk for the batch). Answers
    /// in order: a replay of a fresh delivery writes nothing and is
    /// [`Accepted::Duplicate`]; the same delivery twice in a batch is
    /// stored once. Reconcile jobs coalesce, as in
    /// [`enqueue_reconcile`](Self::enqueue_reconcile) with
    /// [`Trigger::Event`](super::Trigger::Event), so `Stored { jobs }`
    /// counts the jobs asked for, some of which may have joined one
    /// already pending.
    pub async fn accept_batch(
        &self,
        deliveries: &[Delivery],
        now_ms: i64,
    ) -> anyhow::Result<Vec<Accepted>> {
        let keyed: Vec<Keyed> = deliveries
            .iter()
            .map(|d| Keyed {
                delivery: d,
                key: delivery_key(&d.delivery),
                shown: shown_id(&d.delivery),
            })
            .collect();
        // The first of equal deliveries in the batch is the one stored;
        // rows go in (source, key) order (see the module's notes).
        let mut first = HashSet::new();
        let mut candidates: Vec<&Keyed> = keyed
            .iter()
            .filter(|k| first.insert((k.delivery.source.as_str(), k.key.as_ref())))
            .collect();
        candidates.sort_by(|a, b| {
            (a.delivery.source.as_str(), a.key.as_ref())
                .cmp(&(b.delivery.source.as_str(), b.key.as_ref()))
        });
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
                for k in chunk {
                    q = q.bind(k.delivery.source.as_str()).bind(k.key.as_ref()).bind(&k.shown);
                }
                fresh.extend(q.fetch_all(&mut *tx).await.with_context(context)?);
            }
            let stored: Vec<&Keyed> = candidates
                .iter()
                .copied()
                .filter(|k| fresh.contains(&(k.delivery.source.clone(), k.key.to_string())))
                .collect();
            let (commands, reconciles) = split_jobs(&stored)?;
            for chunk in commands.chunks(ROWS_PER_STATEMENT) {
                let sql = insert_command_jobs_sql(chunk.len());
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .persistent(false)
                    .bind(now_ms);
                for (repo, payload, source, delivery) in chunk {
                    q = q.bind(*repo).bind(payload.as_str()).bind(*source).bind(*delivery);
                }
                q.execute(&mut *tx).await.with_context(context)?;
            }
            let pushes: BTreeSet<&Pushed> =
                stored.iter().flat_map(|k| &k.delivery.pushes).collect();
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
        let mut answered = HashSet::new();
        Ok(keyed
            .iter()
            .map(|k| {
                let key = (k.delivery.source.clone(), k.key.to_string());
                if fresh.contains(&key) && answered.insert(key) {
                    Accepted::Stored {
                        jobs: k.delivery.jobs.len(),
                    }
                } else {
                    Accepted::Duplicate
                }
            })
            .collect())
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

/// A fault that passes: retrying the same transaction may succeed.
/// Postgres: deadlock (40P01), serialization failure (40001), connection
/// failures (class 08) and shutdowns (57P01–57P03), per its "Errcodes"
/// appendix; SQLite: SQLITE_BUSY and SQLITE_LOCKED with their extended
/// codes (sqlite.org/rescode.html); and a lost or unobtainable connection.
fn is_passing(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<sqlx::Error>())
        .any(|e| match e {
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                matches!(
                    code.as_ref(),
                    "40P01" | "40001" | "57P01" | "57P02" | "57P03"
                ) || code.starts_with("08")
                    || code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
            }),
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => true,
            _ => false,
        })
}

/// `(repo, payload, source, shown delivery)` of each command job, and each
/// `(repo, reason)` of a reconcile asked, once, of the deliveries stored.
type SplitJobs<'a> = (
    Vec<(&'a str, String, &'a str, &'a str)>,
    BTreeSet<(&'a str, &'a str)>,
);

fn split_jobs<'a>(stored: &[&'a Keyed<'a>]) -> anyhow::Result<SplitJobs<'a>> {
    let mut commands = Vec::new();
    let mut reconciles = BTreeSet::new();
    for k in stored {
        for job in &k.delivery.jobs {
            match job {
                JobKind::Command { repo, command } => commands.push((
                    repo.as_str(),
                    serde_json::to_string(command).context("encoding a command")?,
                    k.delivery.source.as_str(),
                    k.shown.as_str(),
                )),
                JobKind::Reconcile { repo, reason } => {
                    reconciles.insert((repo.as_str(), reason.as_str()));
                }
            }
        }
    }
    Ok((commands, reconciles))
}
