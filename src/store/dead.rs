//! Dead letters brought back or dropped by an operator (`imagebump
//! dead-letters`, the status page). A requeued command job runs again
//! from its first attempt; a requeued reconcile joins (or becomes) its
//! repository's one live reconcile, as any request does (`store/queue.rs`).

use anyhow::{Context, bail};

use super::queue::UPSERT_RECONCILE;
use super::{Store, with_pool};

const DEAD_KIND: &str = "SELECT kind, repo FROM jobs WHERE id = $1 AND dead_at_ms IS NOT NULL";

const REVIVE: &str = "\
UPDATE jobs SET dead_at_ms = NULL, attempts = 0, last_error = NULL, leased_by = NULL,
    lease_until_ms = NULL, due_at_ms = $2
WHERE id = $1 AND dead_at_ms IS NOT NULL";

const DROP_DEAD: &str = "DELETE FROM jobs WHERE id = $1 AND dead_at_ms IS NOT NULL";

/// What became of one requeued or dropped dead letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revived {
    /// Queued again (a reconcile: merged into its repository's live one).
    Requeued,
    /// No dead letter has this id (requeued or dropped already).
    NotDead,
}

impl Store {
    /// Queues dead letter `id` again, due at `now_ms`, in one transaction.
    /// A job whose kind no longer decodes (an older version's event job)
    /// cannot run: an error says so, and it stays a dead letter.
    pub async fn requeue_dead(&self, id: i64, now_ms: i64) -> anyhow::Result<Revived> {
        let context = || format!("requeuing dead letter {id}");
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.with_context(context)?;
            let row: Option<(String, Option<String>)> = sqlx::query_as(DEAD_KIND)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .with_context(context)?;
            let Some((kind, repo)) = row else {
                return Ok(Revived::NotDead);
            };
            match (kind.as_str(), repo) {
                ("reconcile", Some(repo)) => {
                    sqlx::query(DROP_DEAD).bind(id).execute(&mut *tx).await.with_context(context)?;
                    sqlx::query(UPSERT_RECONCILE)
                        .bind(&repo)
                        .bind(format!("requeued dead letter {id}"))
                        .bind(now_ms)
                        .bind(0_i64)
                        .execute(&mut *tx)
                        .await
                        .with_context(context)?;
                }
                ("command", Some(_)) => {
                    sqlx::query(REVIVE).bind(id).bind(now_ms).execute(&mut *tx).await.with_context(context)?;
                }
                (kind, _) => bail!(
                    "dead letter {id} is a `{kind}` job, which this version cannot run; drop it instead"
                ),
            }
            tx.commit().await.with_context(context)?;
        });
        Ok(Revived::Requeued)
    }

    /// Deletes dead letter `id`; false when no dead letter has this id.
    pub async fn drop_dead(&self, id: i64) -> anyhow::Result<bool> {
        let dropped = with_pool!(self, pool => sqlx::query(DROP_DEAD)
            .bind(id)
            .execute(pool)
            .await
            .with_context(|| format!("dropping dead letter {id}"))?
            .rows_affected());
        Ok(dropped > 0)
    }
}
