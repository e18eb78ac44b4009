//! Verification primitives shared by the webhook sources, and the
//! [`Verified`] body that only they can produce.
//!
//! Invariants:
//! * Every comparison of a signature or token against a secret is constant
//!   time (`subtle`), and runs against *every* configured key, so a
//!   rotation (old and new secret at once) needs no special case.
//! * A body can be parsed only through [`Verified`], which only the checks
//!   in this file construct: code holding a [`Payload`] knows it was
//!   verified (STYLE.md, "verification is a type").
//! * Keys never print: [`HmacKey`]'s `Debug` is `***`.
//!
//! Also here, because several sources need them: the Standard Webhooks
//! scheme (`webhook-id`/`webhook-timestamp`/`webhook-signature`, secrets
//! `whsec_<base64>`), the timestamp window, the path-token check, the
//! fallback delivery id, and the `/imagebump` command line.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::{HookError, Incoming, TIMESTAMP_TOLERANCE, Verdict};
use crate::config::{HookSettings, Secret};
use crate::event::Event;

/// The prefix of a command comment.
pub const COMMAND_PREFIX: &str = "/imagebump";

/// An HMAC key; its `Debug` prints nothing.
#[derive(Clone)]
pub struct HmacKey(Vec<u8>);

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl HmacKey {
    /// The secret's UTF-8 bytes (GitHub, Gitea, Bitbucket: WEBHOOKS.md §0).
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
}

/// Every configured secret of `source`; refuses none (and, through
/// [`HookSettings::all_secrets`], an empty one).
pub fn secrets(settings: &HookSettings, source: &str) -> anyhow::Result<Vec<Secret>> {
    let all = settings.all_secrets(source)?;
    anyhow::ensure!(!all.is_empty(), "hooks.{source} needs at least one secret");
    Ok(all)
}

/// The body of a request whose signature or token was checked.
#[derive(Debug)]
pub struct Verified<'a> {
    body: &'a [u8],
}

impl<'a> Verified<'a> {
    /// Only the checks below call this.
    fn new(body: &'a [u8]) -> Self {
        Self { body }
    }

    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Payload, HookError> {
        parse_json(self.body)
    }

    /// The JSON of a verified `application/x-www-form-urlencoded` body's
    /// `payload` field.
    pub fn form_payload(&self) -> Result<Payload, HookError> {
        let text = std::str::from_utf8(self.body)
            .map_err(|_| HookError::Malformed("form body is not UTF-8".into()))?;
        let field = text
            .split('&')
            .find_map(|pair| pair.strip_prefix("payload="))
            .ok_or_else(|| HookError::Malformed("form body has no payload field".into()))?;
        let json = percent_decode(field)
            .ok_or_else(|| HookError::Malformed("payload field is not URL-encoded".into()))?;
        parse_json(&json)
    }
}

fn parse_json(bytes: &[u8]) -> Result<Payload, HookError> {
    serde_json::from_slice(bytes)
        .map(Payload)
        .map_err(|e| HookError::Malformed(format!("body is not JSON: {e}")))
}

/// Decodes `application/x-www-form-urlencoded` (`+` is a space).
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

/// A verified JSON body, read by JSON pointer; a missing required field is
/// [`HookError::Malformed`].
#[derive(Debug)]
pub struct Payload(Value);

impl Payload {
    /// A string that may be absent or null.
    pub fn opt_str(&self, pointer: &str) -> Option<&str> {
        self.0.pointer(pointer).and_then(Value::as_str)
    }

    /// A required string.
    pub fn str(&self, pointer: &str) -> Result<&str, HookError> {
        self.opt_str(pointer)
            .ok_or_else(|| HookError::Malformed(format!("missing string {pointer}")))
    }

    /// A required unsigned number.
    pub fn u64(&self, pointer: &str) -> Result<u64, HookError> {
        self.0
            .pointer(pointer)
            .and_then(Value::as_u64)
            .ok_or_else(|| HookError::Malformed(format!("missing number {pointer}")))
    }

    pub fn opt_bool(&self, pointer: &str) -> Option<bool> {
        self.0.pointer(pointer).and_then(Value::as_bool)
    }

    /// True if the field exists and is not null.
    pub fn has(&self, pointer: &str) -> bool {
        self.0.pointer(pointer).is_some_and(|v| !v.is_null())
    }

    /// The elements of an array (none if absent).
    pub fn array(&self, pointer: &str) -> Vec<Payload> {
        self.0
            .pointer(pointer)
            .and_then(Value::as_array)
            .map(|a| a.iter().cloned().map(Payload).collect())
            .unwrap_or_default()
    }
}

/// What a verified payload means.
#[derive(Debug)]
pub enum Outcome {
    Events(Vec<Event>),
    /// Nothing to do, and why.
    Skip(String),
}

impl Outcome {
    pub fn into_verdict(self, delivery: String) -> Verdict {
        match self {
            Self::Events(events) => Verdict::Events { delivery, events },
            Self::Skip(why) => Verdict::Ignored(why),
        }
    }
}

/// One event.
pub fn event(e: Event) -> Result<Outcome, HookError> {
    Ok(Outcome::Events(vec![e]))
}

/// No event, and why.
pub fn skip(why: impl Into<String>) -> Result<Outcome, HookError> {
    Ok(Outcome::Skip(why.into()))
}

/// The command line of a comment: its first line if the comment starts
/// with `/imagebump` (as a word).
pub fn command_line(comment: &str) -> Option<String> {
    let first = comment.trim_start().lines().next()?.trim_end();
    let rest = first.strip_prefix(COMMAND_PREFIX)?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then(|| first.to_owned())
}

/// `sha256:<hex>` of the body: the delivery id of a request without one.
pub fn body_digest(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// The first present, non-empty header of `names`, else the body digest.
pub fn delivery_id(req: &Incoming<'_>, names: &[&str]) -> String {
    names
        .iter()
        .find_map(|n| req.header(n).map(str::trim).filter(|v| !v.is_empty()))
        .map_or_else(|| body_digest(req.body), str::to_owned)
}

/// Requires `application/json` (parameters are already stripped).
pub fn require_json(req: &Incoming<'_>) -> Result<(), HookError> {
    match req.content_type {
        Some("application/json") => Ok(()),
        Some(other) => Err(HookError::UnsupportedMediaType(format!(
            "expected application/json, got {other}"
        ))),
        None => Err(HookError::UnsupportedMediaType(
            "expected application/json".into(),
        )),
    }
}

/// Constant-time equality of two byte strings (false if lengths differ).
pub fn token_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
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

/// If a path token is configured, the request must carry it.
pub fn check_path_token(expected: Option<&Secret>, req: &Incoming<'_>) -> Result<(), HookError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let given = req
        .path_token
        .ok_or_else(|| HookError::Unauthorized("missing path token".into()))?;
    if token_eq(given.as_bytes(), expected.expose().as_bytes()) {
        Ok(())
    } else {
        Err(HookError::Unauthorized("path token mismatch".into()))
    }
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

/// Checks a bare hex HMAC-SHA256 of `body` (Gitea/Forgejo).
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
    let given = hex::decode(hex).map_err(|_| mismatch())?;
    if any_key(keys, &given, |k| hmac_sha1(k, body)) {
        Ok(Verified::new(body))
    } else {
        Err(mismatch())
    }
}

/// Rejects a timestamp (unix seconds) further than [`TIMESTAMP_TOLERANCE`]
/// from `now`, in either direction.
pub fn check_timestamp(timestamp: u64, now: SystemTime) -> Result<(), HookError> {
    let at = UNIX_EPOCH + Duration::from_secs(timestamp);
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
