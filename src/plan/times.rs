//! The tags' build and release times a plan needs (`tags.order: newest`,
//! `minReleaseAge`), asked of the [`TagSource`] once per image and run:
//! first-seen times where the source keeps them (the service's store),
//! and image config `created` times, for every tag of the rule's shape
//! under `order: newest`, or one candidate at a time for the release age
//! (see `plan/candidates.rs`).

use std::collections::{HashMap, HashSet};

use super::TagSource;
use crate::domain::ImageRepo;
use crate::policy::{self, Policy, TagTimes};

/// Times known so far, per image.
#[derive(Default)]
pub(super) struct Times {
    images: HashMap<ImageRepo, Known>,
    none: TagTimes,
}

#[derive(Default)]
struct Known {
    times: TagTimes,
    first_seen_read: bool,
    /// Tags whose `created` was asked for (known, or known to be none).
    asked: HashSet<String>,
}

/// Whether `policy` needs any time at all.
pub(super) fn uses_times(policy: &Policy) -> bool {
    !policy.min_release_age.is_zero()
        || matches!(&policy.rule, policy::Rule::Tags(t) if t.order == policy::Order::Newest)
}

impl Times {
    /// The times of `policy`'s image as far as they are known.
    pub(super) fn of(&self, image: &ImageRepo) -> &TagTimes {
        self.images.get(image).map_or(&self.none, |k| &k.times)
    }

    /// Reads what choosing under `policy` needs: first-seen times, and for
    /// `order: newest` the `created` time of every tag of the rule's shape.
    pub(super) async fn prepare(
        &mut self,
        policy: &Policy,
        tags: &[String],
        source: &impl TagSource,
    ) -> Result<(), String> {
        if !uses_times(policy) {
            return Ok(());
        }
        let known = self.images.entry(policy.image.clone()).or_default();
        if !known.first_seen_read {
            let seen = source.first_seen(&policy.image).await;
            known.times.first_seen = seen.first_seen;
            known.times.listed_since = seen.listed_since;
            known.first_seen_read = true;
        }
        let wanted: Vec<String> = policy::needs_times(policy, tags)
            .into_iter()
            .filter(|t| !known.asked.contains(t))
            .collect();
        self.fetch(&policy.image, &wanted, source).await
    }

    /// Asks the source for the `created` time of `tags` not asked yet.
    pub(super) async fn fetch(
        &mut self,
        image: &ImageRepo,
        tags: &[String],
        source: &impl TagSource,
    ) -> Result<(), String> {
        let known = self.images.entry(image.clone()).or_default();
        let wanted: Vec<String> = tags
            .iter()
            .filter(|t| !known.asked.contains(*t))
            .cloned()
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let created = source.build_times(image, &wanted).await?;
        for (tag, (_, time)) in created {
            if let Some(time) = time {
                known.times.created.insert(tag, time);
            }
        }
        known.asked.extend(wanted);
        Ok(())
    }

    /// Whether the `created` time of `tag` was asked for.
    pub(super) fn asked(&self, image: &ImageRepo, tag: &str) -> bool {
        self.images
            .get(image)
            .is_some_and(|k| k.asked.contains(tag))
    }
}

pub use crate::timefmt::utc as rfc3339;
