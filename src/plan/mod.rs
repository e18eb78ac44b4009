//! Planning bumps: from a repository's files, its config and the registry's
//! tag lists to the exact byte edits that bring every reference to the tag
//! its policy allows (docs/ARCHITECTURE.md, Reconcile steps 3–4).
//!
//! The files come from the caller (a work tree for `check`, a Git tree for
//! `reconcile`), so this module does no file I/O; the registry is reached
//! only through [`TagSource`], once per image. Output is a [`Report`] whose
//! JSON form is a stable contract (`check --format json`).

mod candidates;
pub mod promote;
mod resolve;
mod times;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::domain::{Digest, ImageRepo};
use crate::manifest::{self, Edit, Reference};
use crate::policy::{self, Decision, DigestMode, Policy, RepoConfig, UpdateType};
use crate::registry::{Client, RegistryError, TagList};

pub use candidates::{MAX_AGE_FETCHES, MAX_PLATFORM_TRIES};
pub use resolve::{Resolved, resolve};
pub use times::rfc3339;

use candidates::{PlatformCache, walk};
use times::Times;

/// One file of the environment repository.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Relative to the repository root, with `/`.
    pub path: String,
    pub text: String,
}

/// A tag's manifest digest and its image config's `created` time (ms since
/// the epoch; `None`: the config has none).
pub type BuildTime = (Digest, Option<i64>);

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
    /// When the tags of `repo` appeared, where the source keeps such
    /// times (the service's store): `first_seen` and `listed_since` of
    /// [`policy::TagTimes`]; else nothing.
    async fn first_seen(&self, _repo: &ImageRepo) -> policy::TagTimes {
        policy::TagTimes::default()
    }
    /// The manifest digest and image config `created` time of each of
    /// `tags` (`None`: the config has none); a tag gone from the registry
    /// is left out. A source that keeps no images knows no build times.
    async fn build_times(
        &self,
        _repo: &ImageRepo,
        _tags: &[String],
    ) -> Result<HashMap<String, BuildTime>, String> {
        Err("this tag source has no image configs to read build times from".into())
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

    async fn build_times(
        &self,
        repo: &ImageRepo,
        tags: &[String],
    ) -> Result<HashMap<String, BuildTime>, String> {
        self.build_times_many(repo, tags)
            .await
            .map_err(|e| e.to_string())
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
    /// The `environments` entry the file belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Set for a bump of a promoted environment: where from, and why now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<promote::Promotion>,
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

/// A reference whose better tag is younger than its policy's
/// `minReleaseAge`: it moves (or not) when that tag comes of age.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Waiting {
    pub file: String,
    pub line: usize,
    pub image: String,
    pub policy: String,
    /// The young tag that comes of age first.
    pub tag: String,
    /// When it does (RFC 3339, UTC) and in ms since the epoch.
    pub until: String,
    pub until_ms: i64,
    /// The tags passed over, when the reference stays where it is (a bump
    /// carries its own).
    #[serde(skip)]
    pub passed_over: Vec<PassedOver>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub bumps: Vec<Bump>,
    pub skipped: Vec<Skipped>,
    pub errors: Vec<Problem>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<Waiting>,
}

impl Report {
    /// When the earliest young tag comes of age, if any waits.
    pub fn next_due_ms(&self) -> Option<&Waiting> {
        self.waiting.iter().min_by_key(|w| w.until_ms)
    }
}

/// A file's new text after the bumps that touch it.
#[derive(Clone, Debug)]
pub struct FileChange {
    pub path: String,
    pub before: String,
    pub after: String,
}

/// Plans every bump the config allows in `files`; `now_ms` is the time
/// release ages are measured at.
pub async fn plan(
    config: &RepoConfig,
    files: &[SourceFile],
    source: &impl TagSource,
    now_ms: i64,
) -> Report {
    let mut report = Report::default();
    let mut owned: Vec<(usize, Reference, &Policy)> = Vec::new();
    for (i, file) in files.iter().enumerate() {
        if file.path == policy::CONFIG_FILE {
            continue; // the config names images but is never a manifest
        }
        let Some(refs) = scanned(file, &mut report) else {
            continue;
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
    let mut times = Times::default();
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
        let decided = match times.prepare(policy, tags, source).await {
            Ok(()) => {
                let caches = (&mut digests, &mut platforms, &mut times);
                decide(policy, &r, tags, source, caches, &mut choices, now_ms).await
            }
            Err(e) => Err(e),
        };
        let (decided, waiting) = match decided {
            Ok((outcome, waiting)) => (Ok(outcome), waiting),
            Err(e) => (Err(e), None),
        };
        if let Some((tag, until_ms, passed_over)) = waiting {
            report.waiting.push(Waiting {
                file: file.clone(),
                line: r.line,
                image: image.clone(),
                policy: policy.name.clone(),
                tag,
                until: rfc3339(until_ms),
                until_ms,
                passed_over,
            });
        }
        match decided {
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
                    environment: None,
                    promotion: None,
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

/// The references of `file`; `None`, with the problem in `report`, when
/// it is not valid YAML.
fn scanned(file: &SourceFile, report: &mut Report) -> Option<Vec<Reference>> {
    match manifest::scan(&file.text) {
        Ok(refs) => Some(refs),
        Err(e) => {
            report.errors.push(Problem {
                file: file.path.clone(),
                line: e.line,
                message: format!("not valid YAML (column {}): {}", e.column, e.message),
            });
            None
        }
    }
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

/// The outcome for one reference, and the young tag it waits for.
async fn decide(
    policy: &Policy,
    r: &Reference,
    tags: &[String],
    source: &impl TagSource,
    (digests, platforms, times): (&mut DigestCache, &mut PlatformCache, &mut Times),
    choices: &mut HashMap<(String, String, bool), Decision>,
    now_ms: i64,
) -> Result<(Outcome, Option<(String, i64, Vec<PassedOver>)>), String> {
    let Some(current) = Version::written(r) else {
        return Ok((
            Outcome::Skip("the reference has no tag to compare; write a tag".into()),
            None,
        ));
    };
    let pin = policy.digest == DigestMode::Pin || current.digest.is_some();
    // A digest can only be written where the reference has room for one.
    let can_pin = r.digest.is_some() || r.digest_insert.is_some();
    let marked = r.marker.is_some();
    let decision = choices
        .entry((policy.name.clone(), current.tag.clone(), marked))
        .or_insert_with(|| {
            policy::choose_with(policy, &current.tag, tags, marked, times.of(&policy.image))
        })
        .clone();
    let mut passed_over = Vec::new();
    let mut waiting = None;
    let walks = !policy.platforms.is_empty() || !policy.min_release_age.is_zero();
    let (target_tag, update) = match decision {
        Decision::Bump { .. } if walks => {
            let who = (current.tag.as_str(), marked);
            match walk(policy, who, tags, source, (platforms, times), now_ms).await? {
                Ok(walked) => {
                    let moves = walked.target.is_some();
                    waiting = walked.waiting.map(|(tag, until)| {
                        let passed = if moves {
                            Vec::new()
                        } else {
                            walked.passed_over.clone()
                        };
                        (tag, until, passed)
                    });
                    passed_over = walked.passed_over;
                    match walked.target {
                        Some((to, update)) => (to, Some(update)),
                        None => (current.tag.clone(), None),
                    }
                }
                Err(skip) => return Ok((Outcome::Skip(skip), None)),
            }
        }
        Decision::Bump { to, update } => (to, Some(update)),
        Decision::Current => (current.tag.clone(), None),
        Decision::Skip(reason) => return Ok((Outcome::Skip(reason), None)),
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
    let outcome = match update {
        Some(u) => Outcome::Bump(u, current, to, passed_over),
        None if to != current => Outcome::Bump(UpdateType::Digest, current, to, Vec::new()),
        None => Outcome::Nothing,
    };
    Ok((outcome, waiting))
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
