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
pub mod nexus;
pub mod quay;
pub mod registry_common;
pub mod verify;

use std::time::SystemTime;

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

/// Builds every configured source; an unknown source name or a source
/// without its secret stops start-up with a message naming the key.
pub async fn build_all(
    settings: &std::collections::BTreeMap<String, crate::config::HookSettings>,
) -> anyhow::Result<std::collections::HashMap<String, std::sync::Arc<dyn Source>>> {
    use std::sync::Arc;
    let mut out: std::collections::HashMap<String, Arc<dyn Source>> =
        std::collections::HashMap::new();
    for (name, s) in settings {
        let source: Arc<dyn Source> = match name.as_str() {
            // GHCR announces pushes as GitHub `package` events, signed alike.
            "github" | "ghcr" => Arc::new(github::GitHub::new(s)?),
            "gitlab" => Arc::new(gitlab::GitLab::new(s)?),
            "gitea" => Arc::new(gitea::Gitea::new(s)?),
            "bitbucket" => Arc::new(bitbucket::Bitbucket::new(s)?),
            "generic" => Arc::new(generic::Generic::new(s)?),
            "distribution" => Arc::new(distribution::Distribution::new(s)?),
            "dockerhub" => Arc::new(dockerhub::DockerHub::new(s)?),
            "harbor" => Arc::new(harbor::Harbor::new(s)?),
            "quay" => Arc::new(quay::Quay::new(s)?),
            "acr" => Arc::new(acr::Acr::new(s)?),
            "artifactory" => Arc::new(artifactory::Artifactory::new(s)?),
            "nexus" => {
                let source = nexus::Nexus::new(s)?;
                Arc::new(match &s.registry {
                    Some(host) => source.with_registry(host.clone()),
                    None => source,
                })
            }
            "gar" => {
                if s.service_accounts.is_empty() {
                    tracing::warn!(
                        "hooks.gar has no `service_accounts`: any Google-signed token for the audience is accepted"
                    );
                }
                Arc::new(
                    gar::Gar::new(s)
                        .await?
                        .with_service_accounts(s.service_accounts.clone()),
                )
            }
            "cdevents" => Arc::new(cdevents::CdEvents::new(s)?),
            other => anyhow::bail!(
                "invalid service config: `hooks.{other}`: unknown webhook source (github, ghcr, gitlab, gitea, bitbucket, generic, distribution, dockerhub, harbor, quay, acr, artifactory, nexus, gar, cdevents)"
            ),
        };
        out.insert(name.clone(), source);
    }
    Ok(out)
}
