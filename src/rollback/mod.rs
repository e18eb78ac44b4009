//! Rollback holds (docs/ARCHITECTURE.md, "Rollback holds"): a person who
//! lowers a managed reference on the base branch (or reverts a bot commit)
//! has rolled it back, and the bot must not bump it straight back.
//!
//! This module is pure: it reads references out of file texts, tells
//! which changed how between two commits, keeps the holds up to date, and
//! says what a hold does to a planned bump. `walk.rs` does the I/O: the
//! base branch's history in the mirror, and the store.
//!
//! A hold is per reference: its policy, file and place (the n-th reference
//! that policy owns in the file, so that lines moving do not lose it). While
//! it stands, the rolled-back-from version and every version between the
//! current one and it are never proposed; a newer one is proposed without
//! auto-merge. Direct mode has no MR to hold back: nothing is committed.

mod walk;

#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

pub use walk::{Book, FIRST_WINDOW, MAX_WALK};

use crate::manifest;
use crate::plan::{self, Bump, Resolved, SourceFile, Version};
use crate::policy::{self, RepoConfig};

/// A managed reference: its policy, its file, and its place among the
/// references that policy owns in the file (1-based, in file order).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefKey {
    pub policy: String,
    pub file: String,
    pub place: u32,
}

/// A managed reference as one commit has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Managed {
    pub key: RefKey,
    pub line: usize,
    pub version: Version,
}

/// A reference held because a person rolled it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackHold {
    pub key: RefKey,
    /// The version it was rolled back from: neither it nor anything between
    /// the current version and it is proposed while the hold stands.
    pub from: Version,
    /// The version it was rolled back to.
    pub to: Version,
    /// The rollback commit and its author's email.
    pub commit: String,
    pub author: String,
    /// When the hold was made (ms since the epoch, from the service's clock).
    pub at_ms: i64,
}

impl RollbackHold {
    /// `web in apps/web.yaml (2nd reference)`-style words for logs and texts.
    pub fn describe(&self) -> String {
        format!(
            "`{}` in `{}` rolled back from {} to {} by {} in {}",
            self.key.policy,
            self.key.file,
            shown(&self.from),
            shown(&self.to),
            self.author,
            short(&self.commit)
        )
    }
}

fn shown(v: &Version) -> String {
    match &v.digest {
        Some(d) => format!("{}@{}", v.tag, d.get(..19).unwrap_or(d)),
        None => v.tag.clone(),
    }
}

/// The first 12 characters of a sha.
pub fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// The references the config's policies own in `file`, with a tag; `None`
/// when the file does not parse (nothing can be told of it).
pub fn managed(config: &RepoConfig, file: &SourceFile) -> Option<Vec<Managed>> {
    if file.path == policy::CONFIG_FILE {
        return Some(Vec::new());
    }
    let refs = manifest::scan(&file.text).ok()?;
    let mut places: HashMap<String, u32> = HashMap::new();
    let mut out = Vec::new();
    for r in refs {
        let Resolved::Policy(p) = plan::resolve(config, &r) else {
            continue;
        };
        let place = places.entry(p.name.clone()).or_insert(0);
        *place = place.saturating_add(1);
        let Some(version) = Version::written(&r) else {
            continue;
        };
        out.push(Managed {
            key: RefKey {
                policy: p.name.clone(),
                file: file.path.clone(),
                place: *place,
            },
            line: r.line,
            version,
        });
    }
    Some(out)
}

/// Every managed reference in `files` that parse.
pub fn managed_in(config: &RepoConfig, files: &[SourceFile]) -> Vec<Managed> {
    files
        .iter()
        .filter_map(|f| managed(config, f))
        .flatten()
        .collect()
}

/// What one person's commit did to a reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Moved {
    /// Lowered (or changed by a revert of a bot commit): a rollback.
    Lowered {
        key: RefKey,
        from: Version,
        to: Version,
    },
    /// Raised by a person: a hold on it is released.
    Raised { key: RefKey },
}

/// How a person's commit moved the references, from `before` (its
/// parent's) to `after` (its own). References are paired by key, and only
/// where the file has as many references of the policy on both sides (an
/// added or removed reference shifts the places after it). A revert of a
/// bot commit (`revert`) rolls back every reference it changes unless the
/// policy's order says it went up; otherwise a reference is lowered or
/// raised when the policy's order says so, and left alone when it cannot
/// tell (a tag not shaped for the rule, only the digest changed).
pub fn moves(
    config: &RepoConfig,
    before: &[Managed],
    after: &[Managed],
    revert: bool,
) -> Vec<Moved> {
    let (n_before, n_after) = (count(before), count(after));
    let old: HashMap<&RefKey, &Managed> = before.iter().map(|m| (&m.key, m)).collect();
    let mut out = Vec::new();
    for new in after {
        let group = (new.key.policy.as_str(), new.key.file.as_str());
        if n_before.get(&group) != n_after.get(&group) {
            continue;
        }
        let Some(old) = old.get(&new.key) else {
            continue;
        };
        if old.version == new.version {
            continue;
        }
        let Some(policy) = config.policy(&new.key.policy) else {
            continue;
        };
        let order = policy::compare_tags(policy, &new.version.tag, &old.version.tag);
        let lowered = Moved::Lowered {
            key: new.key.clone(),
            from: old.version.clone(),
            to: new.version.clone(),
        };
        match order {
            Some(Ordering::Greater) => out.push(Moved::Raised {
                key: new.key.clone(),
            }),
            _ if revert => out.push(lowered),
            Some(Ordering::Less) => out.push(lowered),
            Some(Ordering::Equal) | None => {}
        }
    }
    out
}

/// How many references each (policy, file) has on one side.
fn count(side: &[Managed]) -> HashMap<(&str, &str), usize> {
    let mut n: HashMap<(&str, &str), usize> = HashMap::new();
    for m in side {
        *n.entry((m.key.policy.as_str(), m.key.file.as_str()))
            .or_default() += 1;
    }
    n
}

/// The commit and author a hold is made by, and when.
#[derive(Clone, Copy, Debug)]
pub struct Made<'a> {
    pub commit: &'a str,
    pub author: &'a str,
    pub at_ms: i64,
}

/// Takes one commit's moves into the holds: a rollback holds the reference
/// (from the higher of its earlier hold's from-version and this one's, so
/// that rolling back twice never frees what the first rollback held), a
/// raise releases it.
pub fn take(
    holds: &mut BTreeMap<RefKey, RollbackHold>,
    config: &RepoConfig,
    moves: &[Moved],
    made: Made<'_>,
) {
    for m in moves {
        match m {
            Moved::Raised { key } => {
                holds.remove(key);
            }
            Moved::Lowered { key, from, to } => {
                let from = match holds.get(key) {
                    Some(earlier) if above(config, key, &earlier.from.tag, &from.tag) => {
                        earlier.from.clone()
                    }
                    _ => from.clone(),
                };
                holds.insert(
                    key.clone(),
                    RollbackHold {
                        key: key.clone(),
                        from,
                        to: to.clone(),
                        commit: made.commit.to_string(),
                        author: made.author.to_string(),
                        at_ms: made.at_ms,
                    },
                );
            }
        }
    }
}

/// True when tag `a` is above tag `b` in the order of `key`'s policy.
fn above(config: &RepoConfig, key: &RefKey, a: &str, b: &str) -> bool {
    config
        .policy(&key.policy)
        .and_then(|p| policy::compare_tags(p, a, b))
        == Some(Ordering::Greater)
}

/// Holds that no longer stand at the base HEAD, removed from `holds` and
/// returned with the reason: the policy is gone, the file is gone, the
/// reference is gone from a file that parses, or it is above its
/// from-version (a person merged a newer version the bot proposed without
/// auto-merge). A file that is there but could not be read (`unread`) or
/// parsed tells nothing: its holds stay.
pub fn superseded(
    holds: &mut BTreeMap<RefKey, RollbackHold>,
    config: &RepoConfig,
    files: &[SourceFile],
    unread: &[&str],
) -> Vec<(RollbackHold, &'static str)> {
    let mut parsed: HashMap<&str, Vec<Managed>> = HashMap::new();
    for f in files {
        if let Some(m) = managed(config, f) {
            parsed.insert(f.path.as_str(), m);
        }
    }
    let mut gone = Vec::new();
    for (key, hold) in holds.iter() {
        let why = if config.policy(&key.policy).is_none() {
            Some("its policy is gone")
        } else {
            match parsed.get(key.file.as_str()) {
                None if files.iter().any(|f| f.path == key.file)
                    || unread.contains(&key.file.as_str()) =>
                {
                    None
                }
                None => Some("its file is gone"),
                Some(refs) => match refs.iter().find(|m| &m.key == key) {
                    None => Some("the reference is gone"),
                    Some(m) if above(config, key, &m.version.tag, &hold.from.tag) => {
                        Some("it is above the rolled-back-from version now")
                    }
                    Some(_) => None,
                },
            }
        };
        if let Some(why) = why {
            gone.push((hold.clone(), why));
        }
    }
    for (hold, _) in &gone {
        holds.remove(&hold.key);
    }
    gone
}

/// What the holds did to a run's bumps.
#[derive(Clone, Debug, Default)]
pub struct Restrained {
    /// Bumps not delivered: to the held range, or any bump in direct mode.
    pub withheld: Vec<(Bump, RollbackHold)>,
    /// Bumps delivered as an MR that is never auto-merged, by (file, line).
    pub unmerged: Vec<(String, usize, RollbackHold)>,
}

impl Restrained {
    /// The holds of a change's bumps that keep it from auto-merging.
    pub fn holds_of<'a>(&'a self, bumps: &[Bump]) -> Vec<&'a RollbackHold> {
        let mut out: Vec<&RollbackHold> = Vec::new();
        for b in bumps {
            for (file, line, hold) in &self.unmerged {
                if *file == b.file && *line == b.line && !out.contains(&hold) {
                    out.push(hold);
                }
            }
        }
        out
    }
}

/// Applies the holds to planned bumps: with MRs (`mrs`), a bump to the
/// from-version, to anything below it or to a version the policy cannot
/// order is withheld, and a bump above it stays but is never auto-merged;
/// without MRs (direct mode), every bump of a held reference is withheld.
pub fn restrain(
    config: &RepoConfig,
    holds: &[RollbackHold],
    files: &[SourceFile],
    bumps: &mut Vec<Bump>,
    mrs: bool,
) -> Restrained {
    let mut out = Restrained::default();
    if holds.is_empty() {
        return out;
    }
    let at: HashMap<(String, usize), RefKey> = managed_in(config, files)
        .into_iter()
        .map(|m| ((m.key.file.clone(), m.line), m.key))
        .collect();
    bumps.retain(|b| {
        let Some(key) = at.get(&(b.file.clone(), b.line)) else {
            return true;
        };
        let Some(hold) = holds.iter().find(|h| &h.key == key) else {
            return true;
        };
        if mrs && above(config, key, &b.to.tag, &hold.from.tag) {
            out.unmerged.push((b.file.clone(), b.line, hold.clone()));
            true
        } else {
            out.withheld.push((b.clone(), hold.clone()));
            false
        }
    });
    out
}

/// The commit a `git revert` message names (`This reverts commit <sha>.`,
/// as git, GitHub's and GitLab's revert buttons write it).
pub fn reverted(message: &str) -> Option<&str> {
    let rest = message.split("This reverts commit ").nth(1)?;
    let sha: &str = rest
        .split(|c: char| !c.is_ascii_hexdigit())
        .next()
        .unwrap_or_default();
    (sha.len() >= 7 && sha.len() <= 64).then_some(sha)
}
