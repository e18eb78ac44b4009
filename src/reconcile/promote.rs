//! Promotion between environments, the run's part (docs/ARCHITECTURE.md,
//! "Promotion"): for each environment with `promoteFrom`, the version each
//! policy has in the source environment at the base HEAD, the commit of the
//! base branch's first-parent line that introduced it there (git history),
//! its soak (`after`, against the run's clock) and, with `require:
//! [checks]`, that commit's checks on the platform. The rules themselves
//! are pure, in `plan/promote.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::forge::{Checks, Forge, MrState};
use crate::git::LineCommit;
use crate::plan::promote::{self, CheckResult, Environments, Passed, show, span, utc};
use crate::plan::{Report, Skipped, SourceFile, Version};
use crate::policy::{Environment, RepoConfig};

use super::{Repo, decode_marker};

/// How far back the first-parent line is read. A version unchanged for
/// longer counts as introduced by the oldest commit read (never a shorter
/// soak; `plan::promote::introduced`).
pub const MAX_HISTORY: usize = 500;

/// What promotion planned, and when a promotion that waits for its soak
/// becomes due (the run asks for a reconcile then).
#[derive(Debug, Default)]
pub(super) struct Promoted {
    pub report: Report,
    pub next_due_ms: Option<i64>,
}

/// The promotions of every promoted environment at `base`, whose selected
/// files are `files`.
pub(super) async fn plan(
    repo: &Repo,
    config: &RepoConfig,
    base: &str,
    files: &[SourceFile],
) -> anyhow::Result<Promoted> {
    let mut out = Promoted::default();
    if config.environments.iter().all(|e| e.promote_from.is_none()) {
        return Ok(out);
    }
    let envs = Environments::new(config)?;
    let mut history = History {
        repo,
        config,
        envs: &envs,
        line: repo.mirror.first_parent_line(base, MAX_HISTORY)?,
        at: HashMap::new(),
    };
    let now = repo.clock.now_ms();
    for env in config.environments.iter() {
        let Some(from) = &env.promote_from else {
            continue;
        };
        let mut sources = promote::versions(config, &envs.files_of(from, files));
        let targets = envs.files_of(&env.name, files);
        let have = promote::versions(config, &targets);
        let mut gates = BTreeMap::new();
        for (policy, version) in &mut sources {
            match version {
                // Every reference has it already: no gate to read.
                Ok(v) if have.get(policy) == Some(&Ok(v.clone())) => {}
                Ok(v) => {
                    let next = &mut out.next_due_ms;
                    let g = gate(repo, env, &mut history, policy, v.clone(), now, next);
                    gates.insert(policy.clone(), g.await?);
                }
                Err(why) => *why = format!("`{from}` {why}"),
            }
        }
        let mut report = promote::promote(config, env, &targets, &sources, &gates);
        refuse_closed(repo, config, &mut report).await?;
        out.report.bumps.extend(report.bumps);
        out.report.skipped.extend(report.skipped);
        out.report.errors.extend(report.errors);
    }
    Ok(out)
}

/// Promotions whose MR people closed without merging are not proposed
/// again: the same version waits for a newer one (as a closed bump MR
/// refuses its versions, `run.rs` `closed_versions`).
async fn refuse_closed(
    repo: &Repo,
    config: &RepoConfig,
    report: &mut Report,
) -> anyhow::Result<()> {
    let Some(forge) = repo.platform() else {
        return Ok(());
    };
    let mut refused: HashSet<(String, String)> = HashSet::new();
    for c in super::change::group(report, config) {
        for mr in forge.closed_mrs(&c.branch).await? {
            if mr.state != MrState::Closed {
                continue;
            }
            for b in decode_marker(&mr.body).map(|m| m.bumps).unwrap_or_default() {
                if b.promoted_from.is_some() {
                    refused.insert((b.file, b.to));
                }
            }
        }
    }
    let (kept, closed): (Vec<_>, Vec<_>) = std::mem::take(&mut report.bumps)
        .into_iter()
        .partition(|b| !refused.contains(&(b.file.clone(), b.to.tag.clone())));
    report.bumps = kept;
    report.skipped.extend(closed.into_iter().map(|b| Skipped {
        reason: format!(
            "not promoted: people closed the MR that promoted {} to {}",
            b.to.tag,
            b.environment.unwrap_or_default()
        ),
        file: b.file,
        line: b.line,
        image: b.image,
    }));
    Ok(())
}

/// Whether `version` of `policy` in `env`'s source has passed `env`'s gate.
async fn gate(
    repo: &Repo,
    env: &Environment,
    history: &mut History<'_>,
    policy: &str,
    version: Version,
    now_ms: i64,
    next_due: &mut Option<i64>,
) -> anyhow::Result<Result<Passed, String>> {
    let from = env.promote_from.as_deref().unwrap_or_default();
    let Some(commit) = history.introduced(from, policy, &version)? else {
        return Ok(Err("the base branch has no history".into()));
    };
    let short = commit.sha.get(..12).unwrap_or(&commit.sha).to_string();
    let Some(due) = promote::due_ms(commit.committed_ms, env.after) else {
        return Ok(Err(format!(
            "`after` of {} is past the end of time",
            env.name
        )));
    };
    if now_ms < due {
        *next_due = Some(next_due.map_or(due, |d| d.min(due)));
        return Ok(Err(format!(
            "{from} has run {} for {} of {} (since {}, commit {short}); due {}",
            show(&version),
            span(now_ms.saturating_sub(commit.committed_ms)),
            span(i64::try_from(env.after.as_millis()).unwrap_or(i64::MAX)),
            utc(commit.committed_ms),
            utc(due)
        )));
    }
    let checks = match (env.require_checks, repo.platform()) {
        (false, _) => CheckResult::NotRequired,
        (true, None) => CheckResult::NoPlatform,
        (true, Some(forge)) => match forge.commit_checks(&commit.sha).await? {
            Checks::Success => CheckResult::Passed,
            Checks::Failure => {
                return Ok(Err(format!("the checks of {from}'s commit {short} failed")));
            }
            Checks::Pending => {
                return Ok(Err(format!(
                    "the checks of {from}'s commit {short} are still running"
                )));
            }
            Checks::None => {
                return Ok(Err(format!(
                    "{from}'s commit {short} has no checks, and `require: [checks]` needs them to pass"
                )));
            }
        },
    };
    Ok(Ok(Passed {
        version,
        commit: commit.sha.clone(),
        since_ms: commit.committed_ms,
        checks,
    }))
}

/// The base branch's first-parent line, and each environment's versions at
/// the commits read so far.
struct History<'a> {
    repo: &'a Repo,
    config: &'a RepoConfig,
    envs: &'a Environments<'a>,
    line: Vec<LineCommit>,
    /// (commit, environment) → versions by policy.
    at: HashMap<(String, String), BTreeMap<String, Result<Version, String>>>,
}

impl History<'_> {
    fn introduced(
        &mut self,
        env: &str,
        policy: &str,
        version: &Version,
    ) -> anyhow::Result<Option<LineCommit>> {
        let line = std::mem::take(&mut self.line);
        let found = promote::introduced(&line, version, |sha| {
            Ok(self
                .versions(sha, env)?
                .get(policy)
                .and_then(|v| v.clone().ok()))
        })
        .map(|c| c.cloned());
        self.line = line;
        found
    }

    fn versions(
        &mut self,
        sha: &str,
        env: &str,
    ) -> anyhow::Result<&BTreeMap<String, Result<Version, String>>> {
        let key = (sha.to_string(), env.to_string());
        if !self.at.contains_key(&key) {
            let c = self.config;
            // Only the environment's files are read, and of those the
            // ones the config selects, as at HEAD.
            let globs = c
                .environment(env)
                .map(|e| e.files.clone())
                .unwrap_or_default();
            let (mut files, _) =
                self.repo
                    .mirror
                    .read_files(sha, &globs, &c.exclude, c.max_file_bytes)?;
            let selected = crate::workdir::glob_set(&c.files)?;
            files.retain(|f| selected.is_match(&f.path));
            let versions = promote::versions(c, &self.envs.files_of(env, &files));
            self.at.insert(key.clone(), versions);
        }
        Ok(&self.at[&key])
    }
}
