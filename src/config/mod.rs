//! The service's own settings (`config/imagebump.toml`, documented in the README):
//! listen address, data dir, poll interval, the environment repositories
//! it manages and registry credentials.
//!
//! Sources, later ones winning: the embedded defaults, the TOML file, then
//! `IMAGEBUMP_*` environment variables (`__` separates nested keys, e.g.
//! `IMAGEBUMP_REGISTRY__PAGE_SIZE`; a repository's keys are
//! `IMAGEBUMP_REPOS__<NAME>__<KEY>`, e.g. `IMAGEBUMP_REPOS__ENV__TOKEN`).
//! Every secret may instead come from a file (`token_file`, …). Secrets are
//! held in [`Secret`], which prints as `***`. An invalid config stops
//! start-up with a message naming the key.

mod secret;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Deserialize;

pub use secret::Secret;

/// `IMAGEBUMP_*` variables that are not config keys (read elsewhere).
const NOT_CONFIG_KEYS: &[&str] = &[
    // `--config`'s own variable (IMAGEBUMP_CONFIG), and the log filter.
    "CONFIG",
    "LOG",
    "DOCKER_CONFIG",
    "INSECURE_REGISTRIES",
    "REGISTRY_PAGE_SIZE",
    "REGISTRY_MAX_RPS",
];

/// Settings used when neither the file nor the environment says otherwise.
pub const EMBEDDED_DEFAULTS: &str = include_str!("defaults.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// `host:port` of the HTTP server (`/healthz`).
    pub listen: String,
    /// Mirrors and state live here.
    pub data_dir: PathBuf,
    /// How often each repository is reconciled without a trigger (`5m`).
    #[serde(with = "duration")]
    pub poll_interval: Duration,
    /// Fraction of the interval added or removed at random, so that many
    /// repositories do not poll in lockstep.
    pub poll_jitter: f64,
    /// Repositories reconciled at once.
    pub concurrency: usize,
    /// Least time between the end of a repository's run and the start of
    /// its next run asked by an event (`2s`): the first event after a quiet
    /// spell runs at once, and a storm of events gathers into one run per
    /// gap. Polls are not delayed by it (see `Store::with_min_run_gap`).
    #[serde(with = "duration")]
    pub min_run_gap: Duration,
    /// Platforms to find more repositories on (`[[discover]]`).
    #[serde(default)]
    pub discover: Vec<DiscoverSettings>,
    /// How often `[[discover]]` looks again for new repositories.
    #[serde(with = "duration")]
    pub discover_interval: Duration,
    /// `text` (the default) or `json`: one JSON object per line, with the
    /// fields of the current span (repo, job, source, delivery).
    #[serde(default)]
    pub log_format: LogFormat,
    pub git: GitIdentity,
    pub registry: RegistrySettings,
    #[serde(default)]
    pub repos: Vec<RepoSettings>,
    /// `sqlite://…` or `postgres://…`; default `sqlite://<data_dir>/imagebump.db`.
    pub store: Option<String>,
    /// How long a claimed job belongs to its worker; after a crash the job
    /// is claimed again once this has passed.
    #[serde(with = "duration")]
    pub job_lease: Duration,
    /// On SIGTERM/SIGINT, how long running reconciles may take to finish
    /// (below Kubernetes' 30 s grace period); the leases of what did not
    /// finish are then given back for another replica.
    #[serde(with = "duration")]
    pub shutdown_grace: Duration,
    /// Largest webhook body accepted, in bytes.
    pub hook_body_limit: usize,
    /// Webhook sources, by name (`[hooks.github]`, `[hooks.distribution]`).
    #[serde(default)]
    pub hooks: BTreeMap<String, HookSettings>,
    /// Serve the read-only status page at `/` (src/status/); off by default.
    #[serde(default)]
    pub status_page: bool,
    /// When set, the page needs `Authorization: Bearer <token>`.
    #[serde(default)]
    pub status_token: Option<Secret>,
    #[serde(default)]
    pub status_token_file: Option<PathBuf>,
    /// Needed to requeue a dead letter from the page; without it the page
    /// offers no action.
    #[serde(default)]
    pub admin_token: Option<Secret>,
    #[serde(default)]
    pub admin_token_file: Option<PathBuf>,
}

/// One webhook source's settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookSettings {
    /// Shared secrets; several at once during a rotation.
    #[serde(default)]
    pub secrets: Vec<Secret>,
    /// Files each holding one secret.
    #[serde(default)]
    pub secret_files: Vec<PathBuf>,
    /// The `{token}` of `/hooks/{source}/{token}`: required for sources
    /// that cannot sign, optional extra for the others.
    pub path_token: Option<Secret>,
    /// Accept SHA-1 signatures (only where a platform sends nothing else).
    #[serde(default)]
    pub allow_sha1: bool,
    /// Expected `aud` of an OIDC token (Google Pub/Sub push).
    pub audience: Option<String>,
    /// Where the OIDC signing keys are (a JWKS URL or file).
    pub jwks_url: Option<String>,
    pub jwks_file: Option<PathBuf>,
    /// Service-account emails allowed to sign OIDC tokens (Google Pub/Sub
    /// push); without it any Google-signed token for the audience passes.
    #[serde(default)]
    pub service_accounts: Vec<String>,
    /// The registry host that events of a source naming none belong to
    /// (Nexus sends only its repository name).
    pub registry: Option<String>,
}

impl HookSettings {
    /// Every secret, inline and from files; an empty one is an error.
    pub fn all_secrets(&self, source: &str) -> anyhow::Result<Vec<Secret>> {
        let mut out = Vec::new();
        for s in &self.secrets {
            anyhow::ensure!(
                !s.expose().is_empty(),
                "invalid service config: `hooks.{source}.secrets` has an empty secret"
            );
            out.push(s.clone());
        }
        for f in &self.secret_files {
            if let Some(s) = secret::resolve(None, Some(f))
                .with_context(|| format!("hooks.{source}.secret_files"))?
            {
                out.push(s);
            }
        }
        Ok(out)
    }
}

/// Author and committer of the bot's commits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitIdentity {
    pub name: String,
    pub email: String,
    /// An unencrypted OpenSSH private key (ed25519, ecdsa P-256/P-384)
    /// that signs every commit the bot makes, as git does with
    /// `gpg.format=ssh`; without it commits are unsigned.
    pub signing_key_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Docker `config.json` with `auths`.
    pub docker_config: Option<PathBuf>,
    /// `host[:port]` reached over plain HTTP (loopback hosts always are).
    #[serde(default)]
    pub insecure: Vec<String>,
    /// Tags per page when listing.
    pub page_size: Option<usize>,
    /// Requests per second to one registry host, for the whole process
    /// (every repository shares it; `0`: no cap).
    pub max_rps_per_host: f64,
    /// Requests to one host sent at once before `max_rps_per_host` spaces
    /// them.
    pub burst_per_host: u32,
    /// Deadline of one registry request (`30s`): a registry that stalls
    /// longer is retried, then reported.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Retries of a registry request after the first try (429, 5xx,
    /// timeouts, cut connections), with backoff or the `Retry-After` asked.
    pub max_retries: u32,
    /// How long a tag list that a service reconcile fetched is reused from
    /// the store instead of asking the registry again (`1m`); `0s` asks on
    /// every reconcile; never longer than `poll_interval`. A reported push
    /// of the image makes its list stale at once, whatever this says.
    #[serde(with = "duration")]
    pub tag_cache_ttl: Duration,
    /// Per-host credentials: basic (`username` + `password`) or `token`.
    #[serde(default)]
    pub hosts: BTreeMap<String, HostCredentials>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostCredentials {
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    Github,
    Gitlab,
    Direct,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Who makes the bot's commits on its MR branches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommitMode {
    /// The bot builds them and pushes with git.
    #[default]
    Git,
    /// The platform makes them through its API (GitHub's GraphQL
    /// `createCommitOnBranch`, GitLab's commits API), so that they are
    /// signed by the platform and count as verified under branch
    /// protection that requires signed commits. GitHub needs a GitHub App.
    Api,
}

/// Where `direct` mode puts the bump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirectTarget {
    /// Commit straight to the base branch (like Flux).
    #[default]
    Base,
    /// Push the bot branch and leave merging to people.
    Branch,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSettings {
    /// Unique; names the mirror and the lock.
    pub name: String,
    /// Clone URL (`https://…`, `ssh://…`, `file://…` or a path).
    pub url: String,
    #[serde(default = "default_branch")]
    pub branch: String,
    pub forge: ForgeKind,
    /// API base: `https://api.github.com`, a GHE `https://ghe/api/v3`, or
    /// a GitLab instance `https://gitlab.example`.
    pub api_url: Option<String>,
    /// `owner/name` (GitHub) or `group/project` (GitLab); default: taken
    /// from the URL's path.
    pub project: Option<String>,
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    pub github_app: Option<GitHubApp>,
    #[serde(default)]
    pub direct: DirectTarget,
    #[serde(default)]
    pub commit: CommitMode,
}

/// `[[discover]]`: the repositories of a GitHub App installation (or, with
/// a token, of an organisation or user) or of a GitLab group with its
/// subgroups; each whose default branch has `.imagebump.yaml` is managed
/// like a `[[repos]]` entry named by its path.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverSettings {
    pub forge: ForgeKind,
    pub api_url: Option<String>,
    /// GitHub with a token: the organisation or user listed.
    pub owner: Option<String>,
    /// GitLab: the group (path or id), subgroups included.
    pub group: Option<String>,
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    pub github_app: Option<GitHubApp>,
    /// Globs over `owner/name` (`group/sub/name`): only matching repositories
    /// (all when empty), minus those matching `exclude`.
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub commit: CommitMode,
}

impl DiscoverSettings {
    /// The `[[repos]]` entry of a repository it found.
    pub fn repo(&self, path: &str, url: &str, branch: &str) -> RepoSettings {
        RepoSettings {
            name: path.to_string(),
            url: url.to_string(),
            branch: branch.to_string(),
            forge: self.forge,
            api_url: self.api_url.clone(),
            project: Some(path.to_string()),
            token: self.token.clone(),
            token_file: self.token_file.clone(),
            github_app: self.github_app.clone(),
            direct: DirectTarget::default(),
            commit: self.commit,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubApp {
    pub app_id: u64,
    pub installation_id: u64,
    pub private_key_file: PathBuf,
}

fn default_branch() -> String {
    "main".to_string()
}

impl ServiceConfig {
    /// `status_token`, or read from `status_token_file`.
    pub fn status_token(&self) -> anyhow::Result<Option<Secret>> {
        secret::resolve(
            self.status_token.as_ref(),
            self.status_token_file.as_deref(),
        )
        .context("status_token_file")
    }

    /// `admin_token`, or read from `admin_token_file`.
    pub fn admin_token(&self) -> anyhow::Result<Option<Secret>> {
        secret::resolve(self.admin_token.as_ref(), self.admin_token_file.as_deref())
            .context("admin_token_file")
    }

    /// The store URL: `store`, or SQLite in the data directory.
    pub fn store_url(&self) -> String {
        match &self.store {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("imagebump.db").display()),
        }
    }

    /// Loads the embedded defaults, then `file` (if any), then the
    /// environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<ServiceConfig> {
        Self::load_from(file, std::env::vars())
    }

    /// As [`load`](Self::load), with the environment given.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<ServiceConfig> {
        let env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("IMAGEBUMP_"))
            .collect();
        let mut figment = Figment::from(Toml::string(EMBEDDED_DEFAULTS));
        if let Some(path) = file {
            anyhow::ensure!(
                path.exists(),
                "config file {} does not exist",
                path.display()
            );
            figment = figment.merge(Toml::file(path));
        }
        for (key, value) in &env {
            let Some(rest) = key.strip_prefix("IMAGEBUMP_") else {
                continue;
            };
            if rest.starts_with("REPOS__") || NOT_CONFIG_KEYS.contains(&rest) {
                continue;
            }
            let path = rest.to_ascii_lowercase().replace("__", ".");
            let parsed: figment::value::Value = value
                .parse()
                .unwrap_or_else(|e: std::convert::Infallible| match e {});
            figment = figment.merge((path, parsed));
        }
        let mut config: ServiceConfig = figment.extract().map_err(|e| {
            let e = e.to_string().replace("for key \"default.", "for key \"");
            anyhow::anyhow!("invalid service config: {e}")
        })?;
        apply_repo_env(&mut config.repos, &env)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            bail!(
                "invalid service config: `listen` must be host:port with an IP address, found `{}`",
                self.listen
            );
        }
        if self.poll_interval < Duration::from_secs(1) {
            bail!("invalid service config: `poll_interval` must be at least 1s");
        }
        if !(0.0..=0.5).contains(&self.poll_jitter) {
            bail!("invalid service config: `poll_jitter` must be between 0 and 0.5");
        }
        if self.concurrency == 0 {
            bail!("invalid service config: `concurrency` must be at least 1");
        }
        if self.registry.burst_per_host == 0 {
            bail!("invalid service config: `registry.burst_per_host` must be at least 1");
        }
        if self.registry.timeout < Duration::from_millis(100) {
            bail!("invalid service config: `registry.timeout` must be at least 100ms");
        }
        if self.registry.max_retries > 20 {
            bail!("invalid service config: `registry.max_retries` must be at most 20");
        }
        if self.registry.max_rps_per_host.is_nan() || self.registry.max_rps_per_host < 0.0 {
            bail!("invalid service config: `registry.max_rps_per_host` must be 0 (no cap) or more");
        }
        let mut names = std::collections::HashSet::new();
        for (i, r) in self.repos.iter().enumerate() {
            let at = format!("repos[{i}]");
            if r.name.is_empty()
                || !r
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!(
                    "invalid service config: `{at}.name` must be letters, digits, `-` or `_`, found `{}`",
                    r.name
                );
            }
            if !names.insert(r.name.as_str()) {
                bail!(
                    "invalid service config: `{at}.name`: duplicate repository name `{}`",
                    r.name
                );
            }
            if r.url.is_empty() {
                bail!("invalid service config: `{at}.url` is empty");
            }
            if r.token.is_some() && r.token_file.is_some() {
                bail!("invalid service config: `{at}`: set `token` or `token_file`, not both");
            }
            match r.forge {
                ForgeKind::Github
                    if r.token.is_none() && r.token_file.is_none() && r.github_app.is_none() =>
                {
                    bail!(
                        "invalid service config: `{at}` (github) needs `token`, `token_file` or `github_app`"
                    )
                }
                ForgeKind::Gitlab if r.token.is_none() && r.token_file.is_none() => {
                    bail!("invalid service config: `{at}` (gitlab) needs `token` or `token_file`")
                }
                ForgeKind::Direct | ForgeKind::Gitlab if r.github_app.is_some() => {
                    bail!(
                        "invalid service config: `{at}.github_app` only applies to forge = \"github\""
                    )
                }
                _ => {}
            }
            if r.forge != ForgeKind::Direct && r.project().is_none() {
                bail!(
                    "invalid service config: `{at}.project` is needed: the URL `{}` does not name owner/repo",
                    r.url
                );
            }
        }
        Ok(())
    }
}

impl RepoSettings {
    /// The forge token: `token`, or the trimmed contents of `token_file`.
    pub fn token(&self) -> anyhow::Result<Option<Secret>> {
        secret::resolve(self.token.as_ref(), self.token_file.as_deref())
            .with_context(|| format!("repository `{}`", self.name))
    }

    /// `owner/name` or `group/project`, from `project` or the URL.
    pub fn project(&self) -> Option<String> {
        if let Some(p) = &self.project {
            return Some(p.clone());
        }
        let path = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest);
        let path = path.split_once('/').map(|(_, p)| p)?;
        let path = path.trim_end_matches('/').trim_end_matches(".git");
        path.contains('/').then(|| path.to_string())
    }
}

impl HostCredentials {
    pub fn password(&self) -> anyhow::Result<Option<Secret>> {
        secret::resolve(self.password.as_ref(), self.password_file.as_deref())
    }
    pub fn token(&self) -> anyhow::Result<Option<Secret>> {
        secret::resolve(self.token.as_ref(), self.token_file.as_deref())
    }
}

/// `IMAGEBUMP_REPOS__<NAME>__<KEY>=value` sets `<key>` of the repository
/// called `<name>` (case-insensitive; `-` in names may be written `_`).
fn apply_repo_env(repos: &mut [RepoSettings], env: &[(String, String)]) -> anyhow::Result<()> {
    for (key, value) in env {
        let Some(rest) = key.strip_prefix("IMAGEBUMP_REPOS__") else {
            continue;
        };
        let Some((name, field)) = rest.split_once("__") else {
            bail!("invalid service config: `{key}` should be IMAGEBUMP_REPOS__<NAME>__<KEY>");
        };
        let Some(repo) = repos
            .iter_mut()
            .find(|r| r.name.replace('-', "_").eq_ignore_ascii_case(name))
        else {
            bail!("invalid service config: `{key}` names no repository in `repos`");
        };
        match field.to_ascii_lowercase().as_str() {
            "url" => repo.url = value.clone(),
            "branch" => repo.branch = value.clone(),
            "api_url" => repo.api_url = Some(value.clone()),
            "project" => repo.project = Some(value.clone()),
            "token" => repo.token = Some(Secret::new(value.clone())),
            "token_file" => repo.token_file = Some(PathBuf::from(value)),
            other => bail!(
                "invalid service config: `{key}`: `{other}` cannot be set from the environment"
            ),
        }
    }
    Ok(())
}

/// Durations written as `30s`, `5m`, `1h`, `500ms`.
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, de::Error};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_duration(&s).map_err(D::Error::custom)
    }
}

pub use crate::duration::parse_duration;

#[cfg(test)]
mod tests;
