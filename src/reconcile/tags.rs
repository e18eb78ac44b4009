//! The service's tag lists: the registry behind the store's tag cache
//! (docs/ARCHITECTURE.md, "Registries").
//!
//! Every real listing is saved ([`Store::save_tags`]), which keeps the time
//! each tag was first seen. A list whose listing started less than the TTL
//! ago, and after the last reported tagless push of its image
//! ([`Store::forget_tags`]), is reused without asking the registry: env
//! repos that share an image, and replicas that share a Postgres store,
//! list it once per TTL. A tag a webhook reported pushed since the listing
//! ([`Store::report_push`]) is confirmed with one manifest HEAD and merged
//! into the reused list (and the store's), so one new tag of an image with
//! 10,000 tags costs one request, not a listing.
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

use crate::clock::Clock;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt as _;

use crate::domain::{Digest, ImageRepo};
use crate::plan::{BuildTime, TagSource};
use crate::policy::TagTimes;
use crate::registry::TagList;
use crate::store::{CachedTags, Store};

/// More tags reported pushed than this since an image's listing, and the
/// image is listed rather than each tag confirmed with a HEAD.
pub const MAX_PUSHED_CONFIRMED: usize = 10;

/// Images looked up in the store (and their pushed tags confirmed) at once.
const LOOKUPS_AT_ONCE: usize = crate::registry::DEFAULT_CONCURRENCY;

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
    /// When this cache was made (the service started, or discovered the
    /// repository): lists fetched before it are never reused. Webhooks
    /// sent while the service was down are lost, so a list from before
    /// the downtime may lack a tag pushed meanwhile; each image's first
    /// listing after start asks the registry.
    since_ms: i64,
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
    /// saved, for their first-seen times), and only if listed since now.
    /// Time is read from `clock`.
    pub fn new(store: Store, ttl: Duration, clock: Clock) -> TagCache {
        TagCache {
            store,
            ttl,
            since_ms: clock.now_ms(),
            clock,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Asks the store for a reconcile of `repo` at `due_ms`.
    pub async fn set_timer(&self, repo: &str, due_ms: i64, reason: &str) -> anyhow::Result<()> {
        self.store.set_timer(repo, due_ms, reason).await
    }
}

/// When the tags of a cached list appeared (`policy::TagTimes`): a tag
/// first seen after the image's first listing appeared then; the others
/// were there at the first listing. A list saved before first listings
/// were kept counts from its oldest tag.
pub fn appeared(cached: &CachedTags) -> TagTimes {
    let listed_since = cached
        .first_listed_ms
        .or_else(|| cached.tags.iter().map(|(_, seen, _)| *seen).min());
    TagTimes {
        created: HashMap::new(),
        first_seen: cached
            .tags
            .iter()
            .filter(|(_, seen, _)| listed_since.is_none_or(|l| *seen > l))
            .map(|(tag, seen, _)| (tag.clone(), *seen))
            .collect(),
        listed_since,
    }
}

/// A run's tag source: `registry` behind `cache` (or `registry` alone when
/// there is no cache). Each image is looked up at most once per run; later
/// calls (re-plans) get the same answer without touching the store again.
pub struct CachedSource<'a, S> {
    registry: &'a S,
    cache: Option<&'a TagCache>,
    answers: Mutex<HashMap<ImageRepo, Result<TagList, String>>>,
    /// Digests of pushed tags this run confirmed (a digest pin of the new
    /// tag costs no second HEAD).
    confirmed: Mutex<HashMap<(ImageRepo, String), Digest>>,
    /// The store's rows of each image, read once per run for times.
    rows: Mutex<HashMap<ImageRepo, Option<std::sync::Arc<CachedTags>>>>,
}

impl<'a, S: TagSource> CachedSource<'a, S> {
    pub fn new(registry: &'a S, cache: Option<&'a TagCache>) -> Self {
        CachedSource {
            registry,
            cache,
            answers: Mutex::default(),
            confirmed: Mutex::default(),
            rows: Mutex::default(),
        }
    }

    /// The store's saved list of `image` (after this run's listing saved
    /// it), once per run; `None` when there is none or it cannot be read.
    async fn saved(
        &self,
        cache: &TagCache,
        image: &ImageRepo,
    ) -> Option<std::sync::Arc<CachedTags>> {
        let lock = || self.rows.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rows) = lock().get(image) {
            return rows.clone();
        }
        let rows = match cache.store.cached_tags(&tag_cache_key(image)).await {
            Ok(rows) => rows.map(std::sync::Arc::new),
            Err(e) => {
                crate::metrics::tag_cache("error");
                tracing::warn!(image = %image, error = format!("{e:#}"), "cannot read first-seen times");
                None
            }
        };
        lock().insert(image.clone(), rows.clone());
        rows
    }

    /// Build times from the store where it knows the tag's digest and
    /// that digest's config; the rest from the registry, saved for next
    /// time (the tag's digest, and the digest's `created`).
    async fn stored_build_times(
        &self,
        cache: &TagCache,
        image: &ImageRepo,
        tags: &[String],
    ) -> Result<HashMap<String, BuildTime>, String> {
        let digests: HashMap<String, String> = match self.saved(cache, image).await {
            Some(rows) => rows
                .tags
                .iter()
                .filter_map(|(tag, _, digest)| Some((tag.clone(), digest.clone()?)))
                .collect(),
            None => HashMap::new(),
        };
        let wanted: Vec<String> = tags
            .iter()
            .filter_map(|t| digests.get(t).cloned())
            .collect();
        let known = match cache.store.build_times(&wanted).await {
            Ok(known) => known,
            Err(e) => {
                tracing::warn!(image = %image, error = format!("{e:#}"), "cannot read build times; asking the registry");
                HashMap::new()
            }
        };
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        for tag in tags {
            let hit = digests
                .get(tag)
                .and_then(|d| Some((Digest::parse(d).ok()?, *known.get(d)?)));
            match hit {
                Some(time) => {
                    out.insert(tag.clone(), time);
                }
                None => missing.push(tag.clone()),
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let fetched = self.registry.build_times(image, &missing).await?;
        let key = tag_cache_key(image);
        for (tag, (digest, created)) in &fetched {
            let saved = match cache.store.save_build_time(digest.as_str(), *created).await {
                Ok(()) => cache.store.set_digest(&key, tag, digest.as_str()).await,
                Err(e) => Err(e),
            };
            if let Err(e) = saved {
                tracing::warn!(image = %image, tag, error = format!("{e:#}"), "cannot save a build time; it is fetched again next time");
            }
        }
        out.extend(fetched);
        Ok(out)
    }

    /// The cached list of `image` if it may be reused now, with the tags
    /// reported pushed since merged in ([`Self::merge_pushed`]). A store
    /// error is logged and treated as a miss.
    async fn reusable(&self, cache: &TagCache, image: &ImageRepo, now_ms: i64) -> Option<TagList> {
        let key = tag_cache_key(image);
        let cached = match cache.store.cached_tags(&key).await {
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
        let Some(c) =
            cached.filter(|c| c.fetched_at_ms >= cache.since_ms && is_fresh(c, now_ms, cache.ttl))
        else {
            crate::metrics::tag_cache("miss");
            return None;
        };
        let age_ms = now_ms - c.fetched_at_ms;
        let mut tags: Vec<String> = c.tags.into_iter().map(|(tag, ..)| tag).collect();
        if !self
            .merge_pushed(cache, image, &key, &mut tags, c.pushed)
            .await
        {
            crate::metrics::tag_cache("miss");
            return None;
        }
        crate::metrics::tag_cache("hit");
        tracing::debug!(image = %image, age_ms, tags = tags.len(), "tag list from the cache");
        Some(tags.into())
    }

    /// Confirms each tag reported pushed since the listing with one
    /// manifest HEAD and merges it into `tags` and the store (a tag the
    /// registry does not have is dismissed). False when the image had
    /// better be listed: too many pushed tags, or the registry failed a
    /// HEAD.
    async fn merge_pushed(
        &self,
        cache: &TagCache,
        image: &ImageRepo,
        key: &str,
        tags: &mut Vec<String>,
        pushed: Vec<(String, i64)>,
    ) -> bool {
        if pushed.len() > MAX_PUSHED_CONFIRMED {
            tracing::debug!(image = %image, pushed = pushed.len(), "many pushed tags: listing instead");
            return false;
        }
        for (tag, reported_at_ms) in pushed {
            let saved = match self.registry.confirm(image, &tag).await {
                Ok(Some(digest)) => {
                    tracing::debug!(image = %image, tag, "pushed tag confirmed; merged into the cached list");
                    let saved = cache
                        .store
                        .confirm_pushed_tag(key, &tag, digest.as_str(), reported_at_ms)
                        .await;
                    self.lock_confirmed()
                        .insert((image.clone(), tag.clone()), digest);
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                    saved
                }
                Ok(None) => {
                    tracing::debug!(image = %image, tag, "a tag reported pushed is not in the registry");
                    cache
                        .store
                        .dismiss_pushed_tag(key, &tag, reported_at_ms)
                        .await
                }
                Err(e) => {
                    tracing::warn!(image = %image, tag, error = %e, "cannot confirm a pushed tag; listing the image");
                    return false;
                }
            };
            if let Err(e) = saved {
                crate::metrics::tag_cache("error");
                tracing::warn!(
                    image = %image,
                    error = format!("{e:#}"),
                    "cannot record a pushed tag in the cache; it is confirmed again next time"
                );
            }
        }
        true
    }

    fn lock_confirmed(&self) -> std::sync::MutexGuard<'_, HashMap<(ImageRepo, String), Digest>> {
        self.confirmed.lock().unwrap_or_else(|p| p.into_inner())
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
        let now_ms = cache.clock.now_ms();
        let mut missing = Vec::new();
        let looked_up: Vec<(ImageRepo, Option<TagList>)> = futures_util::stream::iter(wanted)
            .map(|image| async move {
                let reused = if cache.ttl.is_zero() {
                    None
                } else {
                    self.reusable(cache, &image, now_ms).await
                };
                (image, reused)
            })
            .buffer_unordered(LOOKUPS_AT_ONCE)
            .collect()
            .await;
        for (image, reused) in looked_up {
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
        let confirmed = self
            .lock_confirmed()
            .get(&(repo.clone(), tag.to_string()))
            .cloned();
        match confirmed {
            Some(digest) => Ok(digest),
            None => self.registry.digest(repo, tag).await,
        }
    }

    async fn platforms(&self, repo: &ImageRepo, tag: &str) -> Result<Vec<String>, String> {
        self.registry.platforms(repo, tag).await
    }

    async fn first_seen(&self, repo: &ImageRepo) -> TagTimes {
        let Some(cache) = self.cache else {
            return self.registry.first_seen(repo).await;
        };
        match self.saved(cache, repo).await {
            Some(rows) => appeared(&rows),
            None => TagTimes::default(),
        }
    }

    async fn build_times(
        &self,
        repo: &ImageRepo,
        tags: &[String],
    ) -> Result<HashMap<String, BuildTime>, String> {
        match self.cache {
            Some(cache) => self.stored_build_times(cache, repo, tags).await,
            None => self.registry.build_times(repo, tags).await,
        }
    }
}

#[cfg(test)]
mod tests;
