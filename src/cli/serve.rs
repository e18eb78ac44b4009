//! `imagebump serve` and `imagebump reconcile`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::config::ServiceConfig;
use crate::lock::RepoLocks;
use tokio::sync::Notify;

use crate::server::{AppState, hooks};
use crate::store::Store;
use crate::worker::Workers;
use crate::{reconcile, server, service};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Service config (TOML); without it the embedded defaults and the
    /// IMAGEBUMP_* environment apply.
    #[arg(long, env = "IMAGEBUMP_CONFIG")]
    pub(super) config: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ReconcileArgs {
    #[arg(long, env = "IMAGEBUMP_CONFIG")]
    pub(super) config: Option<PathBuf>,
    /// The repository (its `name` in the config).
    #[arg(long)]
    repo: String,
}

fn load(path: Option<&PathBuf>) -> Result<ServiceConfig, ExitCode> {
    ServiceConfig::load(path.map(|p| p.as_path())).map_err(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(1)
    })
}

pub async fn serve(args: ServeArgs) -> ExitCode {
    let config = match load(args.config.as_ref()) {
        Ok(c) => Arc::new(c),
        Err(code) => return code,
    };
    let store = match Store::open(&config.store_url()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot open the store: {e:#}");
            return ExitCode::from(1);
        }
    };
    let mut repos = Vec::new();
    for settings in &config.repos {
        match service::build_repo(&config, settings, Some(&store)).await {
            Ok(r) => repos.push(Arc::new(r)),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(1);
            }
        }
    }
    let sources = match hooks::build_all(&config.hooks).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    let wake = Arc::new(Notify::new());
    let workers = Workers::new(
        store.clone(),
        repos.clone(),
        RepoLocks::for_store(&store),
        wake.clone(),
        config.job_lease,
    );
    let duties = crate::duties::run(store.clone(), sources.clone(), Default::default());
    let state = Arc::new(AppState {
        sources,
        store: store.clone(),
        inbox: server::Inbox::routed(store.clone(), workers.router(), wake.clone()),
        metrics: crate::metrics::install(),
        body_limit: config.hook_body_limit,
    });
    let http = match server::start(&config.listen, state) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    tracing::info!(listen = %config.listen, repos = repos.len(), interval = ?config.poll_interval, "imagebump serving");
    let handle = http.handle();
    let poller = service::poll_forever(config.clone(), repos, store, wake);
    tokio::select! {
        r = http => if let Err(e) = r { eprintln!("error: HTTP server: {e}"); return ExitCode::from(1); },
        _ = workers.run(config.concurrency) => {},
        _ = poller => {},
        _ = duties => {},
        _ = shutdown_signal() => tracing::info!("stopping"),
    }
    handle.stop(true).await;
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or_default(),
            };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or_default();
}

pub async fn reconcile_once(args: ReconcileArgs) -> ExitCode {
    let config = match load(args.config.as_ref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(settings) = config.repos.iter().find(|r| r.name == args.repo) else {
        let names: Vec<&str> = config.repos.iter().map(|r| r.name.as_str()).collect();
        eprintln!(
            "error: no repository `{}` in the config (repositories: {})",
            args.repo,
            names.join(", ")
        );
        return ExitCode::from(1);
    };
    // A one-shot run has no store: no ignores, holds or tag cache.
    let repo = match service::build_repo(&config, settings, None).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    // The store only for the repository's lock: a run by hand must not
    // overlap a serving replica's run of the same repository.
    let store = match Store::open(&config.store_url()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot open the store: {e:#}");
            return ExitCode::from(1);
        }
    };
    let result = reconcile::reconcile(&repo, &RepoLocks::for_store(&store)).await;
    store.close().await;
    match result {
        Ok(outcome) => {
            println!(
                "{}: base {} at {}",
                args.repo,
                settings.branch,
                &outcome.base[..outcome.base.len().min(12)]
            );
            for a in &outcome.actions {
                println!("  {a}");
            }
            for p in &outcome.problems {
                println!("  problem: {p}");
            }
            for f in &outcome.failures {
                println!("  failed: {f}");
            }
            if outcome.actions.is_empty() && outcome.failures.is_empty() {
                println!(
                    "  nothing to do ({} bump(s) planned, all delivered)",
                    outcome.report.bumps.len()
                );
            }
            if outcome.problems.is_empty() && outcome.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
