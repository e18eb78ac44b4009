//! Credentials per registry host, read from a Docker `config.json`: its
//! `auths`, and its credential helpers (`credHelpers`, `credsStore`; see
//! [`super::helpers`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;

use super::helpers::Helpers;
use crate::domain::DOCKER_HUB;

/// Credentials per registry host (`host[:port]`, Docker Hub as `docker.io`).
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    hosts: HashMap<String, HostAuth>,
    helpers: Helpers,
}

/// What to authenticate to one host with. Debug output hides the secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum HostAuth {
    Basic { username: String, password: String },
    Bearer(String),
}

impl std::fmt::Debug for HostAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostAuth::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            HostAuth::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct DockerConfig {
    auths: HashMap<String, DockerAuth>,
    #[serde(rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

impl Credentials {
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub fn default_docker_config() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
        Some(PathBuf::from(home).join(".docker").join("config.json"))
    }

    /// The credentials of `explicit` (which must exist), or else of the
    /// default `config.json` if there is one, or none.
    pub fn discover(explicit: Option<&Path>) -> anyhow::Result<Credentials> {
        match explicit {
            Some(p) => Credentials::from_docker_config(p),
            None => match Credentials::default_docker_config() {
                Some(p) if p.exists() => Credentials::from_docker_config(&p),
                _ => Ok(Credentials::default()),
            },
        }
    }

    /// Reads a Docker `config.json`: `auths` (`auth`, base64
    /// `user:password`, or `username` + `password`; identity tokens are
    /// skipped) and the credential helpers, asked when a host is used.
    pub fn from_docker_config(path: &Path) -> anyhow::Result<Credentials> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read Docker config {}", path.display()))?;
        let config: DockerConfig = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a Docker config.json", path.display()))?;
        let mut credentials = Credentials::default();
        credentials.helpers.store = config.creds_store.filter(|s| !s.is_empty());
        credentials.helpers.per_host = config
            .cred_helpers
            .into_iter()
            .map(|(host, helper)| (normalise_registry_key(&host), helper))
            .collect();
        for (key, entry) in config.auths {
            let host = normalise_registry_key(&key);
            if entry.identitytoken.is_some() {
                tracing::debug!(host, "identity tokens are not supported; ignoring it");
            }
            let basic = if let Some(auth) = entry.auth.filter(|a| !a.trim().is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok());
                let (user, pass) = decoded
                    .as_deref()
                    .and_then(|d| d.split_once(':'))
                    .map(|(u, p)| (u.to_string(), p.to_string()))
                    .with_context(|| {
                        format!(
                            "{}: the `auth` of {key} is not base64 of user:password",
                            path.display()
                        )
                    })?;
                Some((user, pass))
            } else {
                entry.username.zip(entry.password)
            };
            match basic {
                Some((user, pass)) if !user.is_empty() => {
                    credentials.insert_basic(&host, &user, &pass)
                }
                _ => tracing::debug!(host, "no usable username/password; skipping"),
            }
        }
        Ok(credentials)
    }

    /// Uses HTTP basic authentication (directly or to get a bearer token)
    /// for `host`.
    pub fn insert_basic(&mut self, host: &str, username: &str, password: &str) {
        self.hosts.insert(
            normalise_registry_key(host),
            HostAuth::Basic {
                username: username.to_string(),
                password: password.to_string(),
            },
        );
    }

    /// Sends `token` as a bearer token to `host`.
    pub fn insert_bearer(&mut self, host: &str, token: &str) {
        self.hosts.insert(
            normalise_registry_key(host),
            HostAuth::Bearer(token.to_string()),
        );
    }

    /// The credentials of `host` (as written in image names) written in the
    /// config itself (`auths`, or added).
    pub fn get(&self, host: &str) -> Option<&HostAuth> {
        self.hosts.get(&normalise_registry_key(host))
    }

    /// The credentials of `host`: its credential helper's (`credHelpers`),
    /// else the config's own, else the `credsStore`'s.
    pub async fn lookup(&self, host: &str) -> Option<HostAuth> {
        let key = normalise_registry_key(host);
        let configured = self.hosts.get(&key);
        match self.helpers.helper_for(&key, configured.is_some()) {
            Some(helper) => self.helpers.get(helper, &key).await,
            None => configured.cloned(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.helpers.is_empty()
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `https://host:5000/x` →
/// `host:5000`.
pub(super) fn normalise_registry_key(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        _ => host,
    }
}
