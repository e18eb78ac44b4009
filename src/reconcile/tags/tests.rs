//! Freshness and keys (pure), and the cached source over an in-memory
//! SQLite store with a scripted registry. The real registry and a SQLite
//! file are exercised end to end in `tests/tag_cache.rs`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::store::Pushed;

const T0: i64 = 1_800_000_000_000;
const MINUTE: Duration = Duration::from_secs(60);

fn cached(fetched_at_ms: i64, forgotten_at_ms: Option<i64>) -> CachedTags {
    CachedTags {
        fetched_at_ms,
        forgotten_at_ms,
        first_listed_ms: Some(fetched_at_ms),
        tags: Vec::new(),
        pushed: Vec::new(),
    }
}

#[test]
fn a_list_is_fresh_for_the_ttl_from_its_listing() {
    let c = cached(T0, None);
    assert!(is_fresh(&c, T0, MINUTE));
    assert!(is_fresh(&c, T0 + 59_999, MINUTE));
    assert!(!is_fresh(&c, T0 + 60_000, MINUTE), "the TTL is exclusive");
    assert!(!is_fresh(&c, T0, Duration::ZERO), "0s never reuses");
    assert!(
        !is_fresh(&c, T0 - 1, MINUTE),
        "a list from the future (a clock that went back) is not trusted"
    );
    assert!(is_fresh(&c, T0 + 1, Duration::MAX));
}

#[test]
fn a_push_reported_after_the_listing_started_makes_it_stale() {
    assert!(!is_fresh(&cached(T0, Some(T0 + 1)), T0 + 2, MINUTE));
    assert!(
        !is_fresh(&cached(T0, Some(T0)), T0 + 2, MINUTE),
        "same millisecond: stale"
    );
    assert!(
        is_fresh(&cached(T0, Some(T0 - 1)), T0 + 2, MINUTE),
        "a listing that started after the push has seen it"
    );
}

#[test]
fn docker_hub_spellings_share_one_cache_key() {
    let key = |name: &str| tag_cache_key(&ImageRepo::parse(name).unwrap());
    assert_eq!(key("nginx"), "docker.io/library/nginx");
    assert_eq!(key("docker.io/nginx"), key("nginx"));
    assert_eq!(key("docker.io/library/nginx"), key("nginx"));
    assert_eq!(key("index.docker.io/library/nginx"), key("nginx"));
    assert_eq!(key("127.0.0.1:5000/acme/web"), "127.0.0.1:5000/acme/web");
    // As the worker builds it from an `ImagePushed` event.
    assert_eq!(
        key(&format!("{}/{}", "docker.io", "library/nginx")),
        key("nginx")
    );
}

/// A registry whose answers the test sets, counting the listings and
/// HEADs (confirmations and digests) asked for.
#[derive(Default)]
struct Registry {
    tags: Mutex<HashMap<ImageRepo, Result<Vec<String>, String>>>,
    listed: Mutex<Vec<ImageRepo>>,
    /// A HEAD of a tag fails with this, when set.
    head_error: Mutex<Option<String>>,
    heads: Mutex<Vec<String>>,
}

impl Registry {
    fn set(&self, image: &ImageRepo, answer: Result<&[&str], &str>) {
        let answer = answer
            .map(|tags| tags.iter().map(|t| t.to_string()).collect())
            .map_err(str::to_string);
        self.tags.lock().unwrap().insert(image.clone(), answer);
    }

    fn listings(&self) -> usize {
        self.listed.lock().unwrap().len()
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// A HEAD: the tag's digest if it is in the list set for the image.
    fn head(&self, repo: &ImageRepo, tag: &str) -> Result<Option<Digest>, String> {
        self.heads.lock().unwrap().push(tag.to_string());
        if let Some(e) = self.head_error.lock().unwrap().clone() {
            return Err(e);
        }
        let tags = self.tags.lock().unwrap();
        let listed = tags.get(repo).cloned().unwrap_or(Ok(Vec::new()))?;
        Ok(listed
            .contains(&tag.to_string())
            .then(|| Digest::sha256_of(tag.as_bytes())))
    }
}

impl TagSource for Registry {
    async fn tags(&self, repos: &[ImageRepo]) -> HashMap<ImageRepo, Result<TagList, String>> {
        self.listed.lock().unwrap().extend(repos.iter().cloned());
        let tags = self.tags.lock().unwrap();
        repos
            .iter()
            .map(|r| {
                let answer = tags.get(r).cloned().unwrap_or_else(|| Ok(Vec::new()));
                (r.clone(), answer.map(TagList::from))
            })
            .collect()
    }

    async fn digest(&self, repo: &ImageRepo, tag: &str) -> Result<Digest, String> {
        self.head(repo, tag)?
            .ok_or_else(|| format!("{tag} not found"))
    }

    async fn platforms(&self, _: &ImageRepo, _: &str) -> Result<Vec<String>, String> {
        Err("not used".into())
    }

    async fn confirm(&self, repo: &ImageRepo, tag: &str) -> Result<Option<Digest>, String> {
        self.head(repo, tag)
    }
}

struct Fixture {
    registry: Registry,
    cache: TagCache,
    now: Arc<AtomicI64>,
    image: ImageRepo,
}

async fn fixture(ttl: Duration) -> Fixture {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let now = Arc::new(AtomicI64::new(T0));
    let clock = now.clone();
    let image = ImageRepo::parse("ghcr.io/acme/web").unwrap();
    let registry = Registry::default();
    registry.set(&image, Ok(&["1.0.0"]));
    Fixture {
        registry,
        cache: TagCache::new(store, ttl, Clock::new(move || clock.load(Ordering::SeqCst))),
        now,
        image,
    }
}

impl Fixture {
    /// One run's listing of the image.
    async fn run(&self) -> Result<Vec<String>, String> {
        let source = CachedSource::new(&self.registry, Some(&self.cache));
        let mut lists = source.tags(std::slice::from_ref(&self.image)).await;
        let mut tags = lists.remove(&self.image).unwrap()?.to_vec();
        tags.sort();
        Ok(tags)
    }
}

#[tokio::test]
async fn a_run_looks_each_image_up_once_even_when_it_plans_again() {
    let f = fixture(MINUTE).await;
    let source = CachedSource::new(&f.registry, Some(&f.cache));
    let twice = [f.image.clone(), f.image.clone()];
    for _ in 0..3 {
        let lists = source.tags(&twice).await;
        assert_eq!(lists.len(), 1);
    }
    assert_eq!(f.registry.listings(), 1);
    // The listing was saved with the run's start as its time.
    let saved = f.cache.store.cached_tags("ghcr.io/acme/web").await;
    assert_eq!(saved.unwrap().unwrap().fetched_at_ms, T0);
}

#[tokio::test]
async fn a_registry_failure_is_never_answered_from_an_expired_list() {
    let f = fixture(MINUTE).await;
    assert_eq!(f.run().await, Ok(vec!["1.0.0".to_string()]));
    f.registry
        .set(&f.image, Err("registry 127.0.0.1 answered 503"));
    f.now.store(T0 + 60_000, Ordering::SeqCst);
    assert_eq!(
        f.run().await,
        Err("registry 127.0.0.1 answered 503".to_string())
    );
    assert_eq!(f.registry.listings(), 2);
    // The failure saved nothing: the old list and its time are unchanged.
    let saved = f.cache.store.cached_tags("ghcr.io/acme/web").await;
    assert_eq!(saved.unwrap().unwrap().fetched_at_ms, T0);
}

#[tokio::test]
async fn zero_ttl_lists_every_time_and_still_records_first_seen() {
    let f = fixture(Duration::ZERO).await;
    f.run().await.unwrap();
    f.registry.set(&f.image, Ok(&["1.0.0", "1.1.0"]));
    f.now.store(T0 + 1, Ordering::SeqCst);
    assert_eq!(
        f.run().await,
        Ok(vec!["1.0.0".to_string(), "1.1.0".to_string()])
    );
    assert_eq!(f.registry.listings(), 2);
    let saved = f
        .cache
        .store
        .cached_tags("ghcr.io/acme/web")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        saved.tags,
        vec![("1.0.0".into(), T0, None), ("1.1.0".into(), T0 + 1, None)]
    );
}

#[tokio::test]
async fn a_closed_store_costs_only_the_cache() {
    let f = fixture(MINUTE).await;
    f.run().await.unwrap();
    f.cache.store.close().await;
    f.registry.set(&f.image, Ok(&["1.0.0", "1.1.0"]));
    assert_eq!(
        f.run().await,
        Ok(vec!["1.0.0".to_string(), "1.1.0".to_string()]),
        "within the TTL, but the cache cannot be read: the registry answers"
    );
    assert_eq!(f.registry.listings(), 2);
}

#[tokio::test]
async fn without_a_cache_the_registry_answers_every_run() {
    let f = fixture(MINUTE).await;
    for _ in 0..2 {
        let source = CachedSource::new(&f.registry, None);
        source.tags(std::slice::from_ref(&f.image)).await;
    }
    assert_eq!(f.registry.listings(), 2);
    let saved = f.cache.store.cached_tags("ghcr.io/acme/web").await;
    assert_eq!(saved.unwrap(), None);
}

impl Fixture {
    /// Reports a push of `tag` now.
    async fn report(&self, tag: &str) {
        let push = Pushed {
            image: tag_cache_key(&self.image),
            tag: Some(tag.to_string()),
        };
        let now = self.now.load(Ordering::SeqCst);
        self.cache.store.report_push(&push, now).await.unwrap();
    }
}

#[tokio::test]
async fn a_pushed_tag_is_merged_after_one_head_and_its_digest_reused() {
    let f = fixture(MINUTE).await;
    f.run().await.unwrap();
    f.registry.set(&f.image, Ok(&["1.0.0", "1.1.0"]));
    f.now.store(T0 + 1_000, Ordering::SeqCst);
    f.report("1.1.0").await;
    let source = CachedSource::new(&f.registry, Some(&f.cache));
    let lists = source.tags(std::slice::from_ref(&f.image)).await;
    assert_eq!(lists[&f.image].as_deref().unwrap(), ["1.0.0", "1.1.0"]);
    assert_eq!(f.registry.listings(), 1, "not listed again");
    // A digest pin of the new tag costs no second HEAD.
    let digest = source.digest(&f.image, "1.1.0").await.unwrap();
    assert_eq!(digest, Digest::sha256_of(b"1.1.0"));
    assert_eq!(f.registry.heads(), ["1.1.0"]);
}

#[tokio::test]
async fn a_failed_head_lists_the_image_instead() {
    let f = fixture(MINUTE).await;
    f.run().await.unwrap();
    f.registry.set(&f.image, Ok(&["1.0.0", "1.1.0"]));
    *f.registry.head_error.lock().unwrap() = Some("registry answered 503".into());
    f.now.store(T0 + 1_000, Ordering::SeqCst);
    f.report("1.1.0").await;
    // The listing starts after the report (in the same millisecond it
    // might not have seen the tag).
    f.now.store(T0 + 1_001, Ordering::SeqCst);
    assert_eq!(
        f.run().await,
        Ok(vec!["1.0.0".to_string(), "1.1.0".to_string()])
    );
    assert_eq!((f.registry.heads().len(), f.registry.listings()), (1, 2));
    // That listing settled the report.
    let saved = f.cache.store.cached_tags("ghcr.io/acme/web").await;
    assert!(saved.unwrap().unwrap().pushed.is_empty());
}

#[tokio::test]
async fn many_pushed_tags_are_listed_rather_than_confirmed_one_by_one() {
    let f = fixture(MINUTE).await;
    f.run().await.unwrap();
    let many: Vec<String> = (0..=MAX_PUSHED_CONFIRMED)
        .map(|i| format!("1.1.{i}"))
        .collect();
    for tag in &many {
        f.report(tag).await;
    }
    f.now.store(T0 + 1_000, Ordering::SeqCst);
    f.run().await.unwrap();
    assert_eq!(f.registry.heads(), Vec::<String>::new());
    assert_eq!(f.registry.listings(), 2);
}
