//! GitHub webhooks (https://docs.github.com/en/webhooks/webhook-events-and-payloads), at `/hooks/github`.
//!
//! Verification: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret,
//! raw body)>` against every configured secret; the legacy SHA-1
//! `X-Hub-Signature` only when `allow_sha1` is set. A configured path token
//! is required as well. The signature covers the raw body, also for a
//! form-encoded hook (`application/x-www-form-urlencoded`, JSON in the
//! `payload` field), which is supported.
//!
//! Delivery id: `X-GitHub-Delivery` (else the body digest).
//!
//! Events (`X-GitHub-Event`):
//! * `push` to a branch → `RepoPushed` (tag pushes and branch deletions are
//!   ignored);
//! * `pull_request` opened/reopened/synchronize/edited/closed →
//!   `ChangeRequestUpdated` (closed with `merged: true` is `merged`);
//! * `check_suite`/`check_run` completed, `status` success/failure/error →
//!   `ChecksCompleted`;
//! * `issue_comment` created on a pull request starting with `/imagebump` →
//!   `Command`;
//! * `package`/`registry_package` published, container type →
//!   `ImagePushed` on `ghcr.io`;
//! * anything else (`ping` included) is ignored.
//!
//! The payload mapping functions are shared with Gitea/Forgejo, whose
//! payloads mirror GitHub's.

use super::verify::{self, HmacKey, Outcome, Payload, event, skip};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::{HookSettings, Secret};
use crate::event::{
    ChangeRequestUpdated, ChecksCompleted, Command, Event, ImagePushed, RepoPushed,
};

/// The registry host of GitHub packages.
pub const GHCR: &str = "ghcr.io";

/// The `after` of a branch deletion.
pub(super) const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// The GitHub source.
#[derive(Debug)]
pub struct GitHub {
    keys: Vec<HmacKey>,
    path_token: Option<Secret>,
    allow_sha1: bool,
}

impl GitHub {
    /// Refuses settings without a (non-empty) secret.
    pub fn new(settings: &HookSettings) -> anyhow::Result<Self> {
        let keys = verify::secrets(settings, "github")?
            .iter()
            .map(HmacKey::from_utf8)
            .collect();
        Ok(Self {
            keys,
            path_token: settings.path_token.clone(),
            allow_sha1: settings.allow_sha1,
        })
    }

    fn verify<'a>(&self, req: &Incoming<'a>) -> Result<verify::Verified<'a>, HookError> {
        verify::check_path_token(self.path_token.as_ref(), req)?;
        if let Some(sig) = req.header("x-hub-signature-256") {
            return verify::prefixed_sha256(sig, &self.keys, req.body);
        }
        match req.header("x-hub-signature") {
            Some(sig) if self.allow_sha1 => verify::prefixed_sha1(sig, &self.keys, req.body),
            _ => Err(HookError::Unauthorized(
                "missing X-Hub-Signature-256".into(),
            )),
        }
    }
}

impl Source for GitHub {
    fn name(&self) -> &'static str {
        "github"
    }

    fn needs_path_token(&self) -> bool {
        false
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        let verified = self.verify(req)?;
        let payload = match req.content_type {
            Some("application/x-www-form-urlencoded") => verified.form_payload()?,
            _ => {
                verify::require_json(req)?;
                verified.json()?
            }
        };
        let event = req.header("x-github-event").unwrap_or_default();
        let mapped = match event {
            "push" => push(&payload),
            "pull_request" => pull_request(&payload),
            "check_suite" => check(&payload, "check_suite"),
            "check_run" => check(&payload, "check_run"),
            "status" => status(&payload),
            "issue_comment" => issue_comment(&payload),
            "package" => package(&payload, "package"),
            "registry_package" => package(&payload, "registry_package"),
            "ping" => skip("ping"),
            other => skip(format!("event {other} not handled")),
        }?;
        Ok(mapped.into_verdict(verify::delivery_id(req, &["x-github-delivery"])))
    }
}

/// `push`: a branch's new head.
pub(super) fn push(p: &Payload) -> Result<Outcome, HookError> {
    let git_ref = p.str("/ref")?;
    let Some(branch) = git_ref.strip_prefix("refs/heads/") else {
        return skip(format!("push to {git_ref} is not a branch"));
    };
    let after = p.str("/after")?;
    if after == ZERO_SHA || p.opt_bool("/deleted") == Some(true) {
        return skip(format!("branch {branch} deleted"));
    }
    event(Event::RepoPushed(RepoPushed {
        repo: p.str("/repository/full_name")?.to_owned(),
        branch: branch.to_owned(),
        after: after.to_owned(),
    }))
}

/// `pull_request` (GitHub's `synchronize`, Gitea's `synchronized`).
pub(super) fn pull_request(p: &Payload) -> Result<Outcome, HookError> {
    let action = p.str("/action")?;
    let state = match action {
        "opened" | "reopened" | "synchronize" | "synchronized" | "edited" => "open",
        "closed" if p.opt_bool("/pull_request/merged") == Some(true) => "merged",
        "closed" => "closed",
        other => return skip(format!("pull_request action {other} not handled")),
    };
    let number = match p.u64("/number") {
        Ok(n) => n,
        Err(_) => p.u64("/pull_request/number")?,
    };
    event(Event::ChangeRequestUpdated(ChangeRequestUpdated {
        repo: p.str("/repository/full_name")?.to_owned(),
        number,
        state: state.to_owned(),
        head: p.str("/pull_request/head/ref")?.to_owned(),
        author: p.str("/sender/login")?.to_owned(),
    }))
}

/// `check_suite` / `check_run` completed.
fn check(p: &Payload, object: &str) -> Result<Outcome, HookError> {
    let action = p.str("/action")?;
    if action != "completed" {
        return skip(format!("{object} action {action} not handled"));
    }
    let Some(conclusion) = p.opt_str(&format!("/{object}/conclusion")) else {
        return skip(format!("{object} has no conclusion"));
    };
    event(Event::ChecksCompleted(ChecksCompleted {
        repo: p.str("/repository/full_name")?.to_owned(),
        sha: p.str(&format!("/{object}/head_sha"))?.to_owned(),
        conclusion: conclusion.to_owned(),
    }))
}

/// `status` in a final state.
pub(super) fn status(p: &Payload) -> Result<Outcome, HookError> {
    let state = p.str("/state")?;
    if !matches!(state, "success" | "failure" | "error") {
        return skip(format!("status {state} is not final"));
    }
    event(Event::ChecksCompleted(ChecksCompleted {
        repo: p.str("/repository/full_name")?.to_owned(),
        sha: p.str("/sha")?.to_owned(),
        conclusion: state.to_owned(),
    }))
}

/// `issue_comment` created on a pull request (Gitea also says `is_pull`).
pub(super) fn issue_comment(p: &Payload) -> Result<Outcome, HookError> {
    let action = p.str("/action")?;
    if action != "created" {
        return skip(format!("issue_comment action {action} not handled"));
    }
    if !p.has("/issue/pull_request") && p.opt_bool("/is_pull") != Some(true) {
        return skip("comment is not on a pull request");
    }
    let Some(text) = verify::command_line(p.str("/comment/body")?) else {
        return skip("comment is not an /imagebump command");
    };
    event(Event::Command(Command {
        repo: p.str("/repository/full_name")?.to_owned(),
        number: p.u64("/issue/number")?,
        user: p.str("/comment/user/login")?.to_owned(),
        text,
    }))
}

/// `package` / `registry_package` published, for a container image.
fn package(p: &Payload, object: &str) -> Result<Outcome, HookError> {
    let action = p.str("/action")?;
    if action != "published" {
        return skip(format!("{object} action {action} not handled"));
    }
    let kind = p.str(&format!("/{object}/package_type"))?;
    if !kind.eq_ignore_ascii_case("container") && !kind.eq_ignore_ascii_case("docker") {
        return skip(format!("{object} of type {kind} is not an image"));
    }
    let owner = p.str(&format!("/{object}/owner/login"))?;
    let name = p.str(&format!("/{object}/name"))?;
    let version = format!("/{object}/package_version");
    let non_empty = |ptr: String| p.opt_str(&ptr).filter(|s| !s.is_empty());
    let tag = non_empty(format!("{version}/container_metadata/tag/name"))
        .or_else(|| non_empty(format!("{version}/metadata/container/tags/0")));
    let digest = non_empty(format!("{version}/container_metadata/tag/digest"))
        .or_else(|| non_empty(format!("{version}/container_metadata/manifest/digest")))
        .or_else(|| non_empty(format!("{version}/version")).filter(|v| v.starts_with("sha256:")));
    if tag.is_none() && digest.is_none() {
        return skip(format!("{object} has neither tag nor digest"));
    }
    event(Event::ImagePushed(ImagePushed {
        registry: GHCR.to_owned(),
        repository: format!("{owner}/{name}").to_lowercase(),
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    }))
}
