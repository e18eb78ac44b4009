//! Quay repository notifications (https://docs.projectquay.io/use_quay.html#repository-notifications).
//!
//! Quay adds no signature and no auth header (only, sometimes, an mTLS
//! client certificate the server glue does not see), so the endpoint is
//! reachable only at `/hooks/quay/{token}` and [`Quay::new`] refuses to
//! build without `path_token`. A `repo_push` body carries `updated_tags`
//! (a list now, a `{tag: image}` map in older versions) and no digest: one
//! [`ImagePushed`] per tag. The registry host is the first element of
//! `docker_url`. Build and other notifications are ignored. The delivery id
//! is the body's digest.

use serde::Deserialize;
use serde_json::Value;

use super::image::pushed_reference;
use super::verify::{
    body_digest, by_path_token, check_content_type, non_empty, required_path_token,
};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::{HookSettings, Secret};
use crate::event::{Event, ImagePushed};

const NAME: &str = "quay";

/// Receives Quay `repo_push` notifications behind a path token.
pub struct Quay {
    path_token: Secret,
}

impl Quay {
    pub fn new(settings: &HookSettings) -> anyhow::Result<Quay> {
        Ok(Quay {
            path_token: required_path_token(settings, NAME)?,
        })
    }
}

#[derive(Deserialize)]
struct Payload {
    repository: Option<String>,
    docker_url: Option<String>,
    updated_tags: Option<Value>,
}

/// Tag names from the list form or the older map form.
fn tags(updated: &Value) -> Result<Vec<String>, HookError> {
    let names: Vec<String> = match updated {
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| HookError::Malformed("updated_tags holds a non-string".into()))?,
        Value::Object(map) => map.keys().cloned().collect(),
        _ => return Err(HookError::Malformed("updated_tags is not a list".into())),
    };
    Ok(names.into_iter().filter(|t| !t.is_empty()).collect())
}

impl Source for Quay {
    fn name(&self) -> &'static str {
        NAME
    }

    fn needs_path_token(&self) -> bool {
        true
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        let verified = by_path_token(&self.path_token, req)?;
        check_content_type(req, &["application/json"])?;
        let payload: Payload = verified.parse()?;
        let Some(updated) = &payload.updated_tags else {
            return Ok(Verdict::Ignored("not a repo_push notification".into()));
        };
        let image = non_empty(payload.docker_url.as_deref())
            .and_then(|u| pushed_reference(&u))
            .ok_or_else(|| HookError::Malformed("push without docker_url".into()))?;
        let repository = non_empty(payload.repository.as_deref()).unwrap_or(image.repository);
        let events: Vec<Event> = tags(updated)?
            .into_iter()
            .map(|tag| {
                Event::ImagePushed(ImagePushed {
                    registry: image.registry.clone(),
                    repository: repository.clone(),
                    tag: Some(tag),
                    digest: None,
                })
            })
            .collect();
        if events.is_empty() {
            return Ok(Verdict::Ignored("push without tags".into()));
        }
        Ok(Verdict::Events {
            delivery: body_digest(req.body),
            events,
        })
    }
}
