//! Which policy owns a reference: its marker, or the one policy whose
//! `image` is the reference's repository.

use crate::manifest::{MarkerKind, Reference};
use crate::policy::{Policy, RepoConfig};

#[derive(Debug)]
pub enum Resolved<'a> {
    Policy(&'a Policy),
    /// No policy names this repository: not ours to touch.
    NotOurs,
    /// Ours, but ambiguous or inconsistent: (image, reason).
    Skip(String, String),
    /// A marker that names no policy.
    Error(String),
}

pub fn resolve<'a>(config: &'a RepoConfig, r: &Reference) -> Resolved<'a> {
    let written = r.image.as_ref().map(|i| i.to_string()).unwrap_or_default();
    if let Some(marker) = &r.marker {
        if marker.kind == MarkerKind::Name {
            return Resolved::NotOurs;
        }
        let Some(policy) = config.policy(&marker.policy) else {
            let names: Vec<&str> = config.policies.iter().map(|p| p.name.as_str()).collect();
            return Resolved::Error(format!(
                "marker names policy `{}`, which .imagebump.yaml does not define (policies: {})",
                marker.policy,
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
        };
        return match &r.image {
            Some(image) if *image != policy.image => Resolved::Skip(
                written,
                format!(
                    "marker names policy `{}` for {}, but the reference is {}",
                    policy.name, policy.image, image
                ),
            ),
            _ => Resolved::Policy(policy),
        };
    }
    let Some(image) = &r.image else {
        return Resolved::NotOurs;
    };
    let mut owners = config.policies.iter().filter(|p| p.image == *image);
    match (owners.next(), owners.next()) {
        (None, _) => Resolved::NotOurs,
        (Some(p), None) => Resolved::Policy(p),
        (Some(a), Some(b)) => Resolved::Skip(
            written,
            format!(
                "policies `{}` and `{}` both name {image}; add a marker such as `# imagebump: {}` to choose",
                a.name, b.name, a.name
            ),
        ),
    }
}
