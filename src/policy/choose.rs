//! Choosing the target tag for one reference.

use super::{Policy, UpdateType};

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
pub fn choose(policy: &Policy, current: &str, tags: &[String], marked: bool) -> Decision {
    let _ = (policy, current, tags, marked);
    Decision::Current
}
