//! Helpers shared by the container-registry sources: constant-time secret
//! checks (header values, path tokens, hex HMACs), the content-type gate,
//! the body-digest delivery id, image-reference splitting and registry host
//! normalisation.
//!
//! Everything here that looks at a secret compares in constant time and
//! tries every configured secret (rotation) without stopping at the first
//! match.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{HookError, Incoming};
use crate::config::{HookSettings, Secret};

/// Manifest and index media types: a push with one of these is an image
/// (a blob push carries a layer or config type instead).
pub const MANIFEST_MEDIA_TYPES: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
];

/// Host names under which Docker Hub is reached; all become `docker.io`.
const DOCKER_HUB_ALIASES: &[&str] = &[
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
    "hub.docker.com",
];

/// Constant-time equality of two strings (leaks only the lengths).
pub fn ct_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// True if `value` equals any secret; every secret is compared.
pub fn matches_any(secrets: &[Secret], value: &str) -> bool {
    secrets
        .iter()
        .fold(false, |found, s| found | ct_eq(s.expose(), value))
}

/// How a source that authenticates with static values is guarded: a header
/// holding one of `secrets` (when there are any) and the path token (when
/// one is configured). Both must pass when both are configured.
#[derive(Clone)]
pub struct StaticAuth {
    pub header: &'static str,
    pub secrets: Vec<Secret>,
    pub path_token: Option<Secret>,
}

impl StaticAuth {
    /// Reads the secrets and path token of `source`; fails when neither is
    /// configured (an open endpoint is never built).
    pub fn new(
        settings: &HookSettings,
        source: &str,
        header: &'static str,
    ) -> anyhow::Result<StaticAuth> {
        let secrets = settings.all_secrets(source)?;
        let path_token = path_token(settings, source)?;
        anyhow::ensure!(
            !secrets.is_empty() || path_token.is_some(),
            "invalid service config: `hooks.{source}` needs `secrets` (the `{header}` value) or `path_token`"
        );
        Ok(StaticAuth {
            header,
            secrets,
            path_token,
        })
    }

    /// Only the path token guards the endpoint.
    pub fn path_token_only(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Checks the path token, then the header. A header value matches a
    /// secret verbatim or as `Bearer <secret>`.
    pub fn verify(&self, req: &Incoming<'_>) -> Result<(), HookError> {
        check_path_token(self.path_token.as_ref(), req)?;
        if self.secrets.is_empty() {
            return Ok(());
        }
        let value = req
            .header(self.header)
            .ok_or_else(|| HookError::Unauthorized(format!("missing {} header", self.header)))?;
        let bare = value.strip_prefix("Bearer ").unwrap_or("\u{0}");
        if matches_any(&self.secrets, value) | matches_any(&self.secrets, bare) {
            Ok(())
        } else {
            Err(HookError::Unauthorized(format!(
                "wrong {} header",
                self.header
            )))
        }
    }
}

/// The configured path token, refusing an empty one.
pub fn path_token(settings: &HookSettings, source: &str) -> anyhow::Result<Option<Secret>> {
    match &settings.path_token {
        Some(t) if t.expose().is_empty() => {
            anyhow::bail!("invalid service config: `hooks.{source}.path_token` is empty")
        }
        other => Ok(other.clone()),
    }
}

/// The path token of a source that cannot sign: required.
pub fn required_path_token(settings: &HookSettings, source: &str) -> anyhow::Result<Secret> {
    path_token(settings, source)?.ok_or_else(|| {
        anyhow::anyhow!(
            "invalid service config: `hooks.{source}` cannot sign its requests and needs `path_token`"
        )
    })
}

/// When a path token is expected, the request must carry it.
pub fn check_path_token(expected: Option<&Secret>, req: &Incoming<'_>) -> Result<(), HookError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    match req.path_token {
        Some(given) if ct_eq(expected.expose(), given) => Ok(()),
        Some(_) => Err(HookError::Unauthorized("wrong path token".into())),
        None => Err(HookError::Unauthorized("missing path token".into())),
    }
}

/// True if the hex `given` is HMAC-SHA256(secret, body) for any secret.
pub fn hmac_sha256_matches(secrets: &[Secret], body: &[u8], given_hex: &str) -> bool {
    let Ok(given) = hex::decode(given_hex.trim()) else {
        return false;
    };
    secrets.iter().fold(false, |found, s| {
        let ok = Hmac::<Sha256>::new_from_slice(s.expose().as_bytes())
            .map(|mut mac| {
                mac.update(body);
                mac.verify_slice(&given).is_ok()
            })
            .unwrap_or(false);
        found | ok
    })
}

/// True if the hex `given` is HMAC-SHA1(secret, body) for any secret.
pub fn hmac_sha1_matches(secrets: &[Secret], body: &[u8], given_hex: &str) -> bool {
    let Ok(given) = hex::decode(given_hex.trim()) else {
        return false;
    };
    secrets.iter().fold(false, |found, s| {
        let ok = Hmac::<sha1::Sha1>::new_from_slice(s.expose().as_bytes())
            .map(|mut mac| {
                mac.update(body);
                mac.verify_slice(&given).is_ok()
            })
            .unwrap_or(false);
        found | ok
    })
}

/// The request's content type must be one of `allowed`.
pub fn check_content_type(req: &Incoming<'_>, allowed: &[&str]) -> Result<(), HookError> {
    match req.content_type {
        Some(ct) if allowed.contains(&ct) => Ok(()),
        Some(ct) => Err(HookError::UnsupportedMediaType(format!(
            "unsupported content type {ct}"
        ))),
        None => Err(HookError::UnsupportedMediaType(
            "missing content type".into(),
        )),
    }
}

/// `sha256:<hex>` of the body: the delivery id of payloads without one.
pub fn body_digest(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// Parses a verified body; the error names no detail of the payload.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, HookError> {
    serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_data() {
            "unexpected JSON shape"
        } else {
            "invalid JSON"
        };
        HookError::Malformed(what.into())
    })
}

/// True for manifest and index media types (ignoring parameters).
pub fn is_manifest_media_type(media_type: &str) -> bool {
    let base = media_type.split(';').next().unwrap_or("").trim();
    MANIFEST_MEDIA_TYPES.contains(&base)
}

/// Lowercases a registry host and maps Docker Hub's aliases to
/// `docker.io`.
pub fn normalize_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('/').to_ascii_lowercase();
    if DOCKER_HUB_ALIASES.contains(&host.as_str()) {
        "docker.io".to_string()
    } else {
        host
    }
}

/// A Docker Hub repository: `library/x` for official images.
pub fn docker_hub_repository(registry: &str, repository: &str) -> String {
    if registry == "docker.io" && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository.to_string()
    }
}

/// The `target` of a CNCF Distribution notification event (ACR sends the
/// same shape): what was pushed.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationTarget {
    pub media_type: Option<String>,
    pub digest: Option<String>,
    pub repository: Option<String>,
    pub tag: Option<String>,
}

/// The `request` of a notification event: the registry host it came to.
#[derive(Default, Deserialize)]
pub struct NotificationRequest {
    pub host: Option<String>,
}

/// `None` for an empty string.
pub fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_string)
}

/// The parts of `host/path[:tag][@digest]`.
#[derive(Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// Splits a full image reference (`us-docker.pkg.dev/p/r/img:1.2@sha256:…`,
/// `harbor.example.com/lib/web:1.0`). The first path element is the host;
/// `None` if there is no path after it.
pub fn split_reference(reference: &str) -> Option<ImageRef> {
    let reference = reference
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, non_empty(Some(d))),
        None => (reference, None),
    };
    let (host, path) = name.split_once('/')?;
    // A `:` after the last `/` starts the tag (a `:` in the host is a port).
    let (repository, tag) = match path.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, non_empty(Some(t))),
        _ => (path, None),
    };
    if host.is_empty() || repository.is_empty() {
        return None;
    }
    let registry = normalize_host(host);
    let repository = docker_hub_repository(&registry, repository);
    Some(ImageRef {
        registry,
        repository,
        tag,
        digest,
    })
}

/// The host (with port) of a URL like `https://host:8081/artifactory`.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    (!host.is_empty()).then(|| normalize_host(host))
}

/// Decodes `%XX` escapes (as in a purl); invalid escapes stay as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hexpair) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hexpair, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
