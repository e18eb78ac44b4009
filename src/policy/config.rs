//! Parsing and validating `.imagebump.yaml` (the README's `.imagebump.yaml`).
//!
//! The file is read into the positioned YAML tree and checked by hand, so
//! every problem names the file, line and column of the offending key or
//! value with a one-line hint. All problems are reported at once; a file
//! with any problem yields no config (the caller keeps the last valid one).

use regex::Regex;

use super::{
    DEFAULT_FILES, DEFAULT_MAX_FILE_BYTES, DEFAULT_TAG_EXCLUDES, DigestMode, Group,
    MAX_CONFIG_DURATION, MAX_FILE_BYTES, Order, Policy, PullRequests, RepoConfig, Rule, TagRule,
    UpdateType, version,
};
use crate::domain::ImageRepo;
use crate::yaml::{self, Node};

/// A problem in the config file, at a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}{}", hint.as_ref().map(|h| format!(" (hint: {h})")).unwrap_or_default())]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

const TOP_KEYS: &[&str] = &[
    "files",
    "exclude",
    "maxFileSize",
    "policies",
    "pullRequests",
];
const POLICY_KEYS: &[&str] = &[
    "name",
    "image",
    "semver",
    "tags",
    "prerelease",
    "digest",
    "automerge",
    "platforms",
    "minReleaseAge",
];
const TAGS_KEYS: &[&str] = &["pattern", "extract", "order", "exclude"];
const PR_KEYS: &[&str] = &[
    "branchPrefix",
    "labels",
    "reviewers",
    "group",
    "minReleaseAge",
];

/// Parses `.imagebump.yaml`; `file` names it in errors.
pub fn parse_config(file: &str, text: &str) -> Result<RepoConfig, Vec<ConfigError>> {
    let mut cx = Cx {
        file,
        errors: Vec::new(),
        notes: Vec::new(),
    };
    let root = match yaml::parse(text) {
        Err(e) => {
            cx.errors.push(ConfigError {
                file: file.to_string(),
                line: e.line,
                column: e.column,
                message: format!("not valid YAML: {}", e.message),
                hint: Some("check indentation and quoting on this line".into()),
            });
            return Err(cx.errors);
        }
        Ok(docs) => docs.into_iter().flatten().collect::<Vec<_>>(),
    };
    let config = match root.as_slice() {
        [doc] if doc.as_map().is_some() => cx.config(doc),
        [doc, second, ..] if doc.as_map().is_some() => {
            cx.err(second, "the config must be a single YAML document", None);
            None
        }
        [doc, ..] => {
            cx.err(
                doc,
                &format!("the config must be a mapping, found {}", doc.type_name()),
                Some("start with `policies:`"),
            );
            None
        }
        [] => {
            cx.errors.push(ConfigError {
                file: file.to_string(),
                line: 1,
                column: 1,
                message: "the config is empty".into(),
                hint: Some("add `policies:` with at least `name` and `image`".into()),
            });
            None
        }
    };
    match config {
        Some(c) if cx.errors.is_empty() => Ok(c),
        _ => {
            cx.errors.sort_by_key(|e| (e.line, e.column));
            Err(cx.errors)
        }
    }
}

mod fields;

use fields::{Cx, describe};

impl Cx<'_> {
    fn config(&mut self, root: &Node) -> Option<RepoConfig> {
        let mut config = RepoConfig {
            files: DEFAULT_FILES.iter().map(|s| s.to_string()).collect(),
            exclude: Vec::new(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            policies: Vec::new(),
            pull_requests: PullRequests::default(),
            notes: Vec::new(),
        };
        let mut have_policies = false;
        for (k, v) in self.map(root, "the config", TOP_KEYS) {
            match k.as_str() {
                Some("files") => config.files = self.globs(v, "files"),
                Some("exclude") => config.exclude = self.globs(v, "exclude"),
                Some("maxFileSize") => {
                    if let Some(n) = self.bytes(v, "maxFileSize", 1, MAX_FILE_BYTES) {
                        config.max_file_bytes = n;
                    }
                }
                Some("pullRequests") => config.pull_requests = self.pull_requests(v),
                Some("policies") => {
                    have_policies = true;
                    config.policies = self.policies(v);
                }
                _ => {}
            }
        }
        if !have_policies {
            self.err(
                root,
                "the config has no `policies`",
                Some("add `policies:` with at least `name` and `image`"),
            );
        }
        // A policy without its own `minReleaseAge` takes the default.
        for p in &mut config.policies {
            if p.min_release_age == std::time::Duration::MAX {
                p.min_release_age = config.pull_requests.min_release_age;
            }
        }
        config.notes = std::mem::take(&mut self.notes);
        Some(config)
    }

    fn policies(&mut self, node: &Node) -> Vec<Policy> {
        let Some(items) = node.as_seq() else {
            self.err(
                node,
                &format!("`policies` must be a list, found {}", describe(node)),
                Some("start each policy with `- name:`"),
            );
            return Vec::new();
        };
        let mut out: Vec<Policy> = Vec::new();
        for item in items {
            let Some(p) = self.policy(item) else { continue };
            if out.iter().any(|o| o.name == p.name) {
                let at = item.get("name").unwrap_or(item);
                self.err(
                    at,
                    &format!("duplicate policy name `{}`", p.name),
                    Some("policy names must be unique; markers refer to them"),
                );
                continue;
            }
            out.push(p);
        }
        out
    }

    fn policy(&mut self, node: &Node) -> Option<Policy> {
        let pairs = self.map(node, "a policy", POLICY_KEYS);
        let errors_before = self.errors.len();
        let (mut name, mut image) = (None, None);
        let (mut semver, mut tags) = (None, None);
        let mut prerelease = false;
        let mut digest = DigestMode::Off;
        let mut automerge = Vec::new();
        let mut platforms = Vec::new();
        let mut exclude = compile_defaults();
        let mut min_release_age = None;
        for (k, v) in pairs {
            match k.as_str() {
                Some("name") => name = self.policy_name(v),
                Some("image") => image = self.image(v),
                Some("semver") => semver = self.range(v).map(|r| (r, v)),
                Some("tags") => tags = Some((self.tags(v, &mut exclude), v)),
                Some("prerelease") => prerelease = self.bool(v, "prerelease").unwrap_or(false),
                Some("digest") => digest = self.digest(v),
                Some("automerge") => automerge = self.automerge(v),
                Some("platforms") => platforms = self.platforms(v),
                Some("minReleaseAge") => {
                    min_release_age = self.duration(v, "minReleaseAge", MAX_CONFIG_DURATION)
                }
                _ => {}
            }
        }
        if name.is_none() && node.get("name").is_none() {
            self.err(
                node,
                "a policy needs a `name`",
                Some("add `name: web`; markers refer to it"),
            );
        }
        if image.is_none() && node.get("image").is_none() {
            self.err(
                node,
                "a policy needs an `image`",
                Some("add `image: ghcr.io/acme/web` (no tag)"),
            );
        }
        let rule = match (semver, tags) {
            (Some(_), Some((_, t))) => {
                self.err(
                    t,
                    "a policy takes either `semver` or `tags`, not both",
                    None,
                );
                return None;
            }
            (Some((range, _)), None) => Rule::Semver(range),
            (None, Some((rule, _))) => Rule::Tags(rule?),
            (None, None) => Rule::Semver(version::parse_range("*").ok()?),
        };
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Policy {
            name: name?,
            image: image?,
            rule,
            prerelease,
            digest,
            automerge,
            exclude,
            platforms,
            refused: super::Refusals::default(),
            min_release_age: min_release_age.unwrap_or(std::time::Duration::MAX),
        })
    }

    fn policy_name(&mut self, node: &Node) -> Option<String> {
        let name = self.string(node, "name")?;
        let ok = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            self.err(
                node,
                &format!("policy name `{name}` may only use letters, digits, `-`, `_` and `.`"),
                Some("it becomes part of a branch name"),
            );
            return None;
        }
        Some(name)
    }

    fn image(&mut self, node: &Node) -> Option<ImageRepo> {
        let s = self.string(node, "image")?;
        let last = s.rsplit('/').next().unwrap_or_default();
        if last.contains(':') || s.contains('@') {
            self.err(node, &format!("`image` is a repository without tag or digest, found `{s}`"), Some("write `image: ghcr.io/acme/web` and put the version rule in `semver` or `tags`"));
            return None;
        }
        match ImageRepo::parse(&s) {
            Ok(r) => Some(r),
            Err(e) => {
                self.err(
                    node,
                    &e,
                    Some("repository paths are lowercase, e.g. ghcr.io/acme/web"),
                );
                None
            }
        }
    }

    fn range(&mut self, node: &Node) -> Option<version::VersionRange> {
        let s = self.string(node, "semver")?;
        match version::parse_range(&s) {
            Ok(r) => {
                for (offset, bare) in r.bare_versions() {
                    let at = at_offset(node, &s, *offset);
                    let note = ConfigError {
                        file: self.file.to_string(),
                        line: at.line,
                        column: at.column,
                        message: format!(
                            "`{bare}` in `semver` means {} (as in Flux and npm)",
                            bare_meaning(bare)
                        ),
                        hint: Some(format!(
                            "before imagebump 0.2 a bare version meant `^{bare}`; write `^{bare}` to keep that"
                        )),
                    };
                    self.notes.push(note);
                }
                Some(r)
            }
            Err(e) => {
                let at = at_offset(node, &s, e.offset);
                self.err(
                    &at,
                    &format!(
                        "`{}` is not a semver range: {}",
                        s.escape_debug(),
                        e.message
                    ),
                    Some(&e.hint),
                );
                None
            }
        }
    }

    fn platforms(&mut self, node: &Node) -> Vec<String> {
        let mut out = Vec::new();
        for (s, n) in self.strings(node, "platforms") {
            let parts: Vec<&str> = s.split('/').collect();
            let ok = (2..=3).contains(&parts.len())
                && parts.iter().all(|p| {
                    !p.is_empty()
                        && p.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                });
            if ok {
                out.push(s);
            } else {
                self.err(
                    &n,
                    &format!("`{s}` is not a platform"),
                    Some("write os/arch or os/arch/variant, e.g. linux/amd64, linux/arm64, linux/arm/v7"),
                );
            }
        }
        out
    }

    fn tags(&mut self, node: &Node, exclude: &mut Vec<Regex>) -> Option<TagRule> {
        let pairs = self.map(node, "`tags`", TAGS_KEYS);
        let mut rule = TagRule {
            pattern: None,
            extract: None,
            order: Order::Alphabetical,
        };
        let mut order_set = false;
        let mut extract_node = None;
        for (k, v) in pairs {
            match k.as_str() {
                Some("pattern") => rule.pattern = self.regex(v, "pattern"),
                Some("extract") => {
                    rule.extract = self.string(v, "extract");
                    extract_node = Some(v);
                }
                Some("order") => {
                    order_set = true;
                    rule.order = match v.as_str() {
                        Some("semver") => Order::Semver,
                        Some("numerical") => Order::Numerical,
                        Some("alphabetical") => Order::Alphabetical,
                        Some("newest") => Order::Newest,
                        _ => {
                            self.err(
                                v,
                                &format!(
                                    "`order` must be semver, numerical, alphabetical or newest, found {}",
                                    describe(v)
                                ),
                                None,
                            );
                            return None;
                        }
                    }
                }
                Some("exclude") => {
                    if let Some(items) = v.as_seq() {
                        exclude.extend(items.iter().filter_map(|n| self.regex(n, "exclude")));
                    } else {
                        self.err(
                            v,
                            &format!(
                                "`exclude` must be a list of regular expressions, found {}",
                                describe(v)
                            ),
                            Some("write `exclude: ['^main-0']`"),
                        );
                    }
                }
                _ => {}
            }
        }
        if !order_set {
            self.err(
                node,
                "`tags` needs an `order`",
                Some("order: semver | numerical | alphabetical | newest"),
            );
        }
        if let (Some(extract), Some(at)) = (&rule.extract, extract_node) {
            self.check_extract(extract, rule.pattern.as_ref(), at);
        }
        Some(rule)
    }

    /// `extract` may only name groups that `pattern` has.
    fn check_extract(&mut self, extract: &str, pattern: Option<&Regex>, at: &Node) {
        let Some(pattern) = pattern else {
            self.err(at, "`extract` needs a `pattern` with capture groups", None);
            return;
        };
        let refs = Regex::new(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))").ok();
        for cap in refs.iter().flat_map(|r| r.captures_iter(extract)) {
            let group = cap
                .get(1)
                .or(cap.get(2))
                .map(|m| m.as_str())
                .unwrap_or_default();
            let known = match group.parse::<usize>() {
                Ok(i) => i < pattern.captures_len(),
                Err(_) => pattern.capture_names().flatten().any(|n| n == group),
            };
            if !known {
                self.err(
                    at,
                    &format!("`extract` refers to group `{group}`, which `pattern` does not have"),
                    Some("name a group in the pattern, e.g. (?P<ts>\\d+), and extract `$ts`"),
                );
            }
        }
        if !extract.contains('$') {
            self.err(
                at,
                &format!("`extract: {extract}` refers to no group"),
                Some("use `$name`, `$1` or `${1}`"),
            );
        }
    }

    fn digest(&mut self, node: &Node) -> DigestMode {
        match node.as_str() {
            Some("pin") => DigestMode::Pin,
            Some("off") => DigestMode::Off,
            _ => {
                self.err(
                    node,
                    &format!("`digest` must be pin or off, found {}", describe(node)),
                    None,
                );
                DigestMode::Off
            }
        }
    }

    fn automerge(&mut self, node: &Node) -> Vec<UpdateType> {
        let mut out = Vec::new();
        for (s, n) in self.strings(node, "automerge") {
            match UpdateType::ALL.iter().find(|u| u.as_str() == s) {
                Some(u) => out.push(*u),
                None => {
                    let names: Vec<&str> = UpdateType::ALL.iter().map(|u| u.as_str()).collect();
                    self.err(
                        &n,
                        &format!("unknown update type `{s}` in `automerge`"),
                        Some(&format!("one of {}", names.join(", "))),
                    );
                }
            }
        }
        out
    }

    fn pull_requests(&mut self, node: &Node) -> PullRequests {
        let mut pr = PullRequests::default();
        for (k, v) in self.map(node, "`pullRequests`", PR_KEYS) {
            match k.as_str() {
                Some("branchPrefix") => {
                    if let Some(p) = self.string(v, "branchPrefix") {
                        if valid_branch_prefix(&p) {
                            pr.branch_prefix = p;
                        } else {
                            self.err(
                                v,
                                &format!("`branchPrefix: {p}` is not usable in a branch name"),
                                Some("use letters, digits, `-`, `_`, `.` and `/`, e.g. imagebump/"),
                            );
                        }
                    }
                }
                Some("minReleaseAge") => {
                    if let Some(d) = self.duration(v, "minReleaseAge", MAX_CONFIG_DURATION) {
                        pr.min_release_age = d;
                    }
                }
                Some("labels") => {
                    pr.labels = self
                        .strings(v, "labels")
                        .into_iter()
                        .map(|(s, _)| s)
                        .collect()
                }
                Some("reviewers") => {
                    pr.reviewers = self
                        .strings(v, "reviewers")
                        .into_iter()
                        .map(|(s, _)| s)
                        .collect()
                }
                Some("group") => {
                    pr.group = match v.as_str() {
                        Some("per-policy") => Group::PerPolicy,
                        Some("per-file") => Group::PerFile,
                        Some("all") => Group::All,
                        _ => {
                            self.err(
                                v,
                                &format!(
                                    "`group` must be per-policy, per-file or all, found {}",
                                    describe(v)
                                ),
                                None,
                            );
                            Group::PerPolicy
                        }
                    }
                }
                _ => {}
            }
        }
        pr
    }
}

/// The position of byte `offset` of scalar `text`, when the scalar is on
/// one line as written; else the scalar's own position.
fn at_offset(node: &Node, text: &str, offset: usize) -> Node {
    let mut at = node.clone();
    if let Some(scalar) = node.as_scalar()
        && scalar.raw.is_some()
        && let Some(before) = text.get(..offset)
    {
        let quote = usize::from(scalar.style != yaml::Style::Plain);
        at.column += quote + before.chars().count();
    }
    at
}

/// What a bare version in a range means: `2.3` → "2.3.x".
fn bare_meaning(bare: &str) -> String {
    let v = bare.strip_prefix('v').unwrap_or(bare);
    let parts = v.split('.').count();
    if parts >= 3 && !v.contains(['x', 'X', '*']) {
        format!("exactly {v}")
    } else {
        format!("{}.x", v.trim_end_matches(['x', 'X', '*', '.']))
    }
}

fn compile_defaults() -> Vec<Regex> {
    DEFAULT_TAG_EXCLUDES
        .iter()
        .filter_map(|r| Regex::new(r).ok())
        .collect()
}

fn valid_branch_prefix(p: &str) -> bool {
    !p.starts_with('/')
        && !p.contains("..")
        && !p.contains("//")
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

#[cfg(test)]
mod tests;
