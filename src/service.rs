//! Wiring the service: from the service config to ready-to-reconcile
//! repositories (mirror, forge client, registry settings). The poller is in
//! `work/poll.rs`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::clock::Clock;
use crate::config::{
    CommitMode, ForgeKind, GitIdentity, RegistrySettings, RepoSettings, ServiceConfig,
};
use crate::forge::github::{GitHub, GitHubAuth};
use crate::forge::gitlab::GitLab;
use crate::forge::{Forge, RetryPolicy};
use crate::git::{GitAuth, Mirror, Signature, SigningKey};
use crate::reconcile::{Repo, TagCache};
use crate::registry::{self, Credentials, Registry};
use crate::store::Store;

/// GitHub's public API, used when a github repository names no `api_url`.
pub const GITHUB_API: &str = "https://api.github.com";
/// GitLab.com, used when a gitlab repository names no `api_url`.
pub const GITLAB_URL: &str = "https://gitlab.com";

/// The process's registry state from the service config: one for every
/// repository, configured or discovered, so that each registry host has
/// one request budget (docs/ARCHITECTURE.md, "Registries").
pub fn registry(r: &RegistrySettings) -> anyhow::Result<Registry> {
    let mut options = registry::Options {
        insecure_hosts: r.insecure.clone(),
        max_rps_per_host: r.max_rps_per_host,
        burst_per_host: r.burst_per_host,
        timeout: r.timeout,
        max_retries: r.max_retries,
        ..Default::default()
    };
    if let Some(n) = r.page_size {
        options.page_size = n.max(1);
    }
    let mut credentials = Credentials::discover(r.docker_config.as_deref())?;
    for (host, c) in &r.hosts {
        let at = || format!("registry.hosts.\"{host}\"");
        match (
            &c.username,
            c.password().with_context(at)?,
            c.token().with_context(at)?,
        ) {
            (Some(user), Some(password), None) => {
                credentials.insert_basic(host, user, password.expose())
            }
            (None, None, Some(token)) => credentials.insert_bearer(host, token.expose()),
            _ => anyhow::bail!(
                "invalid service config: `{}` needs `username` + `password` or `token`",
                at()
            ),
        }
    }
    Registry::new(options, credentials)
}

/// The bot's commit identity from `[git]`, with the signing key read from
/// `signing_key_file` (an error naming the file if it cannot sign).
pub fn identity(git: &GitIdentity) -> anyhow::Result<Signature> {
    let signing_key = match &git.signing_key_file {
        Some(path) => Some(Arc::new(
            SigningKey::from_file(path)
                .context("invalid service config: `git.signing_key_file`")?,
        )),
        None => None,
    };
    Ok(Signature {
        name: git.name.clone(),
        email: git.email.clone(),
        signing_key,
    })
}

/// How `settings` signs in to GitHub: its token, else its GitHub App.
pub fn github_auth(
    settings: &RepoSettings,
    token: Option<&crate::config::Secret>,
) -> anyhow::Result<GitHubAuth> {
    let name = &settings.name;
    Ok(match (token, &settings.github_app) {
        (Some(t), _) => GitHubAuth::Token(t.expose().to_string()),
        (None, Some(app)) => {
            let key = std::fs::read_to_string(&app.private_key_file).with_context(|| {
                format!(
                    "repository `{name}`: cannot read {}",
                    app.private_key_file.display()
                )
            })?;
            GitHubAuth::App {
                app_id: app.app_id,
                private_key_pem: key,
                installation_id: app.installation_id,
            }
        }
        (None, None) => anyhow::bail!("repository `{name}` needs a token or a GitHub App"),
    })
}

/// The repository, ready to reconcile: its mirror (not cloned yet: its
/// first fetch clones it) and its forge; its runs reach the registries
/// through the process's `registry`. With the service's `store`,
/// reconciles list tags through its cache (`registry.tag_cache_ttl`), on
/// the service's `clock`; without (one-shot commands), every run asks the
/// registry.
pub async fn build_repo(
    config: &ServiceConfig,
    settings: &RepoSettings,
    store: Option<&Store>,
    registry: &Registry,
    clock: &Clock,
) -> anyhow::Result<Repo> {
    let name = &settings.name;
    let identity = identity(&config.git)?;
    if let Some(key) = &identity.signing_key {
        tracing::info!(repo = %name, key = key.fingerprint(), "commits are signed");
    }
    let token = settings.token()?;
    let project = settings.project().unwrap_or_default();
    let forge: Option<Arc<dyn Forge>> = match settings.forge {
        ForgeKind::Github => {
            let api = settings.api_url.as_deref().unwrap_or(GITHUB_API);
            let auth = github_auth(settings, token.as_ref())?;
            let gh =
                GitHub::new(api, &project, auth).with_context(|| format!("repository `{name}`"))?;
            Some(Arc::new(gh))
        }
        ForgeKind::Gitlab => {
            let api = settings.api_url.as_deref().unwrap_or(GITLAB_URL);
            let t = token
                .as_ref()
                .context("a gitlab repository needs a token")?;
            let gl = GitLab::new(api, &project, t.expose())
                .await
                .with_context(|| format!("repository `{name}`"))?;
            Some(Arc::new(gl))
        }
        ForgeKind::Direct => None,
    };
    // Git over HTTPS uses the forge's current credentials (refreshed on
    // every reconcile), or the plain token in `direct` mode.
    let git_auth = match &forge {
        Some(f) => {
            let (user, token) = f
                .git_credentials()
                .await
                .with_context(|| format!("repository `{name}`: git credentials"))?;
            Some(GitAuth::basic(&user, &token))
        }
        None => token.as_ref().map(|t| GitAuth::bearer(t.expose())),
    };
    let dir = config.data_dir.join("repos").join(format!("{name}.git"));
    std::fs::create_dir_all(dir.parent().unwrap_or(Path::new(".")))
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    // Cloned by the repository's first fetch, on a worker: `serve` does
    // not wait for 50 clones before it listens.
    let mirror = Mirror::new(name, &dir, &settings.url, git_auth)
        .with_context(|| format!("repository `{name}`"))?;
    let api_author = match (settings.commit, &forge) {
        (CommitMode::Git, _) => None,
        (CommitMode::Api, None) => {
            anyhow::bail!("repository `{name}`: `commit = \"api\"` needs a GitHub or GitLab forge")
        }
        (CommitMode::Api, Some(_)) if settings.forge == ForgeKind::Github && token.is_some() => {
            anyhow::bail!(
                "repository `{name}`: `commit = \"api\"` on GitHub needs a GitHub App (`github_app`), whose API commits GitHub signs; a token's are not attributed to the bot"
            )
        }
        (CommitMode::Api, Some(f)) => f
            .api_author_email()
            .await
            .with_context(|| format!("repository `{name}`: who makes API commits"))?,
    };
    Ok(Repo {
        settings: settings.clone(),
        mirror,
        forge,
        identity,
        api_author,
        registry: registry.clone(),
        tag_cache: store.map(|s| TagCache::new(s.clone(), tag_cache_ttl(config), clock.clone())),
        rollbacks: store.map(|s| crate::rollback::Book::new(s.clone(), clock.clone())),
        retry: RetryPolicy::default(),
        memo: Default::default(),
        clock: clock.clone(),
    })
}

/// How long a cached tag list is reused: `registry.tag_cache_ttl`, but
/// never longer than one poll interval. Polling is the safety net for
/// pushes no webhook reports, so each poll must see the registry as it was
/// at most one interval ago.
pub fn tag_cache_ttl(config: &ServiceConfig) -> std::time::Duration {
    config.registry.tag_cache_ttl.min(config.poll_interval)
}
