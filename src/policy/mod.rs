//! The repository's `.imagebump.yaml` and the rules that choose a tag.
//!
//! Pure: no I/O. `config` turns the file's text into a validated
//! [`RepoConfig`] (or errors with file, line and column); `version` parses
//! tags as versions and ranges; `choose` picks the target tag for one
//! reference from a registry's tag list, classifies the bump, and says of
//! every other tag which rule passed it over.

pub mod choose;
pub mod config;
pub mod schema;
pub mod version;

#[cfg(test)]
mod tests;

use regex::Regex;
use serde::Serialize;

use crate::domain::ImageRepo;

pub use choose::{
    Decision, Reason, Verdict, choose, choose_with, needs_times, ranked, ranked_with, verdicts,
    verdicts_with,
};
pub use config::{ConfigError, parse_config};
pub use version::VersionRange;

/// Where the config lives, relative to the repository root.
pub const CONFIG_FILE: &str = ".imagebump.yaml";

/// Globs read when the config names none.
pub const DEFAULT_FILES: &[&str] = &["**/*.yaml", "**/*.yml"];

/// The longest `minReleaseAge` (and other durations in the file).
pub const MAX_CONFIG_DURATION: std::time::Duration = std::time::Duration::from_secs(366 * 86_400);

/// Selected files larger than this are skipped unless `maxFileSize` says
/// otherwise; also the limit for `.imagebump.yaml` itself.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 8 << 20;

/// The largest `maxFileSize`: a file is read whole into memory.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Tags that are never candidates: cosign signatures, attestations, SBOMs
/// (one regex, so that a tag costs one match, not three).
pub const DEFAULT_TAG_EXCLUDES: &[&str] = &[r"\.(?:sig|att|sbom)$"];

/// The validated contents of `.imagebump.yaml`.
#[derive(Clone, Debug)]
pub struct RepoConfig {
    pub files: Vec<String>,
    pub exclude: Vec<String>,
    /// Selected files larger than this are skipped, with a reason
    /// (`maxFileSize`; at most [`MAX_FILE_BYTES`]).
    pub max_file_bytes: u64,
    pub policies: Vec<Policy>,
    pub pull_requests: PullRequests,
    /// `environments`: file sets, and how each is promoted from another
    /// (empty: every reference follows the registry).
    pub environments: Vec<Environment>,
    /// Remarks that do not make the file invalid (a bare version in a
    /// range, whose meaning changed in 0.2); `validate` prints them.
    pub notes: Vec<ConfigError>,
}

impl RepoConfig {
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// The config with people's refusals (by policy name) on its policies.
    pub fn refusing(&self, refused: &std::collections::HashMap<String, Refusals>) -> RepoConfig {
        let mut out = self.clone();
        for p in &mut out.policies {
            if let Some(r) = refused.get(&p.name) {
                p.refused.merge(r);
            }
        }
        out
    }
}

/// One environment of `environments`: its files, and, when it is
/// promoted, where from and when (README, "Promotion between
/// environments").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    /// Globs of the environment's files (`*` does not cross `/`).
    pub files: Vec<String>,
    /// `promoteFrom`: an environment listed before this one. `None`: the
    /// environment follows the registry.
    pub promote_from: Option<String>,
    /// `after`: how long the source environment must have run a version
    /// (since the commit that introduced it there) before it is promoted.
    pub after: std::time::Duration,
    /// `require: [checks]`: that commit's checks passed on the platform.
    pub require_checks: bool,
    /// `automerge`: promotion MRs merge without a human.
    pub automerge: bool,
}

impl RepoConfig {
    /// The environment `name`.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }
}

/// One image's update policy.
#[derive(Clone, Debug)]
pub struct Policy {
    pub name: String,
    pub image: ImageRepo,
    pub rule: Rule,
    /// Prereleases are candidates (also implied by a range naming one).
    pub prerelease: bool,
    pub digest: DigestMode,
    pub automerge: Vec<UpdateType>,
    /// Tag exclusions: the defaults plus the policy's own.
    pub exclude: Vec<Regex>,
    /// Platforms (`linux/arm64`, `linux/arm/v7`) every target's manifest
    /// must offer; empty for no check.
    pub platforms: Vec<String>,
    /// What people refused (not in the file: closed MRs and `ignore`
    /// commands, given with [`RepoConfig::refusing`]).
    pub refused: Refusals,
    /// A tag is a candidate only once it is this old (`minReleaseAge`, or
    /// the default under `pullRequests`); `ZERO`: at once.
    pub min_release_age: std::time::Duration,
}

/// What people refused for one policy. A refused tag, or a tag whose
/// update from the current one is of a refused type, is never a target, so
/// that the best tag people still accept wins (`ignore major` with ten
/// newer majors still proposes the newest minor).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refusals {
    /// Tags, from closed MRs and `/imagebump ignore <version>`.
    pub tags: std::collections::HashSet<String>,
    /// From `/imagebump ignore major|minor`.
    pub update_types: std::collections::HashSet<UpdateType>,
}

impl Refusals {
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.update_types.is_empty()
    }

    /// Both refusals.
    pub fn merge(&mut self, other: &Refusals) {
        self.tags.extend(other.tags.iter().cloned());
        self.update_types.extend(other.update_types.iter().copied());
    }
}

/// How tags are compared and filtered.
#[derive(Clone, Debug)]
pub enum Rule {
    /// Tags are semver versions; only those in the range are candidates.
    Semver(VersionRange),
    /// Tags matching a pattern, ordered by an extracted value.
    Tags(TagRule),
}

#[derive(Clone, Debug)]
pub struct TagRule {
    /// Matched against the whole tag as the user anchored it.
    pub pattern: Option<Regex>,
    /// `$name`, `$1` or `${1}`; `None` means the whole tag.
    pub extract: Option<String>,
    pub order: Order,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Semver,
    Numerical,
    Alphabetical,
    /// By build time ([`TagTimes`]): for git-sha tags with no order in the
    /// name.
    Newest,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Semver => "semver",
            Order::Numerical => "numerical",
            Order::Alphabetical => "alphabetical",
            Order::Newest => "newest",
        }
    }
}

/// When an image's tags were made, as far as is known: the image config's
/// `created` (ms since the epoch), when imagebump first saw each tag that
/// appeared after the image's first listing, and that first listing (tags
/// already there were made before it). A pure input to [`choose_with`]
/// (`tags.order: newest`) and to the release-age rule ([`release_wait`]).
#[derive(Clone, Debug, Default)]
pub struct TagTimes {
    pub created: std::collections::HashMap<String, i64>,
    /// Tags that appeared after the first listing, and when.
    pub first_seen: std::collections::HashMap<String, i64>,
    /// When the image was first listed (`None`: never, as in `check`):
    /// a listed tag not in `first_seen` was there by then.
    pub listed_since: Option<i64>,
}

impl TagTimes {
    /// The tag's build time for `order: newest`, as `(time, tie-break)`:
    /// the config's `created` where it is set (not zero, as reproducible
    /// builds write), else when it appeared; the time it appeared breaks
    /// ties. `None` when nothing is known.
    pub fn build_time(&self, tag: &str) -> Option<(i64, i64)> {
        let seen = self.first_seen.get(tag).copied().or(self.listed_since);
        let created = self.created.get(tag).copied().filter(|c| *c > 0);
        let time = created.or(seen)?;
        Some((time, seen.unwrap_or(i64::MAX)))
    }

    /// When the tag was released, for `minReleaseAge`: when it appeared
    /// after the first listing; else (it was there at the first listing,
    /// or no store keeps times) the earlier of its config's `created` and
    /// the first listing, as far as they are known.
    pub fn released(&self, tag: &str) -> Option<i64> {
        if let Some(seen) = self.first_seen.get(tag) {
            return Some(*seen);
        }
        let created = self.created.get(tag).copied().filter(|c| *c > 0);
        match (created, self.listed_since) {
            (Some(c), Some(l)) => Some(c.min(l)),
            (c, l) => c.or(l),
        }
    }

    /// Whether the tag's release time is what the store saw it appear (no
    /// image config can make it older).
    pub fn seen_appearing(&self, tag: &str) -> bool {
        self.first_seen.contains_key(tag)
    }
}

/// Whether a tag released at `released_ms` is old enough under `policy`
/// at `now_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ripeness {
    /// Old enough (or the policy sets no `minReleaseAge`).
    Ripe,
    /// Too young: a candidate from this time on.
    Until(i64),
    /// No release time is known: never taken as old enough.
    Unknown,
}

/// The release-age rule for one tag.
pub fn release_wait(policy: &Policy, released_ms: Option<i64>, now_ms: i64) -> Ripeness {
    if policy.min_release_age.is_zero() {
        return Ripeness::Ripe;
    }
    let Some(released) = released_ms else {
        return Ripeness::Unknown;
    };
    let age = i64::try_from(policy.min_release_age.as_millis()).unwrap_or(i64::MAX);
    let due = released.saturating_add(age);
    if due <= now_ms {
        Ripeness::Ripe
    } else {
        Ripeness::Until(due)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DigestMode {
    #[default]
    Off,
    /// Write `image:tag@sha256:…` and re-pin when the tag moves.
    Pin,
}

/// The kind of change a bump makes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum UpdateType {
    Major,
    Minor,
    Patch,
    Prerelease,
    Digest,
    Other,
}

impl UpdateType {
    pub const ALL: [UpdateType; 6] = [
        UpdateType::Major,
        UpdateType::Minor,
        UpdateType::Patch,
        UpdateType::Prerelease,
        UpdateType::Digest,
        UpdateType::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpdateType::Major => "major",
            UpdateType::Minor => "minor",
            UpdateType::Patch => "patch",
            UpdateType::Prerelease => "prerelease",
            UpdateType::Digest => "digest",
            UpdateType::Other => "other",
        }
    }
}

/// Merge-request settings (used by `serve`; validated now).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequests {
    pub branch_prefix: String,
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub group: Group,
    /// `minReleaseAge` for policies that set none.
    pub min_release_age: std::time::Duration,
}

impl Default for PullRequests {
    fn default() -> Self {
        Self {
            branch_prefix: "imagebump/".to_string(),
            labels: Vec::new(),
            reviewers: Vec::new(),
            group: Group::PerPolicy,
            min_release_age: std::time::Duration::ZERO,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    PerPolicy,
    PerFile,
    All,
}

/// How tag `a` compares with tag `b` in the policy's order (its `semver`
/// rule, or its `tags` order); `None` when either is not shaped for the
/// rule, or the order needs build times (`order: newest`), so that no
/// order can be told from the tags alone (rollback holds, src/rollback/).
pub fn compare_tags(policy: &Policy, a: &str, b: &str) -> Option<std::cmp::Ordering> {
    let none = TagTimes::default();
    let a = choose::key::evaluate(&policy.rule, a, &none).ok()?;
    let b = choose::key::evaluate(&policy.rule, b, &none).ok()?;
    Some(a.cmp_order(&b))
}
