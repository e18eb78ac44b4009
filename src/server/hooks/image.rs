//! What the container-registry sources share once a body is verified: the
//! manifest media types, the CNCF Distribution notification shapes (ACR
//! sends the same), and image references as registries write them. Host
//! names go through [`crate::domain::normalise_repository`], the one
//! spelling of Docker Hub's names.

use serde::Deserialize;

use crate::domain::{normalise_host, normalise_repository};
use crate::event::ImagePushed;

use super::verify::non_empty;

/// Manifest and index media types: a push with one of these is an image
/// (a blob push carries a layer or config type instead).
pub const MANIFEST_MEDIA_TYPES: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
];

/// True for manifest and index media types (ignoring parameters).
pub fn is_manifest_media_type(media_type: &str) -> bool {
    let base = media_type.split(';').next().unwrap_or("").trim();
    MANIFEST_MEDIA_TYPES.contains(&base)
}

/// The `target` of a CNCF Distribution notification event (ACR sends the
/// same shape): what was pushed.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationTarget {
    pub media_type: Option<String>,
    pub digest: Option<String>,
    pub repository: Option<String>,
    pub tag: Option<String>,
}

/// The `request` of a notification event: the registry host it came to.
#[derive(Default, Deserialize)]
pub struct NotificationRequest {
    pub host: Option<String>,
}

/// A push of `repository` on `host` (both as the registry wrote them).
pub fn pushed(
    host: &str,
    repository: &str,
    tag: Option<String>,
    digest: Option<String>,
) -> ImagePushed {
    let (registry, repository) = normalise_repository(host, repository);
    ImagePushed {
        registry,
        repository,
        tag,
        digest,
    }
}

/// The push a full image reference names
/// (`us-docker.pkg.dev/p/r/img:1.2@sha256:…`, `harbor.example.com/lib/web:1.0`).
/// The first path element is the host, always (a registry writes it);
/// `None` if there is no path after it.
pub fn pushed_reference(reference: &str) -> Option<ImagePushed> {
    let reference = reference
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, non_empty(Some(d))),
        None => (reference, None),
    };
    let (host, path) = name.split_once('/')?;
    // A `:` after the last `/` starts the tag (a `:` in the host is a port).
    let (repository, tag) = match path.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, non_empty(Some(t))),
        _ => (path, None),
    };
    if host.is_empty() || repository.is_empty() {
        return None;
    }
    Some(pushed(host, repository, tag, digest))
}

/// The host (with port) of a URL like `https://host:8081/artifactory`.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    (!host.is_empty()).then(|| normalise_host(host))
}
