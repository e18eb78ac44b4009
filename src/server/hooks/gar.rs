//! Google Artifact Registry / GCR notifications through a Pub/Sub push
//! subscription (https://cloud.google.com/artifact-registry/docs/configure-notifications).
//!
//! Pub/Sub authenticates with `Authorization: Bearer <Google OIDC JWT>`:
//! RS256, signed by a key of Google's JWKS with the token's `kid`, `iss`
//! `accounts.google.com` (with or without `https://`), `aud` the configured
//! audience, and `exp`/`nbf`/`iat` within [`TIMESTAMP_TOLERANCE`] of the
//! request time. The keys are loaded when the source is built (`jwks_file`,
//! or `jwks_url` fetched by [`Gar::new`]) because `handle` cannot wait on
//! the network; [`Gar::refresh_keys`] reloads them after Google rotates.
//! A token with `email_verified: false` is refused; when
//! [`Gar::with_service_accounts`] names the push service accounts, `email`
//! must be one of them (without it, any Google-signed token for the
//! audience passes, so keep the audience or a path token unguessable).
//! The token covers nothing of the body: the body is trusted only because
//! Pub/Sub sent it. A configured `path_token` must match too.
//!
//! `message.data` is base64 JSON `{action, digest, tag}` whose `digest` and
//! `tag` are full references; `INSERT` becomes an [`ImagePushed`],
//! `DELETE` is ignored. The delivery id is `message.messageId`.

use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use serde::Deserialize;

use super::image::pushed_reference;
use super::verify::{self, Verified, check_content_type, check_path_token, non_empty, path_token};
use super::{HookError, Incoming, Source, TIMESTAMP_TOLERANCE, Verdict};
use crate::config::{HookSettings, Secret};
use crate::event::{Event, ImagePushed};

const NAME: &str = "gar";
const ISSUERS: &[&str] = &["accounts.google.com", "https://accounts.google.com"];
/// How long fetching the JWKS may take.
const JWKS_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the signing keys come from.
#[derive(Clone)]
enum KeySource {
    File(std::path::PathBuf),
    Url(String),
}

/// Receives Pub/Sub push deliveries of the `gcr` topic.
pub struct Gar {
    audience: String,
    path_token: Option<Secret>,
    source: KeySource,
    keys: RwLock<Vec<(String, DecodingKey)>>,
    service_accounts: Vec<String>,
    /// Woken when a token names a key we do not have: Google rotated, so
    /// the refresh duty reloads at once (rate-limited; see
    /// [`crate::work::duties`]).
    unknown_key: tokio::sync::Notify,
}

impl Gar {
    /// Reads `audience` and `jwks_file` or `jwks_url`, and loads the keys.
    pub async fn new(settings: &HookSettings) -> anyhow::Result<Gar> {
        let gar = Self::configure(settings)?;
        gar.refresh_keys().await?;
        Ok(gar)
    }

    /// Reads the settings; no key is loaded until [`Gar::refresh_keys`].
    pub fn configure(settings: &HookSettings) -> anyhow::Result<Gar> {
        let audience = settings
            .audience
            .clone()
            .filter(|a| !a.is_empty())
            .context("invalid service config: `hooks.gar.audience` is required")?;
        let source = match (&settings.jwks_file, &settings.jwks_url) {
            (Some(f), _) => KeySource::File(f.clone()),
            (None, Some(u)) if !u.is_empty() => KeySource::Url(u.clone()),
            _ => {
                anyhow::bail!("invalid service config: `hooks.gar` needs `jwks_url` or `jwks_file`")
            }
        };
        if settings.service_accounts.is_empty() {
            tracing::warn!(
                "hooks.gar has no `service_accounts`: any Google-signed token for the audience is accepted"
            );
        }
        Ok(Gar {
            audience,
            path_token: path_token(settings, NAME)?,
            source,
            keys: RwLock::new(Vec::new()),
            // Only tokens whose verified `email` is one of these push
            // service accounts.
            service_accounts: settings.service_accounts.clone(),
            unknown_key: tokio::sync::Notify::new(),
        })
    }

    /// Waits until a token names a key that is not loaded.
    pub async fn unknown_key_seen(&self) {
        self.unknown_key.notified().await;
    }

    /// Reloads the signing keys (call it periodically; Google rotates them).
    pub async fn refresh_keys(&self) -> anyhow::Result<()> {
        let keys = load_keys(&self.source).await?;
        let mut guard = self
            .keys
            .write()
            .map_err(|_| anyhow::anyhow!("gar key store poisoned"))?;
        *guard = keys;
        Ok(())
    }

    fn verify_token<'a>(&self, req: &Incoming<'a>) -> Result<Verified<'a>, HookError> {
        let keys = self
            .keys
            .read()
            .map_err(|_| HookError::Unauthorized("signing keys unavailable".into()))?;
        // An unknown key: Pub/Sub retries the push; by then the keys are
        // reloaded.
        verify::rs256_bearer(
            req,
            &keys,
            || self.unknown_key.notify_one(),
            |claims: &Claims| {
                check_claims(claims, &self.audience, req.now)?;
                check_email(claims, &self.service_accounts)
            },
        )
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
    exp: u64,
    iat: u64,
    nbf: Option<u64>,
    email: Option<String>,
    email_verified: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

fn check_claims(c: &Claims, audience: &str, now: SystemTime) -> Result<(), HookError> {
    let unauthorized = |m: &str| Err(HookError::Unauthorized(m.to_string()));
    if !ISSUERS.contains(&c.iss.as_str()) {
        return unauthorized("wrong token issuer");
    }
    let aud_ok = match &c.aud {
        Audience::One(a) => a == audience,
        Audience::Many(all) => all.iter().any(|a| a == audience),
    };
    if !aud_ok {
        return unauthorized("wrong token audience");
    }
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let tol = TIMESTAMP_TOLERANCE.as_secs();
    if c.exp.saturating_add(tol) < now {
        return unauthorized("token expired");
    }
    if c.iat > now.saturating_add(tol) || c.nbf.is_some_and(|n| n > now.saturating_add(tol)) {
        return unauthorized("token not valid yet");
    }
    Ok(())
}

fn check_email(c: &Claims, allowed: &[String]) -> Result<(), HookError> {
    if c.email_verified == Some(false) {
        return Err(HookError::Unauthorized("token email not verified".into()));
    }
    if allowed.is_empty() {
        return Ok(());
    }
    match &c.email {
        Some(e) if c.email_verified == Some(true) && allowed.iter().any(|a| a == e) => Ok(()),
        _ => Err(HookError::Unauthorized(
            "token is not from the push service account".into(),
        )),
    }
}

async fn load_keys(source: &KeySource) -> anyhow::Result<Vec<(String, DecodingKey)>> {
    let set: JwkSet = match source {
        KeySource::File(path) => {
            let text = tokio::fs::read(path)
                .await
                .with_context(|| format!("cannot read JWKS file {}", path.display()))?;
            serde_json::from_slice(&text)
                .with_context(|| format!("JWKS file {} is not a key set", path.display()))?
        }
        KeySource::Url(url) => reqwest::Client::builder()
            .timeout(JWKS_TIMEOUT)
            .build()?
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("cannot fetch JWKS {url}"))?
            .json()
            .await
            .with_context(|| format!("JWKS {url} is not a key set"))?,
    };
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let (Some(kid), AlgorithmParameters::RSA(_)) = (&jwk.common.key_id, &jwk.algorithm) else {
            continue;
        };
        keys.push((kid.clone(), DecodingKey::from_jwk(jwk)?));
    }
    anyhow::ensure!(!keys.is_empty(), "the JWKS holds no RSA key with a kid");
    Ok(keys)
}

#[derive(Deserialize)]
struct Push {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    data: Option<String>,
    /// Pub/Sub sends the id under both spellings.
    #[serde(rename = "messageId")]
    message_id_camel: Option<String>,
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct Notification {
    #[serde(default)]
    action: String,
    digest: Option<String>,
    tag: Option<String>,
}

impl Source for Gar {
    fn as_gar(&self) -> Option<&Gar> {
        Some(self)
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn needs_path_token(&self) -> bool {
        false
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        check_path_token(self.path_token.as_ref(), req)?;
        let verified = self.verify_token(req)?;
        check_content_type(req, &["application/json"])?;
        let push: Push = verified.parse()?;
        let data = push
            .message
            .data
            .as_deref()
            .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
            .ok_or_else(|| HookError::Malformed("message.data is not base64".into()))?;
        let delivery = non_empty(push.message.message_id_camel.as_deref())
            .or_else(|| non_empty(push.message.message_id.as_deref()))
            .ok_or_else(|| HookError::Malformed("message without messageId".into()))?;
        let n: Notification = verified.inner(&data).parse()?;
        if n.action != "INSERT" {
            return Ok(Verdict::Ignored(format!(
                "action {} is not INSERT",
                n.action
            )));
        }
        let by_tag = non_empty(n.tag.as_deref()).and_then(|t| pushed_reference(&t));
        let by_digest = non_empty(n.digest.as_deref()).and_then(|d| pushed_reference(&d));
        let image = match (by_tag, by_digest) {
            (Some(t), Some(d)) => ImagePushed {
                registry: t.registry,
                repository: t.repository,
                tag: t.tag,
                digest: d.digest,
            },
            (Some(t), None) => ImagePushed {
                registry: t.registry,
                repository: t.repository,
                tag: t.tag,
                digest: t.digest,
            },
            (None, Some(d)) => ImagePushed {
                registry: d.registry,
                repository: d.repository,
                tag: d.tag,
                digest: d.digest,
            },
            (None, None) => {
                return Err(HookError::Malformed("INSERT without digest or tag".into()));
            }
        };
        Ok(Verdict::Events {
            delivery,
            events: vec![Event::ImagePushed(image)],
        })
    }
}
