//! Bitbucket Cloud webhooks (https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/), at `/hooks/bitbucket`.
//!
//! Verification: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw
//! body)>` (SHA-256 under GitHub's SHA-1 header name) against every
//! configured secret; a configured path token is required as well.
//! Content type must be `application/json`.
//!
//! Delivery id: `X-Request-UUID` (else the body digest). `X-Hook-UUID`
//! names the webhook, not the delivery, so it is never used alone.
//!
//! Events (`X-Event-Key`):
//! * `repo:push` → one `RepoPushed` per changed branch (`new.type ==
//!   "branch"`; deletions and tags are skipped);
//! * `pullrequest:created|updated|fulfilled|rejected` →
//!   `ChangeRequestUpdated` (OPEN → `open`, MERGED → `merged`, DECLINED and
//!   SUPERSEDED → `closed`; author = the actor's nickname);
//! * `repo:commit_status_created|updated` with state SUCCESSFUL/FAILED →
//!   `ChecksCompleted` (conclusion `success`/`failed`; the commit is
//!   `commit_status.commit.hash`, else the last segment of
//!   `commit_status.links.commit.href`);
//! * `pullrequest:comment_created` starting with `/imagebump` → `Command`;
//! * anything else (`diagnostics:ping` included) is ignored.

use super::verify::{self, HmacKey, Outcome, Payload, event, skip};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::{HookSettings, Secret};
use crate::event::{ChangeRequestUpdated, ChecksCompleted, Command, Event, RepoPushed};

/// The Bitbucket Cloud source.
#[derive(Debug)]
pub struct Bitbucket {
    keys: Vec<HmacKey>,
    path_token: Option<Secret>,
}

impl Bitbucket {
    /// Refuses settings without a (non-empty) secret.
    pub fn new(settings: &HookSettings) -> anyhow::Result<Self> {
        let keys = verify::secrets(settings, "bitbucket")?
            .iter()
            .map(HmacKey::from_utf8)
            .collect();
        Ok(Self {
            keys,
            path_token: settings.path_token.clone(),
        })
    }
}

impl Source for Bitbucket {
    fn name(&self) -> &'static str {
        "bitbucket"
    }

    fn needs_path_token(&self) -> bool {
        false
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        verify::check_path_token(self.path_token.as_ref(), req)?;
        let signature = req
            .header("x-hub-signature")
            .ok_or_else(|| HookError::Unauthorized("missing X-Hub-Signature".into()))?;
        let verified = verify::prefixed_sha256(signature, &self.keys, req.body)?;
        verify::require_json(req)?;
        let payload = verified.json()?;
        let outcome = match req.header("x-event-key").unwrap_or_default() {
            "repo:push" => push(&payload),
            "pullrequest:created"
            | "pullrequest:updated"
            | "pullrequest:fulfilled"
            | "pullrequest:rejected" => pull_request(&payload),
            "repo:commit_status_created" | "repo:commit_status_updated" => commit_status(&payload),
            "pullrequest:comment_created" => comment(&payload),
            "diagnostics:ping" => skip("ping"),
            other => skip(format!("event {other} not handled")),
        }?;
        Ok(outcome.into_verdict(verify::delivery_id(req, &["x-request-uuid"])))
    }
}

fn repo(p: &Payload) -> Result<String, HookError> {
    p.str("/repository/full_name").map(str::to_owned)
}

/// The acting user: nickname, else account id, else UUID.
fn actor(p: &Payload, at: &str) -> Result<String, HookError> {
    ["nickname", "account_id", "uuid"]
        .iter()
        .find_map(|f| p.opt_str(&format!("{at}/{f}")))
        .map(str::to_owned)
        .ok_or_else(|| HookError::Malformed(format!("missing string {at}/nickname")))
}

fn push(p: &Payload) -> Result<Outcome, HookError> {
    let repo = repo(p)?;
    let mut events = Vec::new();
    for change in p.array("/push/changes") {
        if change.opt_str("/new/type") != Some("branch") {
            continue;
        }
        events.push(Event::RepoPushed(RepoPushed {
            repo: repo.clone(),
            branch: change.str("/new/name")?.to_owned(),
            after: change.str("/new/target/hash")?.to_owned(),
        }));
    }
    if events.is_empty() {
        return skip("push changed no branch");
    }
    Ok(Outcome::Events(events))
}

fn pull_request(p: &Payload) -> Result<Outcome, HookError> {
    let state = match p.str("/pullrequest/state")? {
        "OPEN" => "open",
        "MERGED" => "merged",
        "DECLINED" | "SUPERSEDED" => "closed",
        other => return skip(format!("pull request state {other} not handled")),
    };
    event(Event::ChangeRequestUpdated(ChangeRequestUpdated {
        repo: repo(p)?,
        number: p.u64("/pullrequest/id")?,
        state: state.to_owned(),
        head: p.str("/pullrequest/source/branch/name")?.to_owned(),
        author: actor(p, "/actor")?,
    }))
}

fn commit_status(p: &Payload) -> Result<Outcome, HookError> {
    let conclusion = match p.str("/commit_status/state")? {
        "SUCCESSFUL" => "success",
        "FAILED" => "failed",
        other => return skip(format!("commit status {other} is not final")),
    };
    let sha = p
        .opt_str("/commit_status/commit/hash")
        .or_else(|| {
            p.opt_str("/commit_status/links/commit/href")
                .and_then(|href| href.trim_end_matches('/').rsplit('/').next())
        })
        .filter(|s| !s.is_empty())
        .ok_or_else(|| HookError::Malformed("commit status names no commit".into()))?;
    event(Event::ChecksCompleted(ChecksCompleted {
        repo: repo(p)?,
        sha: sha.to_owned(),
        conclusion: conclusion.to_owned(),
    }))
}

fn comment(p: &Payload) -> Result<Outcome, HookError> {
    let Some(text) = verify::command_line(p.str("/comment/content/raw")?) else {
        return skip("comment is not an /imagebump command");
    };
    event(Event::Command(Command {
        repo: repo(p)?,
        number: p.u64("/pullrequest/id")?,
        user: actor(p, "/actor")?,
        text,
    }))
}
