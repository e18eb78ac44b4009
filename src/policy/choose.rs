//! Choosing the target tag for one reference.

pub(in crate::policy) mod key;

use std::cmp::Ordering;

use self::key::{Key, evaluate};
use super::{Policy, Rule, UpdateType};

/// What a policy says about one reference's current tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Move to this tag.
    Bump { to: String, update: UpdateType },
    /// The current tag is already the best candidate (or above all of them).
    Current,
    /// The reference is left alone, for this reason.
    Skip(String),
}

/// Picks the target for `current` among `tags` (the registry's list).
/// `marked` is true when the reference carries an explicit marker.
///
/// Candidates are the tags that match no `policy.exclude` regex, are shaped
/// for the rule (a semver version; or match the pattern and give a value of
/// the order's kind), are in the range, are prereleases only when the
/// policy or its range opts in, and have the current tag's variant.
///
/// - The best candidate is the highest in the rule's order; among equals the
///   one written like the current tag (`v` or not), then the smallest in
///   byte order, so the result never depends on the order of `tags`.
/// - Never downgrades, never moves sideways: when the current tag (read
///   under the same rule, even if excluded or out of range, e.g. a pinned
///   hotfix) is at or above the best candidate, the result is `Current`.
/// - No candidates at all is also `Current`: there is nothing to move to,
///   and the reference is left as it is without a warning.
/// - A current tag that is not shaped for the rule (`latest`) is `Skip`
///   with the reason, unless `marked`: then the reference moves to the best
///   plain (variant-less) candidate, with update `other`.
pub fn choose(policy: &Policy, current: &str, tags: &[String], marked: bool) -> Decision {
    let current_key = match evaluate(&policy.rule, current) {
        Ok(key) => Some(key),
        Err(_) if marked => None,
        Err(why) => return Decision::Skip(skip_reason(policy, &why)),
    };
    let variant = current_key.as_ref().and_then(Key::variant);
    let want_v = current_key.as_ref().and_then(Key::v_prefix);
    let allow_pre = policy.prerelease
        || matches!(&policy.rule, Rule::Semver(range) if range.names_prerelease());

    let mut best: Option<(&str, Key)> = None;
    for tag in tags {
        if policy.exclude.iter().any(|re| re.is_match(tag)) {
            continue;
        }
        let Ok(key) = evaluate(&policy.rule, tag) else {
            continue;
        };
        if key.variant() != variant || (key.is_prerelease() && !allow_pre) {
            continue;
        }
        if let (Rule::Semver(range), Key::Version(v)) = (&policy.rule, &key)
            && !range.matches(&v.version)
        {
            continue;
        }
        let better = match &best {
            None => true,
            Some((best_tag, best_key)) => {
                rank(tag, &key, best_tag, best_key, want_v) == Ordering::Greater
            }
        };
        if better {
            best = Some((tag, key));
        }
    }

    let Some((to, target)) = best else {
        return Decision::Current;
    };
    let update = match &current_key {
        None => UpdateType::Other,
        Some(cur) if target.cmp_order(cur) != Ordering::Greater => return Decision::Current,
        Some(cur) => classify(cur, &target),
    };
    Decision::Bump {
        to: to.to_string(),
        update,
    }
}

/// Total order of candidates: rule order, then the current's prefix style,
/// then smaller bytes first (so `Greater` means "preferred").
fn rank(a: &str, a_key: &Key, b: &str, b_key: &Key, want_v: Option<bool>) -> Ordering {
    let style = |key: &Key| want_v.is_some() && key.v_prefix() == want_v;
    a_key
        .cmp_order(b_key)
        .then_with(|| style(a_key).cmp(&style(b_key)))
        .then_with(|| b.as_bytes().cmp(a.as_bytes()))
}

/// The kind of change from `current` to a higher `target`.
fn classify(current: &Key, target: &Key) -> UpdateType {
    let (Key::Version(cur), Key::Version(new)) = (current, target) else {
        return UpdateType::Other;
    };
    let (c, n) = (&cur.version, &new.version);
    if c.major != n.major {
        UpdateType::Major
    } else if c.minor != n.minor {
        UpdateType::Minor
    } else if c.patch != n.patch {
        UpdateType::Patch
    } else if c.pre != n.pre {
        UpdateType::Prerelease
    } else {
        UpdateType::Other
    }
}

fn skip_reason(policy: &Policy, why: &str) -> String {
    let rule = match &policy.rule {
        Rule::Semver(range) => format!("semver `{}`", range.source),
        Rule::Tags(tags) => {
            let pattern = tags.pattern.as_ref().map_or("any tag", |p| p.as_str());
            let order = match tags.order {
                super::Order::Semver => "semver",
                super::Order::Numerical => "numerical",
                super::Order::Alphabetical => "alphabetical",
            };
            format!("tags `{pattern}` ordered {order}")
        }
    };
    let line = format!(
        "current tag {why} under policy `{}` (rule: {rule}); add a marker to let imagebump replace it",
        policy.name
    );
    line.replace(['\n', '\r'], " ")
}
