//! Tags as versions: semver 2.0 tags with an optional `v`, prerelease vs
//! variant suffixes, and ranges (semver crate syntax or npm-style).
//!
//! A tag is a version iff it is `[v]MAJOR.MINOR.PATCH[-PRE][+BUILD]` under
//! strict semver 2.0 (no leading zeros, exactly three numeric parts). The
//! `-PRE` part is either a *prerelease* (its first dot-separated identifier
//! is numeric, or a prerelease word such as `rc`, `beta2`) or a *variant*
//! (`-alpine`, `-slim-bookworm`): a variant is a different flavour of the
//! image, not an earlier version, and a reference only moves within its own
//! variant.

use std::cmp::Ordering;
use std::fmt;

use semver::{BuildMetadata, Prerelease, Version, VersionReq};

/// Words that mark a `-PRE` suffix as a prerelease (case-insensitive, may be
/// followed directly by digits: `rc1`, `beta2`).
pub const PRERELEASE_WORDS: &[&str] = &[
    "alpha", "beta", "rc", "pre", "preview", "dev", "snapshot", "canary", "nightly", "next",
];

/// What follows `MAJOR.MINOR.PATCH` (before any `+BUILD`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Suffix {
    /// No suffix: a plain release.
    None,
    /// A prerelease; the text (without `-`) is also in `TagVersion::version.pre`.
    Prerelease(String),
    /// A variant of the image; the whole suffix text without the `-`.
    Variant(String),
}

/// A tag read as a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagVersion {
    /// The version used for ordering: `pre` holds the prerelease (empty for
    /// releases and variants); `build` is always empty, so `Ord` on it is
    /// semver precedence.
    pub version: Version,
    /// Build metadata without the `+`, if the tag had any (ignored for order).
    pub build: Option<String>,
    /// The tag started with `v` (ignored for order).
    pub v_prefix: bool,
    pub suffix: Suffix,
}

impl TagVersion {
    /// The variant, `None` for plain releases and prereleases.
    pub fn variant(&self) -> Option<&str> {
        match &self.suffix {
            Suffix::Variant(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_prerelease(&self) -> bool {
        matches!(self.suffix, Suffix::Prerelease(_))
    }

    /// Semver precedence: prefix, build metadata and variant are ignored.
    pub fn cmp_precedence(&self, other: &Self) -> Ordering {
        self.version.cmp(&other.version)
    }
}

/// Reads a tag as a version; `None` when it is not one (`latest`, `1.25`,
/// `1.2.3.4`, `01.2.3`).
pub fn parse_tag(tag: &str) -> Option<TagVersion> {
    let (v_prefix, text) = match tag.strip_prefix('v') {
        Some(rest) => (true, rest),
        None => (false, tag),
    };
    // `Version::parse` is strict semver 2.0 (no leading zeros, three parts,
    // no whitespace, no operators).
    let parsed = Version::parse(text).ok()?;
    let build = (!parsed.build.is_empty()).then(|| parsed.build.as_str().to_string());
    let pre = parsed.pre.as_str();
    let (suffix, pre) = if pre.is_empty() {
        (Suffix::None, Prerelease::EMPTY)
    } else if is_prerelease_text(pre) {
        (Suffix::Prerelease(pre.to_string()), parsed.pre.clone())
    } else {
        (Suffix::Variant(pre.to_string()), Prerelease::EMPTY)
    };
    let version = Version {
        major: parsed.major,
        minor: parsed.minor,
        patch: parsed.patch,
        pre,
        build: BuildMetadata::EMPTY,
    };
    Some(TagVersion {
        version,
        build,
        v_prefix,
        suffix,
    })
}

/// True when a `-PRE` text (without `-`) is a prerelease rather than a
/// variant: its first identifier is numeric or a prerelease word optionally
/// followed directly by digits.
pub fn is_prerelease_text(pre: &str) -> bool {
    let first = pre.split('.').next().unwrap_or_default();
    if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    let lower = first.to_ascii_lowercase();
    PRERELEASE_WORDS.iter().any(|word| {
        lower
            .strip_prefix(word)
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// A parsed `semver` range of a policy: an OR of semver requirements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRange {
    /// The range as the user wrote it.
    pub source: String,
    alternatives: Vec<VersionReq>,
}

impl VersionRange {
    /// The `||` alternatives, each a semver crate requirement.
    pub fn alternatives(&self) -> &[VersionReq] {
        &self.alternatives
    }

    /// True when any comparator names a prerelease (`>=1.3.0-rc.1`), which
    /// opts the policy into prerelease candidates.
    pub fn names_prerelease(&self) -> bool {
        self.alternatives
            .iter()
            .flat_map(|req| &req.comparators)
            .any(|c| !c.pre.is_empty())
    }

    /// True when `version` is in the range. The range is tested against
    /// `MAJOR.MINOR.PATCH` only (prerelease and build stripped), so
    /// `1.3.0-rc.1` is in `^1.2` and `2.0.0-rc.1` is not in `<2.0.0`.
    /// Whether prereleases are candidates at all is decided by the caller.
    pub fn matches(&self, version: &Version) -> bool {
        let core = Version::new(version.major, version.minor, version.patch);
        self.alternatives.iter().any(|req| req.matches(&core))
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

const RANGE_EXAMPLES: &str = "examples: ^1.4, ~1.4.2, >=1.0.0 <2.0.0, 1.*, ^1.4 || ^2.0";

/// Parses a range; the error is a one-line explanation.
///
/// Accepts the semver crate's `VersionReq` syntax (`^1.4`, `~1.4.2`,
/// `>=1.0.0, <2.0.0`, `1.*`, `*`; a bare `1.4` means `^1.4`), npm-style
/// space-separated comparators (`>=1.0.0 <2.0.0`), npm hyphen ranges
/// (`1.2.3 - 2.0.0` = `>=1.2.3, <=2.0.0`), a `v` before versions, and `||`
/// between alternatives.
pub fn parse_range(s: &str) -> Result<VersionRange, String> {
    let shown = s.escape_debug().to_string();
    let fail = |why: &str| format!("`{shown}` is not a semver range: {why}; {RANGE_EXAMPLES}");
    if s.trim().is_empty() {
        return Err(fail("it is empty"));
    }
    let mut alternatives = Vec::new();
    for alt in s.split("||") {
        if alt.trim().is_empty() {
            return Err(fail("an alternative around `||` is empty"));
        }
        let comparators = normalise_alternative(alt).map_err(|why| fail(&why))?;
        let req = VersionReq::parse(&comparators.join(", ")).map_err(|e| {
            let why = e.to_string().replace(['\n', '\r'], " ");
            fail(&why)
        })?;
        alternatives.push(req);
    }
    Ok(VersionRange {
        source: s.to_string(),
        alternatives,
    })
}

/// Splits one alternative into comparators: commas and whitespace separate
/// them, a lone operator joins the next token, `A - B` is a hyphen range.
fn normalise_alternative(alt: &str) -> Result<Vec<String>, String> {
    let tokens: Vec<&str> = alt
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        if token == "-" {
            return Err("`-` must stand between two versions (`1.2.3 - 2.0.0`)".into());
        }
        if is_operator(token) {
            let Some(next) = tokens.get(i + 1) else {
                return Err(format!("operator `{token}` has no version after it"));
            };
            if is_operator(next) || *next == "-" {
                return Err(format!("operator `{token}` has no version after it"));
            }
            out.push(format!("{token}{}", strip_v(next)));
            i += 2;
            continue;
        }
        if tokens.get(i + 1) == Some(&"-") {
            let Some(upper) = tokens.get(i + 2) else {
                return Err(format!("hyphen range `{token} -` has no upper bound"));
            };
            if has_operator(token) || has_operator(upper) {
                return Err("a hyphen range takes bare versions (`1.2.3 - 2.0.0`)".into());
            }
            out.push(format!(">={}", strip_v(token)));
            out.push(format!("<={}", strip_v(upper)));
            i += 3;
            continue;
        }
        out.push(strip_v_after_operator(token));
        i += 1;
    }
    Ok(out)
}

const OPERATOR_CHARS: &[char] = &['<', '>', '=', '~', '^'];

fn is_operator(token: &str) -> bool {
    !token.is_empty() && token.chars().all(|c| OPERATOR_CHARS.contains(&c))
}

fn has_operator(token: &str) -> bool {
    token.starts_with(OPERATOR_CHARS)
}

/// `v1.2` → `1.2` (only when a digit follows the `v`).
fn strip_v(version: &str) -> &str {
    match version.strip_prefix('v') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => version,
    }
}

fn strip_v_after_operator(token: &str) -> String {
    let split = token
        .find(|c: char| !OPERATOR_CHARS.contains(&c))
        .unwrap_or(token.len());
    let (op, version) = token.split_at(split);
    format!("{op}{}", strip_v(version))
}
