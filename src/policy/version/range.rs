//! `semver:` ranges as Flux, Argo CD Image Updater, npm and Renovate users
//! write them.
//!
//! - `^1.4`, `~1.4.2`, `>=1.0.0 <2.0.0` (AND by space or comma), `1.2 - 1.4`
//!   (hyphen ranges), `1.x`, `1.2.*`, `*`, and `a || b`.
//! - A bare full version is exact (`1.0.1`); a partial one is a wildcard
//!   (`2.3` = `2.3.x`, `2` = `2.x`). Before imagebump 0.2 a bare version
//!   meant `^`; that reading widened ranges copied from Flux.
//! - Versions of 1 to 4 parts are compared with missing parts as 0. A range
//!   never changes which tags are compatible (that is the tag's shape).
//! - A prerelease is tested by its release (`1.3.0-rc.1` is in `^1.2`, and
//!   `2.0.0-rc.1` is not in `<2.0.0`) unless the comparator names a
//!   prerelease of the same release (`>=1.3.0-rc.2`). Whether prereleases are
//!   candidates at all is the policy's choice.

use std::fmt;

use super::{MAX_PARTS, Prerelease, TagVersion, cmp_pre};

/// The forms a range takes, for hints.
pub const RANGE_FORMS: &str = "^1.4, ~1.4.2, >=1.0.0 <2.0.0, 1.2 - 1.4, 1.x, ^1.4 || ^2.0; `2.3` means 2.3.x and `1.0.1` exactly 1.0.1";

/// A range that cannot be read: where (byte offset into the text), what, and
/// a hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeError {
    pub offset: usize,
    pub message: String,
    pub hint: String,
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (hint: {})", self.message, self.hint)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

/// One bound: `op` against a padded release and an optional prerelease.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Comparator {
    op: Op,
    parts: [u64; MAX_PARTS],
    pre: Option<Prerelease>,
}

impl Comparator {
    fn matches(&self, v: &TagVersion) -> bool {
        let mut o = v.padded().cmp(&self.parts);
        if o.is_eq() && self.pre.is_some() {
            o = cmp_pre(v.pre.as_deref(), self.pre.as_ref());
        }
        match self.op {
            Op::Eq => o.is_eq(),
            Op::Gt => o.is_gt(),
            Op::Ge => o.is_ge(),
            Op::Lt => o.is_lt(),
            Op::Le => o.is_le(),
        }
    }
}

/// A parsed `semver` range of a policy: an OR of ANDs of bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRange {
    /// The range as the user wrote it.
    pub source: String,
    alternatives: Vec<Vec<Comparator>>,
    /// Versions written without an operator, with their offsets: their
    /// meaning changed in imagebump 0.2 (`2.3` was `^2.3`).
    bare: Vec<(usize, String)>,
}

impl VersionRange {
    /// How many `||` alternatives the range has.
    pub fn alternatives(&self) -> usize {
        self.alternatives.len()
    }

    /// True when a bound names a prerelease (`>=1.3.0-rc.1`), which opts
    /// the policy into prerelease candidates.
    pub fn names_prerelease(&self) -> bool {
        self.alternatives.iter().flatten().any(|c| c.pre.is_some())
    }

    /// Versions written without an operator (`2.3`), with their offsets.
    pub fn bare_versions(&self) -> &[(usize, String)] {
        &self.bare
    }

    /// True when `version` is in the range.
    pub fn matches(&self, version: &TagVersion) -> bool {
        self.alternatives
            .iter()
            .any(|all| all.iter().all(|c| c.matches(version)))
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Parses a range; the error says where, what, and how to write it.
pub fn parse_range(s: &str) -> Result<VersionRange, RangeError> {
    let mut alternatives = Vec::new();
    let mut bare = Vec::new();
    let mut start = 0;
    for alt in s.split("||") {
        let tokens = tokens(alt, start);
        if tokens.is_empty() {
            let what = if s.trim().is_empty() {
                "the range is empty"
            } else {
                "an alternative around `||` is empty"
            };
            return Err(error(start, what.into(), RANGE_FORMS));
        }
        alternatives.push(alternative(&tokens, &mut bare)?);
        start += alt.len() + 2;
    }
    Ok(VersionRange {
        source: s.to_string(),
        alternatives,
        bare,
    })
}

fn error(offset: usize, message: String, hint: &str) -> RangeError {
    RangeError {
        offset,
        message: message.replace(['\n', '\r'], " "),
        hint: hint.to_string(),
    }
}

/// The words of one alternative with their offsets; commas and whitespace
/// separate them.
fn tokens(alt: &str, base: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in alt.char_indices() {
        if c == ',' || c.is_whitespace() {
            if let Some(s) = start.take() {
                out.push((base + s, &alt[s..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push((base + s, &alt[s..]));
    }
    out
}

const OPERATORS: &[(&str, Option<Op>, Sugar)] = &[
    (">=", Some(Op::Ge), Sugar::None),
    ("<=", Some(Op::Le), Sugar::None),
    (">", Some(Op::Gt), Sugar::None),
    ("<", Some(Op::Lt), Sugar::None),
    ("=", Some(Op::Eq), Sugar::None),
    ("^", None, Sugar::Caret),
    ("~", None, Sugar::Tilde),
    ("", None, Sugar::None),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sugar {
    None,
    Caret,
    Tilde,
}

fn is_operator_char(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '~' | '^')
}

/// One alternative: a lone operator takes the next word, `A - B` is a
/// hyphen range, every other word is one bound.
fn alternative(
    tokens: &[(usize, &str)],
    bare: &mut Vec<(usize, String)>,
) -> Result<Vec<Comparator>, RangeError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (at, token) = tokens[i];
        if token == "-" {
            return Err(error(
                at,
                "`-` must stand between two versions".into(),
                "write a hyphen range as `1.2.3 - 2.0.0`",
            ));
        }
        if token.chars().all(is_operator_char) {
            match tokens.get(i + 1) {
                Some(&(_, next)) if next != "-" && !next.starts_with(is_operator_char) => {
                    bound(at, token, next, &mut out)?;
                    i += 2;
                    continue;
                }
                _ => {
                    return Err(error(
                        at,
                        format!("operator `{token}` has no version after it"),
                        "write `>=1.2.0`",
                    ));
                }
            }
        }
        if tokens.get(i + 1).is_some_and(|t| t.1 == "-") {
            let Some(&(up_at, upper)) = tokens.get(i + 2) else {
                return Err(error(
                    at,
                    format!("hyphen range `{token} -` has no upper bound"),
                    "write `1.2.3 - 2.0.0`",
                ));
            };
            for (a, t) in [(at, token), (up_at, upper)] {
                if t.starts_with(is_operator_char) {
                    return Err(error(
                        a,
                        format!("a hyphen range takes bare versions, found `{t}`"),
                        "write `1.2.3 - 2.0.0`",
                    ));
                }
            }
            let low = partial(at, token)?;
            let high = partial(up_at, upper)?;
            out.push(low.lower(Op::Ge));
            out.extend(high.upper_inclusive());
            i += 3;
            continue;
        }
        let split = token.find(|c| !is_operator_char(c)).unwrap_or(token.len());
        let (op, version) = token.split_at(split);
        bound(at, op, version, &mut out)?;
        if op.is_empty() && token.starts_with(|c: char| c.is_ascii_digit() || c == 'v') {
            bare.push((at, token.to_string()));
        }
        i += 1;
    }
    Ok(out)
}

/// `op version` as bounds, at `at` in the text.
fn bound(at: usize, op: &str, version: &str, out: &mut Vec<Comparator>) -> Result<(), RangeError> {
    let Some(&(_, op_kind, sugar)) = OPERATORS.iter().find(|(text, ..)| *text == op) else {
        let hint = if op == "~>" {
            "`~>` is Ruby's pessimistic operator; write `~1.2`"
        } else {
            "operators are >=, <=, >, <, =, ^ and ~"
        };
        return Err(error(at, format!("unknown operator `{op}`"), hint));
    };
    let v = partial(at + op.len(), version)?;
    match (op_kind, sugar) {
        (None, Sugar::Caret) => out.extend(v.caret()),
        (None, Sugar::Tilde) => out.extend(v.tilde()),
        (Some(op), _) => out.extend(v.with(at, op)?),
        (None, Sugar::None) => out.extend(v.with(at, Op::Eq)?),
    }
    Ok(())
}

/// A version in a range, possibly partial: `1`, `1.2`, `1.x`, `*`,
/// `1.2.3-rc.1`.
#[derive(Clone, Debug)]
struct Partial {
    /// The parts given as numbers (wildcards and missing parts are 0).
    parts: [u64; MAX_PARTS],
    /// How many leading parts are numbers.
    given: usize,
    /// No wildcard and at least three parts: a full version.
    full: bool,
    pre: Option<Prerelease>,
}

fn partial(at: usize, text: &str) -> Result<Partial, RangeError> {
    let unreadable =
        |why: String| error(at, format!("`{text}` is not a version: {why}"), RANGE_FORMS);
    let body = match text.strip_prefix('v') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => text,
    };
    if body.is_empty() {
        return Err(unreadable("it is empty".into()));
    }
    let (release, pre) = match body.split_once('-') {
        Some((r, p)) => (r, Some(p)),
        None => (body, None),
    };
    let mut parts = [0; MAX_PARTS];
    let mut given = 0;
    let mut wildcard = false;
    for (count, part) in release.split('.').enumerate() {
        if count == MAX_PARTS {
            return Err(unreadable(format!("more than {MAX_PARTS} parts")));
        }
        if matches!(part, "x" | "X" | "*") {
            wildcard = true;
            continue;
        }
        if wildcard {
            return Err(error(
                at,
                format!("`{text}` is unclear: a number after a wildcard"),
                "a wildcard ends a version: write `2.*` for any 2.x, or `>=2.0.3 <3.0.0`",
            ));
        }
        let ok = !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'));
        parts[given] = match part.parse() {
            Ok(n) if ok => n,
            _ => return Err(unreadable(format!("`{part}` is not a number"))),
        };
        given += 1;
    }
    let full = !wildcard && given >= 3;
    let pre = match pre {
        None => None,
        Some(_) if !full => {
            return Err(error(
                at,
                format!("`{text}` names a prerelease of a partial version"),
                "a prerelease needs a full version: `1.3.0-rc.1`",
            ));
        }
        Some(p) => Some(Prerelease::parse(p, false).ok_or_else(|| {
            unreadable(format!("`{p}` is not a prerelease (rc.1, beta.2, alpha)"))
        })?),
    };
    Ok(Partial {
        parts,
        given,
        full,
        pre,
    })
}

impl Partial {
    fn lower(&self, op: Op) -> Comparator {
        Comparator {
            op,
            parts: self.parts,
            pre: self.pre.clone(),
        }
    }

    /// The first release past this partial's wildcard: `1.2` → `1.3`.
    /// `None` when there is none (a part at `u64::MAX`).
    fn next(&self, index: usize) -> Option<[u64; MAX_PARTS]> {
        let mut parts = self.parts;
        parts[index] = parts[index].checked_add(1)?;
        parts[index + 1..].fill(0);
        Some(parts)
    }

    fn below(&self, index: usize) -> Option<Comparator> {
        self.next(index).map(|parts| Comparator {
            op: Op::Lt,
            parts,
            pre: None,
        })
    }

    /// `<=` for a full version, `<` the next release for a partial one.
    fn upper_inclusive(&self) -> Option<Comparator> {
        if self.full {
            Some(self.lower(Op::Le))
        } else if self.given == 0 {
            None
        } else {
            self.below(self.given - 1)
        }
    }

    /// `^`: up to the next change of the first non-zero given part.
    fn caret(&self) -> Vec<Comparator> {
        if self.given == 0 {
            return Vec::new();
        }
        let first = self.parts[..self.given]
            .iter()
            .position(|&p| p != 0)
            .unwrap_or(self.given - 1);
        let index = first.min(self.given - 1);
        [Some(self.lower(Op::Ge)), self.below(index)]
            .into_iter()
            .flatten()
            .collect()
    }

    /// `~`: patch changes when a minor is given, else minor changes.
    fn tilde(&self) -> Vec<Comparator> {
        if self.given == 0 {
            return Vec::new();
        }
        let index = if self.given >= 2 { 1 } else { 0 };
        [Some(self.lower(Op::Ge)), self.below(index)]
            .into_iter()
            .flatten()
            .collect()
    }

    /// A plain comparison; partial versions widen as npm reads them.
    fn with(&self, at: usize, op: Op) -> Result<Vec<Comparator>, RangeError> {
        if self.full {
            return Ok(vec![self.lower(op)]);
        }
        if self.given == 0 {
            return match op {
                Op::Eq | Op::Ge | Op::Le => Ok(Vec::new()),
                Op::Gt | Op::Lt => Err(error(
                    at,
                    "`>*` and `<*` match no version".into(),
                    "write `*` for any version",
                )),
            };
        }
        let last = self.given - 1;
        Ok(match op {
            Op::Eq => [Some(self.lower(Op::Ge)), self.below(last)]
                .into_iter()
                .flatten()
                .collect(),
            Op::Ge | Op::Lt => vec![self.lower(op)],
            // `>1.2` is `>=1.3`; with no next release nothing is above.
            Op::Gt => vec![match self.next(last) {
                Some(parts) => Comparator {
                    op: Op::Ge,
                    parts,
                    pre: None,
                },
                None => self.lower(Op::Gt),
            }],
            Op::Le => self.below(last).into_iter().collect(),
        })
    }
}
