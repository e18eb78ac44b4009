//! What `serve` does in the background besides polling, each on its own
//! interval:
//!
//! - the GAR source's Google signing keys are reloaded every
//!   [`Intervals::jwks_refresh`], and at once when a token names a key that
//!   is not loaded (Google rotated), but never more often than
//!   [`Intervals::jwks_min_gap`], so that tokens with made-up key ids
//!   cannot make the service hammer Google;
//! - delivery ids past their TTL are purged from the store every
//!   [`Intervals::purge_deliveries`];
//! - due timers (a tag comes of its release age: `store/times.rs`) become
//!   reconciles, looked for every [`Intervals::timers`].
//!
//! (The sweep of abandoned leases runs inside the queue's claim, see
//! `store/queue.rs`.) A failing duty logs and tries again on its next turn.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use crate::clock::Clock;
use crate::server::hooks::{JWKS_REFRESH, Source};
use crate::store::Store;

/// How often each duty runs.
#[derive(Clone, Debug)]
pub struct Intervals {
    pub jwks_refresh: Duration,
    /// The least time between two reloads of the keys.
    pub jwks_min_gap: Duration,
    pub purge_deliveries: Duration,
    pub timers: Duration,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            jwks_refresh: JWKS_REFRESH,
            jwks_min_gap: Duration::from_secs(60),
            purge_deliveries: Duration::from_secs(3600),
            timers: Duration::from_secs(1),
        }
    }
}

/// Runs the duties forever.
pub async fn run(
    store: Store,
    sources: HashMap<String, Arc<dyn Source>>,
    every: Intervals,
    clock: Clock,
) {
    let gar = sources.values().find(|s| s.as_gar().is_some()).cloned();
    tokio::join!(
        fire_timers(store.clone(), every.timers, clock.clone()),
        purge_deliveries(store, every.purge_deliveries, clock),
        async {
            if let Some(gar) = gar {
                refresh_keys(gar, every.jwks_refresh, every.jwks_min_gap).await;
            }
        }
    );
}

async fn fire_timers(store: Store, every: Duration, clock: Clock) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.fire_due_timers(clock.now_ms()).await {
            Ok(fired) => {
                for repo in fired {
                    tracing::info!(repo, "timer due: reconcile enqueued");
                }
            }
            Err(e) => tracing::warn!(error = %e, "firing due timers failed"),
        }
    }
}

async fn purge_deliveries(store: Store, every: Duration, clock: Clock) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.purge_expired_deliveries(clock.now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "forgot expired delivery ids"),
            Err(e) => tracing::warn!(error = %e, "purging expired delivery ids failed"),
        }
    }
}

async fn refresh_keys(source: Arc<dyn Source>, every: Duration, min_gap: Duration) {
    let Some(gar) = source.as_gar() else { return };
    // The keys were loaded when the source was built.
    let mut last = Instant::now();
    loop {
        let due = last + every;
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = gar.unknown_key_seen() => {
                if last.elapsed() < min_gap {
                    tracing::debug!("a token names an unknown signing key; reloaded too recently");
                    continue;
                }
                tracing::info!("a token names an unknown signing key; reloading Google's keys");
            }
        }
        last = Instant::now();
        match gar.refresh_keys().await {
            Ok(()) => tracing::info!("reloaded Google's signing keys"),
            Err(e) => tracing::warn!(error = %e, "reloading Google's signing keys failed"),
        }
    }
}
