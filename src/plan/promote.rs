//! Promotion between environments, the pure part (README, "Promotion
//! between environments"; docs/ARCHITECTURE.md, "Promotion"). A reference
//! in an environment with `promoteFrom` does not follow the registry: its
//! target is the version the same policy has in the source environment at
//! the base HEAD, once that version passed its gate (`after`, `require`),
//! and unless it is a downgrade. The gate is read by the caller
//! (`reconcile/promote.rs`: git history and the platform's checks); here
//! are the rules.

use std::collections::BTreeMap;

use globset::GlobSet;
use serde::Serialize;

use super::{Bump, Report, Skipped, SourceFile, Version, edits_for, resolve, scanned};
use crate::git::LineCommit;
use crate::manifest::{self, Reference};
use crate::policy::{self, Decision, Environment, RepoConfig, UpdateType};

/// Which environment each file belongs to: the first listed whose `files`
/// match it.
pub struct Environments<'c> {
    sets: Vec<(&'c Environment, GlobSet)>,
}

impl<'c> Environments<'c> {
    pub fn new(config: &'c RepoConfig) -> anyhow::Result<Environments<'c>> {
        let sets = config
            .environments
            .iter()
            .map(|e| Ok((e, crate::workdir::glob_set(&e.files)?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Environments { sets })
    }

    pub fn of(&self, path: &str) -> Option<&'c Environment> {
        self.sets
            .iter()
            .find(|(_, globs)| globs.is_match(path))
            .map(|(e, _)| *e)
    }

    /// The files of environment `name`.
    pub fn files_of<'f>(&self, name: &str, files: &'f [SourceFile]) -> Vec<&'f SourceFile> {
        files
            .iter()
            .filter(|f| self.of(&f.path).is_some_and(|e| e.name == name))
            .collect()
    }
}

/// The files whose references follow the registry (those of no promoted
/// environment), and a skip for each reference of a promoted one, saying
/// where it is promoted from (`check` reads a work tree, without the
/// history a promotion needs).
pub fn followed(
    config: &RepoConfig,
    files: &[SourceFile],
) -> anyhow::Result<(Vec<SourceFile>, Vec<Skipped>)> {
    let envs = Environments::new(config)?;
    let mut keep = Vec::new();
    let mut skipped = Vec::new();
    for f in files {
        let Some(from) = envs
            .of(&f.path)
            .and_then(|e| Some((e, e.promote_from.as_ref()?)))
        else {
            keep.push(f.clone());
            continue;
        };
        for r in manifest::scan(&f.text).unwrap_or_default() {
            if let resolve::Resolved::Policy(p) = resolve::resolve(config, &r) {
                skipped.push(Skipped {
                    file: f.path.clone(),
                    line: r.line,
                    image: p.image.to_string(),
                    reason: format!(
                        "environment `{}` is promoted from `{}`, not from the registry (`reconcile` and `serve` promote it)",
                        from.0.name, from.1
                    ),
                });
            }
        }
    }
    Ok((keep, skipped))
}

/// The version each policy's references have in `files`, by policy name;
/// `Err` when they disagree (two different versions are no one version to
/// promote).
pub fn versions(
    config: &RepoConfig,
    files: &[&SourceFile],
) -> BTreeMap<String, Result<Version, String>> {
    let mut out: BTreeMap<String, Result<Version, String>> = BTreeMap::new();
    for file in files {
        if file.path == policy::CONFIG_FILE {
            continue;
        }
        let Ok(refs) = manifest::scan(&file.text) else {
            continue;
        };
        for r in refs {
            let resolve::Resolved::Policy(p) = resolve::resolve(config, &r) else {
                continue;
            };
            let Some(v) = Version::written(&r) else {
                continue;
            };
            match out.get(&p.name) {
                None => {
                    out.insert(p.name.clone(), Ok(v));
                }
                Some(Ok(seen)) if *seen != v => {
                    let why = format!(
                        "has two versions of `{}`: {} and {} ({})",
                        p.name,
                        show(seen),
                        show(&v),
                        file.path
                    );
                    out.insert(p.name.clone(), Err(why));
                }
                Some(_) => {}
            }
        }
    }
    out
}

/// `1.4.3` or `1.4.3@sha256:…`.
pub fn show(v: &Version) -> String {
    match &v.digest {
        Some(d) => format!("{}@{}", v.tag, d.get(..19).unwrap_or(d)),
        None => v.tag.clone(),
    }
}

/// The commit of the first-parent `line` (newest first) that introduced
/// `wanted`: the newest whose parent did not have it. `at(parent)` is the
/// version at a parent. A line cut short by its limit yields its oldest
/// commit: the version is at least that old, so the soak is never
/// shortened.
pub fn introduced<'l>(
    line: &'l [LineCommit],
    wanted: &Version,
    mut at: impl FnMut(&str) -> anyhow::Result<Option<Version>>,
) -> anyhow::Result<Option<&'l LineCommit>> {
    for commit in line {
        match &commit.parent {
            None => return Ok(Some(commit)),
            Some(parent) if at(parent)?.as_ref() != Some(wanted) => return Ok(Some(commit)),
            Some(_) => {}
        }
    }
    Ok(line.last())
}

/// When a version introduced at `since_ms` has soaked for `after`;
/// `None` past the end of time.
pub fn due_ms(since_ms: i64, after: std::time::Duration) -> Option<i64> {
    since_ms.checked_add(i64::try_from(after.as_millis()).ok()?)
}

pub use crate::timefmt::{span, utc};

/// What the source's commit showed of its checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckResult {
    Passed,
    /// The environment does not `require: [checks]`.
    NotRequired,
    /// Direct mode: no platform, only `after` applies.
    NoPlatform,
}

impl CheckResult {
    pub fn describe(self) -> &'static str {
        match self {
            CheckResult::Passed => "passed",
            CheckResult::NotRequired => "not required",
            CheckResult::NoPlatform => "not checked (direct mode: no platform)",
        }
    }
}

/// Why a reference of a promoted environment gets its target: the source
/// environment's version and the commit that introduced it there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Promotion {
    pub environment: String,
    pub from: String,
    pub commit: String,
    pub since_ms: i64,
    pub checks: CheckResult,
    /// The source pins a digest (so the same bits are promoted).
    pub digest_pinned: bool,
}

/// A source version that passed its gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passed {
    pub version: Version,
    pub commit: String,
    pub since_ms: i64,
    pub checks: CheckResult,
}

/// Bumps of promoted environment `env` (whose files are `files`): each
/// reference to the version of its policy in the source environment
/// (`sources`, by policy name), if that version passed its gate (`gates`:
/// the version that passed, or why not yet). A reference that has its
/// source's version already needs no gate.
pub fn promote(
    config: &RepoConfig,
    env: &Environment,
    files: &[&SourceFile],
    sources: &BTreeMap<String, Result<Version, String>>,
    gates: &BTreeMap<String, Result<Passed, String>>,
) -> Report {
    let mut report = Report::default();
    let from = env.promote_from.clone().unwrap_or_default();
    for file in files {
        let Some(refs) = scanned(file, &mut report) else {
            continue;
        };
        for r in refs {
            let resolve::Resolved::Policy(p) = resolve::resolve(config, &r) else {
                continue; // the registry plan reports these
            };
            let skip = |reason: String| Skipped {
                file: file.path.clone(),
                line: r.line,
                image: p.image.to_string(),
                reason,
            };
            let passed = match (sources.get(&p.name), gates.get(&p.name)) {
                (None, _) => {
                    let why = format!("not promoted: `{from}` has no reference of `{}`", p.name);
                    report.skipped.push(skip(why));
                    continue;
                }
                (Some(Ok(v)), _) if Version::written(&r).as_ref() == Some(v) => continue,
                (Some(Err(why)), _) | (Some(Ok(_)), Some(Err(why))) => {
                    report
                        .skipped
                        .push(skip(format!("not promoted from {from}: {why}")));
                    continue;
                }
                (Some(Ok(_)), None) => {
                    report
                        .skipped
                        .push(skip(format!("not promoted from {from}: not gated")));
                    continue;
                }
                (Some(Ok(_)), Some(Ok(passed))) => passed,
            };
            match target(p, &r, &passed.version) {
                Ok(Some((update, current, to))) => {
                    let edits = edits_for(&r, &current, &to);
                    report.bumps.push(Bump {
                        file: file.path.clone(),
                        line: r.line,
                        image: p.image.to_string(),
                        policy: p.name.clone(),
                        update,
                        from: current,
                        to,
                        passed_over: Vec::new(),
                        environment: Some(env.name.clone()),
                        promotion: Some(Promotion {
                            environment: env.name.clone(),
                            from: from.clone(),
                            commit: passed.commit.clone(),
                            since_ms: passed.since_ms,
                            checks: passed.checks,
                            digest_pinned: passed.version.digest.is_some(),
                        }),
                        edits,
                    });
                }
                Ok(None) => {}
                Err(why) => report
                    .skipped
                    .push(skip(format!("not promoted from {from}: {why}"))),
            }
        }
    }
    report
}

/// The promotion of one reference to `source`: `Ok(None)` when it has it
/// already; `Err` when it may not have it (a downgrade, a tag the policy
/// does not allow, a digest it cannot take).
pub fn target(
    policy: &policy::Policy,
    r: &Reference,
    source: &Version,
) -> Result<Option<(UpdateType, Version, Version)>, String> {
    let current = Version::written(r).ok_or("the reference has no tag to compare; write a tag")?;
    let can_pin = r.digest.is_some() || r.digest_insert.is_some();
    if source.digest.is_some() && !can_pin {
        return Err(format!(
            "the source pins a digest, and this reference has no room for one ({})",
            show(source)
        ));
    }
    if source.digest.is_none() && current.digest.is_some() {
        return Err(format!(
            "this reference pins a digest and the source does not: pin `{}` there first",
            source.tag
        ));
    }
    let update = if source.tag == current.tag {
        if source.digest == current.digest {
            return Ok(None);
        }
        UpdateType::Digest
    } else {
        let marked = r.marker.is_some();
        match policy::choose(
            policy,
            &current.tag,
            std::slice::from_ref(&source.tag),
            marked,
        ) {
            Decision::Bump { update, .. } => update,
            Decision::Current => {
                return Err(format!(
                    "`{}` is not newer than `{}` under policy `{}` (no downgrades)",
                    source.tag, current.tag, policy.name
                ));
            }
            Decision::Skip(why) => return Err(why),
        }
    };
    Ok(Some((update, current, source.clone())))
}

#[cfg(test)]
mod tests;
