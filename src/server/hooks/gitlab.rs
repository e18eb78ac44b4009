//! GitLab webhooks (https://docs.gitlab.com/user/project/integrations/webhooks/), at `/hooks/gitlab`.
//!
//! Verification, one of:
//! * **signing token** (GitLab 19.0+): a configured secret of the form
//!   `whsec_<base64>` is a signing token; a request carrying
//!   `webhook-signature` is checked as Standard Webhooks (`webhook-id`,
//!   `webhook-timestamp` within [`super::TIMESTAMP_TOLERANCE`],
//!   `v1,<base64>` over `{id}.{timestamp}.{body}`) against the signing
//!   tokens, with no fallback to the plain token;
//! * **secret token**: otherwise `X-Gitlab-Token` is compared, in constant
//!   time, with every configured secret that is not a signing token.
//!
//! A configured path token is required as well. Content type must be
//! `application/json`.
//!
//! Delivery id: `Idempotency-Key` (stable across retries), else
//! `webhook-id`, else `X-Gitlab-Event-UUID`, else the body digest.
//!
//! Events (`X-Gitlab-Event`):
//! * `Push Hook` to a branch → `RepoPushed` (deletions ignored);
//! * `Merge Request Hook` open/reopen/update/close/merge →
//!   `ChangeRequestUpdated` (state opened → `open`, `closed`, `merged`);
//! * `Pipeline Hook` with status `success`/`failed` → `ChecksCompleted`
//!   (conclusion as GitLab says it);
//! * `Note Hook` created on a merge request starting with `/imagebump` →
//!   `Command`;
//! * anything else (`Tag Push Hook`, `System Hook`, …) is ignored.

use super::github::ZERO_SHA;
use super::verify::{self, HmacKey, Outcome, Payload, event, skip};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::{HookSettings, Secret};
use crate::event::{ChangeRequestUpdated, ChecksCompleted, Command, Event, RepoPushed};

/// The GitLab source.
#[derive(Debug)]
pub struct GitLab {
    /// Plain secret tokens (`X-Gitlab-Token`).
    tokens: Vec<Secret>,
    /// Decoded signing tokens (`whsec_…`).
    signing: Vec<HmacKey>,
    path_token: Option<Secret>,
}

impl GitLab {
    /// Refuses settings without a (non-empty) secret, and a `whsec_`
    /// secret that is not valid base64.
    pub fn new(settings: &HookSettings) -> anyhow::Result<Self> {
        let mut tokens = Vec::new();
        let mut signing = Vec::new();
        for secret in verify::secrets(settings, "gitlab")? {
            if secret.expose().starts_with("whsec_") {
                signing.push(HmacKey::from_whsec(&secret).map_err(|e| {
                    anyhow::anyhow!("invalid service config: hooks.gitlab signing token: {e:#}")
                })?);
            } else {
                tokens.push(secret);
            }
        }
        Ok(Self {
            tokens,
            signing,
            path_token: settings.path_token.clone(),
        })
    }

    fn verify<'a>(&self, req: &Incoming<'a>) -> Result<verify::Verified<'a>, HookError> {
        verify::check_path_token(self.path_token.as_ref(), req)?;
        if !self.signing.is_empty() && verify::has_standard_signature(req) {
            return verify::standard(req, &self.signing);
        }
        if self.tokens.is_empty() {
            // Only signing tokens are configured: a plain token is not enough.
            return Err(HookError::Unauthorized("missing webhook-signature".into()));
        }
        let token = req
            .header("x-gitlab-token")
            .ok_or_else(|| HookError::Unauthorized("missing X-Gitlab-Token".into()))?;
        verify::token(token, &self.tokens, req.body)
    }
}

impl Source for GitLab {
    fn name(&self) -> &'static str {
        "gitlab"
    }

    fn needs_path_token(&self) -> bool {
        false
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        let verified = self.verify(req)?;
        verify::require_json(req)?;
        let payload = verified.json()?;
        let outcome = match req.header("x-gitlab-event").unwrap_or_default() {
            "Push Hook" => push(&payload),
            "Merge Request Hook" => merge_request(&payload),
            "Pipeline Hook" => pipeline(&payload),
            "Note Hook" => note(&payload),
            other => skip(format!("event {other} not handled")),
        }?;
        let delivery = verify::delivery_id(
            req,
            &["idempotency-key", "webhook-id", "x-gitlab-event-uuid"],
        );
        Ok(outcome.into_verdict(delivery))
    }
}

fn repo(p: &Payload) -> Result<String, HookError> {
    p.str("/project/path_with_namespace").map(str::to_owned)
}

fn push(p: &Payload) -> Result<Outcome, HookError> {
    let git_ref = p.str("/ref")?;
    let Some(branch) = git_ref.strip_prefix("refs/heads/") else {
        return skip(format!("push to {git_ref} is not a branch"));
    };
    let after = p.str("/after")?;
    if after == ZERO_SHA {
        return skip(format!("branch {branch} deleted"));
    }
    event(Event::RepoPushed(RepoPushed {
        repo: repo(p)?,
        branch: branch.to_owned(),
        after: after.to_owned(),
    }))
}

fn merge_request(p: &Payload) -> Result<Outcome, HookError> {
    // Approvals and the like change no code and no state.
    if let Some(action) = p.opt_str("/object_attributes/action")
        && !matches!(action, "open" | "reopen" | "update" | "close" | "merge")
    {
        return skip(format!("merge request action {action} not handled"));
    }
    let state = match p.str("/object_attributes/state")? {
        "opened" => "open",
        "closed" => "closed",
        "merged" => "merged",
        other => return skip(format!("merge request state {other} not handled")),
    };
    event(Event::ChangeRequestUpdated(ChangeRequestUpdated {
        repo: repo(p)?,
        number: p.u64("/object_attributes/iid")?,
        state: state.to_owned(),
        head: p.str("/object_attributes/source_branch")?.to_owned(),
        author: p.str("/user/username")?.to_owned(),
    }))
}

fn pipeline(p: &Payload) -> Result<Outcome, HookError> {
    let status = p.str("/object_attributes/status")?;
    if !matches!(status, "success" | "failed") {
        return skip(format!("pipeline status {status} is not final"));
    }
    event(Event::ChecksCompleted(ChecksCompleted {
        repo: repo(p)?,
        sha: p.str("/object_attributes/sha")?.to_owned(),
        conclusion: status.to_owned(),
    }))
}

fn note(p: &Payload) -> Result<Outcome, HookError> {
    if p.opt_str("/object_attributes/noteable_type") != Some("MergeRequest") {
        return skip("note is not on a merge request");
    }
    if let Some(action) = p.opt_str("/object_attributes/action")
        && action != "create"
    {
        return skip(format!("note action {action} not handled"));
    }
    let Some(text) = verify::command_line(p.str("/object_attributes/note")?) else {
        return skip("note is not an /imagebump command");
    };
    event(Event::Command(Command {
        repo: repo(p)?,
        number: p.u64("/merge_request/iid")?,
        user: p.str("/user/username")?.to_owned(),
        text,
    }))
}
