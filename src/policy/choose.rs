//! Choosing the target tag for one reference, and saying why every other
//! tag is not it.

pub(in crate::policy) mod key;

use std::cmp::Ordering;

use serde::Serialize;

use self::key::{Key, evaluate};
use super::{Order, Policy, Rule, TagTimes, UpdateType};

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

/// The rule that keeps a tag from being the target. Rules apply in this
/// order and a tag is reported with the first one it fails; `check`,
/// `explain` and the service use these words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// Matches one of the policy's `exclude` regexes (or the defaults).
    Exclude,
    /// Not shaped for the rule: not a version, or not matching `pattern`.
    Pattern,
    /// Another number of release parts than the current tag (`15.6` never
    /// becomes `15.7.1`).
    Precision,
    /// Another variant than the current tag (`-alpine3.19` vs `-alpine3.20`).
    Variant,
    /// Another kind of build counter (`_7`, `-r3`, `-0`) than the current tag.
    Counter,
    /// A prerelease, and the policy does not take prereleases.
    Prerelease,
    /// Outside the policy's `semver` range.
    Range,
    /// Refused by a person (a closed MR, an `ignore` command).
    Ignored,
    /// Not newer than the current tag.
    Older,
    /// Its manifest lacks a platform the policy names.
    Platform,
    /// Younger than the policy's `minReleaseAge`, or of no known release
    /// time.
    Age,
}

/// The reason a tag lost: which rule, and a one-line detail.
pub type Rejection = (Reason, String);

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Exclude => "exclude",
            Reason::Pattern => "pattern",
            Reason::Precision => "precision",
            Reason::Variant => "variant",
            Reason::Counter => "counter",
            Reason::Prerelease => "prerelease",
            Reason::Range => "range",
            Reason::Ignored => "ignored",
            Reason::Older => "older",
            Reason::Platform => "platform",
            Reason::Age => "age",
        }
    }
}

/// The current tag read under a policy, and what candidates must share.
pub(in crate::policy) struct Judge<'p> {
    policy: &'p Policy,
    current: Option<Key>,
    allow_pre: bool,
    times: &'p TagTimes,
}

impl<'p> Judge<'p> {
    /// `Err` is the skip reason: the current tag is not shaped for the rule
    /// and no marker asks for the bump.
    pub(in crate::policy) fn new(
        policy: &'p Policy,
        current: &str,
        marked: bool,
        times: &'p TagTimes,
    ) -> Result<Self, String> {
        let current = match evaluate(&policy.rule, current, times) {
            Ok(key) => Some(key),
            Err(_) if marked => None,
            Err(why) => return Err(skip_reason(policy, &why)),
        };
        let allow_pre = policy.prerelease
            || matches!(&policy.rule, Rule::Semver(range) if range.names_prerelease());
        Ok(Self {
            policy,
            current,
            allow_pre,
            times,
        })
    }

    /// The tag's key when the policy's rules allow it as a target, short of
    /// being newer; else the first rule it fails.
    pub(in crate::policy) fn allowed(&self, tag: &str) -> Result<Key, Rejection> {
        if let Some(re) = self.policy.exclude.iter().find(|re| re.is_match(tag)) {
            return Err((Reason::Exclude, format!("matches exclude `{re}`")));
        }
        let key =
            evaluate(&self.policy.rule, tag, self.times).map_err(|why| (Reason::Pattern, why))?;
        if let Some(v) = key.version() {
            match self.current.as_ref().and_then(Key::version) {
                Some(cur) => {
                    if v.release().len() != cur.release().len() {
                        return Err((
                            Reason::Precision,
                            format!(
                                "{} release parts, the current tag has {}",
                                v.release().len(),
                                cur.release().len()
                            ),
                        ));
                    }
                    if v.variant != cur.variant {
                        return Err((
                            Reason::Variant,
                            format!(
                                "variant {}, the current tag's is {}",
                                shown(v.variant()),
                                shown(cur.variant())
                            ),
                        ));
                    }
                    if !v.same_shape(cur) {
                        return Err((
                            Reason::Counter,
                            "another kind of build counter than the current tag".into(),
                        ));
                    }
                }
                // A marked reference at `latest` moves to a plain version.
                None if v.variant.is_some() || v.counter.is_some() => {
                    return Err((
                        Reason::Variant,
                        "the current tag is no version; only plain versions are targets".into(),
                    ));
                }
                None => {}
            }
            if v.is_prerelease() && !self.allow_pre {
                return Err((
                    Reason::Prerelease,
                    "a prerelease; set `prerelease: true` or name one in the range".into(),
                ));
            }
            if let Rule::Semver(range) = &self.policy.rule
                && !range.matches(v)
            {
                return Err((Reason::Range, format!("outside `{}`", range.source)));
            }
        }
        Ok(key)
    }

    /// The tag's key and update type when it is a candidate: allowed, not
    /// refused, newer than the current tag, and not of a refused update
    /// type; else the first of these it fails.
    pub(in crate::policy) fn candidate(&self, tag: &str) -> Result<(Key, UpdateType), Rejection> {
        let key = self.allowed(tag)?;
        let refused = &self.policy.refused;
        if refused.tags.contains(tag) {
            return Err((Reason::Ignored, "refused by a person".into()));
        }
        if !self.newer(&key) {
            return Err((Reason::Older, "not newer than the current tag".into()));
        }
        let update = self.update(&key);
        if refused.update_types.contains(&update) {
            return Err((
                Reason::Ignored,
                format!("a person ignores {} updates", update.as_str()),
            ));
        }
        Ok((key, update))
    }

    /// True when `key` is above the current tag (any allowed key is, for a
    /// marked reference whose tag is no version).
    pub(in crate::policy) fn newer(&self, key: &Key) -> bool {
        self.current
            .as_ref()
            .is_none_or(|cur| key.cmp_order(cur) == Ordering::Greater)
    }

    pub(in crate::policy) fn update(&self, target: &Key) -> UpdateType {
        match &self.current {
            None => UpdateType::Other,
            Some(cur) => classify(cur, target),
        }
    }

    /// Candidate order, `Greater` meaning preferred: rule order, then the
    /// current's `v` style, then more release parts, then smaller bytes.
    pub(in crate::policy) fn rank(&self, a: (&str, &Key), b: (&str, &Key)) -> Ordering {
        let want_v = self.current.as_ref().and_then(Key::v_prefix);
        let style = |key: &Key| want_v.is_some() && key.v_prefix() == want_v;
        let parts = |key: &Key| key.version().map_or(0, |v| v.release().len());
        a.1.cmp_order(b.1)
            .then_with(|| style(a.1).cmp(&style(b.1)))
            .then_with(|| parts(a.1).cmp(&parts(b.1)))
            .then_with(|| b.0.as_bytes().cmp(a.0.as_bytes()))
    }
}

/// The tags whose build times choosing needs (`order: newest`): those
/// of the rule's shape, not excluded; none for other orders.
pub fn needs_times(policy: &Policy, tags: &[String]) -> Vec<String> {
    let Rule::Tags(rule) = &policy.rule else {
        return Vec::new();
    };
    if rule.order != Order::Newest {
        return Vec::new();
    }
    tags.iter()
        .filter(|t| !policy.exclude.iter().any(|re| re.is_match(t)))
        .filter(|t| key::shaped(rule, t))
        .cloned()
        .collect()
}

fn shown(variant: Option<&str>) -> String {
    variant.map_or("none".into(), |v| format!("`-{v}`"))
}

/// Picks the target for `current` among `tags` (the registry's list).
/// `marked` is true when the reference carries an explicit marker.
///
/// - Candidates pass every rule of [`Reason`] in order: not excluded, shaped
///   for the rule, of the current tag's shape (precision, variant, counter),
///   prereleases only when the policy or its range opts in, in the range.
/// - The best candidate is the highest in the rule's order (see
///   [`Judge::rank`]), so the result never depends on the order of `tags`.
/// - Never downgrades, never moves sideways: when the current tag (read
///   under the same rule, even if excluded or out of range, e.g. a pinned
///   hotfix) is at or above the best candidate, the result is `Current`.
/// - No candidates at all is also `Current`.
/// - A current tag that is not shaped for the rule (`latest`) is `Skip`
///   with the reason, unless `marked`: then the reference moves to the best
///   plain (variant-less, counter-less) candidate, with update `other`.
pub fn choose(policy: &Policy, current: &str, tags: &[String], marked: bool) -> Decision {
    choose_with(policy, current, tags, marked, &TagTimes::default())
}

/// [`choose`] with the tags' build times, which `order: newest` orders by.
pub fn choose_with(
    policy: &Policy,
    current: &str,
    tags: &[String],
    marked: bool,
    times: &TagTimes,
) -> Decision {
    let judge = match Judge::new(policy, current, marked, times) {
        Ok(j) => j,
        Err(why) => return Decision::Skip(why),
    };
    let mut best: Option<(&str, Key, UpdateType)> = None;
    for tag in tags {
        let Ok((key, update)) = judge.candidate(tag) else {
            continue;
        };
        let better = best
            .as_ref()
            .is_none_or(|(t, k, _)| judge.rank((tag, &key), (t, k)) == Ordering::Greater);
        if better {
            best = Some((tag, key, update));
        }
    }
    match best {
        Some((to, _, update)) => Decision::Bump {
            to: to.to_string(),
            update,
        },
        None => Decision::Current,
    }
}

/// Every allowed tag newer than `current`, best first, with its update
/// type; `Err` is the skip reason. `choose` is the first of these.
pub fn ranked(
    policy: &Policy,
    current: &str,
    tags: &[String],
    marked: bool,
) -> Result<Vec<(String, UpdateType)>, String> {
    ranked_with(policy, current, tags, marked, &TagTimes::default())
}

/// [`ranked`] with the tags' build times.
pub fn ranked_with(
    policy: &Policy,
    current: &str,
    tags: &[String],
    marked: bool,
    times: &TagTimes,
) -> Result<Vec<(String, UpdateType)>, String> {
    let judge = Judge::new(policy, current, marked, times)?;
    let mut newer: Vec<(&str, Key, UpdateType)> = tags
        .iter()
        .filter_map(|t| judge.candidate(t).ok().map(|(k, u)| (t.as_str(), k, u)))
        .collect();
    newer.sort_by(|a, b| judge.rank((b.0, &b.1), (a.0, &a.1)));
    newer.dedup_by(|a, b| a.0 == b.0);
    Ok(newer
        .into_iter()
        .map(|(t, _, u)| (t.to_string(), u))
        .collect())
}

/// One tag's fate under a policy, for `explain`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub tag: String,
    /// `None` for a candidate, else the first rule it fails.
    pub rule: Option<Reason>,
    pub detail: String,
    /// For candidates: the kind of change it would be.
    pub update: Option<UpdateType>,
}

/// Every tag's verdict, candidates first (best first), then the rest in
/// the rule's order, highest first (the policy's refusals included).
pub fn verdicts(
    policy: &Policy,
    current: &str,
    tags: &[String],
    marked: bool,
) -> Result<Vec<Verdict>, String> {
    verdicts_with(policy, current, tags, marked, &TagTimes::default())
}

/// [`verdicts`] with the tags' build times.
pub fn verdicts_with(
    policy: &Policy,
    current: &str,
    tags: &[String],
    marked: bool,
    times: &TagTimes,
) -> Result<Vec<Verdict>, String> {
    let judge = Judge::new(policy, current, marked, times)?;
    let mut judged: Vec<(&str, Option<Key>, Result<UpdateType, Rejection>)> = Vec::new();
    for tag in tags {
        let key = judge.allowed(tag).ok();
        let outcome = judge.candidate(tag).map(|(_, update)| update);
        judged.push((tag, key, outcome));
    }
    judged.sort_by(|a, b| {
        let tier = |o: &Result<UpdateType, Rejection>| o.is_ok();
        tier(&b.2)
            .cmp(&tier(&a.2))
            .then_with(|| match (&a.1, &b.1) {
                (Some(ka), Some(kb)) => judge.rank((b.0, kb), (a.0, ka)),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => a.0.cmp(b.0),
            })
    });
    Ok(judged
        .into_iter()
        .map(|(tag, _, outcome)| match outcome {
            Ok(update) => Verdict {
                tag: tag.to_string(),
                rule: None,
                detail: "candidate".into(),
                update: Some(update),
            },
            Err((rule, detail)) => Verdict {
                tag: tag.to_string(),
                rule: Some(rule),
                detail,
                update: None,
            },
        })
        .collect())
}

/// The kind of change from `current` to a higher `target`: the first
/// release part that differs names it (major, minor, then patch for the
/// third and fourth); a prerelease change is `prerelease`; a new build
/// counter of the same release (`-r3` → `-r4`, `_7` → `_9`) is `patch`.
fn classify(current: &Key, target: &Key) -> UpdateType {
    let (Some(cur), Some(new)) = (current.version(), target.version()) else {
        return UpdateType::Other;
    };
    let differs = cur
        .padded()
        .iter()
        .zip(new.padded())
        .position(|(a, b)| *a != b);
    match differs {
        Some(0) => UpdateType::Major,
        Some(1) => UpdateType::Minor,
        Some(_) => UpdateType::Patch,
        None if cur.pre != new.pre => UpdateType::Prerelease,
        None if cur.counter != new.counter => UpdateType::Patch,
        None => UpdateType::Other,
    }
}

fn skip_reason(policy: &Policy, why: &str) -> String {
    let rule = match &policy.rule {
        Rule::Semver(range) => format!("semver `{}`", range.source),
        Rule::Tags(tags) => {
            let pattern = tags.pattern.as_ref().map_or("any tag", |p| p.as_str());
            let order = tags.order.as_str();
            format!("tags `{pattern}` ordered {order}")
        }
    };
    let line = format!(
        "pattern: current tag {why} under policy `{}` (rule: {rule}); add a marker to let imagebump replace it",
        policy.name
    );
    line.replace(['\n', '\r'], " ")
}
