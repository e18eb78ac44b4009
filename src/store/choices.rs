//! People's choices: ignored versions, ignored update types and holds, per
//! env repo and policy (set by comment commands, read by reconciles).

use std::collections::HashSet;

use anyhow::{Context, bail};

use super::{Ignored, Store, with_pool};

/// Update types that can be ignored (the schema checks the same list).
pub const IGNORABLE_UPDATE_TYPES: &[&str] = &["major", "minor"];

const IGNORE_VERSION: &str = "\
INSERT INTO ignored_versions (repo, policy, version) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

const IGNORE_UPDATE_TYPE: &str = "\
INSERT INTO ignored_update_types (repo, policy, update_type) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING";

const IGNORED: &str = "\
SELECT 'version', policy, version FROM ignored_versions WHERE repo = $1
UNION ALL
SELECT 'update_type', policy, update_type FROM ignored_update_types WHERE repo = $1";

const HOLD: &str = "INSERT INTO holds (repo, policy) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const UNHOLD: &str = "DELETE FROM holds WHERE repo = $1 AND policy = $2";
const HOLDS: &str = "SELECT policy FROM holds WHERE repo = $1";

impl Store {
    /// Never proposes `version` for `policy` in `repo` again.
    pub async fn ignore_version(
        &self,
        repo: &str,
        policy: &str,
        version: &str,
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            sqlx::query(IGNORE_VERSION)
            .bind(repo)
            .bind(policy)
            .bind(version)
            .execute(pool)
            .await
            .with_context(|| format!("ignoring {policy} {version} in {repo}"))?;
        });
        Ok(())
    }

    /// Never proposes `update` (`"major"` or `"minor"`) updates for
    /// `policy` in `repo` again.
    pub async fn ignore_update_type(
        &self,
        repo: &str,
        policy: &str,
        update: &str,
    ) -> anyhow::Result<()> {
        if !IGNORABLE_UPDATE_TYPES.contains(&update) {
            bail!("cannot ignore {update:?} updates: expected one of {IGNORABLE_UPDATE_TYPES:?}");
        }
        with_pool!(self, pool => {
            sqlx::query(IGNORE_UPDATE_TYPE)
            .bind(repo)
            .bind(policy)
            .bind(update)
            .execute(pool)
            .await
            .with_context(|| format!("ignoring {update} updates of {policy} in {repo}"))?;
        });
        Ok(())
    }

    /// Everything ignored in `repo`, by policy.
    pub async fn ignored(&self, repo: &str) -> anyhow::Result<Ignored> {
        let rows: Vec<(String, String, String)> = with_pool!(self, pool =>
            sqlx::query_as(IGNORED)
                .bind(repo)
                .fetch_all(pool)
                .await
                .with_context(|| format!("reading what is ignored in {repo}"))?);
        let mut ignored = Ignored::default();
        for (what, policy, value) in rows {
            let map = if what == "version" {
                &mut ignored.versions
            } else {
                &mut ignored.update_types
            };
            map.entry(policy).or_default().insert(value);
        }
        Ok(ignored)
    }

    /// Puts `policy` in `repo` on hold (no bumps proposed), or releases it.
    pub async fn set_hold(&self, repo: &str, policy: &str, held: bool) -> anyhow::Result<()> {
        let sql = if held { HOLD } else { UNHOLD };
        with_pool!(self, pool => {
            sqlx::query(sql)
            .bind(repo)
            .bind(policy)
            .execute(pool)
            .await
            .with_context(|| format!("setting the hold of {policy} in {repo}"))?;
        });
        Ok(())
    }

    /// The policies of `repo` on hold.
    pub async fn holds(&self, repo: &str) -> anyhow::Result<HashSet<String>> {
        let policies: Vec<String> = with_pool!(self, pool => sqlx::query_scalar(HOLDS)
            .bind(repo)
            .fetch_all(pool)
            .await
            .with_context(|| format!("reading the holds of {repo}"))?);
        Ok(policies.into_iter().collect())
    }
}
