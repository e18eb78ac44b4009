//! Marker comments: `# imagebump: <policy>[:tag|:digest|:name]` and Flux's
//! `# {"$imagepolicy": "<ns>:<name>[:tag|:name|:digest]"}`.

use super::{Marker, MarkerKind};
use crate::yaml;

/// The marker in the comment that directly follows a scalar ending at byte
/// `end`. Only whitespace and flow punctuation may sit between the scalar
/// and the `#`, so a comment after a later value on the same line (`[a, b]
/// # c`) belongs to that value, not to `a`.
pub(super) fn marker_after(text: &str, end: usize) -> Option<Marker> {
    let comment = yaml::comment_after(text, end)?;
    let line = text.get(end..)?.split(['\n', '\r']).next()?;
    let gap = line.split('#').next()?;
    if !gap
        .chars()
        .all(|c| matches!(c, ' ' | '\t' | ',' | '}' | ']'))
    {
        return None;
    }
    parse(comment)
}

/// Parses the text of a comment (after `#`, trimmed).
pub(super) fn parse(comment: &str) -> Option<Marker> {
    if let Some(rest) = comment.strip_prefix("imagebump:") {
        let spec = rest.split_whitespace().next()?;
        let (policy, kind) = split_kind(spec, MarkerKind::Full);
        return valid(policy).then(|| Marker {
            policy: policy.to_string(),
            kind,
        });
    }
    if comment.starts_with('{') {
        return flux(comment);
    }
    None
}

/// Flux's setter comment: a JSON object with `$imagepolicy`.
fn flux(comment: &str) -> Option<Marker> {
    let value = serde_json::Deserializer::from_str(comment)
        .into_iter::<serde_json::Value>()
        .next()?
        .ok()?;
    let spec = value.get("$imagepolicy")?.as_str()?;
    let mut parts = spec.split(':');
    let (_ns, name) = (parts.next()?, parts.next()?);
    let kind = match parts.next() {
        None => MarkerKind::Full,
        Some(suffix) => kind_of(suffix)?,
    };
    if parts.next().is_some() || !valid(name) {
        return None;
    }
    Some(Marker {
        policy: name.to_string(),
        kind,
    })
}

fn split_kind(spec: &str, default: MarkerKind) -> (&str, MarkerKind) {
    match spec.rsplit_once(':') {
        Some((policy, suffix)) => match kind_of(suffix) {
            Some(kind) => (policy, kind),
            None => (spec, default),
        },
        None => (spec, default),
    }
}

fn kind_of(suffix: &str) -> Option<MarkerKind> {
    match suffix {
        "tag" => Some(MarkerKind::Tag),
        "name" => Some(MarkerKind::Name),
        "digest" => Some(MarkerKind::Digest),
        _ => None,
    }
}

fn valid(policy: &str) -> bool {
    !policy.is_empty() && !policy.contains(char::is_whitespace)
}
