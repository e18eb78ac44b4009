//! `[[discover]]`: repositories found on a platform instead of listed by
//! hand (as Renovate's autodiscover): a GitHub App installation's (or,
//! with a token, an organisation's or user's), or a GitLab group's with its
//! subgroups. Each whose default branch has `.imagebump.yaml`, and whose
//! path matches `include` and not `exclude`, is managed like a `[[repos]]`
//! entry named by its path; a `[[repos]]` entry of the same name wins.
//!
//! `serve` discovers at start and again every `discover_interval`; a
//! repository found later is cloned, polled, and its webhooks routed, from
//! then on. A platform that fails to answer is logged and tried again on
//! the next round; it never stops the service.

use std::sync::Arc;

use anyhow::Context as _;
use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::config::{DiscoverSettings, ForgeKind, RepoSettings, ServiceConfig};
use crate::forge::Listed;
use crate::forge::github::GitHub;
use crate::forge::gitlab::GitLabGroup;
use crate::policy::CONFIG_FILE;
use crate::registry::Registry;
use crate::service::{GITHUB_API, GITLAB_URL, github_auth};
use crate::store::Store;
use crate::work::workers::Workers;

fn globs(patterns: &[String], what: &str) -> anyhow::Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        set.add(Glob::new(p).with_context(|| format!("discover `{what}`: bad glob {p:?}"))?);
    }
    Ok(Some(set.build()?))
}

/// The repositories one `[[discover]]` entry finds now.
pub async fn discover(d: &DiscoverSettings) -> anyhow::Result<Vec<RepoSettings>> {
    let include = globs(&d.include, "include")?;
    let exclude = globs(&d.exclude, "exclude")?;
    let wanted = |l: &Listed| {
        include.as_ref().is_none_or(|g| g.is_match(&l.path))
            && !exclude.as_ref().is_some_and(|g| g.is_match(&l.path))
    };
    let template = d.repo("discover", "", "main");
    let token = template.token()?;
    let mut found = Vec::new();
    match d.forge {
        ForgeKind::Github => {
            let api = d.api_url.as_deref().unwrap_or(GITHUB_API);
            let auth = github_auth(&template, token.as_ref())?;
            // The client is not bound to one repository here.
            let owner = d.owner.as_deref().unwrap_or("installation");
            let gh = GitHub::new(api, &format!("{owner}/discover"), auth)?;
            for l in gh.list_repositories(d.owner.as_deref()).await? {
                if wanted(&l) && gh.has_file(&l.path, &l.default_branch, CONFIG_FILE).await? {
                    found.push(d.repo(&l.path, &l.clone_url, &l.default_branch));
                }
            }
        }
        ForgeKind::Gitlab => {
            let api = d.api_url.as_deref().unwrap_or(GITLAB_URL);
            let token = token.context("a gitlab `[[discover]]` needs a token")?;
            let group = d
                .group
                .as_deref()
                .context("a gitlab `[[discover]]` needs `group`")?;
            let gl = GitLabGroup::new(api, token.expose())?;
            for l in gl.projects(group).await? {
                if wanted(&l) && gl.has_file(&l.path, &l.default_branch, CONFIG_FILE).await? {
                    found.push(d.repo(&l.path, &l.clone_url, &l.default_branch));
                }
            }
        }
        ForgeKind::Direct => anyhow::bail!("`[[discover]]` needs forge = \"github\" or \"gitlab\""),
    }
    Ok(found)
}

/// Every `[[discover]]` entry's repositories that are not `known` yet; an
/// entry that fails is logged and skipped.
pub async fn discover_new(
    config: &ServiceConfig,
    known: impl Fn(&str) -> bool,
) -> Vec<RepoSettings> {
    let mut out: Vec<RepoSettings> = Vec::new();
    for d in &config.discover {
        match discover(d).await {
            Ok(found) => {
                for r in found {
                    if !known(&r.name) && !out.iter().any(|o| o.name == r.name) {
                        out.push(r);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(forge = ?d.forge, error = format!("{e:#}"), "discovery failed; trying again next round")
            }
        }
    }
    out
}

/// Every `discover_interval`, manages the repositories discovery finds
/// that are not managed yet: built (cloned) on the process's `registry`,
/// handed to the workers (jobs and webhook routing), and polled.
pub async fn rediscover_forever(
    config: Arc<ServiceConfig>,
    workers: Arc<Workers>,
    store: Store,
    registry: Registry,
    wake: Arc<tokio::sync::Notify>,
) {
    if config.discover.is_empty() {
        return std::future::pending().await;
    }
    loop {
        tokio::time::sleep(config.discover_interval).await;
        for settings in discover_new(&config, |name| workers.manages(name)).await {
            match crate::service::build_repo(
                &config,
                &settings,
                Some(&store),
                &registry,
                &workers.clock(),
            )
            .await
            {
                Ok(repo) => {
                    tracing::info!(repo = %settings.name, "discovered a repository; managing it");
                    workers.add_repo(Arc::new(repo));
                    let (config, store, wake) = (config.clone(), store.clone(), wake.clone());
                    tokio::spawn(crate::work::poll::poll_repo(
                        config,
                        settings.name,
                        store,
                        wake,
                        workers.clock(),
                    ));
                }
                Err(e) => {
                    tracing::warn!(repo = %settings.name, error = format!("{e:#}"), "cannot manage a discovered repository")
                }
            }
        }
    }
}
