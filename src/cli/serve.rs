//! `imagebump serve` and `imagebump reconcile`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::config::ServiceConfig;
use crate::lock::RepoLocks;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::server::{AppState, hooks};
use crate::store::Store;
use crate::work::workers::Workers;
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

pub(super) fn load(path: Option<&PathBuf>) -> Result<ServiceConfig, ExitCode> {
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
        Ok(s) => s.with_min_run_gap(config.min_run_gap),
        Err(e) => {
            eprintln!("error: cannot open the store: {e:#}");
            return ExitCode::from(1);
        }
    };
    // One registry state for the process: every repository, discovered
    // later too, shares each host's budget.
    let registry = match service::registry(&config.registry) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    // The one clock of the service (see `clock.rs`).
    let clock = Clock::system();
    let mut repos = Vec::new();
    let configured: std::collections::HashSet<String> =
        config.repos.iter().map(|r| r.name.clone()).collect();
    let discovered = crate::discover::discover_new(&config, |name| configured.contains(name)).await;
    if !config.discover.is_empty() {
        tracing::info!(repos = discovered.len(), "discovered repositories");
    }
    for settings in config.repos.iter().chain(&discovered) {
        match service::build_repo(&config, settings, Some(&store), &registry, &clock).await {
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
        clock.clone(),
    );
    let duties = crate::work::duties::run(
        store.clone(),
        sources.clone(),
        Default::default(),
        clock.clone(),
    );
    let rediscovery = crate::discover::rediscover_forever(
        config.clone(),
        workers.clone(),
        store.clone(),
        registry,
        wake.clone(),
    );
    let names = config
        .repos
        .iter()
        .chain(&discovered)
        .map(|r| r.name.clone());
    let status = match status_page(&config, names.collect()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    let state: Arc<AppState> = Arc::new(AppState {
        sources,
        store: store.clone(),
        inbox: server::Inbox::new(
            store.clone(),
            workers.router(),
            workers.detect_clock(),
            wake.clone(),
            clock.clone(),
        ),
        clock: clock.clone(),
        metrics: crate::metrics::install(),
        body_limit: config.hook_body_limit,
        draining: Default::default(),
        status,
    });
    let http = match server::start(&config.listen, state.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    tracing::info!(listen = %config.listen, repos = repos.len(), interval = ?config.poll_interval, "imagebump serving");
    let handle = http.handle();
    let poller = crate::work::poll::poll_forever(config.clone(), repos, store.clone(), wake, clock);
    let mut running = tokio::spawn(workers.clone().run(config.concurrency));
    // Its own task, so that it keeps answering (503) while draining.
    let mut http = tokio::spawn(http);
    tokio::select! {
        r = &mut http => if let Ok(Err(e)) = r { eprintln!("error: HTTP server: {e}"); return ExitCode::from(1); },
        _ = &mut running => {},
        _ = poller => {},
        _ = duties => {},
        _ = rediscovery => {},
        _ = shutdown_signal() => {},
    }
    drain(&state, &workers, running, config.shutdown_grace).await;
    handle.stop(true).await;
    // SQLite checkpoints its WAL when the last connection closes.
    store.close().await;
    ExitCode::SUCCESS
}

/// Stops taking work: webhooks and `/readyz` answer 503, workers claim
/// nothing more and let their running reconciles finish for up to
/// `grace`; the leases of what did not finish are given back, so another
/// replica claims them at once rather than after `job_lease`.
async fn drain(
    state: &AppState,
    workers: &Workers,
    running: tokio::task::JoinHandle<()>,
    grace: std::time::Duration,
) {
    let started = std::time::Instant::now();
    state
        .draining
        .store(true, std::sync::atomic::Ordering::SeqCst);
    workers.stop();
    tracing::info!(grace = ?grace, "stopping: finishing running reconciles");
    if tokio::time::timeout(grace, running).await.is_err() {
        tracing::warn!(grace = ?grace, "reconciles still running after the grace period");
    }
    let unfinished = workers.unfinished();
    if !unfinished.is_empty() {
        match state.store.release(&unfinished).await {
            Ok(()) => tracing::info!(jobs = ?unfinished, "gave back the leases of unfinished jobs"),
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                "cannot give back leases; they run out after job_lease"
            ),
        }
    }
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "stopped");
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
    // A one-shot run takes no ignores, holds or tag cache from the store.
    let repo = match service::registry(&config.registry) {
        Ok(registry) => {
            service::build_repo(&config, settings, None, &registry, &Clock::system()).await
        }
        Err(e) => Err(e),
    };
    let mut repo = match repo {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    // The store for the repository's lock (a run by hand must not overlap
    // a serving replica's run of the same repository) and its rollback
    // holds: a run by hand never bumps back what a person rolled back.
    let store = match Store::open(&config.store_url()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot open the store: {e:#}");
            return ExitCode::from(1);
        }
    };
    repo.rollbacks = Some(crate::rollback::Book::new(store.clone(), Clock::system()));
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
            for h in &outcome.held {
                println!("  held: {h}");
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

/// The status page's settings, when `status_page` is on.
fn status_page(
    config: &ServiceConfig,
    repos: Vec<String>,
) -> anyhow::Result<Option<server::StatusPage>> {
    let (status_token, admin_token) = (config.status_token()?, config.admin_token()?);
    for (key, token) in [
        ("status_token", &status_token),
        ("admin_token", &admin_token),
    ] {
        anyhow::ensure!(
            token.as_ref().is_none_or(|t| !t.expose().is_empty()),
            "invalid service config: `{key}` is empty"
        );
    }
    if !config.status_page {
        return Ok(None);
    }
    Ok(Some(server::StatusPage::new(
        repos,
        i64::try_from(config.poll_interval.as_millis()).unwrap_or(i64::MAX),
        status_token,
        admin_token,
    )))
}
