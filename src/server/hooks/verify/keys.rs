//! The checks that make a [`Verified`] body: shared secrets (plain tokens,
//! path tokens, static headers), HMAC signatures (hex, `sha256=`, `sha1=`,
//! Standard Webhooks), signed timestamps, and RS256 bearer tokens.
//!
//! Every comparison against a secret is constant time (`subtle`) and runs
//! against *every* configured secret, so a rotation (old and new at once)
//! needs no special case (docs/ARCHITECTURE.md, "Invariants").

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use super::Verified;
use crate::config::{HookSettings, Secret};
use crate::server::hooks::{HookError, Incoming, TIMESTAMP_TOLERANCE};

/// An HMAC key; its `Debug` prints nothing.
#[derive(Clone)]
pub struct HmacKey(Vec<u8>);

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl HmacKey {
    /// The secret's UTF-8 bytes (GitHub, Gitea, Bitbucket, Nexus,
    /// Artifactory).
    pub fn from_utf8(secret: &Secret) -> Self {
        Self(secret.expose().as_bytes().to_vec())
    }

    /// A Standard Webhooks secret: `whsec_<base64>` (the prefix is optional,
    /// as in the reference libraries).
    pub fn from_whsec(secret: &Secret) -> anyhow::Result<Self> {
        let raw = secret.expose();
        let b64 = raw.strip_prefix("whsec_").unwrap_or(raw);
        let bytes = BASE64
            .decode(b64)
            .context("a signing secret must be `whsec_<base64>`")?;
        anyhow::ensure!(!bytes.is_empty(), "a signing secret must not be empty");
        Ok(Self(bytes))
    }

    /// Every secret as UTF-8 keys.
    pub fn all_utf8(secrets: &[Secret]) -> Vec<Self> {
        secrets.iter().map(Self::from_utf8).collect()
    }
}

/// Every configured secret of `source`; refuses none (and, through
/// [`HookSettings::all_secrets`], an empty one).
pub fn secrets(settings: &HookSettings, source: &str) -> anyhow::Result<Vec<Secret>> {
    let all = settings.all_secrets(source)?;
    anyhow::ensure!(!all.is_empty(), "hooks.{source} needs at least one secret");
    Ok(all)
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

/// True if `given` equals any of `secrets`; compares against all of them.
pub fn token_matches(given: &str, secrets: &[Secret]) -> bool {
    secrets
        .iter()
        .fold(Choice::from(0), |acc, s| {
            acc | given.as_bytes().ct_eq(s.expose().as_bytes())
        })
        .into()
}

/// If a path token is configured, the request must carry it. A gate in
/// front of another check: it verifies nothing on its own.
pub fn check_path_token(expected: Option<&Secret>, req: &Incoming<'_>) -> Result<(), HookError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let given = req
        .path_token
        .ok_or_else(|| HookError::Unauthorized("missing path token".into()))?;
    if token_matches(given, std::slice::from_ref(expected)) {
        Ok(())
    } else {
        Err(HookError::Unauthorized("wrong path token".into()))
    }
}

/// The body of a source that cannot sign, guarded by its path token alone.
pub fn by_path_token<'a>(expected: &Secret, req: &Incoming<'a>) -> Result<Verified<'a>, HookError> {
    check_path_token(Some(expected), req)?;
    Ok(Verified::new(req.body))
}

/// The body, if the plain token `given` equals one of `secrets`.
pub fn token<'a>(
    given: &str,
    secrets: &[Secret],
    body: &'a [u8],
) -> Result<Verified<'a>, HookError> {
    if token_matches(given, secrets) {
        Ok(Verified::new(body))
    } else {
        Err(HookError::Unauthorized("token mismatch".into()))
    }
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
    /// secret verbatim or as `Bearer <secret>`; with `or_hmac`, also as the
    /// hex HMAC-SHA256 of the body under a secret (Artifactory's two
    /// modes).
    pub fn verify<'a>(&self, req: &Incoming<'a>) -> Result<Verified<'a>, HookError> {
        self.check(req, false)
    }

    /// [`Self::verify`], also accepting the header as a hex HMAC-SHA256.
    pub fn verify_or_hmac<'a>(&self, req: &Incoming<'a>) -> Result<Verified<'a>, HookError> {
        self.check(req, true)
    }

    fn check<'a>(&self, req: &Incoming<'a>, or_hmac: bool) -> Result<Verified<'a>, HookError> {
        check_path_token(self.path_token.as_ref(), req)?;
        if self.secrets.is_empty() {
            return Ok(Verified::new(req.body));
        }
        let value = req
            .header(self.header)
            .ok_or_else(|| HookError::Unauthorized(format!("missing {} header", self.header)))?;
        let bare = value.strip_prefix("Bearer ").unwrap_or("\u{0}");
        let mut ok = token_matches(value, &self.secrets) | token_matches(bare, &self.secrets);
        if or_hmac {
            ok |= hex_sha256(value, &HmacKey::all_utf8(&self.secrets), req.body).is_ok();
        }
        if ok {
            Ok(Verified::new(req.body))
        } else {
            Err(HookError::Unauthorized(format!(
                "wrong {} header",
                self.header
            )))
        }
    }
}

fn hmac_sha256(key: &HmacKey, parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key.0) else {
        return Vec::new();
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha1(key: &HmacKey, body: &[u8]) -> Vec<u8> {
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&key.0) else {
        return Vec::new();
    };
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// True if `given` equals the MAC under any key; every key is tried.
fn any_key(keys: &[HmacKey], given: &[u8], mac: impl Fn(&HmacKey) -> Vec<u8>) -> bool {
    if given.is_empty() {
        return false;
    }
    keys.iter()
        .fold(Choice::from(0), |acc, k| {
            acc | mac(k).as_slice().ct_eq(given)
        })
        .into()
}

fn mismatch() -> HookError {
    HookError::Unauthorized("signature mismatch".into())
}

/// Checks a bare hex HMAC-SHA256 of `body` (Gitea/Forgejo, Artifactory).
pub fn hex_sha256<'a>(
    header: &str,
    keys: &[HmacKey],
    body: &'a [u8],
) -> Result<Verified<'a>, HookError> {
    let given = hex::decode(header.trim()).map_err(|_| mismatch())?;
    if any_key(keys, &given, |k| hmac_sha256(k, &[body])) {
        Ok(Verified::new(body))
    } else {
        Err(mismatch())
    }
}

/// Checks a bare hex HMAC-SHA1 of `body` (Nexus).
pub fn hex_sha1<'a>(
    header: &str,
    keys: &[HmacKey],
    body: &'a [u8],
) -> Result<Verified<'a>, HookError> {
    let given = hex::decode(header.trim()).map_err(|_| mismatch())?;
    if any_key(keys, &given, |k| hmac_sha1(k, body)) {
        Ok(Verified::new(body))
    } else {
        Err(mismatch())
    }
}

/// Checks `sha256=<hex>` (GitHub `X-Hub-Signature-256`, Bitbucket
/// `X-Hub-Signature`).
pub fn prefixed_sha256<'a>(
    header: &str,
    keys: &[HmacKey],
    body: &'a [u8],
) -> Result<Verified<'a>, HookError> {
    let hex = header.trim().strip_prefix("sha256=").ok_or_else(mismatch)?;
    hex_sha256(hex, keys, body)
}

/// Checks the legacy `sha1=<hex>` (GitHub `X-Hub-Signature`); callers
/// allow it only when `allow_sha1` is set.
pub fn prefixed_sha1<'a>(
    header: &str,
    keys: &[HmacKey],
    body: &'a [u8],
) -> Result<Verified<'a>, HookError> {
    let hex = header.trim().strip_prefix("sha1=").ok_or_else(mismatch)?;
    hex_sha1(hex, keys, body)
}

/// Rejects a timestamp (unix seconds) further than [`TIMESTAMP_TOLERANCE`]
/// from `now`, in either direction. Any `u64` is handled: one too far in
/// the future to be a time at all is "in the future", never an overflow.
pub fn check_timestamp(timestamp: u64, now: SystemTime) -> Result<(), HookError> {
    let Some(at) = UNIX_EPOCH.checked_add(Duration::from_secs(timestamp)) else {
        return Err(HookError::Unauthorized("timestamp in the future".into()));
    };
    match now.duration_since(at) {
        Ok(age) if age > TIMESTAMP_TOLERANCE => {
            Err(HookError::Unauthorized("timestamp too old".into()))
        }
        Ok(_) => Ok(()),
        Err(ahead) if ahead.duration() > TIMESTAMP_TOLERANCE => {
            Err(HookError::Unauthorized("timestamp in the future".into()))
        }
        Err(_) => Ok(()),
    }
}

/// The Standard Webhooks headers, if the request has a signature.
pub fn has_standard_signature(req: &Incoming<'_>) -> bool {
    req.header("webhook-signature").is_some()
}

/// Checks a Standard Webhooks request: `webhook-id`, `webhook-timestamp`
/// (within the tolerance) and `webhook-signature` (space-separated
/// `v1,<base64>` entries, any may match) over `{id}.{timestamp}.{body}`.
pub fn standard<'a>(req: &Incoming<'a>, keys: &[HmacKey]) -> Result<Verified<'a>, HookError> {
    let missing = |h: &str| HookError::Unauthorized(format!("missing {h}"));
    let id = req
        .header("webhook-id")
        .ok_or_else(|| missing("webhook-id"))?;
    let ts = req
        .header("webhook-timestamp")
        .ok_or_else(|| missing("webhook-timestamp"))?;
    let sigs = req
        .header("webhook-signature")
        .ok_or_else(|| missing("webhook-signature"))?;
    let seconds: u64 = ts
        .trim()
        .parse()
        .map_err(|_| HookError::Unauthorized("invalid webhook-timestamp".into()))?;
    check_timestamp(seconds, req.now)?;
    let matched = sigs
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| BASE64.decode(b64).ok())
        .fold(Choice::from(0), |acc, given| {
            let ok = any_key(keys, &given, |k| {
                hmac_sha256(k, &[id.as_bytes(), b".", ts.as_bytes(), b".", req.body])
            });
            acc | Choice::from(u8::from(ok))
        });
    if bool::from(matched) {
        Ok(Verified::new(req.body))
    } else {
        Err(mismatch())
    }
}

/// Checks an RS256 `Authorization: Bearer <JWT>` against `keys` (by `kid`),
/// then its claims with `claims_ok` (issuer, audience, times, identity:
/// the source's rules). `unknown_key` runs when the token names a key that
/// is not loaded (the source's keys may have rotated).
pub fn rs256_bearer<'a, C: DeserializeOwned>(
    req: &Incoming<'a>,
    keys: &[(String, DecodingKey)],
    unknown_key: impl FnOnce(),
    claims_ok: impl FnOnce(&C) -> Result<(), HookError>,
) -> Result<Verified<'a>, HookError> {
    let unauthorized = |m: &str| HookError::Unauthorized(m.to_string());
    let token = req
        .header("authorization")
        .ok_or_else(|| unauthorized("missing Authorization header"))?
        .strip_prefix("Bearer ")
        .ok_or_else(|| unauthorized("Authorization is not a Bearer token"))?
        .trim();
    let header = jsonwebtoken::decode_header(token).map_err(|_| unauthorized("bad token"))?;
    if header.alg != Algorithm::RS256 {
        return Err(unauthorized("token is not RS256"));
    }
    let kid = header
        .kid
        .ok_or_else(|| unauthorized("token without kid"))?;
    let Some(key) = keys.iter().find(|(k, _)| *k == kid).map(|(_, key)| key) else {
        unknown_key();
        return Err(unauthorized("unknown signing key"));
    };
    // The library checks the signature only; the claims are the caller's,
    // against the request's own clock.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<C>(token, key, &validation)
        .map_err(|_| unauthorized("bad token signature"))?
        .claims;
    claims_ok(&claims)?;
    Ok(Verified::new(req.body))
}
