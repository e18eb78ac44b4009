//! CNCF Distribution (registry v2/v3) notifications (https://distribution.github.io/distribution/about/notifications/).
//!
//! The registry signs nothing; it only sends the static headers configured
//! under `notifications.endpoints[].headers`. We accept a request when its
//! `Authorization` header equals one of `hooks.distribution.secrets`
//! (verbatim or as `Bearer <secret>`) and, when `path_token` is set, the
//! URL carries it. With no secrets the path token alone guards the
//! endpoint. The envelope may batch unrelated events: only manifest pushes
//! become [`ImagePushed`]; pulls, mounts, deletes and blob pushes are
//! skipped. The delivery id is the pushed events' ids joined by `,`.

use serde::Deserialize;

use super::image::{NotificationRequest, NotificationTarget, is_manifest_media_type, pushed};
use super::verify::{StaticAuth, body_digest, check_content_type, non_empty};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::HookSettings;
use crate::event::{Event, ImagePushed};

const NAME: &str = "distribution";

/// Envelope types of registry 2.x (v1) and 3.x (v2), and plain JSON.
const CONTENT_TYPES: &[&str] = &[
    "application/vnd.docker.distribution.events.v1+json",
    "application/vnd.docker.distribution.events.v2+json",
    "application/json",
];

/// Receives a Distribution registry's notification envelopes.
pub struct Distribution {
    auth: StaticAuth,
}

impl Distribution {
    pub fn new(settings: &HookSettings) -> anyhow::Result<Distribution> {
        Ok(Distribution {
            auth: StaticAuth::new(settings, NAME, "authorization")?,
        })
    }
}

#[derive(Deserialize)]
struct Envelope {
    events: Vec<RawEvent>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(default)]
    id: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: NotificationTarget,
    #[serde(default)]
    request: NotificationRequest,
}

/// A manifest push as an [`ImagePushed`], or `None` for anything else.
fn image_pushed(e: &RawEvent) -> Option<ImagePushed> {
    if e.action != "push" || !is_manifest_media_type(e.target.media_type.as_deref()?) {
        return None;
    }
    let host = e.request.host.as_deref().filter(|h| !h.is_empty())?;
    let repository = non_empty(e.target.repository.as_deref())?;
    Some(pushed(
        host,
        &repository,
        non_empty(e.target.tag.as_deref()),
        non_empty(e.target.digest.as_deref()),
    ))
}

impl Source for Distribution {
    fn name(&self) -> &'static str {
        NAME
    }

    fn needs_path_token(&self) -> bool {
        self.auth.path_token_only()
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        let verified = self.auth.verify(req)?;
        check_content_type(req, CONTENT_TYPES)?;
        let envelope: Envelope = verified.parse()?;
        let mut ids = Vec::new();
        let mut events = Vec::new();
        for e in &envelope.events {
            if let Some(pushed) = image_pushed(e) {
                ids.push(e.id.as_str());
                events.push(Event::ImagePushed(pushed));
            }
        }
        if events.is_empty() {
            return Ok(Verdict::Ignored(format!(
                "no manifest push among {} event(s)",
                envelope.events.len()
            )));
        }
        let delivery = if ids.iter().all(|id| !id.is_empty()) {
            ids.join(",")
        } else {
            body_digest(req.body)
        };
        Ok(Verdict::Events { delivery, events })
    }
}
