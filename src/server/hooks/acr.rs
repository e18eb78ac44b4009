//! Azure Container Registry webhooks (https://learn.microsoft.com/azure/container-registry/container-registry-webhook-reference).
//!
//! ACR signs nothing and adds no header beyond the custom ones configured
//! on the webhook, so the endpoint is reachable only at
//! `/hooks/acr/{token}` and [`Acr::new`] refuses to build without
//! `path_token`. When `hooks.acr.secrets` is set, an `Authorization`
//! custom header (`az acr webhook create --headers "Authorization=…"`) must
//! match one of them as well. The body is one event: `push` of a manifest
//! becomes an [`ImagePushed`] (registry = `request.host`); `ping`,
//! deletes and chart events are ignored. The delivery id is the event `id`.

use serde::Deserialize;

use super::image::{NotificationRequest, NotificationTarget, is_manifest_media_type, pushed};
use super::verify::{StaticAuth, body_digest, check_content_type, non_empty, required_path_token};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::HookSettings;
use crate::event::Event;

const NAME: &str = "acr";

/// Receives ACR webhooks behind a path token (and optionally a header).
pub struct Acr {
    auth: StaticAuth,
}

impl Acr {
    pub fn new(settings: &HookSettings) -> anyhow::Result<Acr> {
        required_path_token(settings, NAME)?;
        Ok(Acr {
            auth: StaticAuth::new(settings, NAME, "authorization")?,
        })
    }
}

#[derive(Deserialize)]
struct Payload {
    id: Option<String>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: NotificationTarget,
    #[serde(default)]
    request: NotificationRequest,
}

impl Source for Acr {
    fn name(&self) -> &'static str {
        NAME
    }

    fn needs_path_token(&self) -> bool {
        true
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        let verified = self.auth.verify(req)?;
        check_content_type(req, &["application/json"])?;
        let p: Payload = verified.parse()?;
        if p.action != "push" {
            return Ok(Verdict::Ignored(format!(
                "action {} is not a push",
                p.action
            )));
        }
        if let Some(mt) = p.target.media_type.as_deref()
            && !is_manifest_media_type(mt)
        {
            return Ok(Verdict::Ignored("push of a non-manifest".into()));
        }
        let host = non_empty(p.request.host.as_deref())
            .ok_or_else(|| HookError::Malformed("push without request.host".into()))?;
        let repository = non_empty(p.target.repository.as_deref())
            .ok_or_else(|| HookError::Malformed("push without target.repository".into()))?;
        Ok(Verdict::Events {
            delivery: non_empty(p.id.as_deref()).unwrap_or_else(|| body_digest(req.body)),
            events: vec![Event::ImagePushed(pushed(
                &host,
                &repository,
                non_empty(p.target.tag.as_deref()),
                non_empty(p.target.digest.as_deref()),
            ))],
        })
    }
}
