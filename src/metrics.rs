//! Prometheus text exposition at `/metrics` (README, "The service").
//!
//! The `metrics` facade is process-global by design; the recorder is
//! installed once ([`install`]) and every module records through the
//! named helpers below, so metric names live in one place.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns the
/// handle that renders the text format; `None` if another recorder was
/// installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                ])
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .clone()
}

/// A webhook request and how it ended (`stored`, `duplicate`, `ignored`,
/// `unauthorized`, `malformed`, `too_large`, `unsupported_media_type`,
/// `unknown_source`, `store_error`).
pub fn webhook(source: &str, outcome: &'static str) {
    metrics::counter!("imagebump_webhook_requests_total", "source" => source.to_string(), "outcome" => outcome).increment(1);
    if outcome == "unauthorized" {
        metrics::counter!("imagebump_webhook_signature_failures_total", "source" => source.to_string()).increment(1);
    }
}

pub fn queue(depth: u64, oldest_age: Option<Duration>, dead: u64) {
    metrics::gauge!("imagebump_queue_depth").set(depth as f64);
    metrics::gauge!("imagebump_queue_oldest_age_seconds")
        .set(oldest_age.map_or(0.0, |d| d.as_secs_f64()));
    metrics::gauge!("imagebump_queue_dead_letters").set(dead as f64);
}

/// One reconcile run: its duration by result, and failed runs counted on
/// their own (`imagebump_reconcile_errors_total`, for alerting).
pub fn reconcile(repo: &str, took: Duration, ok: bool) {
    if !ok {
        metrics::counter!("imagebump_reconcile_errors_total", "repo" => repo.to_string())
            .increment(1);
    }
    metrics::histogram!("imagebump_reconcile_duration_seconds", "repo" => repo.to_string(), "result" => if ok { "ok" } else { "error" })
        .record(took.as_secs_f64());
}

pub fn bumps_proposed(repo: &str, n: usize) {
    metrics::counter!("imagebump_bumps_proposed_total", "repo" => repo.to_string())
        .increment(n as u64);
}

/// One change whose delivery failed in a run (the run went on with the
/// others).
pub fn delivery_failed(repo: &str) {
    metrics::counter!("imagebump_delivery_failures_total", "repo" => repo.to_string()).increment(1);
}

pub fn bumps_merged(repo: &str, n: usize) {
    metrics::counter!("imagebump_bumps_merged_total", "repo" => repo.to_string())
        .increment(n as u64);
}

/// The references of a repository held because a person rolled them back
/// (src/rollback/), as its last run found them.
pub fn rollback_holds(repo: &str, n: usize) {
    metrics::gauge!("imagebump_rollback_holds", "repo" => repo.to_string()).set(n as f64);
}

pub fn registry_request(host: &str, status: u16) {
    metrics::counter!("imagebump_registry_requests_total", "host" => host.to_string(), "status" => status.to_string()).increment(1);
}

/// The request budget a registry host last reported left
/// (`ratelimit-remaining`), by the `host[:port]` asked.
pub fn registry_budget(host: &str, remaining: u64) {
    metrics::gauge!("imagebump_registry_budget_remaining", "host" => host.to_string())
        .set(remaining as f64);
}

/// A service reconcile's look-up of an image's tag list in the store's
/// cache: `hit` (reused, no registry request), `miss` (listed), `error`
/// (the store failed a read or a save; the registry was asked).
pub fn tag_cache(result: &'static str) {
    metrics::counter!("imagebump_tag_cache_total", "result" => result).increment(1);
}

/// From the event that revealed a new image to the MR (or commit) that
/// carries it.
pub fn detect_to_mr(took: Duration) {
    metrics::histogram!("imagebump_detect_to_mr_seconds").record(took.as_secs_f64());
}
