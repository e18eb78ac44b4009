//! JFrog Artifactory webhooks, `docker` domain (WEBHOOKS.md §11).
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

use super::registry_common::{
    body_digest, check_content_type, check_path_token, hmac_sha256_matches, matches_any, non_empty,
    parse_json, path_token, url_host,
};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::{HookSettings, Secret};
use crate::event::{Event, ImagePushed};

const NAME: &str = "artifactory";
const HEADER: &str = "x-jfrog-event-auth";

/// Receives Artifactory docker-domain webhooks.
pub struct Artifactory {
    secrets: Vec<Secret>,
    path_token: Option<Secret>,
}

impl Artifactory {
    pub fn new(settings: &HookSettings) -> anyhow::Result<Artifactory> {
        let secrets = settings.all_secrets(NAME)?;
        let path_token = path_token(settings, NAME)?;
        anyhow::ensure!(
            !secrets.is_empty() || path_token.is_some(),
            "invalid service config: `hooks.{NAME}` needs `secrets` or `path_token`"
        );
        Ok(Artifactory {
            secrets,
            path_token,
        })
    }

    fn verify(&self, req: &Incoming<'_>) -> Result<(), HookError> {
        check_path_token(self.path_token.as_ref(), req)?;
        if self.secrets.is_empty() {
            return Ok(());
        }
        let given = req
            .header(HEADER)
            .ok_or_else(|| HookError::Unauthorized("missing X-JFrog-Event-Auth header".into()))?;
        if matches_any(&self.secrets, given) | hmac_sha256_matches(&self.secrets, req.body, given) {
            Ok(())
        } else {
            Err(HookError::Unauthorized(
                "wrong X-JFrog-Event-Auth header".into(),
            ))
        }
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
        self.secrets.is_empty()
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        self.verify(req)?;
        check_content_type(req, &["application/json"])?;
        let e: Envelope = parse_json(req.body)?;
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
            events: vec![Event::ImagePushed(ImagePushed {
                registry,
                repository,
                tag: non_empty(data.tag.as_deref()),
                digest: None,
            })],
        })
    }
}
