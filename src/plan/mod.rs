//! Planning bumps: from a repository's files, its config and the registry's
//! tag lists to the exact byte edits that bring every reference to the tag
//! its policy allows (docs/ARCHITECTURE.md, Reconcile steps 3–4).
//!
//! The files come from the caller (a work tree for `check`, a Git tree for
//! `reconcile`), so this module does no file I/O; the registry is reached
//! only through [`TagSource`], once per image. Output is a [`Report`] whose
//! JSON form is a stable contract (`check --format json`).

mod resolve;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::domain::{Digest, ImageRepo};
use crate::manifest::{self, Edit, Reference};
use crate::policy::{self, Decision, DigestMode, Policy, RepoConfig, UpdateType};
use crate::registry::{Client, RegistryError, TagList};

pub use resolve::{Resolved, resolve};

/// One file of the environment repository.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Relative to the repository root, with `/`.
    pub path: String,
    pub text: String,
}

/// Where tag lists and digests come from (the registry, in production).
#[allow(async_fn_in_trait)]
pub trait TagSource {
    async fn tags(&self, repos: &[ImageRepo]) -> HashMap<ImageRepo, Result<TagList, String>>;
    async fn digest(&self, repo: &ImageRepo, tag: &str) -> Result<Digest, String>;
    /// The platforms (`os/arch[/variant]`) the image of `tag` offers.
    async fn platforms(&self, repo: &ImageRepo, tag: &str) -> Result<Vec<String>, String>;
    /// Whether `tag` is in the registry now, with its digest: one manifest
    /// HEAD. `Ok(None)`: no such tag. A source that cannot tell "no such
    /// tag" from a failure says both with `Err`.
    async fn confirm(&self, repo: &ImageRepo, tag: &str) -> Result<Option<Digest>, String> {
        self.digest(repo, tag).await.map(Some)
    }
}

impl TagSource for Client {
    async fn tags(&self, repos: &[ImageRepo]) -> HashMap<ImageRepo, Result<TagList, String>> {
        self.list_tags_many(repos)
            .await
            .into_iter()
            .map(|(repo, r)| (repo, r.map_err(|e: RegistryError| e.to_string())))
            .collect()
    }

    async fn digest(&self, repo: &ImageRepo, tag: &str) -> Result<Digest, String> {
        Client::digest(self, repo, tag)
            .await
            .map_err(|e| e.to_string())
    }

    async fn platforms(&self, repo: &ImageRepo, tag: &str) -> Result<Vec<String>, String> {
        Client::platforms(self, repo, tag)
            .await
            .map_err(|e| e.to_string())
    }

    async fn confirm(&self, repo: &ImageRepo, tag: &str) -> Result<Option<Digest>, String> {
        match Client::digest(self, repo, tag).await {
            Ok(digest) => Ok(Some(digest)),
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A tag and optional digest, as written or as planned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Version {
    pub tag: String,
    pub digest: Option<String>,
}

impl Version {
    /// The tag and digest a reference has in its file; `None` without a tag.
    pub fn written(r: &Reference) -> Option<Version> {
        Some(Version {
            tag: r.tag.as_ref()?.value.clone(),
            digest: r
                .digest
                .as_ref()
                .map(|d| d.value.clone())
                .filter(|d| !d.is_empty()),
        })
    }
}

/// One planned change of one reference.
#[derive(Clone, Debug, Serialize)]
pub struct Bump {
    pub file: String,
    pub line: usize,
    pub image: String,
    pub policy: String,
    pub update: UpdateType,
    pub from: Version,
    pub to: Version,
    /// Better tags passed over on the way to `to` (a missing platform).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passed_over: Vec<PassedOver>,
    #[serde(skip)]
    pub edits: Vec<Edit>,
}

/// A tag better than the target that a rule passed over, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PassedOver {
    pub tag: String,
    pub rule: policy::Reason,
    pub detail: String,
}

/// A reference a policy owns but that is left alone, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub file: String,
    pub line: usize,
    pub image: String,
    pub reason: String,
}

/// A problem that stopped part of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub bumps: Vec<Bump>,
    pub skipped: Vec<Skipped>,
    pub errors: Vec<Problem>,
}

/// A file's new text after the bumps that touch it.
#[derive(Clone, Debug)]
pub struct FileChange {
    pub path: String,
    pub before: String,
    pub after: String,
}

/// Plans every bump the config allows in `files`.
pub async fn plan(config: &RepoConfig, files: &[SourceFile], source: &impl TagSource) -> Report {
    let mut report = Report::default();
    let mut owned: Vec<(usize, Reference, &Policy)> = Vec::new();
    for (i, file) in files.iter().enumerate() {
        if file.path == policy::CONFIG_FILE {
            continue; // the config names images but is never a manifest
        }
        let refs = match manifest::scan(&file.text) {
            Ok(refs) => refs,
            Err(e) => {
                report.errors.push(Problem {
                    file: file.path.clone(),
                    line: e.line,
                    message: format!("not valid YAML (column {}): {}", e.column, e.message),
                });
                continue;
            }
        };
        for r in refs {
            match resolve(config, &r) {
                Resolved::Policy(p) => owned.push((i, r, p)),
                Resolved::NotOurs => {}
                Resolved::Skip(image, reason) => report.skipped.push(Skipped {
                    file: file.path.clone(),
                    line: r.line,
                    image,
                    reason,
                }),
                Resolved::Error(message) => report.errors.push(Problem {
                    file: file.path.clone(),
                    line: r.line,
                    message,
                }),
            }
        }
    }

    let mut repos: Vec<ImageRepo> = owned.iter().map(|(_, _, p)| p.image.clone()).collect();
    repos.sort();
    repos.dedup();
    let tag_lists = source.tags(&repos).await;
    let mut digests = DigestCache::default();
    let mut platforms = PlatformCache::default();
    // Many references share (policy, current tag): choose once for each.
    let mut choices: HashMap<(String, String, bool), Decision> = HashMap::new();

    for (i, r, policy) in owned {
        let file = &files[i].path;
        let image = policy.image.to_string();
        let tags = match tag_lists.get(&policy.image) {
            Some(Ok(tags)) => tags,
            Some(Err(e)) => {
                report.errors.push(Problem {
                    file: file.clone(),
                    line: r.line,
                    message: e.clone(),
                });
                continue;
            }
            None => continue,
        };
        match decide(
            policy,
            &r,
            tags,
            source,
            (&mut digests, &mut platforms),
            &mut choices,
        )
        .await
        {
            Ok(Outcome::Bump(update, from, to, passed_over)) => {
                let edits = edits_for(&r, &from, &to);
                report.bumps.push(Bump {
                    file: file.clone(),
                    line: r.line,
                    image,
                    policy: policy.name.clone(),
                    update,
                    from,
                    to,
                    passed_over,
                    edits,
                });
            }
            Ok(Outcome::Nothing) => {}
            Ok(Outcome::Skip(reason)) => report.skipped.push(Skipped {
                file: file.clone(),
                line: r.line,
                image,
                reason,
            }),
            Err(message) => report.errors.push(Problem {
                file: file.clone(),
                line: r.line,
                message,
            }),
        }
    }
    report
}

enum Outcome {
    Bump(UpdateType, Version, Version, Vec<PassedOver>),
    Nothing,
    Skip(String),
}

/// Digests looked up once per (image, tag) in a run.
#[derive(Default)]
struct DigestCache(HashMap<(ImageRepo, String), Result<Digest, String>>);

impl DigestCache {
    async fn get(
        &mut self,
        source: &impl TagSource,
        repo: &ImageRepo,
        tag: &str,
    ) -> Result<Digest, String> {
        let key = (repo.clone(), tag.to_string());
        if let Some(d) = self.0.get(&key) {
            return d.clone();
        }
        let d = source.digest(repo, tag).await;
        self.0.insert(key, d.clone());
        d
    }
}

/// Platform lists looked up once per (image, tag) in a run.
#[derive(Default)]
struct PlatformCache(HashMap<(ImageRepo, String), Result<Vec<String>, String>>);

impl PlatformCache {
    async fn get(
        &mut self,
        source: &impl TagSource,
        repo: &ImageRepo,
        tag: &str,
    ) -> Result<Vec<String>, String> {
        let key = (repo.clone(), tag.to_string());
        if let Some(p) = self.0.get(&key) {
            return p.clone();
        }
        let p = source.platforms(repo, tag).await;
        self.0.insert(key, p.clone());
        p
    }
}

/// How many candidates are tried for the policy's platforms before the
/// reference is skipped.
pub const MAX_PLATFORM_TRIES: usize = 5;

/// The best candidate that offers every platform the policy names: the
/// manifest of the winner is fetched, and of the next one only when the
/// winner lacks a platform. `Err` is a skip reason or a registry error.
async fn platform_target(
    policy: &Policy,
    current: &str,
    tags: &[String],
    marked: bool,
    source: &impl TagSource,
    cache: &mut PlatformCache,
) -> Result<Result<(String, UpdateType, Vec<PassedOver>), String>, String> {
    let ranked = match policy::ranked(policy, current, tags, marked) {
        Ok(r) => r,
        Err(skip) => return Ok(Err(skip)),
    };
    let mut passed = Vec::new();
    for (tag, update) in ranked.into_iter().take(MAX_PLATFORM_TRIES) {
        let offered = cache.get(source, &policy.image, &tag).await?;
        let missing: Vec<&str> = policy
            .platforms
            .iter()
            .filter(|p| !crate::registry::offers(&offered, p))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            return Ok(Ok((tag, update, passed)));
        }
        passed.push(PassedOver {
            tag,
            rule: policy::Reason::Platform,
            detail: format!(
                "lacks {} (offers {})",
                missing.join(", "),
                offered.join(", ")
            ),
        });
    }
    let tried: Vec<String> = passed
        .iter()
        .map(|p| format!("{} {}", p.tag, p.detail))
        .collect();
    Ok(Err(format!(
        "platform: none of the {} best newer tags offers every platform of `{}`: {}",
        passed.len(),
        policy.name,
        tried.join("; ")
    )))
}

async fn decide(
    policy: &Policy,
    r: &Reference,
    tags: &[String],
    source: &impl TagSource,
    (digests, platforms): (&mut DigestCache, &mut PlatformCache),
    choices: &mut HashMap<(String, String, bool), Decision>,
) -> Result<Outcome, String> {
    let Some(current) = Version::written(r) else {
        return Ok(Outcome::Skip(
            "the reference has no tag to compare; write a tag".into(),
        ));
    };
    let pin = policy.digest == DigestMode::Pin || current.digest.is_some();
    // A digest can only be written where the reference has room for one.
    let can_pin = r.digest.is_some() || r.digest_insert.is_some();
    let marked = r.marker.is_some();
    let decision = choices
        .entry((policy.name.clone(), current.tag.clone(), marked))
        .or_insert_with(|| policy::choose(policy, &current.tag, tags, marked))
        .clone();
    let mut passed_over = Vec::new();
    let (target_tag, update) = match decision {
        Decision::Bump { .. } if !policy.platforms.is_empty() => {
            match platform_target(policy, &current.tag, tags, marked, source, platforms).await? {
                Ok((to, update, passed)) => {
                    passed_over = passed;
                    (to, Some(update))
                }
                Err(skip) => return Ok(Outcome::Skip(skip)),
            }
        }
        Decision::Bump { to, update } => (to, Some(update)),
        Decision::Current => (current.tag.clone(), None),
        Decision::Skip(reason) => return Ok(Outcome::Skip(reason)),
    };
    let digest = if pin && can_pin {
        Some(
            digests
                .get(source, &policy.image, &target_tag)
                .await?
                .to_string(),
        )
    } else {
        current.digest.clone()
    };
    let to = Version {
        tag: target_tag,
        digest,
    };
    Ok(match update {
        Some(u) => Outcome::Bump(u, current, to, passed_over),
        None if to != current => Outcome::Bump(UpdateType::Digest, current, to, Vec::new()),
        None => Outcome::Nothing,
    })
}

fn edits_for(r: &Reference, from: &Version, to: &Version) -> Vec<Edit> {
    let mut edits = Vec::new();
    if let Some(tag) = &r.tag
        && from.tag != to.tag
    {
        edits.push(Edit {
            span: tag.span.clone(),
            replacement: to.tag.clone(),
        });
    }
    if let Some(new) = &to.digest
        && from.digest.as_ref() != Some(new)
    {
        match (&r.digest, r.digest_insert) {
            (Some(d), _) => edits.push(Edit {
                span: d.span.clone(),
                replacement: new.clone(),
            }),
            (None, Some(at)) => edits.push(Edit {
                span: at..at,
                replacement: format!("@{new}"),
            }),
            (None, None) => {}
        }
    }
    edits
}

/// Applies the report's bumps to the files, checking each result: a file
/// whose edit would change anything but the planned bytes, or stop parsing,
/// becomes an error instead of a change.
pub fn apply(report: &mut Report, files: &[SourceFile]) -> Vec<FileChange> {
    let mut by_file: BTreeMap<&str, Vec<Edit>> = BTreeMap::new();
    for b in &report.bumps {
        by_file
            .entry(b.file.as_str())
            .or_default()
            .extend(b.edits.iter().cloned());
    }
    let texts: HashMap<&str, &str> = files
        .iter()
        .map(|f| (f.path.as_str(), f.text.as_str()))
        .collect();
    let mut changes = Vec::new();
    let mut failed: HashSet<String> = HashSet::new();
    for (path, edits) in by_file {
        let Some(before) = texts.get(path) else {
            continue;
        };
        let after = manifest::apply(before, &edits);
        match manifest::verify_edit(before, &after, &edits) {
            Ok(()) => changes.push(FileChange {
                path: path.to_string(),
                before: before.to_string(),
                after,
            }),
            Err(e) => {
                failed.insert(path.to_string());
                report.errors.push(Problem {
                    file: path.to_string(),
                    line: 1,
                    message: format!("edit refused: {e}"),
                });
            }
        }
    }
    report.bumps.retain(|b| !failed.contains(&b.file));
    changes
}

#[cfg(test)]
mod tests;
