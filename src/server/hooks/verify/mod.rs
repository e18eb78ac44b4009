//! The one verification kit of the webhook sources: every source turns a
//! request into a [`Verified`] body through the checks in [`keys`] (the
//! only code that constructs one), and parses only a [`Verified`] body,
//! into a typed struct ([`Verified::parse`]) or a JSON [`Payload`].
//!
//! Invariants (docs/ARCHITECTURE.md):
//! * Verify before parse: no source reads a body field before a check
//!   passed; holding a [`Verified`] or a [`Payload`] means it was verified.
//! * Comparisons against secrets are constant time and try every secret.
//! * Keys never print: [`HmacKey`]'s `Debug` is `***`.
//!
//! Also here: the content-type gate, delivery ids, and the `/imagebump`
//! command line of a comment.

mod keys;

use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

pub use keys::{
    HmacKey, StaticAuth, by_path_token, check_path_token, check_timestamp, has_standard_signature,
    hex_sha1, hex_sha256, path_token, prefixed_sha1, prefixed_sha256, required_path_token,
    rs256_bearer, secrets, standard, token, token_matches,
};

use super::{HookError, Incoming, Verdict};
use crate::event::Event;

pub use crate::texts::COMMAND_PREFIX;

/// The body of a request whose signature or token was checked.
#[derive(Debug)]
pub struct Verified<'a> {
    body: &'a [u8],
}

impl<'a> Verified<'a> {
    /// Only the checks in [`keys`] call this.
    fn new(body: &'a [u8]) -> Self {
        Self { body }
    }

    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Bytes carried inside a verified body (a base64 field, say) are as
    /// verified as the body itself.
    pub fn inner<'b>(&self, bytes: &'b [u8]) -> Verified<'b> {
        Verified { body: bytes }
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Payload, HookError> {
        self.parse().map(Payload)
    }

    /// The body as `T`; the error names no detail of the payload.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, HookError> {
        serde_json::from_slice(self.body).map_err(|e| {
            let what = if e.is_data() {
                "unexpected JSON shape"
            } else {
                "body is not JSON"
            };
            HookError::Malformed(what.into())
        })
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
        let json = percent_decode(field, true)
            .ok_or_else(|| HookError::Malformed("payload field is not URL-encoded".into()))?;
        self.inner(&json).json()
    }
}

/// Decodes `%XX` escapes, and `+` as a space when `plus_is_space`
/// (`application/x-www-form-urlencoded`; a purl keeps its `+`). `None` for
/// a broken escape.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
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
    check_content_type(req, &["application/json"])
}

/// The request's content type must be one of `allowed`.
pub fn check_content_type(req: &Incoming<'_>, allowed: &[&str]) -> Result<(), HookError> {
    match req.content_type {
        Some(ct) if allowed.contains(&ct) => Ok(()),
        Some(ct) => Err(HookError::UnsupportedMediaType(format!(
            "expected {}, got {ct}",
            allowed.join(" or ")
        ))),
        None => Err(HookError::UnsupportedMediaType(format!(
            "expected {}",
            allowed.join(" or ")
        ))),
    }
}

/// `None` for an empty string.
pub fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_string)
}
