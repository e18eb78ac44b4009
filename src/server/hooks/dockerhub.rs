//! Docker Hub repository webhooks (https://docs.docker.com/docker-hub/repos/manage/webhooks/).
//!
//! Docker Hub sends no signature, no auth header and no delivery id, so the
//! endpoint is reachable only at `/hooks/dockerhub/{token}` and [`DockerHub::new`]
//! refuses to build without `path_token`. Push is the only trigger; the
//! payload has a tag but no digest. The registry is `docker.io` and official
//! images are `library/<name>`. The delivery id is the body's digest.

use serde::Deserialize;

use super::image::pushed;
use super::verify::{
    body_digest, by_path_token, check_content_type, non_empty, required_path_token,
};
use super::{HookError, Incoming, Source, Verdict};
use crate::config::{HookSettings, Secret};
use crate::domain::DOCKER_HUB;
use crate::event::Event;

const NAME: &str = "dockerhub";

/// Receives Docker Hub push webhooks behind a path token.
pub struct DockerHub {
    path_token: Secret,
}

impl DockerHub {
    pub fn new(settings: &HookSettings) -> anyhow::Result<DockerHub> {
        Ok(DockerHub {
            path_token: required_path_token(settings, NAME)?,
        })
    }
}

#[derive(Deserialize)]
struct Payload {
    push_data: Option<PushData>,
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct PushData {
    tag: Option<String>,
}

#[derive(Deserialize)]
struct Repository {
    repo_name: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
}

/// `namespace/name` (or `repo_name`) as Docker Hub wrote it.
fn repository_path(r: &Repository) -> Option<String> {
    match (
        non_empty(r.namespace.as_deref()),
        non_empty(r.name.as_deref()),
    ) {
        (Some(ns), Some(name)) => Some(format!("{ns}/{name}")),
        _ => non_empty(r.repo_name.as_deref()),
    }
}

impl Source for DockerHub {
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
        let (Some(push), Some(repo)) = (payload.push_data, payload.repository) else {
            return Ok(Verdict::Ignored("not a push notification".into()));
        };
        let repository = repository_path(&repo)
            .ok_or_else(|| HookError::Malformed("push without repository name".into()))?;
        let tag = non_empty(push.tag.as_deref());
        Ok(Verdict::Events {
            delivery: body_digest(req.body),
            events: vec![Event::ImagePushed(pushed(
                DOCKER_HUB,
                &repository,
                tag,
                None,
            ))],
        })
    }
}
