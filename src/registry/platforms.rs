//! Which platforms a tag's image offers: the entries of its index
//! (manifest list), or the OS and architecture in a single manifest's
//! config blob. OCI JSON is read with `oci-spec`'s types.

use std::collections::HashMap;

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest, MediaType, Platform};
use reqwest::Method;
use reqwest::header::HeaderValue;
use tracing::Instrument as _;

use super::{Client, MANIFEST_ACCEPT, RegistryError};
use crate::domain::{Digest, ImageRepo, Tag};

/// Largest manifest or config blob read (the registry's own limit for
/// manifests is 4 MiB).
const MAX_DOCUMENT: usize = 4 << 20;

impl Client {
    /// The platforms `tag` offers, as `os/arch` or `os/arch/variant`.
    /// Attestation entries of an index (`unknown/unknown`) are not
    /// platforms.
    pub async fn platforms(
        &self,
        repo: &ImageRepo,
        tag: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let inner = &self.inner;
        if Tag::parse(tag).is_err() {
            return Err(inner.protocol(repo, format!("`{tag}` is not a tag")));
        }
        let (media_type, body) = self
            .document(repo, &format!("manifests/{tag}"), true)
            .await?;
        let bad = |e: oci_spec::OciSpecError| {
            inner.protocol(repo, format!("manifest of {tag} is not valid: {e}"))
        };
        if is_index(media_type.as_deref(), &body) {
            let index = ImageIndex::from_reader(body.as_slice()).map_err(bad)?;
            let mut out: Vec<String> = index
                .manifests()
                .iter()
                .filter_map(|m| m.platform().as_ref())
                .map(platform_name)
                .filter(|p| !p.starts_with("unknown/"))
                .collect();
            out.sort();
            out.dedup();
            return Ok(out);
        }
        let image = self.config_of(repo, tag, &body).await?;
        let mut name = format!("{}/{}", image.os(), image.architecture());
        if let Some(v) = image.variant() {
            name = format!("{name}/{v}");
        }
        Ok(vec![name])
    }

    /// The tag's manifest digest and its image config's `created` time
    /// (ms since the epoch; `None` when the config has none, or one that
    /// is no RFC 3339 time). For an index, the config of its linux/amd64
    /// image, else of its first platform's: the builds of one index are
    /// made together. Two or three requests; callers cache the answer by
    /// digest, which never changes.
    pub async fn build_time(
        &self,
        repo: &ImageRepo,
        tag: &str,
    ) -> Result<(Digest, Option<i64>), RegistryError> {
        let inner = &self.inner;
        if Tag::parse(tag).is_err() {
            return Err(inner.protocol(repo, format!("`{tag}` is not a tag")));
        }
        let (media_type, body) = self
            .document(repo, &format!("manifests/{tag}"), true)
            .await?;
        let digest = Digest::sha256_of(&body);
        let mut manifest = body;
        if is_index(media_type.as_deref(), &manifest) {
            let index = ImageIndex::from_reader(manifest.as_slice()).map_err(|e| {
                inner.protocol(repo, format!("manifest of {tag} is not valid: {e}"))
            })?;
            let entries: Vec<_> = index
                .manifests()
                .iter()
                .filter(|m| {
                    m.platform()
                        .as_ref()
                        .is_none_or(|p| !platform_name(p).starts_with("unknown/"))
                })
                .collect();
            let chosen = entries
                .iter()
                .find(|m| {
                    m.platform()
                        .as_ref()
                        .is_some_and(|p| platform_name(p) == "linux/amd64")
                })
                .or(entries.first())
                .ok_or_else(|| inner.protocol(repo, format!("the index of {tag} is empty")))?;
            let (_, body) = self
                .document(repo, &format!("manifests/{}", chosen.digest()), true)
                .await?;
            manifest = body;
        }
        let image = self.config_of(repo, tag, &manifest).await?;
        let created = image
            .created()
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.timestamp_millis());
        Ok((digest, created))
    }

    /// [`build_time`](Self::build_time) of each of `tags`, a few at a
    /// time; a tag gone from the registry since its listing is left out.
    pub async fn build_times_many(
        &self,
        repo: &ImageRepo,
        tags: &[String],
    ) -> Result<HashMap<String, (Digest, Option<i64>)>, RegistryError> {
        let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(
            self.inner.shared.options.concurrency.max(1),
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for tag in tags {
            let (client, repo, tag) = (self.clone(), repo.clone(), tag.clone());
            let semaphore = std::sync::Arc::clone(&semaphore);
            tasks.spawn(
                async move {
                    let _permit = semaphore.acquire_owned().await.ok();
                    let time = client.build_time(&repo, &tag).await;
                    (tag, time)
                }
                .in_current_span(),
            );
        }
        let mut answers = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(answer) => answers.push(answer),
                Err(e) => {
                    return Err(self
                        .inner
                        .protocol(repo, format!("build time task failed: {e}")));
                }
            }
        }
        let mut out = HashMap::new();
        for (tag, answer) in answers {
            match answer {
                Ok(time) => {
                    out.insert(tag, time);
                }
                Err(RegistryError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The image config a single manifest names, checked against its
    /// digest.
    async fn config_of(
        &self,
        repo: &ImageRepo,
        tag: &str,
        manifest: &[u8],
    ) -> Result<ImageConfiguration, RegistryError> {
        let inner = &self.inner;
        let manifest = ImageManifest::from_reader(manifest)
            .map_err(|e| inner.protocol(repo, format!("manifest of {tag} is not valid: {e}")))?;
        let config = manifest.config();
        if !matches!(
            config.media_type(),
            MediaType::ImageConfig | MediaType::Other(_)
        ) {
            return Err(inner.protocol(repo, format!("{tag} has no image config")));
        }
        let digest = Digest::parse(config.digest().as_ref())
            .map_err(|e| inner.protocol(repo, format!("config digest of {tag}: {e}")))?;
        let (_, blob) = self
            .document(repo, &format!("blobs/{digest}"), false)
            .await?;
        if Digest::sha256_of(&blob) != digest {
            return Err(inner.protocol(
                repo,
                format!("config blob of {tag} does not match its digest"),
            ));
        }
        ImageConfiguration::from_reader(blob.as_slice())
            .map_err(|e| inner.protocol(repo, format!("config of {tag} is not valid: {e}")))
    }

    /// GETs `rest` under the repository: its media type and body, at most
    /// [`MAX_DOCUMENT`] bytes.
    async fn document(
        &self,
        repo: &ImageRepo,
        rest: &str,
        manifest: bool,
    ) -> Result<(Option<String>, Vec<u8>), RegistryError> {
        let inner = &self.inner;
        let url = inner.repo_url(repo, rest)?;
        let accept = HeaderValue::from_static(MANIFEST_ACCEPT);
        let accept = manifest.then_some(&accept);
        let what = || format!("{rest} of repository {}", repo.path());
        let response = inner.fetch(repo, Method::GET, &url, accept).await?;
        let mut response = inner.check_status(repo, response, what)?;
        let media_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_string());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| inner.protocol(repo, format!("cannot read {rest}: {e}")))?
        {
            if body.len().saturating_add(chunk.len()) > MAX_DOCUMENT {
                return Err(
                    inner.protocol(repo, format!("{rest} is larger than {MAX_DOCUMENT} bytes"))
                );
            }
            body.extend_from_slice(&chunk);
        }
        Ok((media_type, body))
    }
}

/// An index (manifest list) by its media type, or by its body when the
/// registry sends none.
fn is_index(media_type: Option<&str>, body: &[u8]) -> bool {
    matches!(
        media_type,
        Some("application/vnd.oci.image.index.v1+json")
            | Some("application/vnd.docker.distribution.manifest.list.v2+json")
    ) || (media_type.is_none() && body_has_manifests(body))
}

fn body_has_manifests(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|v| v.get("manifests").is_some_and(|m| m.is_array()))
}

/// `os/arch[/variant]`.
pub fn platform_name(p: &Platform) -> String {
    let mut name = format!("{}/{}", p.os(), p.architecture());
    if let Some(v) = p.variant() {
        name = format!("{name}/{v}");
    }
    name
}

/// True when an offered platform satisfies a wanted one: the same OS and
/// architecture, and the same variant when the wanted one names it
/// (`linux/arm64` is `linux/arm64/v8`).
pub fn offers(offered: &[String], wanted: &str) -> bool {
    let normal = |p: &str| {
        p.strip_suffix("/v8")
            .filter(|s| s.ends_with("/arm64"))
            .unwrap_or(p)
            .to_string()
    };
    let want = normal(wanted);
    let want_parts = want.split('/').count();
    offered.iter().any(|o| {
        let o = normal(o);
        o == want || (want_parts == 2 && o.split('/').take(2).collect::<Vec<_>>().join("/") == want)
    })
}
