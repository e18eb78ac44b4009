//! JFrog Artifactory webhooks, `docker` domain (https://jfrog.com/help/r/jfrog-platform-administration-documentation/webhooks).
//!
//! `X-JFrog-Event-Auth` carries either the secret in plain text or, with
//! `use_secret_for_signing`, the lowercase hex HMAC-SHA256(secret, raw
//! body); a request passes if the header is either for any of
//! `hooks.artifactory.secrets`. A configured `path_token` must match too;
//! with no secrets it alone guards the endpoint. Docker `pushed` events
//! become an [`ImagePushed`]: registry = host of `jpd_origin`, repository =
//! `<repo_key>/<image_name>` (the repository-path access method). The
//! `sha256` field is the stored manifest file's checksum, not a documented
//! manifest digest, so no digest is reported. No delivery id exists: the
//! body's digest is used.

use serde::Deserialize;

use super::image::{pushed, url_host};
use super::verify::{StaticAuth, body_digest, check_content_type, non_empty};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::HookSettings;
use crate::event::Event;

const NAME: &str = "artifactory";
const HEADER: &str = "x-jfrog-event-auth";

/// Receives Artifactory docker-domain webhooks.
pub struct Artifactory {
    auth: StaticAuth,
}

impl Artifactory {
    pub fn new(settings: &HookSettings) -> anyhow::Result<Artifactory> {
        Ok(Artifactory {
            auth: StaticAuth::new(settings, NAME, HEADER)?,
        })
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    event_type: String,
    jpd_origin: Option<String>,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    repo_key: Option<String>,
    image_name: Option<String>,
    tag: Option<String>,
}

impl Source for Artifactory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn needs_path_token(&self) -> bool {
        self.auth.path_token_only()
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        // The header is the secret itself, or its HMAC-SHA256 of the body
        // (the webhook's "secret token" or "signature" mode).
        let verified = self.auth.verify_or_hmac(req)?;
        check_content_type(req, &["application/json"])?;
        let e: Envelope = verified.parse()?;
        if e.domain != "docker" || e.event_type != "pushed" {
            return Ok(Verdict::Ignored(format!(
                "{}/{} is not a docker push",
                e.domain, e.event_type
            )));
        }
        let data = e
            .data
            .ok_or_else(|| HookError::Malformed("push without data".into()))?;
        let registry = e
            .jpd_origin
            .as_deref()
            .and_then(url_host)
            .ok_or_else(|| HookError::Malformed("push without jpd_origin".into()))?;
        let image = non_empty(data.image_name.as_deref())
            .ok_or_else(|| HookError::Malformed("push without image_name".into()))?;
        let repository = match non_empty(data.repo_key.as_deref()) {
            Some(key) => format!("{key}/{image}"),
            None => image,
        };
        Ok(Verdict::Events {
            delivery: body_digest(req.body),
            events: vec![Event::ImagePushed(pushed(
                &registry,
                &repository,
                non_empty(data.tag.as_deref()),
                None,
            ))],
        })
    }
}
