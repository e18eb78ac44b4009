//! Webhook sources: one file per source, each turning a raw request into
//! verified [`Event`]s. Framework-free (the actix glue lives in
//! `server`): a source sees the lowercased headers, the raw body and the
//! path token, verifies BEFORE it parses (constant-time comparison, several
//! secrets at once for rotation), and answers with a [`Verdict`] or a
//! [`HookError`] that maps to an HTTP status.

pub mod acr;
pub mod artifactory;
pub mod bitbucket;
pub mod cdevents;
pub mod distribution;
pub mod dockerhub;
pub mod gar;
pub mod generic;
pub mod gitea;
pub mod github;
pub mod gitlab;
pub mod harbor;
pub mod image;
pub mod nexus;
pub mod quay;
pub mod verify;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use crate::config::HookSettings;
use crate::event::Event;

/// How far a signed timestamp may be from now.
pub const TIMESTAMP_TOLERANCE: std::time::Duration = std::time::Duration::from_secs(300);

/// A request as a source sees it.
pub struct Incoming<'a> {
    /// Header names lowercased; repeated headers appear repeatedly.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// The `{token}` of `/hooks/{source}/{token}`, if the URL had one.
    pub path_token: Option<&'a str>,
    /// The request's content type without parameters, lowercased.
    pub content_type: Option<&'a str>,
    pub now: SystemTime,
}

impl Incoming<'_> {
    /// The first value of a header (name in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A verified request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Store these events (possibly none) under this delivery id (sources
    /// without one get a digest of the body).
    Events {
        delivery: String,
        events: Vec<Event>,
    },
    /// A ping or an event type we do not act on: answered 200.
    Ignored(String),
}

/// A rejected request; the message is short and safe to return.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// 401: missing or wrong signature/token, or a timestamp out of range.
    #[error("{0}")]
    Unauthorized(String),
    /// 400: verified but not parsable.
    #[error("{0}")]
    Malformed(String),
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
}

/// One webhook source.
pub trait Source: Send + Sync {
    /// The `{source}` in `/hooks/{source}`.
    fn name(&self) -> &'static str;
    /// True when the source cannot sign and is reachable only at
    /// `/hooks/{source}/{token}`.
    fn needs_path_token(&self) -> bool;
    /// Verifies, then parses.
    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError>;
    /// The GAR source, whose signing keys need refreshing.
    fn as_gar(&self) -> Option<&gar::Gar> {
        None
    }
}

/// How often the OIDC signing keys of `gar` are reloaded.
pub const JWKS_REFRESH: std::time::Duration = std::time::Duration::from_secs(3600);

/// Builds one source from its settings.
type Build = fn(&HookSettings) -> anyhow::Result<Arc<dyn Source>>;

fn build<S: Source + 'static>(source: anyhow::Result<S>) -> anyhow::Result<Arc<dyn Source>> {
    Ok(Arc::new(source?))
}

/// Every webhook source, by its name in `/hooks/{name}` and
/// `[hooks.{name}]`: the one list (start-up, the error for an unknown
/// name, docs/ARCHITECTURE.md's table).
pub const SOURCES: &[(&str, Build)] = &[
    ("github", |s| build(github::GitHub::new(s))),
    // GHCR announces pushes as GitHub `package` events, signed alike.
    ("ghcr", |s| build(github::GitHub::new(s))),
    ("gitlab", |s| build(gitlab::GitLab::new(s))),
    ("gitea", |s| build(gitea::Gitea::new(s))),
    ("bitbucket", |s| build(bitbucket::Bitbucket::new(s))),
    ("generic", |s| build(generic::Generic::new(s))),
    ("distribution", |s| {
        build(distribution::Distribution::new(s))
    }),
    ("dockerhub", |s| build(dockerhub::DockerHub::new(s))),
    ("harbor", |s| build(harbor::Harbor::new(s))),
    ("quay", |s| build(quay::Quay::new(s))),
    ("acr", |s| build(acr::Acr::new(s))),
    ("artifactory", |s| build(artifactory::Artifactory::new(s))),
    ("nexus", |s| build(nexus::Nexus::new(s))),
    ("gar", |s| build(gar::Gar::configure(s))),
    ("cdevents", |s| build(cdevents::CdEvents::new(s))),
];

/// Builds every configured source; an unknown source name or a source
/// without its secret stops start-up with a message naming the key. GAR's
/// signing keys are loaded here, so that a wrong `jwks_url` stops start-up
/// too.
pub async fn build_all(
    settings: &BTreeMap<String, HookSettings>,
) -> anyhow::Result<HashMap<String, Arc<dyn Source>>> {
    let mut out = HashMap::new();
    for (name, s) in settings {
        let Some((_, make)) = SOURCES.iter().find(|(n, _)| n == name) else {
            let known: Vec<&str> = SOURCES.iter().map(|(n, _)| *n).collect();
            anyhow::bail!(
                "invalid service config: `hooks.{name}`: unknown webhook source ({})",
                known.join(", ")
            );
        };
        let source = make(s)?;
        if let Some(gar) = source.as_gar() {
            gar.refresh_keys().await?;
        }
        out.insert(name.clone(), source);
    }
    Ok(out)
}
