//! Tags as versions, the way container images are really tagged.
//!
//! A version tag is `[v]N(.N){0,3}` (1 to 4 numeric release parts, no
//! leading zeros), then optional suffixes, in this order:
//!
//! - a **prerelease**, attached (`3.13.0rc1`, `b1`, `a3`) or after `-`
//!   (`-rc.1`, `-rc1`, `-beta.2`, `-alpha`, `-M2`, `-0.3.7`);
//! - a **build counter**: `_7` (Java, `21.0.4_7`), a purely numeric `-N`
//!   packaging revision (`3.4.1-0`), or a trailing `-rN` revision
//!   (bitnami's `-debian-12-r8`, Alpine's `-r0`). A counter counts builds
//!   of one release: it is not a prerelease;
//! - a **variant**: the rest (`-alpine3.20`, `-slim-bookworm`,
//!   `-management-alpine`, `-debian-12`), a flavour of the image.
//!
//! Codenames, dates and words (`latest`, `bookworm`, `noble-20240801`,
//! `2024.01.15`, `20240801`) are not versions: a first part of eight or more
//! digits is a date or a timestamp, a `YYYY.MM[.DD]` release is a date, and
//! a first part with a leading zero is no version (later parts may have one:
//! `24.04`). OCI tags cannot hold `+`, so there is no build metadata.
//!
//! A reference moves only to tags of its own [`Shape`]: the same number of
//! release parts, the same variant text and the same kind of counter. Within
//! a shape, tags order by release parts, then prerelease (before its
//! release), then counter. Numeric runs inside prerelease identifiers
//! compare as numbers, so `rc10` > `rc9` and `beta.11` > `beta.2`; strict
//! semver would order `rc10` before `rc9`, which no one means.

pub mod range;

use std::cmp::Ordering;
use std::fmt;

pub use range::{RangeError, VersionRange, parse_range};

/// Most release parts a version has (`1.2.3.4`).
pub const MAX_PARTS: usize = 4;

/// A first release part this long is a date or timestamp, not a version.
const DATE_DIGITS: usize = 8;

/// Words that start a prerelease after `-` (case-insensitive), optionally
/// followed by digits and dot-separated numbers: `rc1`, `beta.2`.
pub const PRERELEASE_WORDS: &[&str] = &[
    "alpha", "beta", "rc", "pre", "preview", "dev", "snapshot", "canary", "nightly", "next", "ea",
];

/// Words that start a prerelease written straight after the release
/// (`3.13.0rc1`, Python's `b1` and `a3`); the one-letter ones need digits.
const ATTACHED_WORDS: &[&str] = &["a", "b", "c", "rc", "alpha", "beta", "pre", "dev"];

/// The kind of build counter a tag carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CounterKind {
    /// `_7`, as in `21.0.4_7`.
    Underscore,
    /// `-0`, a numeric packaging revision right after the release.
    Numeric,
    /// `-r8`, a trailing revision (bitnami, Alpine).
    Revision,
}

/// A build counter: which kind, and its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Counter {
    pub kind: CounterKind,
    pub value: u64,
}

/// One prerelease identifier: `rc1` is `[Word("rc"), Num(1)]`, like `rc.1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Ident {
    Num(u64),
    Word(String),
}

/// A prerelease as written, and the identifiers it orders by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Prerelease {
    /// The text without its leading `-` (`rc.1`, `b1`).
    pub text: String,
    /// Written straight after the release (`3.13.0rc1`), not after `-`.
    pub attached: bool,
    ids: Vec<Ident>,
}

impl Prerelease {
    /// Reads `text` as a prerelease; `None` when it is not one.
    fn parse(text: &str, attached: bool) -> Option<Self> {
        let ids = prerelease_ids(text, attached)?;
        Some(Self {
            text: text.to_string(),
            attached,
            ids,
        })
    }

    /// Semver precedence of identifiers, with numeric runs as numbers.
    pub fn cmp_precedence(&self, other: &Self) -> Ordering {
        for (a, b) in self.ids.iter().zip(&other.ids) {
            let o = match (a, b) {
                (Ident::Num(x), Ident::Num(y)) => x.cmp(y),
                (Ident::Num(_), Ident::Word(_)) => Ordering::Less,
                (Ident::Word(_), Ident::Num(_)) => Ordering::Greater,
                (Ident::Word(x), Ident::Word(y)) => x.cmp(y),
            };
            if o.is_ne() {
                return o;
            }
        }
        self.ids.len().cmp(&other.ids.len())
    }
}

/// What a reference must keep when it moves: release precision, variant
/// and kind of build counter. Tags of one shape are comparable.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shape {
    pub parts: usize,
    pub variant: Option<String>,
    pub counter: Option<CounterKind>,
}

/// A tag read as a version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TagVersion {
    /// The tag started with `v` (ignored for order).
    pub v_prefix: bool,
    parts: [u64; MAX_PARTS],
    /// Digits each part was written with (`24.04` keeps its zero).
    widths: [u8; MAX_PARTS],
    len: u8,
    /// Boxed: rare, and a version is moved often while choosing.
    pub pre: Option<Box<Prerelease>>,
    pub counter: Option<Counter>,
    /// The variant without its leading `-` (`alpine3.20`, `debian-12`).
    pub variant: Option<String>,
}

impl TagVersion {
    /// The release parts as written (1 to 4 of them).
    pub fn release(&self) -> &[u64] {
        &self.parts[..usize::from(self.len)]
    }

    /// The release padded with zeros to four parts, for ranges.
    pub fn padded(&self) -> [u64; MAX_PARTS] {
        self.parts
    }

    pub fn variant(&self) -> Option<&str> {
        self.variant.as_deref()
    }

    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some()
    }

    pub fn shape(&self) -> Shape {
        Shape {
            parts: usize::from(self.len),
            variant: self.variant.clone(),
            counter: self.counter.map(|c| c.kind),
        }
    }

    /// Same shape, without building one.
    pub fn same_shape(&self, other: &Self) -> bool {
        self.len == other.len
            && self.variant == other.variant
            && self.counter.map(|c| c.kind) == other.counter.map(|c| c.kind)
    }

    /// Version order: release parts (padded), then a prerelease before its
    /// release, then the build counter. Prefix, variant and how the
    /// prerelease is spelled are ignored; compare tags of one shape.
    pub fn cmp_precedence(&self, other: &Self) -> Ordering {
        self.parts
            .cmp(&other.parts)
            .then_with(|| cmp_pre(self.pre.as_deref(), other.pre.as_deref()))
            .then_with(|| {
                let n = |v: &Self| v.counter.map(|c| c.value);
                n(self).cmp(&n(other))
            })
    }
}

/// `None` (a release) sorts after any prerelease of it.
pub(crate) fn cmp_pre(a: Option<&Prerelease>, b: Option<&Prerelease>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp_precedence(y),
    }
}

/// A total order: precedence, then shape, then spelling, so two versions
/// are equal in it exactly when they print the same.
impl Ord for TagVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_precedence(other)
            .then_with(|| self.shape().cmp(&other.shape()))
            .then_with(|| self.v_prefix.cmp(&other.v_prefix))
            .then_with(|| self.widths.cmp(&other.widths))
            .then_with(|| {
                let spelling = |v: &Self| v.pre.as_ref().map(|p| (p.attached, p.text.clone()));
                spelling(self).cmp(&spelling(other))
            })
    }
}

impl PartialOrd for TagVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Prints the tag exactly as it was written.
impl fmt::Display for TagVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v_prefix {
            f.write_str("v")?;
        }
        for (i, p) in self.release().iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            let width = usize::from(self.widths[i]);
            write!(f, "{p:0width$}")?;
        }
        if let Some(pre) = self.pre.as_ref().filter(|p| p.attached) {
            f.write_str(&pre.text)?;
        }
        if let Some(c) = self.counter.filter(|c| c.kind == CounterKind::Underscore) {
            write!(f, "_{}", c.value)?;
        }
        if let Some(pre) = self.pre.as_ref().filter(|p| !p.attached) {
            write!(f, "-{}", pre.text)?;
        }
        if let Some(c) = self.counter.filter(|c| c.kind == CounterKind::Numeric) {
            write!(f, "-{}", c.value)?;
        }
        if let Some(v) = &self.variant {
            write!(f, "-{v}")?;
        }
        if let Some(c) = self.counter.filter(|c| c.kind == CounterKind::Revision) {
            write!(f, "-r{}", c.value)?;
        }
        Ok(())
    }
}

/// Reads a tag as a version; `None` when it is not one (`latest`,
/// `bookworm`, `1.2.3.4.5`, `01.2`, `20240801`).
pub fn parse_tag(tag: &str) -> Option<TagVersion> {
    let (v_prefix, text) = match tag.strip_prefix('v') {
        Some(rest) => (true, rest),
        None => (false, tag),
    };
    let (parts, widths, len, mut rest) = release(text)?;
    let len = u8::try_from(len).ok()?;
    let mut version = TagVersion {
        v_prefix,
        parts,
        widths,
        len,
        pre: None,
        counter: None,
        variant: None,
    };
    if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        let end = rest.find(['-', '_']).unwrap_or(rest.len());
        version.pre = Some(Box::new(Prerelease::parse(&rest[..end], true)?));
        rest = &rest[end..];
    }
    if let Some(after) = rest.strip_prefix('_') {
        let end = after.find('-').unwrap_or(after.len());
        version.counter = Some(Counter {
            kind: CounterKind::Underscore,
            value: number(&after[..end])?,
        });
        rest = &after[end..];
    }
    if rest.is_empty() {
        return Some(version);
    }
    let segments: Vec<&str> = rest.strip_prefix('-')?.split('-').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || !s.bytes().all(tag_byte))
    {
        return None;
    }
    let (mut first, mut last) = (0, segments.len());
    if version.pre.is_none() {
        match Prerelease::parse(segments[0], false) {
            Some(pre) => {
                version.pre = Some(Box::new(pre));
                first += 1;
            }
            // `rc.`, `rc.99999999999999999999`: a broken prerelease, not a variant.
            None if looks_prerelease(segments[0]) => return None,
            None => {}
        }
    }
    if version.counter.is_none()
        && let Some(value) = segments.get(first).and_then(|s| number(s))
    {
        version.counter = Some(Counter {
            kind: CounterKind::Numeric,
            value,
        });
        first += 1;
    }
    if version.counter.is_none()
        && last > first
        && let Some(value) = segments[last - 1].strip_prefix('r').and_then(number)
    {
        version.counter = Some(Counter {
            kind: CounterKind::Revision,
            value,
        });
        last -= 1;
    }
    if first < last {
        if !segments[first].starts_with(|c: char| c.is_ascii_alphabetic()) {
            return None;
        }
        version.variant = Some(segments[first..last].join("-"));
    }
    Some(version)
}

/// `N(.N){0,3}` at the start of `text`: the parts, their widths, their
/// count and the rest. A part is followed by `.` only when another part
/// follows. The first part has no leading zero (`01.2` is no version); later
/// ones may (`24.04`). A calendar date (`2024.01.15`, `2024.01`) and a
/// first part of eight or more digits (`20240801`) are not versions.
#[allow(clippy::type_complexity)]
fn release(text: &str) -> Option<([u64; MAX_PARTS], [u8; MAX_PARTS], usize, &str)> {
    let bytes = text.as_bytes();
    let mut parts = [0; MAX_PARTS];
    let mut widths = [0; MAX_PARTS];
    let mut len = 0;
    let mut i = 0;
    loop {
        let start = i;
        let mut value: u64 = 0;
        while let Some(&b) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
            value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            i += 1;
        }
        let width = i - start;
        if width == 0 || (len == 0 && (width >= DATE_DIGITS || (width > 1 && bytes[start] == b'0')))
        {
            return None;
        }
        parts[len] = value;
        widths[len] = u8::try_from(width).ok()?;
        len += 1;
        let more = len < MAX_PARTS
            && bytes.get(i) == Some(&b'.')
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if more {
            i += 1;
        } else if is_date(&parts, &widths, len) {
            return None;
        } else {
            return Some((parts, widths, len, &text[i..]));
        }
    }
}

/// `YYYY.MM` or `YYYY.MM.DD` with a two-digit month (and day).
fn is_date(parts: &[u64; MAX_PARTS], widths: &[u8; MAX_PARTS], len: usize) -> bool {
    (len == 2 || len == 3)
        && widths[0] == 4
        && (1970..2100).contains(&parts[0])
        && widths[1] == 2
        && (1..=12).contains(&parts[1])
        && (len == 2 || (widths[2] == 2 && (1..=31).contains(&parts[2])))
}

/// Digits without a leading zero (`0` itself is fine) that fit a `u64`.
fn number(digits: &str) -> Option<u64> {
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if ok { digits.parse().ok() } else { None }
}

/// The bytes an OCI tag may hold after its first one (no `-`: it separates).
fn tag_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_'
}

/// A prerelease word followed by a digit or a dot.
fn looks_prerelease(segment: &str) -> bool {
    let end = segment
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(segment.len());
    let (word, tail) = segment.split_at(end);
    PRERELEASE_WORDS.contains(&word.to_ascii_lowercase().as_str())
        && tail.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

/// The identifiers of a prerelease text, or `None` when it is not one.
///
/// After `-`: a prerelease word (or Maven's milestone `M` with digits), then
/// only digits and dots (`rc`, `rc1`, `rc.1`, `beta.11`, `M2`); or dotted
/// numbers (`0.3.7`; a bare number is a packaging revision instead).
/// Attached: a word of [`ATTACHED_WORDS`] and digits (`rc1`, `b1`, `a3`).
fn prerelease_ids(text: &str, attached: bool) -> Option<Vec<Ident>> {
    let word_end = text
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (word, tail) = text.split_at(word_end);
    let lower = word.to_ascii_lowercase();
    let known = if attached {
        ATTACHED_WORDS.contains(&lower.as_str()) && (word.len() > 1 || !tail.is_empty())
    } else if word.is_empty() {
        tail.contains('.')
    } else {
        PRERELEASE_WORDS.contains(&lower.as_str()) || (word == "M" && !tail.is_empty())
    };
    if !known || !tail.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let mut ids = Vec::new();
    if !word.is_empty() {
        ids.push(Ident::Word(lower));
    }
    let numbers = tail.strip_prefix('.').unwrap_or(tail);
    if !tail.is_empty() {
        for n in numbers.split('.') {
            if n.is_empty() {
                return None;
            }
            ids.push(Ident::Num(n.parse().ok()?));
        }
    }
    Some(ids)
}
