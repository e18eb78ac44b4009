//! The service's tag lists: the registry behind the store's tag cache
//! (DESIGN.md §1 step 4, "list tags (cached)").
//!
//! Every real listing is saved ([`Store::save_tags`]), which keeps the time
//! each tag was first seen. A list whose listing started less than the TTL
//! ago, and after the last reported push of its image
//! ([`Store::forget_tags`]), is reused without asking the registry: env
//! repos that share an image, and replicas that share a Postgres store,
//! list it once per TTL.
//!
//! Failures: a registry that fails a listing fails it as before — its error
//! reaches the plan, and no cached list is served past its TTL in its
//! place. A store that fails to read or save only costs the cache: a
//! warning, and the registry is asked. Replicas are assumed to keep their
//! clocks in step (NTP): freshness compares times written by different
//! processes.
//!
//! Only service reconciles use the cache; `check` and `reconcile` as
//! one-shot commands have no store and always ask the registry.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::domain::{Digest, ImageRepo};
use crate::plan::TagSource;
use crate::registry::TagList;
use crate::store::{CachedTags, Store};

/// Unix milliseconds now, as the store counts time (injected in tests).
type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The key of an image in the store's tag cache: the canonical repository
/// name, so `nginx`, `docker.io/nginx` and `docker.io/library/nginx` share
/// one list. Whoever marks a list stale must use the same key.
pub fn tag_cache_key(image: &ImageRepo) -> String {
    image.to_string()
}

/// Whether a cached list may be reused at `now_ms`: its listing started
/// less than `ttl` ago (not in the future: a clock that went back proves
/// nothing), and after the last reported push of the image.
pub fn is_fresh(cached: &CachedTags, now_ms: i64, ttl: Duration) -> bool {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let age = now_ms.saturating_sub(cached.fetched_at_ms);
    let pushed_since = cached
        .forgotten_at_ms
        .is_some_and(|forgotten| forgotten >= cached.fetched_at_ms);
    (0..ttl_ms).contains(&age) && !pushed_since
}

/// The store's tag cache as a service reconcile uses it.
#[derive(Clone)]
pub struct TagCache {
    store: Store,
    ttl: Duration,
    clock: Clock,
}

impl fmt::Debug for TagCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TagCache")
            .field("store", &self.store)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TagCache {
    /// Lists younger than `ttl` are reused (`ZERO`: never; lists are still
    /// saved, for their first-seen times). Time is the system clock.
    pub fn new(store: Store, ttl: Duration) -> TagCache {
        TagCache {
            store,
            ttl,
            clock: Arc::new(crate::server::now_ms),
        }
    }

    /// The same cache, reading time from `clock`.
    pub fn with_clock(self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> TagCache {
        TagCache {
            clock: Arc::new(clock),
            ..self
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// A run's tag source: `registry` behind `cache` (or `registry` alone when
/// there is no cache). Each image is looked up at most once per run; later
/// calls (re-plans) get the same answer without touching the store again.
pub struct CachedSource<'a, S> {
    registry: &'a S,
    cache: Option<&'a TagCache>,
    answers: Mutex<HashMap<ImageRepo, Result<TagList, String>>>,
}

impl<'a, S: TagSource> CachedSource<'a, S> {
    pub fn new(registry: &'a S, cache: Option<&'a TagCache>) -> Self {
        CachedSource {
            registry,
            cache,
            answers: Mutex::default(),
        }
    }

    /// The cached list of `image` if it may be reused now. A store error
    /// is logged and treated as a miss.
    async fn reusable(&self, cache: &TagCache, image: &ImageRepo, now_ms: i64) -> Option<TagList> {
        let cached = match cache.store.cached_tags(&tag_cache_key(image)).await {
            Ok(cached) => cached,
            Err(e) => {
                crate::metrics::tag_cache("error");
                tracing::warn!(
                    image = %image,
                    error = format!("{e:#}"),
                    "cannot read the tag cache; asking the registry"
                );
                return None;
            }
        };
        match cached {
            Some(c) if is_fresh(&c, now_ms, cache.ttl) => {
                crate::metrics::tag_cache("hit");
                tracing::debug!(
                    image = %image,
                    age_ms = now_ms - c.fetched_at_ms,
                    tags = c.tags.len(),
                    "tag list from the cache"
                );
                Some(c.tags.into_iter().map(|(tag, ..)| tag).collect())
            }
            _ => {
                crate::metrics::tag_cache("miss");
                None
            }
        }
    }

    /// Asks the registry for `images` and saves every list it returns
    /// (with `started_ms`, when the listing began); errors are returned
    /// as they are, never replaced by a cached list.
    async fn list(
        &self,
        cache: &TagCache,
        images: &[ImageRepo],
        started_ms: i64,
    ) -> HashMap<ImageRepo, Result<TagList, String>> {
        let listed = self.registry.tags(images).await;
        for (image, result) in &listed {
            let Ok(tags) = result else { continue };
            if let Err(e) = cache
                .store
                .save_tags(&tag_cache_key(image), tags, started_ms)
                .await
            {
                crate::metrics::tag_cache("error");
                tracing::warn!(
                    image = %image,
                    error = format!("{e:#}"),
                    "cannot save the tag list in the cache; it is listed again next time"
                );
            }
        }
        listed
    }
}

impl<S: TagSource> TagSource for CachedSource<'_, S> {
    async fn tags(&self, repos: &[ImageRepo]) -> HashMap<ImageRepo, Result<TagList, String>> {
        let Some(cache) = self.cache else {
            return self.registry.tags(repos).await;
        };
        let mut out = HashMap::new();
        let mut wanted = Vec::new();
        {
            let answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
            let mut seen = HashSet::new();
            for image in repos.iter().filter(|r| seen.insert(*r)) {
                match answers.get(image) {
                    Some(answer) => {
                        out.insert(image.clone(), answer.clone());
                    }
                    None => wanted.push(image.clone()),
                }
            }
        }
        if wanted.is_empty() {
            return out;
        }
        // The listing's start: a push reported after it makes it stale.
        let now_ms = (cache.clock)();
        let mut missing = Vec::new();
        for image in wanted {
            let reused = if cache.ttl.is_zero() {
                None
            } else {
                self.reusable(cache, &image, now_ms).await
            };
            match reused {
                Some(tags) => {
                    out.insert(image, Ok(tags));
                }
                None => missing.push(image),
            }
        }
        if !missing.is_empty() {
            out.extend(self.list(cache, &missing, now_ms).await);
        }
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        for (image, answer) in &out {
            answers
                .entry(image.clone())
                .or_insert_with(|| answer.clone());
        }
        out
    }

    async fn digest(&self, repo: &ImageRepo, tag: &str) -> Result<Digest, String> {
        self.registry.digest(repo, tag).await
    }

    async fn platforms(&self, repo: &ImageRepo, tag: &str) -> Result<Vec<String>, String> {
        self.registry.platforms(repo, tag).await
    }
}

#[cfg(test)]
mod tests;
