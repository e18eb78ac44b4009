//! The poller, the safety net for news no webhook brought: a reconcile of
//! each repository on its interval, with jitter (docs/ARCHITECTURE.md,
//! "Flow").

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::ServiceConfig;
use crate::reconcile::Repo;
use crate::store::{Store, Trigger};

/// The wait before a repository's next poll: the interval ± jitter.
pub fn next_poll(interval: Duration, jitter: f64) -> Duration {
    let spread = interval.as_secs_f64() * jitter;
    let offset = (rand::random::<f64>() * 2.0 - 1.0) * spread;
    Duration::from_secs_f64((interval.as_secs_f64() + offset).max(1.0))
}

/// Enqueues a reconcile of every repository on its interval (with
/// jitter), until the process stops; the workers run them. The store
/// coalesces a poll with the repository's reconcile already queued or
/// running; `min_run_gap` does not delay a poll.
pub async fn poll_forever(
    config: Arc<ServiceConfig>,
    repos: Vec<Arc<Repo>>,
    store: Store,
    wake: Arc<tokio::sync::Notify>,
    clock: Clock,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for repo in repos {
        let (config, store, wake, clock) =
            (config.clone(), store.clone(), wake.clone(), clock.clone());
        tasks.spawn(poll_repo(
            config,
            repo.mirror.name().to_string(),
            store,
            wake,
            clock,
        ));
    }
    while tasks.join_next().await.is_some() {}
    // No repositories (or every poller ended): serving goes on regardless.
    std::future::pending::<()>().await;
}

/// Enqueues a reconcile of `name` every poll interval (with jitter), from
/// now on.
pub async fn poll_repo(
    config: Arc<ServiceConfig>,
    name: String,
    store: Store,
    wake: Arc<tokio::sync::Notify>,
    clock: Clock,
) {
    loop {
        match store
            .enqueue_reconcile(&name, "poll", Trigger::Poll, clock.now_ms())
            .await
        {
            Ok(_) => wake.notify_waiters(),
            Err(e) => tracing::error!(
                repo = %name,
                error = format!("{e:#}"),
                "cannot enqueue the poll"
            ),
        }
        tokio::time::sleep(next_poll(config.poll_interval, config.poll_jitter)).await;
    }
}
