//! The registry tag cache.
//!
//! A saved tag list replaces the previous one of the image, except that a
//! tag already known keeps its first-seen time and digest (cooldowns count
//! from when the tag first appeared). Tags gone from the registry are
//! removed. Saving is one transaction: readers see the old list or the new.
//! A list is saved with the time its listing started, and an older listing
//! never replaces a newer one (two reconciles listing the same image at
//! once cannot roll the list, or first-seen times, back).
//!
//! [`Store::report_push`] records a push a webhook reported. A push that
//! names its tag is kept as a *pushed tag* until a listing that started
//! after the report is saved, or until a reconcile confirms the tag with
//! one manifest HEAD and merges it into the list
//! ([`Store::confirm_pushed_tag`]) or finds it gone
//! ([`Store::dismiss_pushed_tag`]): an image with 10,000 tags is not
//! listed again for one new tag. A push without a tag
//! ([`Store::forget_tags`]) makes the list stale: a list whose listing
//! started before it is not reused, whatever its age (even one that was
//! already running when the news came and saves afterwards). Either way no
//! news of a push is answered from the cache alone, and tags and their
//! first-seen times stay.

use std::collections::HashSet;

use anyhow::Context;

use super::{CachedTags, Pushed, Store, with_pool};

/// Tags inserted per statement when saving a list: few round trips, and
/// far below SQLite's (32,766) and Postgres' (65,535) bind-parameter limits.
pub const TAG_INSERT_BATCH: usize = 500;

/// Starts a new generation of the image's list and returns its number; no
/// row when the list saved already comes from a later listing.
const BUMP_LIST: &str = "\
INSERT INTO tag_lists (image, fetched_at_ms, generation, first_listed_ms) VALUES ($1, $2, 1, $2)
ON CONFLICT (image) DO UPDATE
    SET fetched_at_ms = excluded.fetched_at_ms, generation = tag_lists.generation + 1,
        first_listed_ms = COALESCE(tag_lists.first_listed_ms, excluded.first_listed_ms)
    WHERE tag_lists.fetched_at_ms <= excluded.fetched_at_ms
RETURNING generation";

/// Marks the image's list stale from `$2` on (the latest mark wins). An
/// image never listed gets a placeholder row (generation 0, no tags), so
/// that a first listing already running cannot save a fresh-looking list.
pub(super) const FORGET_TAGS: &str = "\
INSERT INTO tag_lists (image, fetched_at_ms, generation, forgotten_at_ms) VALUES ($1, 0, 0, $2)
ON CONFLICT (image) DO UPDATE
    SET forgotten_at_ms = CASE
        WHEN tag_lists.forgotten_at_ms > excluded.forgotten_at_ms THEN tag_lists.forgotten_at_ms
        ELSE excluded.forgotten_at_ms
    END";

const DROP_STALE_TAGS: &str = "DELETE FROM tags WHERE image = $1 AND generation <> $2";

/// Records that `$2` of image `$1` was reported pushed at `$3` (the latest
/// report wins).
pub(super) const REPORT_TAG: &str = "\
INSERT INTO pushed_tags (image, tag, reported_at_ms) VALUES ($1, $2, $3)
ON CONFLICT (image, tag) DO UPDATE
    SET reported_at_ms = CASE
        WHEN pushed_tags.reported_at_ms > excluded.reported_at_ms THEN pushed_tags.reported_at_ms
        ELSE excluded.reported_at_ms
    END";

/// A listing that started at `$2` has seen the tags reported before.
const SEEN_PUSHED_TAGS: &str = "DELETE FROM pushed_tags WHERE image = $1 AND reported_at_ms < $2";

const PUSHED_TAGS: &str = "\
SELECT tag, reported_at_ms FROM pushed_tags WHERE image = $1 ORDER BY reported_at_ms, tag";

/// Merges a confirmed pushed tag `$2` (first seen when reported, `$3`;
/// digest `$4`) into the saved list of `$1`, if there is one.
const MERGE_PUSHED_TAG: &str = "\
INSERT INTO tags (image, tag, first_seen_ms, digest, generation)
SELECT image, $2, $3, $4, generation FROM tag_lists WHERE image = $1 AND generation > 0
ON CONFLICT (image, tag) DO UPDATE SET digest = excluded.digest";

/// Settles the report of `$2` made at `$3` (not a later one).
const SETTLE_PUSHED_TAG: &str =
    "DELETE FROM pushed_tags WHERE image = $1 AND tag = $2 AND reported_at_ms <= $3";

/// One row per image even without tags (LEFT JOIN), oldest tags first;
/// nothing for an image never saved (generation 0: only forgotten).
const CACHED_TAGS: &str = "\
SELECT l.fetched_at_ms, l.forgotten_at_ms, l.first_listed_ms, t.tag, t.first_seen_ms, t.digest
FROM tag_lists l LEFT JOIN tags t ON t.image = l.image
WHERE l.image = $1 AND l.generation > 0
ORDER BY t.first_seen_ms, t.tag";

const SET_DIGEST: &str = "UPDATE tags SET digest = $3 WHERE image = $1 AND tag = $2";

/// `INSERT` of `rows` tags of one image: `$1` image, `$2` now, `$3`
/// generation, then one parameter per tag.
fn insert_tags_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|i| format!("($1, ${}, $2, $3)", i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO tags (image, tag, first_seen_ms, generation) VALUES {values} \
         ON CONFLICT (image, tag) DO UPDATE SET generation = excluded.generation"
    )
}

impl Store {
    /// Saves the tag list of `image` whose listing started at `now_ms`: new
    /// tags get first-seen `now_ms`, known ones keep theirs (and their
    /// digest), and tags no longer listed are dropped, as are the pushed
    /// tags reported before the listing started. A list saved from a
    /// listing that started later is kept instead (nothing is written).
    pub async fn save_tags(&self, image: &str, tags: &[String], now_ms: i64) -> anyhow::Result<()> {
        // Unique tags: one statement may not touch a row twice (Postgres).
        let mut seen = HashSet::new();
        let unique: Vec<&str> = tags
            .iter()
            .map(String::as_str)
            .filter(|t| seen.insert(*t))
            .collect();
        let context = || format!("saving the tags of {image}");
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.with_context(context)?;
            let generation: Option<i64> = sqlx::query_scalar(BUMP_LIST)
                .bind(image)
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await
                .with_context(context)?;
            let Some(generation) = generation else {
                tracing::debug!(image, "a later listing is saved already: keeping it");
                return Ok(());
            };
            for chunk in unique.chunks(TAG_INSERT_BATCH) {
                let sql = insert_tags_sql(chunk.len());
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(image)
                    .bind(now_ms)
                    .bind(generation);
                for tag in chunk {
                    query = query.bind(*tag);
                }
                query.execute(&mut *tx).await.with_context(context)?;
            }
            sqlx::query(DROP_STALE_TAGS)
                .bind(image)
                .bind(generation)
                .execute(&mut *tx)
                .await
                .with_context(context)?;
            sqlx::query(SEEN_PUSHED_TAGS)
                .bind(image)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .with_context(context)?;
            tx.commit().await.with_context(context)?;
        });
        Ok(())
    }

    /// Records a reported push: its tag as a pushed tag of the image, or,
    /// without a tag, the cached list as stale ([`forget_tags`](Self::forget_tags)).
    pub async fn report_push(&self, push: &Pushed, now_ms: i64) -> anyhow::Result<()> {
        let Some(tag) = &push.tag else {
            return self.forget_tags(&push.image, now_ms).await;
        };
        with_pool!(self, pool => {
            sqlx::query(REPORT_TAG)
                .bind(&push.image)
                .bind(tag)
                .bind(now_ms)
                .execute(pool)
                .await
                .with_context(|| format!("recording the push of {}:{tag}", push.image))?;
        });
        Ok(())
    }

    /// Merges the pushed `tag` of `image`, reported at `reported_at_ms`,
    /// which the registry confirmed (with `digest`), into the cached list:
    /// a new tag is first seen when it was reported; a known one keeps its
    /// first-seen time and takes the new digest. Settles that report.
    pub async fn confirm_pushed_tag(
        &self,
        image: &str,
        tag: &str,
        digest: &str,
        reported_at_ms: i64,
    ) -> anyhow::Result<()> {
        let context = || format!("merging the pushed tag {image}:{tag}");
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.with_context(context)?;
            sqlx::query(MERGE_PUSHED_TAG)
                .bind(image)
                .bind(tag)
                .bind(reported_at_ms)
                .bind(digest)
                .execute(&mut *tx)
                .await
                .with_context(context)?;
            sqlx::query(SETTLE_PUSHED_TAG)
                .bind(image)
                .bind(tag)
                .bind(reported_at_ms)
                .execute(&mut *tx)
                .await
                .with_context(context)?;
            tx.commit().await.with_context(context)?;
        });
        Ok(())
    }

    /// Settles the report of `tag` of `image` made at `reported_at_ms`:
    /// the registry has no such tag (deleted since, or never pushed).
    pub async fn dismiss_pushed_tag(
        &self,
        image: &str,
        tag: &str,
        reported_at_ms: i64,
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            sqlx::query(SETTLE_PUSHED_TAG)
                .bind(image)
                .bind(tag)
                .bind(reported_at_ms)
                .execute(pool)
                .await
                .with_context(|| format!("dismissing the pushed tag {image}:{tag}"))?;
        });
        Ok(())
    }

    /// Marks the cached list of `image` stale: a listing that started
    /// before `now_ms` is not reused any more, whatever the TTL (a webhook
    /// said the image was pushed). Tags, first-seen times and digests stay.
    pub async fn forget_tags(&self, image: &str, now_ms: i64) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            sqlx::query(FORGET_TAGS)
                .bind(image)
                .bind(now_ms)
                .execute(pool)
                .await
                .with_context(|| format!("marking the cached tags of {image} stale"))?;
        });
        Ok(())
    }

    /// The cached tag list of `image`, or `None` if it was never saved.
    pub async fn cached_tags(&self, image: &str) -> anyhow::Result<Option<CachedTags>> {
        type Row = (
            i64,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = with_pool!(self, pool => sqlx::query_as(CACHED_TAGS)
            .bind(image)
            .fetch_all(pool)
            .await
            .with_context(|| format!("reading the cached tags of {image}"))?);
        let Some(&(fetched_at_ms, forgotten_at_ms, first_listed_ms, ..)) = rows.first() else {
            return Ok(None);
        };
        let tags = rows
            .into_iter()
            .filter_map(|(_, _, _, tag, first_seen, digest)| Some((tag?, first_seen?, digest)))
            .collect();
        let pushed: Vec<(String, i64)> = with_pool!(self, pool => sqlx::query_as(PUSHED_TAGS)
            .bind(image)
            .fetch_all(pool)
            .await
            .with_context(|| format!("reading the pushed tags of {image}"))?);
        Ok(Some(CachedTags {
            fetched_at_ms,
            forgotten_at_ms,
            first_listed_ms,
            tags,
            pushed,
        }))
    }

    /// Records the digest of a cached tag. A tag not in the cache (the list
    /// was refreshed without it meanwhile) is left alone.
    pub async fn set_digest(&self, image: &str, tag: &str, digest: &str) -> anyhow::Result<()> {
        let updated = with_pool!(self, pool => sqlx::query(SET_DIGEST)
            .bind(image)
            .bind(tag)
            .bind(digest)
            .execute(pool)
            .await
            .with_context(|| format!("saving the digest of {image}:{tag}"))?
            .rows_affected());
        if updated == 0 {
            tracing::debug!(image, tag, "digest of a tag not in the cache: not saved");
        }
        Ok(())
    }
}
