//! OCI Distribution client: tag lists and manifest digests.
//!
//! Plain HTTP (reqwest, rustls) rather than `oci-client`, because the crate
//! hides the response headers we need (`Link` for pagination, `Retry-After`
//! for 429, `ratelimit-*`). Handles the anonymous/basic bearer-token
//! challenge, Docker `config.json` credentials, retries with backoff for
//! 429/5xx/timeouts, and each host's request budget ([`budget`]).
//!
//! A process has one [`Registry`]: the HTTP connections, the bearer tokens
//! and every host's budget, shared by all env repositories and runs. A run
//! asks it for a [`Client`], which lists each repository's tags at most
//! once and counts its own requests.

mod auth;
mod budget;
mod credentials;
mod error;
mod helpers;
mod http;
mod platforms;
mod tags;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument as _;

use anyhow::Context as _;
use reqwest::Method;
use reqwest::header::HeaderValue;
use tokio::sync::{OnceCell, Semaphore};

use crate::domain::{Digest, ImageRepo, Tag};

pub use auth::{Challenge, DEFAULT_TOKEN_LIFETIME, parse_challenge};
pub use credentials::{Credentials, HostAuth};
pub use error::RegistryError;
pub use platforms::offers;
pub use tags::parse_next_link;

/// Default `n` for tag-list pages.
pub const DEFAULT_PAGE_SIZE: usize = 1000;
/// Default cap on requests per second sent to one registry host: polite to
/// public registries (a few hundred images list in seconds); operators of
/// their own registry can raise or lift it (`--max-rps-per-host 0`).
pub const DEFAULT_MAX_RPS_PER_HOST: f64 = 100.0;
/// Default burst of requests to one host before the cap spaces them: one
/// second's worth, so that a run of up to a hundred images is not slowed
/// at all (`check` of 100 images sends about 100 requests).
pub const DEFAULT_BURST_PER_HOST: u32 = 100;
/// Default number of retries after the first try (429, 5xx, timeouts).
pub const DEFAULT_MAX_RETRIES: u32 = 4;
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of repositories listed at once.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default base of the exponential backoff between retries.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_millis(500);
/// Longest wait honoured from a `Retry-After` header, and the cap of the
/// exponential backoff.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// The manifest media types asked for, index types first so that a
/// multi-arch tag resolves to the digest of its index.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Tunables of the client.
#[derive(Clone, Debug)]
pub struct Options {
    /// `n` for tag-list pages.
    pub page_size: usize,
    /// Hosts (`host[:port]`) reached over plain HTTP besides loopback ones
    /// (`127.0.0.0/8`, `::1`, `localhost`), which always use plain HTTP.
    pub insecure_hosts: Vec<String>,
    /// Requests per second per registry host (`<= 0` or non-finite: no cap).
    pub max_rps_per_host: f64,
    /// Requests to one host sent at once before the cap spaces them.
    pub burst_per_host: u32,
    /// Retries after the first try for 429, 5xx and timeouts.
    pub max_retries: u32,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Repositories listed at once.
    pub concurrency: usize,
    /// Base of the exponential backoff between retries (doubled each retry,
    /// with jitter).
    pub retry_base: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            page_size: DEFAULT_PAGE_SIZE,
            insecure_hosts: Vec::new(),
            max_rps_per_host: DEFAULT_MAX_RPS_PER_HOST,
            burst_per_host: DEFAULT_BURST_PER_HOST,
            max_retries: DEFAULT_MAX_RETRIES,
            timeout: DEFAULT_TIMEOUT,
            concurrency: DEFAULT_CONCURRENCY,
            retry_base: DEFAULT_RETRY_BASE,
        }
    }
}

/// A repository's tags, shared by every caller of one run.
pub type TagList = Arc<[String]>;

type TagListing = Arc<OnceCell<Result<TagList, RegistryError>>>;

/// The registry state of one process: HTTP connections (and TLS roots),
/// credentials, bearer tokens and the budget of each host. Cheap to clone;
/// every env repository, discovered or configured, and `check` use one.
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

struct Shared {
    http: reqwest::Client,
    options: Options,
    credentials: Credentials,
    hosts: budget::Hosts,
    tokens: auth::TokenCache,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("options", &self.shared.options)
            .field("credentials", &self.shared.credentials)
            .finish_non_exhaustive()
    }
}

impl Registry {
    pub fn new(options: Options, credentials: Credentials) -> anyhow::Result<Registry> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .user_agent(concat!("imagebump/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Registry {
            shared: Arc::new(Shared {
                http,
                hosts: budget::Hosts::new(options.max_rps_per_host, options.burst_per_host),
                options,
                credentials,
                tokens: auth::TokenCache::default(),
            }),
        })
    }

    /// A client for one run: it lists every repository afresh (once) and
    /// counts its own requests; connections, tokens and budgets are this
    /// registry's.
    pub fn client(&self) -> Client {
        Client {
            inner: Arc::new(Inner {
                shared: Arc::clone(&self.shared),
                requests: AtomicU64::new(0),
                tag_lists: Mutex::new(HashMap::new()),
            }),
        }
    }
}

/// A registry client for one run (see [`Registry::client`]). Cheap to
/// clone; caches the run's tag lists.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    requests: AtomicU64,
    tag_lists: Mutex<HashMap<ImageRepo, TagListing>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("requests", &self.requests_made())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// HTTP requests sent so far, token requests and retries included.
    pub fn requests_made(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The listings of this client that failed for a passing reason
    /// ([`RegistryError::is_passing`]), as their messages, in name order.
    pub fn passing_failures(&self) -> Vec<String> {
        let lists = self
            .inner
            .tag_lists
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut failed: Vec<(&ImageRepo, String)> = lists
            .iter()
            .filter_map(|(repo, cell)| match cell.get() {
                Some(Err(e)) if e.is_passing() => Some((repo, e.to_string())),
                _ => None,
            })
            .collect();
        failed.sort_by_key(|(repo, _)| repo.to_string());
        failed.into_iter().map(|(_, message)| message).collect()
    }

    /// All tags of `repo`, in the registry's order. Each repository is
    /// listed at most once per client: later and concurrent callers share
    /// the first listing (its error too).
    pub async fn list_tags(&self, repo: &ImageRepo) -> Result<TagList, RegistryError> {
        let cell = {
            let mut lists = self
                .inner
                .tag_lists
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(lists.entry(repo.clone()).or_default())
        };
        cell.get_or_init(|| async { self.inner.fetch_tags(repo).await.map(TagList::from) })
            .await
            .clone()
    }

    /// Lists several repositories, at most `concurrency` at once. Duplicates
    /// are listed once.
    pub async fn list_tags_many(
        &self,
        repos: &[ImageRepo],
    ) -> HashMap<ImageRepo, Result<TagList, RegistryError>> {
        let semaphore = Arc::new(Semaphore::new(self.inner.shared.options.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let mut results = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for repo in repos {
            if !seen.insert(repo.clone()) {
                continue;
            }
            let client = self.clone();
            let semaphore = Arc::clone(&semaphore);
            let repo = repo.clone();
            // In the caller's span (the job's, the reconcile's): a log line
            // of the listing says whose it was.
            tasks.spawn(
                async move {
                    let _permit = semaphore.acquire_owned().await.ok();
                    let tags = client.list_tags(&repo).await;
                    (repo, tags)
                }
                .in_current_span(),
            );
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((repo, tags)) => {
                    results.insert(repo, tags);
                }
                Err(e) => tracing::error!(error = %e, "tag listing task failed"),
            }
        }
        // A panicked task leaves its repository out; list it here instead so
        // every requested repository has an answer.
        for repo in seen {
            if let std::collections::hash_map::Entry::Vacant(slot) = results.entry(repo) {
                let tags = self.list_tags(slot.key()).await;
                slot.insert(tags);
            }
        }
        results
    }

    /// The digest `tag` (a tag, or a digest to check) points at. For a multi-arch tag this is the digest
    /// of the index (manifest list), not of a platform manifest.
    pub async fn digest(&self, repo: &ImageRepo, tag: &str) -> Result<Digest, RegistryError> {
        let inner = &self.inner;
        if Tag::parse(tag).is_err() && Digest::parse(tag).is_err() {
            return Err(inner.protocol(repo, format!("`{tag}` is neither a tag nor a digest")));
        }
        let url = inner.repo_url(repo, &format!("manifests/{tag}"))?;
        let accept = HeaderValue::from_static(MANIFEST_ACCEPT);
        let what = || format!("tag {tag} of repository {}", repo.path());
        let head = inner.fetch(repo, Method::HEAD, &url, Some(&accept)).await?;
        let head = inner.check_status(repo, head, what)?;
        if let Some(value) = head.headers().get("docker-content-digest") {
            let text = value.to_str().unwrap_or_default();
            return Digest::parse(text.trim()).map_err(|reason| inner.protocol(repo, reason));
        }
        tracing::debug!(
            host = repo.host(),
            repo = repo.path(),
            "no Docker-Content-Digest; hashing the manifest"
        );
        let (_, body) = inner
            .fetch_body(repo, Method::GET, &url, Some(&accept), &what)
            .await?;
        Ok(Digest::sha256_of(&body))
    }
}

impl Inner {
    /// `scheme://api-host/v2/<path>/<rest>`.
    fn repo_url(&self, repo: &ImageRepo, rest: &str) -> Result<reqwest::Url, RegistryError> {
        let host = repo.api_host();
        let text = format!("{}://{host}/v2/{}/{rest}", self.scheme(host), repo.path());
        reqwest::Url::parse(&text).map_err(|e| self.protocol(repo, format!("bad URL {text}: {e}")))
    }

    /// `http` for loopback and explicitly insecure hosts, else `https`.
    fn scheme(&self, host: &str) -> &'static str {
        if self.plain_http_allowed(host) {
            "http"
        } else {
            "https"
        }
    }

    fn plain_http_allowed(&self, host: &str) -> bool {
        is_loopback(host)
            || self
                .shared
                .options
                .insecure_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host))
    }

    fn protocol(&self, repo: &ImageRepo, reason: impl Into<String>) -> RegistryError {
        RegistryError::Protocol {
            host: repo.host().to_string(),
            repo: repo.path().to_string(),
            reason: reason.into(),
        }
    }

    /// Maps a final non-success status to an error; passes 2xx through.
    fn check_status(
        &self,
        repo: &ImageRepo,
        response: reqwest::Response,
        what: impl FnOnce() -> String,
    ) -> Result<reqwest::Response, RegistryError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                host: repo.host().to_string(),
                repo: repo.path().to_string(),
                what: what(),
            });
        }
        Err(self.protocol(repo, format!("unexpected status {status}")))
    }
}

/// Whether `host[:port]` is a loopback address or `localhost`.
pub(crate) fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        match host.rsplit_once(':') {
            Some((name, port))
                if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                name
            }
            _ => host,
        }
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
