//! Rollback holds per env repo and reference, and the base branch HEAD
//! their detection last looked at (src/rollback/; migrations/*/0007).

use anyhow::Context;

use super::{Store, with_pool};
use crate::plan::Version;
use crate::rollback::{RefKey, RollbackHold};

const HOLDS: &str = "\
SELECT policy, file, place, from_tag, from_digest, to_tag, to_digest, commit_sha, author, held_at_ms
FROM rollback_holds WHERE repo = $1 ORDER BY policy, file, place";

const UPSERT: &str = "\
INSERT INTO rollback_holds
    (repo, policy, file, place, from_tag, from_digest, to_tag, to_digest, commit_sha, author, held_at_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (repo, policy, file, place) DO UPDATE SET
    from_tag = excluded.from_tag, from_digest = excluded.from_digest,
    to_tag = excluded.to_tag, to_digest = excluded.to_digest,
    commit_sha = excluded.commit_sha, author = excluded.author,
    held_at_ms = excluded.held_at_ms";

const RELEASE: &str =
    "DELETE FROM rollback_holds WHERE repo = $1 AND policy = $2 AND file = $3 AND place = $4";

const RELEASE_FILE: &str =
    "DELETE FROM rollback_holds WHERE repo = $1 AND policy = $2 AND file = $3";

const BASE_HEAD: &str = "SELECT sha FROM base_heads WHERE repo = $1";

const SET_BASE_HEAD: &str = "\
INSERT INTO base_heads (repo, sha) VALUES ($1, $2)
ON CONFLICT (repo) DO UPDATE SET sha = excluded.sha";

type Row = (
    String,
    String,
    i64,
    String,
    Option<String>,
    String,
    Option<String>,
    String,
    String,
    i64,
);

impl Store {
    /// The rollback holds standing in `repo`, by policy, file and place.
    pub async fn rollback_holds(&self, repo: &str) -> anyhow::Result<Vec<RollbackHold>> {
        let rows: Vec<Row> = with_pool!(self, pool => sqlx::query_as(HOLDS)
            .bind(repo)
            .fetch_all(pool)
            .await
            .with_context(|| format!("reading the rollback holds of {repo}"))?);
        Ok(rows
            .into_iter()
            .map(
                |(
                    policy,
                    file,
                    place,
                    from_tag,
                    from_digest,
                    to_tag,
                    to_digest,
                    commit,
                    author,
                    at_ms,
                )| {
                    RollbackHold {
                        key: RefKey {
                            policy,
                            file,
                            place: u32::try_from(place).unwrap_or(u32::MAX),
                        },
                        from: Version {
                            tag: from_tag,
                            digest: from_digest,
                        },
                        to: Version {
                            tag: to_tag,
                            digest: to_digest,
                        },
                        commit,
                        author,
                        at_ms,
                    }
                },
            )
            .collect())
    }

    /// Records `hold` (replacing the reference's earlier one).
    pub async fn save_rollback_hold(&self, repo: &str, hold: &RollbackHold) -> anyhow::Result<()> {
        let k = &hold.key;
        with_pool!(self, pool => {
            sqlx::query(UPSERT)
                .bind(repo)
                .bind(&k.policy)
                .bind(&k.file)
                .bind(i64::from(k.place))
                .bind(&hold.from.tag)
                .bind(&hold.from.digest)
                .bind(&hold.to.tag)
                .bind(&hold.to.digest)
                .bind(&hold.commit)
                .bind(&hold.author)
                .bind(hold.at_ms)
                .execute(pool)
                .await
                .with_context(|| format!("holding {} in {repo} after a rollback", k.policy))?;
        });
        Ok(())
    }

    /// Releases the rollback hold of one reference.
    pub async fn release_rollback_hold(&self, repo: &str, key: &RefKey) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            sqlx::query(RELEASE)
                .bind(repo)
                .bind(&key.policy)
                .bind(&key.file)
                .bind(i64::from(key.place))
                .execute(pool)
                .await
                .with_context(|| format!("releasing the rollback hold of {} in {repo}", key.policy))?;
        });
        Ok(())
    }

    /// Releases the rollback holds of `policy`'s references in `file`
    /// (`/imagebump unhold` on an MR that bumps them); how many there were.
    pub async fn release_rollback_holds(
        &self,
        repo: &str,
        policy: &str,
        file: &str,
    ) -> anyhow::Result<u64> {
        let done = with_pool!(self, pool => sqlx::query(RELEASE_FILE)
            .bind(repo)
            .bind(policy)
            .bind(file)
            .execute(pool)
            .await
            .with_context(|| format!("releasing the rollback holds of {policy} in {repo}"))?
            .rows_affected());
        Ok(done)
    }

    /// The base HEAD the last rollback detection of `repo` looked at.
    pub async fn base_head(&self, repo: &str) -> anyhow::Result<Option<String>> {
        let sha: Option<String> = with_pool!(self, pool => sqlx::query_scalar(BASE_HEAD)
            .bind(repo)
            .fetch_optional(pool)
            .await
            .with_context(|| format!("reading the last base HEAD of {repo}"))?);
        Ok(sha)
    }

    pub async fn set_base_head(&self, repo: &str, sha: &str) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            sqlx::query(SET_BASE_HEAD)
                .bind(repo)
                .bind(sha)
                .execute(pool)
                .await
                .with_context(|| format!("recording the base HEAD of {repo}"))?;
        });
        Ok(())
    }
}
