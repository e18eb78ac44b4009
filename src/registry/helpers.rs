//! Docker credential helpers (`credHelpers` per registry, `credsStore` for
//! the rest): `docker-credential-<name> get`, the registry on stdin, JSON
//! `{"ServerURL", "Username", "Secret"}` on stdout (the protocol of
//! github.com/docker/docker-credential-helpers). This is how ECR
//! (`ecr-login`), GAR/GCR (`gcr`, `gcloud`) and ACR credentials reach the
//! registry client.
//!
//! A helper runs at most once per host per cache lifetime: the lifetime its
//! credentials imply (ECR tokens live 12 h, Google access tokens 1 h: half
//! of that), else a few minutes; a helper that finds nothing is asked again
//! after a minute. A helper that fails, hangs past [`HELPER_TIMEOUT`] or
//! answers garbage is logged (never its output) and the host is treated as
//! anonymous. Secrets are never logged.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt as _;

use super::credentials::HostAuth;

/// Longest a helper may take.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a helper's answer is reused, by helper name.
fn lifetime(helper: &str) -> Duration {
    match helper {
        "ecr-login" => Duration::from_secs(6 * 3600),
        "gcr" | "gcloud" | "acr-env" => Duration::from_secs(30 * 60),
        _ => Duration::from_secs(5 * 60),
    }
}

/// After "no credentials", ask again only after this.
const MISS_LIFETIME: Duration = Duration::from_secs(60);

/// A helper's answer for one host, and until when it is reused.
type Cached = (Option<HostAuth>, Instant);

/// The helpers of one Docker config, with their cached answers (shared by
/// every clone).
#[derive(Clone, Default)]
pub(super) struct Helpers {
    /// host → helper name (`credHelpers`).
    pub(super) per_host: HashMap<String, String>,
    /// `credsStore`: for hosts without their own helper or `auths` entry.
    pub(super) store: Option<String>,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    /// One helper run per host at a time: lookups that race wait for it.
    asking: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl std::fmt::Debug for Helpers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helpers")
            .field("per_host", &self.per_host)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Helpers {
    pub(super) fn is_empty(&self) -> bool {
        self.per_host.is_empty() && self.store.is_none()
    }

    /// The helper for `host`: its own, else the store (unless the config's
    /// `auths` already has credentials for it).
    pub(super) fn helper_for(&self, host: &str, has_static: bool) -> Option<&str> {
        match self.per_host.get(host) {
            Some(h) => Some(h.as_str()),
            None if has_static => None,
            None => self.store.as_deref(),
        }
    }

    fn cached(&self, host: &str) -> Option<Option<HostAuth>> {
        let cache = self.cache.lock().ok()?;
        let (auth, until) = cache.get(host)?;
        (Instant::now() < *until).then(|| auth.clone())
    }

    /// The credentials `helper` gives for `host`, cached.
    pub(super) async fn get(&self, helper: &str, host: &str) -> Option<HostAuth> {
        if let Some(auth) = self.cached(host) {
            return auth;
        }
        let turn = match self.asking.lock() {
            Ok(mut m) => m.entry(host.to_string()).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let _turn = turn.lock().await;
        if let Some(auth) = self.cached(host) {
            return auth;
        }
        let auth = match ask(helper, host).await {
            Ok(auth) => auth,
            Err(why) => {
                tracing::warn!(
                    host,
                    helper,
                    "credential helper failed: {why}; going anonymous"
                );
                None
            }
        };
        let keep = if auth.is_some() {
            lifetime(helper)
        } else {
            MISS_LIFETIME
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(host.to_string(), (auth.clone(), Instant::now() + keep));
        }
        auth
    }
}

#[derive(serde::Deserialize)]
struct Answer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-<helper> get` for `host`.
async fn ask(helper: &str, host: &str) -> Result<Option<HostAuth>, String> {
    if !helper
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!("`{helper}` is not a helper name"));
    }
    let program = format!("docker-credential-{helper}");
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    // Docker Hub's key, as `docker login` stores it.
    let server = if host == crate::domain::DOCKER_HUB {
        "https://index.docker.io/v1/"
    } else {
        host
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .await
            .map_err(|e| format!("writing to {program}: {e}"))?;
    }
    let out = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("{program} gave no answer within {HELPER_TIMEOUT:?}"))?
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        // The protocol's "not found" answer, on either stream.
        if stderr.contains("credentials not found") || stdout.contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!("{program} exited with {}", out.status));
    }
    let answer: Answer = serde_json::from_slice(&out.stdout)
        .map_err(|_| format!("{program} did not answer the helper protocol's JSON"))?;
    if answer.username == "<token>" {
        return Err(format!(
            "{program} gave an identity token, which imagebump cannot use"
        ));
    }
    if answer.username.is_empty() || answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(HostAuth::Basic {
        username: answer.username,
        password: answer.secret,
    }))
}
