//! Sending one request: the host's budget ([`super::budget`]), retries
//! with exponential backoff and jitter for 429/5xx/transport failures,
//! `Retry-After`.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode, Url};

use super::{HostAuth, Inner, MAX_RETRY_WAIT, RegistryError};
use crate::domain::ImageRepo;

/// `host[:port]` of a URL, as used for budgets and insecure-host checks.
pub(super) fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

impl Inner {
    /// Sends one request, retrying 429, 5xx and transport failures up to
    /// `max_retries` times. Returns every other answer (401 and 404 too).
    pub(super) async fn send(
        &self,
        repo: &ImageRepo,
        method: &Method,
        url: &Url,
        accept: Option<&HeaderValue>,
        auth: Option<&HostAuth>,
    ) -> Result<Response, RegistryError> {
        let target = host_port(url);
        let max_attempts = self.shared.options.max_retries.saturating_add(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let permit = self
                .shared
                .hosts
                .acquire(&target)
                .await
                .map_err(|resets_in| RegistryError::BudgetSpent {
                    host: repo.host().to_string(),
                    repo: repo.path().to_string(),
                    resets_in,
                })?;
            let mut request = self.shared.http.request(method.clone(), url.clone());
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept.clone());
            }
            request = match auth {
                Some(HostAuth::Basic { username, password }) => {
                    request.basic_auth(username, Some(password))
                }
                Some(HostAuth::Bearer(token)) => request.bearer_auth(token),
                None => request,
            };
            self.requests.fetch_add(1, Ordering::Relaxed);
            let wait = match request.send().await {
                Ok(response) => {
                    permit.answered(response.headers());
                    let status = response.status();
                    crate::metrics::registry_request(&target, status.as_u16());
                    tracing::debug!(
                        host = repo.host(),
                        repo = repo.path(),
                        status = status.as_u16(),
                        %method,
                        attempt,
                        "registry answered"
                    );
                    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                        return Ok(response);
                    }
                    if attempt >= max_attempts {
                        return Err(self.status_error(repo, status, attempt));
                    }
                    response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, SystemTime::now()))
                        .map(|wait| wait.min(MAX_RETRY_WAIT))
                        .unwrap_or_else(|| self.backoff(attempt))
                }
                Err(error) => {
                    drop(permit);
                    crate::metrics::registry_request(&target, 0);
                    let reason = describe(&error);
                    tracing::debug!(
                        host = repo.host(),
                        repo = repo.path(),
                        %method,
                        attempt,
                        reason,
                        "request failed"
                    );
                    let retryable = !error.is_builder() && !error.is_redirect();
                    if attempt >= max_attempts || !retryable {
                        return Err(RegistryError::Transport {
                            host: repo.host().to_string(),
                            repo: repo.path().to_string(),
                            attempts: attempt,
                            reason,
                        });
                    }
                    self.backoff(attempt)
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// [`Inner::fetch`] of a successful answer and its whole body. A body
    /// cut short (the connection dropped or stalled mid-answer) is asked
    /// for again, like any transport failure, up to `max_retries` times:
    /// a half-read tag list is never used.
    pub(super) async fn fetch_body(
        &self,
        repo: &ImageRepo,
        method: Method,
        url: &Url,
        accept: Option<&HeaderValue>,
        what: &(dyn Fn() -> String + Sync),
    ) -> Result<(HeaderMap, Bytes), RegistryError> {
        let max_attempts = self.shared.options.max_retries.saturating_add(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self.fetch(repo, method.clone(), url, accept).await?;
            let response = self.check_status(repo, response, what)?;
            let headers = response.headers().clone();
            let error = match response.bytes().await {
                Ok(body) => return Ok((headers, body)),
                Err(error) => error,
            };
            let reason = format!(
                "the answer for {} was cut short: {}",
                what(),
                describe(&error)
            );
            tracing::debug!(
                host = repo.host(),
                repo = repo.path(),
                attempt,
                reason,
                "answer cut short"
            );
            if attempt >= max_attempts {
                return Err(RegistryError::Transport {
                    host: repo.host().to_string(),
                    repo: repo.path().to_string(),
                    attempts: attempt,
                    reason,
                });
            }
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    fn status_error(&self, repo: &ImageRepo, status: StatusCode, attempts: u32) -> RegistryError {
        let host = repo.host().to_string();
        let repo = repo.path().to_string();
        if status == StatusCode::TOO_MANY_REQUESTS {
            RegistryError::RateLimited {
                host,
                repo,
                attempts,
            }
        } else {
            RegistryError::Server {
                host,
                repo,
                status: status.as_u16(),
                attempts,
            }
        }
    }

    /// `retry_base * 2^(attempt-1)`, capped, scaled by a random factor in
    /// `[0.5, 1]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .shared
            .options
            .retry_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(MAX_RETRY_WAIT);
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let factor = 0.5 + (random % 1000) as f64 / 2000.0;
        exp.mul_f64(factor)
    }
}

/// The innermost cause of a transport error (e.g. "Connection refused").
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_string();
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// `Retry-After` as delay-seconds or an HTTP-date (IMF-fixdate, or the
/// obsolete forms RFC 9110 §5.6.7 asks recipients to accept), relative to
/// `now`. A date in the past means "now".
pub(super) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}
