//! The generic source (https://www.standardwebhooks.com/, Standard Webhooks), at
//! `/hooks/generic`: for CI jobs and tools that can sign but have no
//! webhook format of their own.
//!
//! Verification: `webhook-id`, `webhook-timestamp` (unix seconds, within
//! [`super::TIMESTAMP_TOLERANCE`] either way) and `webhook-signature`
//! (space-separated `v1,<base64 HMAC-SHA256>` entries, any may match) over
//! `{webhook-id}.{webhook-timestamp}.{raw body}`. Secrets are
//! `whsec_<base64>` (the key is the decoded bytes; the prefix may be left
//! out). A configured path token is required as well. Content type must be
//! `application/json`.
//!
//! Delivery id: `webhook-id`.
//!
//! Body:
//!
//! ```json
//! {"type": "image.pushed",
//!  "data": {"registry": "ghcr.io", "repository": "acme/web",
//!           "tag": "1.4.3", "digest": "sha256:…"}}
//! ```
//!
//! → `ImagePushed` (`registry` and `repository` required, at least one of
//! `tag` and `digest`);
//!
//! ```json
//! {"type": "repo.pushed",
//!  "data": {"repo": "acme/env", "branch": "main", "after": "<sha>"}}
//! ```
//!
//! → `RepoPushed` (all three required). Any other `type` is ignored.

use super::verify::{self, HmacKey, Outcome, Payload, event, skip};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::{HookSettings, Secret};
use crate::event::{Event, ImagePushed, RepoPushed};

/// The generic Standard Webhooks source.
#[derive(Debug)]
pub struct Generic {
    keys: Vec<HmacKey>,
    path_token: Option<Secret>,
}

impl Generic {
    /// Refuses settings without a secret, or with one that is not
    /// `whsec_<base64>`.
    pub fn new(settings: &HookSettings) -> anyhow::Result<Self> {
        let keys = verify::secrets(settings, "generic")?
            .iter()
            .map(HmacKey::from_whsec)
            .collect::<anyhow::Result<_>>()
            .map_err(|e| anyhow::anyhow!("invalid service config: hooks.generic: {e:#}"))?;
        Ok(Self {
            keys,
            path_token: settings.path_token.clone(),
        })
    }
}

impl Source for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn needs_path_token(&self) -> bool {
        false
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        verify::check_path_token(self.path_token.as_ref(), req)?;
        let verified = verify::standard(req, &self.keys)?;
        verify::require_json(req)?;
        let payload = verified.json()?;
        let outcome = match payload.str("/type")? {
            "image.pushed" => image_pushed(&payload),
            "repo.pushed" => repo_pushed(&payload),
            other => skip(format!("type {other} not handled")),
        }?;
        Ok(outcome.into_verdict(verify::delivery_id(req, &["webhook-id"])))
    }
}

fn image_pushed(p: &Payload) -> Result<Outcome, HookError> {
    let tag = p.opt_str("/data/tag").filter(|s| !s.is_empty());
    let digest = p.opt_str("/data/digest").filter(|s| !s.is_empty());
    if tag.is_none() && digest.is_none() {
        return Err(HookError::Malformed(
            "image.pushed needs data.tag or data.digest".into(),
        ));
    }
    event(Event::ImagePushed(ImagePushed {
        registry: p.str("/data/registry")?.to_owned(),
        repository: p.str("/data/repository")?.to_owned(),
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    }))
}

fn repo_pushed(p: &Payload) -> Result<Outcome, HookError> {
    event(Event::RepoPushed(RepoPushed {
        repo: p.str("/data/repo")?.to_owned(),
        branch: p.str("/data/branch")?.to_owned(),
        after: p.str("/data/after")?.to_owned(),
    }))
}
