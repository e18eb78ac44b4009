//! The HTTP server: `POST /hooks/{source}[/{token}]`, `/healthz`,
//! `/readyz`, `/metrics`, and the status page (`/`, src/server/status.rs).
//!
//! A webhook is read up to the body limit, handed to its source to verify
//! and parse, and its events are committed to the store before the answer:
//! 202 stored, 200 duplicate or ignored, 401 unauthenticated, 400
//! malformed, 413 too large, 415 wrong content type, 404 unknown source,
//! 503 when the store cannot take it (the sender retries). No other work is
//! done inside the request; the inbox wakes the workers.

pub mod hooks;
mod inbox;
mod status;

pub use inbox::Inbox;
pub use status::StatusPage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::clock::Clock;

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tracing::Instrument as _;

use crate::store::{Accepted, Store};
use hooks::{HookError, Incoming, Source, Verdict};

/// What the handlers share.
pub struct AppState {
    pub sources: HashMap<String, Arc<dyn Source>>,
    pub store: Store,
    /// The time requests are verified at and stats read at.
    pub clock: Clock,
    /// Where verified deliveries are committed (group commit).
    pub inbox: Inbox,
    pub metrics: Option<PrometheusHandle>,
    pub body_limit: usize,
    /// Set while the service drains on SIGTERM: webhooks and `/readyz`
    /// answer 503 with `Connection: close`, so senders retry elsewhere.
    pub draining: std::sync::atomic::AtomicBool,
    /// The status page at `/`; `None` when off (`status_page`).
    pub status: Option<StatusPage>,
}

impl AppState {
    fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// 503 while draining.
fn draining() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(("connection", "close"))
        .insert_header(("retry-after", "1"))
        .json(json!({"error": "shutting down; retry"}))
}

/// Binds `listen` and returns the running server (await it to serve).
pub fn start(listen: &str, state: Arc<AppState>) -> anyhow::Result<actix_web::dev::Server> {
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/", web::get().to(status::page))
            .route(
                "/status/dead-letters/{id}/requeue",
                web::post().to(status::requeue),
            )
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .route("/hooks/{source}", web::post().to(hook))
            .route("/hooks/{source}/{token}", web::post().to(hook))
    })
    .workers(2)
    .disable_signals()
    .bind(listen)
    .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?
    .run();
    Ok(server)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.is_draining() {
        return draining();
    }
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "store not reachable");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("store unreachable\n")
        }
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if let Ok(stats) = state.store.queue_stats(state.clock.now_ms()).await {
        crate::metrics::queue(
            stats.depth,
            stats
                .oldest_age_ms
                .map(|ms| std::time::Duration::from_millis(ms.max(0) as u64)),
            stats.dead,
        );
    }
    match &state.metrics {
        Some(h) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(h.render()),
        None => HttpResponse::NotFound().body("metrics are not enabled\n"),
    }
}

fn answer(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

/// `POST /hooks/{source}[/{token}]`, in a `hook` span with the source and
/// (once verified) the delivery id.
async fn hook(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let span = tracing::info_span!(
        "hook",
        source = req.match_info().get("source").unwrap_or_default(),
        delivery = tracing::field::Empty
    );
    receive(req, payload, state).instrument(span).await
}

async fn receive(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    if state.is_draining() {
        return draining();
    }
    let name = req
        .match_info()
        .get("source")
        .unwrap_or_default()
        .to_string();
    let token = req.match_info().get("token").map(str::to_string);
    let Some(source) = state.sources.get(&name).cloned() else {
        crate::metrics::webhook("unknown", "unknown_source");
        return answer(
            StatusCode::NOT_FOUND,
            json!({"error": "no such webhook source"}),
        );
    };
    if source.needs_path_token() && token.is_none() {
        crate::metrics::webhook(&name, "unauthorized");
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"error": "this source is reachable only at its secret path"}),
        );
    }
    let too_large = || {
        crate::metrics::webhook(&name, "too_large");
        answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": format!("body over {} bytes", state.body_limit)}),
        )
    };
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > state.body_limit) {
        return too_large();
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            crate::metrics::webhook(&name, "malformed");
            return answer(StatusCode::BAD_REQUEST, json!({"error": "unreadable body"}));
        };
        if body.len() + chunk.len() > state.body_limit {
            return too_large();
        }
        body.extend_from_slice(&chunk);
    }
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_ascii_lowercase(), v.to_string()))
        })
        .collect();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let incoming = Incoming {
        headers: &headers,
        body: &body,
        path_token: token.as_deref(),
        content_type: content_type.as_deref(),
        now: SystemTime::UNIX_EPOCH
            + std::time::Duration::from_millis(u64::try_from(state.clock.now_ms()).unwrap_or(0)),
    };
    match source.handle(&incoming) {
        Err(HookError::Unauthorized(why)) => {
            tracing::warn!(reason = %why, "webhook refused");
            crate::metrics::webhook(&name, "unauthorized");
            answer(StatusCode::UNAUTHORIZED, json!({"error": why}))
        }
        Err(HookError::Malformed(why)) => {
            crate::metrics::webhook(&name, "malformed");
            answer(StatusCode::BAD_REQUEST, json!({"error": why}))
        }
        Err(HookError::UnsupportedMediaType(why)) => {
            crate::metrics::webhook(&name, "unsupported_media_type");
            answer(StatusCode::UNSUPPORTED_MEDIA_TYPE, json!({"error": why}))
        }
        Ok(Verdict::Ignored(why)) => {
            crate::metrics::webhook(&name, "ignored");
            answer(StatusCode::OK, json!({"status": "ignored", "reason": why}))
        }
        Ok(Verdict::Events { delivery, events }) => {
            tracing::Span::current().record("delivery", crate::store::shown_id(&delivery).as_str());
            match state.inbox.accept(&name, &delivery, events).await {
                Ok(Accepted::Stored { jobs }) => {
                    crate::metrics::webhook(&name, "stored");
                    tracing::info!(jobs, "webhook stored");
                    answer(
                        StatusCode::ACCEPTED,
                        json!({"status": "stored", "jobs": jobs}),
                    )
                }
                Ok(Accepted::Duplicate) => {
                    crate::metrics::webhook(&name, "duplicate");
                    answer(StatusCode::OK, json!({"status": "duplicate"}))
                }
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "cannot store webhook");
                    crate::metrics::webhook(&name, "store_error");
                    answer(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({"error": "cannot store the event now; retry"}),
                    )
                }
            }
        }
    }
}
