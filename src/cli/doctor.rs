//! `imagebump doctor`: checks what the service config names, one line
//! each (`ok   <thing>` or `FAIL <thing>: <what is wrong>; <how to fix
//! it>`), and exits 1 on any failure. The store is opened (and migrated);
//! every `[hooks.*]` source is built as `serve` builds it; every
//! repository's remote is fetched through its mirror in `data_dir`, as
//! the service does; and per registry host, the tags of the first policy
//! image (in the repositories' `.imagebump.yaml`, read from the fetched
//! mirrors) of that host are listed with the configured credentials.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::clock::Clock;
use crate::config::ServiceConfig;
use crate::domain::ImageRepo;
use crate::policy::{self, CONFIG_FILE};
use crate::server::hooks;
use crate::service;
use crate::store::Store;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    #[arg(long, env = "IMAGEBUMP_CONFIG")]
    config: Option<PathBuf>,
}

/// The lines printed so far, and whether any failed.
#[derive(Default)]
struct Report {
    failed: bool,
}

impl Report {
    fn ok(&mut self, thing: &str) {
        println!("ok   {thing}");
    }

    fn fail(&mut self, thing: &str, wrong: &str, fix: &str) {
        self.failed = true;
        // One line each: an error's own line breaks are folded.
        println!("FAIL {thing}: {}; {fix}", wrong.replace('\n', " "));
    }
}

pub async fn run(args: DoctorArgs) -> ExitCode {
    let config = match super::serve::load(args.config.as_ref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut report = Report::default();
    check_store(&config, &mut report).await;
    check_hooks(&config, &mut report).await;
    let images = check_repos(&config, &mut report).await;
    check_registries(&config, &images, &mut report).await;
    if report.failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

async fn check_store(config: &ServiceConfig, report: &mut Report) {
    match Store::open(&config.store_url()).await {
        Ok(store) => {
            report.ok("store (reachable, migrated)");
            store.close().await;
        }
        Err(e) => report.fail(
            "store",
            &format!("{e:#}"),
            "check `store` in the service config (the URL, that the database is up and \
             reachable from here, and the user's rights to create tables)",
        ),
    }
}

async fn check_hooks(config: &ServiceConfig, report: &mut Report) {
    for (name, settings) in &config.hooks {
        let one = BTreeMap::from([(name.clone(), settings.clone())]);
        let thing = format!("webhook source `{name}`");
        match hooks::build_all(&one).await {
            Ok(_) => report.ok(&thing),
            Err(e) => report.fail(
                &thing,
                &format!("{e:#}"),
                &format!(
                    "set `hooks.{name}.secrets` or `hooks.{name}.secret_files` to the secret \
                     configured at the sender"
                ),
            ),
        }
    }
}

/// Fetches every repository; the policy images of those whose
/// `.imagebump.yaml` reads, in order.
async fn check_repos(config: &ServiceConfig, report: &mut Report) -> Vec<ImageRepo> {
    let registry = match service::registry(&config.registry) {
        Ok(r) => r,
        Err(e) => {
            report.fail(
                "registry credentials",
                &format!("{e:#}"),
                "fix `[registry]` in the service config",
            );
            return Vec::new();
        }
    };
    let clock = Clock::system();
    let mut images = Vec::new();
    for settings in &config.repos {
        let name = &settings.name;
        let thing = format!("git remote of `{name}`");
        let repo = match service::build_repo(config, settings, None, &registry, &clock).await {
            Ok(r) => r,
            Err(e) => {
                report.fail(
                    &thing,
                    &format!("{e:#}"),
                    &format!("fix `[[repos]]` `{name}` in the service config"),
                );
                continue;
            }
        };
        if let Err(e) = repo.mirror.fetch().await {
            report.fail(
                &thing,
                &format!("{e:#}"),
                &format!(
                    "check `url` of `{name}`, that the repository exists and that the bot's \
                     credentials may read it"
                ),
            );
            continue;
        }
        report.ok(&thing);
        let branch = &settings.branch;
        let text = repo.mirror.branch_head(branch).and_then(|head| match head {
            Some(h) => repo.mirror.read_file(&h, CONFIG_FILE),
            None => anyhow::bail!("no branch `{branch}`"),
        });
        let thing = format!("{CONFIG_FILE} of `{name}`");
        match text.map(|t| t.map(|t| policy::parse_config(CONFIG_FILE, &t))) {
            Ok(Some(Ok(c))) => {
                report.ok(&thing);
                images.extend(c.policies.into_iter().map(|p| p.image));
            }
            Ok(Some(Err(errors))) => report.fail(
                &thing,
                &format!("{} error(s), first: {}", errors.len(), errors[0]),
                "`imagebump validate` in a checkout lists them",
            ),
            Ok(None) => report.fail(
                &thing,
                &format!("missing on `{branch}`"),
                "add one; `imagebump schema` prints its JSON Schema",
            ),
            Err(e) => report.fail(
                &thing,
                &format!("{e:#}"),
                &format!("check `branch` of `{name}`"),
            ),
        }
    }
    images
}

/// Lists the tags of the first image of each host, with the configured
/// credentials.
async fn check_registries(config: &ServiceConfig, images: &[ImageRepo], report: &mut Report) {
    let Ok(registry) = service::registry(&config.registry) else {
        return; // reported by `check_repos`
    };
    let mut seen = HashSet::new();
    for image in images {
        if !seen.insert(image.host().to_string()) {
            continue;
        }
        let thing = format!("registry {} (tags of {image})", image.host());
        match registry.client().list_tags(image).await {
            Ok(_) => report.ok(&thing),
            Err(e) => report.fail(
                &thing,
                &e.to_string(),
                &format!(
                    "check `registry.hosts.\"{}\"` (username and password, or token) and \
                     that the image exists",
                    image.host()
                ),
            ),
        }
    }
}
