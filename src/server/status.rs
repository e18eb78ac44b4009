//! The status page: `GET /` (src/status/) and
//! `POST /status/dead-letters/{id}/requeue`. Off unless `status_page =
//! true`; with `status_token` the page needs `Authorization: Bearer …`.
//! A requeue needs `admin_token` in the form, and a CSRF token: the HMAC of
//! the admin token under a key drawn at start, so it is only known to
//! pages this process served.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use super::AppState;
use super::hooks::verify::{percent_decode, token_matches};
use crate::config::Secret;
use crate::store::Revived;

/// The page's settings and keys.
pub struct StatusPage {
    /// The configured (and discovered) repositories, by name.
    pub repos: Vec<String>,
    pub poll_interval_ms: i64,
    pub status_token: Option<Secret>,
    pub admin_token: Option<Secret>,
    csrf_key: [u8; 32],
}

impl StatusPage {
    pub fn new(
        repos: Vec<String>,
        poll_interval_ms: i64,
        status_token: Option<Secret>,
        admin_token: Option<Secret>,
    ) -> StatusPage {
        StatusPage {
            repos,
            poll_interval_ms,
            status_token,
            admin_token,
            csrf_key: rand::random(),
        }
    }

    /// The CSRF token of the forms; `None` without an admin token.
    fn csrf(&self) -> Option<String> {
        let admin = self.admin_token.as_ref()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.csrf_key).ok()?;
        mac.update(admin.expose().as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }

    fn viewer_allowed(&self, req: &HttpRequest) -> bool {
        let Some(expected) = &self.status_token else {
            return true;
        };
        req.headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| token_matches(given.trim(), std::slice::from_ref(expected)))
    }
}

fn text(status: StatusCode, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(format!("{body}\n"))
}

/// `GET /`.
pub async fn page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(page) = &state.status else {
        return text(
            StatusCode::NOT_FOUND,
            "the status page is off (status_page)",
        );
    };
    if !page.viewer_allowed(&req) {
        return HttpResponse::Unauthorized()
            .insert_header(("www-authenticate", "Bearer"))
            .content_type("text/plain; charset=utf-8")
            .body("the status page needs Authorization: Bearer <status_token>\n");
    }
    let now = state.clock.now_ms();
    match crate::status::collect(&state.store, &page.repos, page.poll_interval_ms, now).await {
        Ok(status) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("cache-control", "no-store"))
            .insert_header(("x-frame-options", "DENY"))
            .body(crate::status::page::render(&status, page.csrf().as_deref())),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "cannot read the status");
            text(StatusCode::SERVICE_UNAVAILABLE, "cannot read the store now")
        }
    }
}

/// The value of `name` in an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name)
            .then(|| percent_decode(v, true).and_then(|b| String::from_utf8(b).ok()))
            .flatten()
    })
}

/// `POST /status/dead-letters/{id}/requeue`: form fields `csrf` and
/// `admin_token`; answers 303 to `/` once requeued.
pub async fn requeue(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(page) = &state.status else {
        return text(
            StatusCode::NOT_FOUND,
            "the status page is off (status_page)",
        );
    };
    let (Some(admin), Some(csrf)) = (&page.admin_token, page.csrf()) else {
        return text(StatusCode::FORBIDDEN, "no admin_token is configured");
    };
    let given_csrf = form_value(&body, "csrf").unwrap_or_default();
    let given_admin = form_value(&body, "admin_token").unwrap_or_default();
    if !token_matches(&given_csrf, &[Secret::new(csrf)]) {
        return text(
            StatusCode::FORBIDDEN,
            "stale or missing form token; reload the page",
        );
    }
    if !token_matches(&given_admin, std::slice::from_ref(admin)) {
        return text(StatusCode::UNAUTHORIZED, "wrong admin token");
    }
    let Some(id) = req
        .match_info()
        .get("id")
        .and_then(|s| s.parse::<i64>().ok())
    else {
        return text(StatusCode::BAD_REQUEST, "a dead letter id is a number");
    };
    match state.store.requeue_dead(id, state.clock.now_ms()).await {
        Ok(Revived::Requeued) => {
            tracing::info!(job = id, "dead letter requeued from the status page");
            HttpResponse::SeeOther()
                .insert_header(("location", "/"))
                .finish()
        }
        Ok(Revived::NotDead) => text(StatusCode::NOT_FOUND, "no such dead letter"),
        Err(e) => text(StatusCode::CONFLICT, &format!("{e:#}")),
    }
}
