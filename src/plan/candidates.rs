//! From the best candidate down to the one a reference moves to: the
//! candidates `policy::ranked_with` orders are tried in turn against what
//! the tag list alone cannot say: the release age (`minReleaseAge`) and
//! the platforms a policy names. Each is asked of the registry only as far
//! down the list as needed.

use std::collections::HashMap;

use super::times::{Times, rfc3339};
use super::{PassedOver, TagSource};
use crate::domain::ImageRepo;
use crate::policy::{self, Policy, Reason, Ripeness, UpdateType};

/// How many candidates are tried for the policy's platforms before the
/// reference is skipped.
pub const MAX_PLATFORM_TRIES: usize = 5;

/// How many candidates of no known release time get their image config
/// fetched (for its `created`) before the rest count as of unknown age.
pub const MAX_AGE_FETCHES: usize = 10;

/// Passed-over tags recorded per reference (the walk goes on past them).
const MAX_PASSED: usize = 20;

/// Platform lists looked up once per (image, tag) in a run.
#[derive(Default)]
pub(super) struct PlatformCache(HashMap<(ImageRepo, String), Result<Vec<String>, String>>);

impl PlatformCache {
    async fn get(
        &mut self,
        source: &impl TagSource,
        repo: &ImageRepo,
        tag: &str,
    ) -> Result<Vec<String>, String> {
        let key = (repo.clone(), tag.to_string());
        if let Some(p) = self.0.get(&key) {
            return p.clone();
        }
        let p = source.platforms(repo, tag).await;
        self.0.insert(key, p.clone());
        p
    }
}

/// Where a walk down the candidates ended.
#[derive(Debug, Default)]
pub(super) struct Walked {
    /// The best candidate that passed every check; `None`: the reference
    /// stays where it is.
    pub target: Option<(String, UpdateType)>,
    pub passed_over: Vec<PassedOver>,
    /// The young candidate that comes of age first: `(tag, until_ms)`.
    pub waiting: Option<(String, i64)>,
}

/// The best candidate old enough and offering every platform of `policy`.
/// `Ok(Err(..))` is a skip reason, `Err` a registry error.
pub(super) async fn walk(
    policy: &Policy,
    (current, marked): (&str, bool),
    tags: &[String],
    source: &impl TagSource,
    (platforms, times): (&mut PlatformCache, &mut Times),
    now_ms: i64,
) -> Result<Result<Walked, String>, String> {
    let ranked = match policy::ranked_with(policy, current, tags, marked, times.of(&policy.image)) {
        Ok(r) => r,
        Err(skip) => return Ok(Err(skip)),
    };
    let image = &policy.image;
    let mut walked = Walked::default();
    let pass = |walked: &mut Walked, tag: String, rule: Reason, detail: String| {
        if walked.passed_over.len() < MAX_PASSED {
            walked.passed_over.push(PassedOver { tag, rule, detail });
        }
    };
    let (mut fetches, mut platform_tries, mut lacking) = (0, 0, Vec::new());
    for (tag, update) in ranked {
        let mut ripeness = policy::release_wait(policy, times.of(image).released(&tag), now_ms);
        // Not old enough by what is known, and its config may prove it
        // older: fetch its `created` (once per tag, a few tags per run).
        if ripeness != Ripeness::Ripe
            && !times.of(image).seen_appearing(&tag)
            && !times.asked(image, &tag)
            && fetches < MAX_AGE_FETCHES
        {
            fetches += 1;
            times
                .fetch(image, std::slice::from_ref(&tag), source)
                .await?;
            ripeness = policy::release_wait(policy, times.of(image).released(&tag), now_ms);
        }
        match ripeness {
            Ripeness::Ripe => {}
            Ripeness::Until(due) => {
                if walked.waiting.as_ref().is_none_or(|(_, d)| due < *d) {
                    walked.waiting = Some((tag.clone(), due));
                }
                let detail = format!("waiting for release age until {}", rfc3339(due));
                pass(&mut walked, tag, Reason::Age, detail);
                continue;
            }
            Ripeness::Unknown => {
                let detail = "release time unknown: never seen by the store, and its image config has no `created` time".to_string();
                pass(&mut walked, tag, Reason::Age, detail);
                continue;
            }
        }
        if policy.platforms.is_empty() {
            walked.target = Some((tag, update));
            return Ok(Ok(walked));
        }
        if platform_tries == MAX_PLATFORM_TRIES {
            break;
        }
        platform_tries += 1;
        let offered = platforms.get(source, image, &tag).await?;
        let missing: Vec<&str> = policy
            .platforms
            .iter()
            .filter(|p| !crate::registry::offers(&offered, p))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            walked.target = Some((tag, update));
            return Ok(Ok(walked));
        }
        let detail = format!(
            "lacks {} (offers {})",
            missing.join(", "),
            offered.join(", ")
        );
        lacking.push(format!("{tag} {detail}"));
        pass(&mut walked, tag, Reason::Platform, detail);
    }
    if lacking.is_empty() {
        return Ok(Ok(walked));
    }
    Ok(Err(format!(
        "platform: none of the {} best newer tags offers every platform of `{}`: {}",
        lacking.len(),
        policy.name,
        lacking.join("; ")
    )))
}
