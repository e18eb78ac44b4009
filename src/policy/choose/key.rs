//! Evaluating a tag under a rule into an orderable key.

use std::cmp::Ordering;

use crate::policy::version::{TagVersion, parse_tag};
use crate::policy::{Order, Rule, TagRule, TagTimes};

/// A tag's position under a rule. Keys of one rule are always of one kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::policy) enum Key {
    /// `Rule::Semver` or `Order::Semver`.
    Version(TagVersion),
    /// `Order::Numerical`.
    Number(Decimal),
    /// `Order::Alphabetical`.
    Text(String),
    /// `Order::Newest`: build time, then first-seen time.
    Built(i64, i64),
}

impl Key {
    /// Whether the tag was written with a `v` (only versions have one).
    pub(in crate::policy) fn v_prefix(&self) -> Option<bool> {
        match self {
            Key::Version(v) => Some(v.v_prefix),
            _ => None,
        }
    }

    /// The version, for semver rules and orders.
    pub(in crate::policy) fn version(&self) -> Option<&TagVersion> {
        match self {
            Key::Version(v) => Some(v),
            _ => None,
        }
    }

    /// Order under the rule; keys of different kinds never meet.
    pub(in crate::policy) fn cmp_order(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Key::Version(a), Key::Version(b)) => a.cmp_precedence(b),
            (Key::Number(a), Key::Number(b)) => a.cmp(b),
            (Key::Text(a), Key::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Key::Built(a, sa), Key::Built(b, sb)) => a.cmp(b).then(sa.cmp(sb)),
            _ => Ordering::Equal,
        }
    }
}

/// Reads `tag` under `rule`; the error says why it is not shaped for it.
/// `times` gives build times for `order: newest`.
pub(in crate::policy) fn evaluate(rule: &Rule, tag: &str, times: &TagTimes) -> Result<Key, String> {
    match rule {
        Rule::Semver(_) => parse_tag(tag)
            .map(Key::Version)
            .ok_or_else(|| format!("`{tag}` is not a semver version")),
        Rule::Tags(tag_rule) => evaluate_tags(tag_rule, tag, times),
    }
}

/// Whether `tag` has the shape `rule` asks for, before any order: the
/// tags whose build times `order: newest` needs.
pub(in crate::policy) fn shaped(rule: &TagRule, tag: &str) -> bool {
    extract(rule, tag).is_ok()
}

fn evaluate_tags(rule: &TagRule, tag: &str, times: &TagTimes) -> Result<Key, String> {
    let value = extract(rule, tag)?;
    match rule.order {
        Order::Newest => times
            .build_time(tag)
            .map(|(time, seen)| Key::Built(time, seen))
            .ok_or_else(|| format!("the build time of `{tag}` is not known (order: newest)")),
        Order::Alphabetical => Ok(Key::Text(value)),
        Order::Numerical => Decimal::parse(&value).map(Key::Number).ok_or_else(|| {
            format!("`{tag}` gives `{value}`, which is not a number (order: numerical)")
        }),
        Order::Semver => parse_tag(&value).map(Key::Version).ok_or_else(|| {
            format!("`{tag}` gives `{value}`, which is not a semver version (order: semver)")
        }),
    }
}

/// The value a tag is ordered by: the `extract` template expanded with the
/// pattern's captures, or the whole tag. Without a pattern every tag
/// matches and the value is the whole tag.
fn extract(rule: &TagRule, tag: &str) -> Result<String, String> {
    let Some(pattern) = &rule.pattern else {
        return Ok(tag.to_string());
    };
    let Some(caps) = pattern.captures(tag) else {
        return Err(format!("`{tag}` does not match the pattern `{pattern}`"));
    };
    match &rule.extract {
        None => Ok(tag.to_string()),
        Some(template) => {
            let mut value = String::new();
            caps.expand(template, &mut value);
            Ok(value)
        }
    }
}

/// A non-negative decimal of any length: `20240102030405`, `1.5`, `007`.
/// Stored normalised (no leading zeros in the integer part, no trailing
/// zeros in the fraction) so that the derived equality is numeric equality.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::policy) struct Decimal {
    int: String,
    frac: String,
}

impl Decimal {
    /// `DIGITS[.DIGITS]`; anything else (signs, exponents, `.5`, `1.`) is
    /// not a number.
    pub(in crate::policy) fn parse(s: &str) -> Option<Self> {
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || !frac.is_none_or(digits) {
            return None;
        }
        Some(Self {
            int: int.trim_start_matches('0').to_string(),
            frac: frac.unwrap_or("").trim_end_matches('0').to_string(),
        })
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        // Longer integer part (without leading zeros) is larger; equal
        // lengths compare digit by digit; fractions compare digit by digit.
        self.int
            .len()
            .cmp(&other.int.len())
            .then_with(|| self.int.as_bytes().cmp(other.int.as_bytes()))
            .then_with(|| self.frac.as_bytes().cmp(other.frac.as_bytes()))
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
