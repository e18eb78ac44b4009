//! Sonatype Nexus Repository 3 webhooks (https://help.sonatype.com/en/webhooks.html).
//!
//! `X-Nexus-Webhook-Signature` is the lowercase hex HMAC-SHA1(secret, raw
//! body). SHA-1 is accepted here, whatever `allow_sha1` says, because it is
//! the only signature Nexus sends (HMAC-SHA1 is not broken as a MAC the way
//! SHA-1 is for collisions). A configured `path_token` must match too.
//! `rm:repository:component` events with action `CREATED`/`UPDATED` and
//! format `docker` become an [`ImagePushed`] with `component.version` as
//! the tag. The payload names no registry host and no digest: the registry
//! is `hooks.nexus.registry` when set, else the Nexus repository
//! name (`repositoryName`). The delivery id is `X-Nexus-Webhook-Delivery`.

use serde::Deserialize;

use super::image::pushed;
use super::verify::{
    HmacKey, body_digest, check_content_type, check_path_token, hex_sha1, non_empty, path_token,
};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::{HookSettings, Secret};
use crate::event::Event;

const NAME: &str = "nexus";
const SIGNATURE: &str = "x-nexus-webhook-signature";

/// Receives signed Nexus component webhooks.
pub struct Nexus {
    keys: Vec<HmacKey>,
    path_token: Option<Secret>,
    registry: Option<String>,
}

impl Nexus {
    pub fn new(settings: &HookSettings) -> anyhow::Result<Nexus> {
        let secrets = settings.all_secrets(NAME)?;
        anyhow::ensure!(
            !secrets.is_empty(),
            "invalid service config: `hooks.{NAME}` needs `secrets` (the webhook's secret key)"
        );
        Ok(Nexus {
            keys: HmacKey::all_utf8(&secrets),
            path_token: path_token(settings, NAME)?,
            // The `host[:port]` images of this Nexus are pulled from.
            registry: settings.registry.clone().filter(|r| !r.is_empty()),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    repository_name: Option<String>,
    #[serde(default)]
    action: String,
    component: Option<Component>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(default)]
    format: String,
    name: Option<String>,
    group: Option<String>,
    version: Option<String>,
}

impl Source for Nexus {
    fn name(&self) -> &'static str {
        NAME
    }

    fn needs_path_token(&self) -> bool {
        false
    }

    fn handle(&self, req: &Incoming<'_>) -> Result<Verdict, HookError> {
        check_path_token(self.path_token.as_ref(), req)?;
        let signature = req
            .header(SIGNATURE)
            .ok_or_else(|| HookError::Unauthorized("missing X-Nexus-Webhook-Signature".into()))?;
        let verified = hex_sha1(signature, &self.keys, req.body)
            .map_err(|_| HookError::Unauthorized("bad X-Nexus-Webhook-Signature".into()))?;
        check_content_type(req, &["application/json"])?;
        let kind = req.header("x-nexus-webhook-id").unwrap_or("");
        let p: Payload = verified.parse()?;
        let Some(c) = p.component.filter(|_| kind == "rm:repository:component") else {
            return Ok(Verdict::Ignored(format!("{kind} is not a component event")));
        };
        if c.format != "docker" || !matches!(p.action.as_str(), "CREATED" | "UPDATED") {
            return Ok(Verdict::Ignored(format!(
                "{} {} is not a docker push",
                c.format, p.action
            )));
        }
        let name = non_empty(c.name.as_deref())
            .ok_or_else(|| HookError::Malformed("component without name".into()))?;
        let repository = match non_empty(c.group.as_deref()) {
            Some(g) if !name.starts_with(&format!("{g}/")) => format!("{g}/{name}"),
            _ => name,
        };
        let registry = self
            .registry
            .clone()
            .or_else(|| non_empty(p.repository_name.as_deref()))
            .ok_or_else(|| HookError::Malformed("event without repositoryName".into()))?;
        let delivery = non_empty(req.header("x-nexus-webhook-delivery"))
            .unwrap_or_else(|| body_digest(req.body));
        Ok(Verdict::Events {
            delivery,
            events: vec![Event::ImagePushed(pushed(
                &registry,
                &repository,
                non_empty(c.version.as_deref()),
                None,
            ))],
        })
    }
}
