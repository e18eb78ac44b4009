//! CDEvents `artifact.published` (https://cdevents.dev/docs/), as sent over the
//! CloudEvents HTTP binding in binary (`application/json`, `ce-*` headers)
//! or structured (`application/cloudevents+json`) mode.
//!
//! The spec defines no authentication, so the endpoint is reachable only at
//! `/hooks/cdevents/{token}` and [`CdEvents::new`] refuses to build without
//! `path_token`. Any `dev.cdevents.artifact.published.*` version is read
//! (0.1.1 from Harbor, 0.2.0, 0.3.0). `subject.id` is an OCI purl
//! `pkg:oci/<name>@<digest>?repository_url=<host/path>&tag=<tag>`; the
//! registry and repository come from `repository_url`. The delivery id is
//! `context.id` (or `ce-id`).

use serde::Deserialize;

use super::image::pushed_reference;
use super::verify::{
    body_digest, by_path_token, check_content_type, non_empty, percent_decode, required_path_token,
};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::{HookSettings, Secret};
use crate::event::{Event, ImagePushed};

const NAME: &str = "cdevents";
const PUBLISHED: &str = "dev.cdevents.artifact.published.";

/// Receives CDEvents behind a path token.
pub struct CdEvents {
    path_token: Secret,
}

impl CdEvents {
    pub fn new(settings: &HookSettings) -> anyhow::Result<CdEvents> {
        Ok(CdEvents {
            path_token: required_path_token(settings, NAME)?,
        })
    }
}

#[derive(Deserialize)]
struct CdEvent {
    context: Context,
    subject: Option<Subject>,
}

#[derive(Deserialize)]
struct Context {
    id: Option<String>,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct Subject {
    id: Option<String>,
}

/// Structured mode wraps the CDEvent in a CloudEvent's `data`.
#[derive(Deserialize)]
struct Structured {
    data: CdEvent,
}

/// The image a purl names, or `None` if it is not an OCI purl with a
/// `repository_url`.
fn from_purl(purl: &str) -> Option<ImagePushed> {
    let rest = purl.strip_prefix("pkg:oci/")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    // A purl's `+` is itself; a broken escape is left as written.
    let decode = |v: &str| {
        percent_decode(v, false)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|| v.to_string())
    };
    let version = path.split_once('@').map(|(_, v)| decode(v));
    let mut repository_url = None;
    let mut tag = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("repository_url", v)) => repository_url = Some(decode(v)),
            Some(("tag", v)) => tag = non_empty(Some(&decode(v))),
            _ => {}
        }
    }
    let image = pushed_reference(&repository_url?)?;
    Some(ImagePushed {
        registry: image.registry,
        repository: image.repository,
        tag: tag.or(image.tag),
        digest: non_empty(version.as_deref()).or(image.digest),
    })
}

impl Source for CdEvents {
    fn name(&self) -> &'static str {
        NAME
    }

    fn needs_path_token(&self) -> bool {
        true
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        let verified = by_path_token(&self.path_token, req)?;
        check_content_type(req, &["application/json", "application/cloudevents+json"])?;
        let event: CdEvent = if req.content_type == Some("application/cloudevents+json") {
            verified.parse::<Structured>()?.data
        } else {
            verified.parse()?
        };
        let kind = non_empty(Some(&event.context.kind))
            .or_else(|| non_empty(req.header("ce-type")))
            .unwrap_or_default();
        if !kind.starts_with(PUBLISHED) {
            return Ok(Verdict::Ignored(format!(
                "{kind} is not artifact.published"
            )));
        }
        let purl = event
            .subject
            .and_then(|s| s.id)
            .ok_or_else(|| HookError::Malformed("event without subject.id".into()))?;
        let Some(pushed) = from_purl(&purl) else {
            return Ok(Verdict::Ignored(
                "subject is not an OCI image with a repository_url".into(),
            ));
        };
        let delivery = non_empty(event.context.id.as_deref())
            .or_else(|| non_empty(req.header("ce-id")))
            .unwrap_or_else(|| body_digest(req.body));
        Ok(Verdict::Events {
            delivery,
            events: vec![Event::ImagePushed(pushed)],
        })
    }
}
