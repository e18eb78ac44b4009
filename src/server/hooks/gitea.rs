//! Gitea and Forgejo webhooks (https://docs.gitea.com/usage/webhooks), at `/hooks/gitea`.
//!
//! Verification: `X-Gitea-Signature` (or Forgejo's `X-Forgejo-Signature`),
//! the **bare** lowercase hex HMAC-SHA256 of the JSON payload, against every
//! configured secret; a configured path token is required as well. Gitea
//! signs the JSON payload, not the request body, so the two are equal only
//! for `application/json`: a form-encoded hook is answered 415 (configure
//! the hook with content type JSON).
//!
//! Delivery id: `X-Gitea-Delivery` / `X-Forgejo-Delivery` (else the body
//! digest).
//!
//! Events (`X-Gitea-Event` / `X-Forgejo-Event`, GitHub-style names; the
//! payloads mirror GitHub's, so the mapping is [`super::github`]'s):
//! * `push` to a branch → `RepoPushed`;
//! * `pull_request` opened/reopened/synchronized/edited/closed →
//!   `ChangeRequestUpdated` (closed with `merged: true` is `merged`);
//! * `issue_comment` created on a pull request (`is_pull` or
//!   `issue.pull_request`) starting with `/imagebump` → `Command`;
//! * `status` success/failure/error → `ChecksCompleted`;
//! * anything else is ignored.

use super::github;
use super::verify::{self, HmacKey, skip};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::{HookSettings, Secret};

/// Signature headers, Gitea's first.
const SIGNATURE_HEADERS: [&str; 2] = ["x-gitea-signature", "x-forgejo-signature"];
/// Event headers, Gitea's first.
const EVENT_HEADERS: [&str; 2] = ["x-gitea-event", "x-forgejo-event"];
/// Delivery headers, Gitea's first.
const DELIVERY_HEADERS: [&str; 2] = ["x-gitea-delivery", "x-forgejo-delivery"];

/// The Gitea/Forgejo source.
#[derive(Debug)]
pub struct Gitea {
    keys: Vec<HmacKey>,
    path_token: Option<Secret>,
}

impl Gitea {
    /// Refuses settings without a (non-empty) secret.
    pub fn new(settings: &HookSettings) -> anyhow::Result<Self> {
        let keys = verify::secrets(settings, "gitea")?
            .iter()
            .map(HmacKey::from_utf8)
            .collect();
        Ok(Self {
            keys,
            path_token: settings.path_token.clone(),
        })
    }
}

fn first_header<'r>(req: &'r Incoming<'_>, names: &[&str]) -> Option<&'r str> {
    names.iter().find_map(|n| req.header(n))
}

impl Source for Gitea {
    fn name(&self) -> &'static str {
        "gitea"
    }

    fn needs_path_token(&self) -> bool {
        false
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        verify::check_path_token(self.path_token.as_ref(), req)?;
        let signature = first_header(req, &SIGNATURE_HEADERS)
            .ok_or_else(|| HookError::Unauthorized("missing X-Gitea-Signature".into()))?;
        let verified = verify::hex_sha256(signature, &self.keys, req.body)?;
        verify::require_json(req)?;
        let payload = verified.json()?;
        let outcome = match first_header(req, &EVENT_HEADERS).unwrap_or_default() {
            "push" => github::push(&payload),
            "pull_request" => github::pull_request(&payload),
            "issue_comment" => github::issue_comment(&payload),
            "status" => github::status(&payload),
            other => skip(format!("event {other} not handled")),
        }?;
        Ok(outcome.into_verdict(verify::delivery_id(req, &DELIVERY_HEADERS)))
    }
}
