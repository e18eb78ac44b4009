//! Harbor webhooks (https://goharbor.io/docs/main/working-with-projects/project-configuration/configure-webhooks/), Default and CloudEvents formats.
//!
//! Harbor signs nothing: the policy's "Auth Header" is sent verbatim as
//! `Authorization`, compared in constant time against
//! `hooks.harbor.secrets` (verbatim or as `Bearer <secret>`); a configured
//! `path_token` must also match. `PUSH_ARTIFACT` (Default) and
//! `harbor.artifact.pushed` (CloudEvents) become one [`ImagePushed`] per
//! resource; the registry host is the first element of `resource_url`, the
//! repository is `repository.repo_full_name`. The Default format has no
//! delivery id (body digest); CloudEvents use their `id`.

use serde::Deserialize;

use super::image::pushed_reference;
use super::verify::{StaticAuth, body_digest, check_content_type, non_empty};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::HookSettings;
use crate::event::{Event, ImagePushed};

const NAME: &str = "harbor";
const CLOUDEVENTS: &str = "application/cloudevents+json";

/// Receives Harbor project webhooks.
pub struct Harbor {
    auth: StaticAuth,
}

impl Harbor {
    pub fn new(settings: &HookSettings) -> anyhow::Result<Harbor> {
        Ok(Harbor {
            auth: StaticAuth::new(settings, NAME, "authorization")?,
        })
    }
}

/// Default format.
#[derive(Deserialize)]
struct DefaultPayload {
    #[serde(rename = "type")]
    kind: String,
    event_data: Option<EventData>,
}

/// CloudEvents (structured mode).
#[derive(Deserialize)]
struct CloudEvent {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    data: Option<EventData>,
}

#[derive(Deserialize)]
struct EventData {
    #[serde(default)]
    resources: Vec<Resource>,
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct Resource {
    digest: Option<String>,
    tag: Option<String>,
    resource_url: Option<String>,
}

#[derive(Deserialize)]
struct Repository {
    repo_full_name: Option<String>,
}

fn pushes(data: &EventData) -> Result<Vec<Event>, HookError> {
    let full_name = data
        .repository
        .as_ref()
        .and_then(|r| non_empty(r.repo_full_name.as_deref()));
    let mut out = Vec::new();
    for r in &data.resources {
        let image = non_empty(r.resource_url.as_deref())
            .and_then(|u| pushed_reference(&u))
            .ok_or_else(|| HookError::Malformed("resource without resource_url".into()))?;
        out.push(Event::ImagePushed(ImagePushed {
            registry: image.registry,
            repository: full_name.clone().unwrap_or(image.repository),
            tag: non_empty(r.tag.as_deref()).or(image.tag),
            digest: non_empty(r.digest.as_deref()).or(image.digest),
        }));
    }
    Ok(out)
}

impl Source for Harbor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn needs_path_token(&self) -> bool {
        self.auth.path_token_only()
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        let verified = self.auth.verify(req)?;
        check_content_type(req, &["application/json", CLOUDEVENTS])?;
        let (kind, delivery, data) = if req.content_type == Some(CLOUDEVENTS) {
            let ce: CloudEvent = verified.parse()?;
            let id = non_empty(ce.id.as_deref()).unwrap_or_else(|| body_digest(req.body));
            let push = ce.kind == "harbor.artifact.pushed";
            (ce.kind, id, ce.data.filter(|_| push))
        } else {
            let p: DefaultPayload = verified.parse()?;
            let push = p.kind == "PUSH_ARTIFACT";
            (p.kind, body_digest(req.body), p.event_data.filter(|_| push))
        };
        let Some(data) = data else {
            return Ok(Verdict::Ignored(format!("event type {kind} is not a push")));
        };
        let events = pushes(&data)?;
        if events.is_empty() {
            return Ok(Verdict::Ignored("push without resources".into()));
        }
        Ok(Verdict::Events { delivery, events })
    }
}
