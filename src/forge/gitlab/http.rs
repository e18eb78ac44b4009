//! The GitLab REST v4 transport under the `gitlab` crate: our own
//! `reqwest` client implements [`gitlab::api::RestClient`] and
//! [`gitlab::api::AsyncClient`], so the crate's typed endpoints build the
//! requests while we keep the `PRIVATE-TOKEN` header, the request timeout,
//! instances under a sub-path (`https://host/gitlab/api/v4`), and every
//! failure's status, message and `Retry-After` as a [`ForgeError`].
//!
//! Nothing here retries (see [`crate::forge::Retrying`]). The token is held in
//! a [`Token`] whose `Debug` prints nothing and is only ever sent under the
//! configured base URL: a request for any other URL is refused unsent.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use gitlab::api::{ApiError, AsyncQuery, Endpoint, Pageable, Pagination};
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::forge::ForgeError;

pub(super) const FORGE: &str = "gitlab";

/// Per-request limit (connect + answer). GitLab answers API calls in well
/// under a second; 30 s leaves room for a slow self-hosted instance without
/// letting one hung request stall a reconcile pass.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Stops a list that never ends: 100,000 items (1,000 pages of GitLab's
/// largest, 100) is far beyond what the bot lists.
const MAX_ITEMS: usize = 100_000;

/// Longest error body kept in a message.
const MAX_MESSAGE: usize = 300;

/// A secret that `Debug` does not print.
#[derive(Clone)]
pub(super) struct Token(String);

impl Token {
    pub(super) fn new(token: &str) -> Token {
        Token(token.to_string())
    }

    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The HTTP side of one GitLab instance.
#[derive(Clone, Debug)]
pub(super) struct Api {
    http: reqwest::Client,
    /// `…/api/v4` without a trailing slash.
    api: Url,
    token: Token,
}

/// A failure of our client as the crate carries it: the [`ForgeError`]
/// with the answer's status, message and rate-limit headers.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(super) struct Failed(ForgeError);

impl Api {
    pub(super) fn new(base: Url, token: Token) -> anyhow::Result<Api> {
        let mut api = base;
        let path = format!("{}/api/v4", api.path().trim_end_matches('/'));
        api.set_path(&path);
        api.set_query(None);
        api.set_fragment(None);
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("imagebump/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Api { http, api, token })
    }

    pub(super) fn token(&self) -> &Token {
        &self.token
    }

    /// Runs one endpoint and decodes its answer.
    pub(super) async fn call<E, T>(&self, endpoint: E) -> Result<T, ForgeError>
    where
        E: Endpoint + Sync,
        T: DeserializeOwned + Send + 'static,
    {
        endpoint.query_async(self).await.map_err(unwrap)
    }

    /// Every page of a list endpoint.
    pub(super) async fn all<E, T>(&self, endpoint: E) -> Result<Vec<T>, ForgeError>
    where
        E: Endpoint + Pageable + Sync,
        T: DeserializeOwned + Send + 'static,
    {
        gitlab::api::paged(endpoint, Pagination::Limit(MAX_ITEMS))
            .query_async(self)
            .await
            .map_err(unwrap)
    }

    /// The first item of a listing (one page of one item).
    pub(super) async fn first<E, T>(&self, endpoint: E) -> Result<Option<T>, ForgeError>
    where
        E: Endpoint + Pageable + Sync,
        T: DeserializeOwned + Send + 'static,
    {
        let items: Vec<T> = gitlab::api::paged(endpoint, Pagination::Limit(1))
            .query_async(self)
            .await
            .map_err(unwrap)?;
        Ok(items.into_iter().next())
    }

    /// Whether `url` is under this instance's API (the only place the
    /// token may go).
    fn ours(&self, url: &Url) -> bool {
        url.origin() == self.api.origin()
            && url
                .path()
                .strip_prefix(self.api.path())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// Our failure back out of the crate's error; the crate's own (a body it
/// cannot decode, a builder error) is a protocol error.
fn unwrap(e: ApiError<Failed>) -> ForgeError {
    match e {
        ApiError::Client { source } => source.0,
        other => ForgeError::Protocol {
            forge: FORGE,
            message: other.to_string(),
        },
    }
}

fn failed(e: ForgeError) -> ApiError<Failed> {
    ApiError::client(Failed(e))
}

impl gitlab::api::RestClient for Api {
    type Error = Failed;

    fn rest_endpoint(&self, endpoint: &str) -> Result<Url, ApiError<Failed>> {
        let text = format!("{}/{endpoint}", self.api.as_str().trim_end_matches('/'));
        Url::parse(&text).map_err(|e| {
            failed(ForgeError::Protocol {
                forge: FORGE,
                message: format!("bad URL {text}: {e}"),
            })
        })
    }
}

#[async_trait]
impl gitlab::api::AsyncClient for Api {
    /// Sends the crate's request with our client. Any non-2xx answer comes
    /// back as our error, so its headers (`Retry-After`) are not lost.
    async fn rest_async(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<http::Response<Bytes>, ApiError<Failed>> {
        let protocol = |message: String| {
            failed(ForgeError::Protocol {
                forge: FORGE,
                message,
            })
        };
        let request = request
            .body(body)
            .map_err(|e| protocol(format!("building a request: {e}")))?;
        let (parts, body) = request.into_parts();
        let url = Url::parse(&parts.uri.to_string())
            .map_err(|e| protocol(format!("bad URL {}: {e}", parts.uri)))?;
        if !self.ours(&url) {
            return Err(protocol(format!(
                "refusing to send the token to {}",
                url.origin().ascii_serialization()
            )));
        }
        let what = format!("{} {}", parts.method, url.path());
        let rsp = self
            .http
            .request(parts.method, url)
            .headers(parts.headers)
            .header("PRIVATE-TOKEN", self.token.expose())
            .body(body)
            .send()
            .await
            .map_err(|e| failed(transport(&what, &e)))?;
        let status = rsp.status();
        let headers = rsp.headers().clone();
        if !status.is_success() {
            let text = rsp.text().await.unwrap_or_default();
            return Err(failed(status_error(status, &headers, &text, &what)));
        }
        let bytes = rsp
            .bytes()
            .await
            .map_err(|e| failed(transport(&what, &e)))?;
        let mut out = http::Response::builder().status(status);
        if let Some(h) = out.headers_mut() {
            *h = headers;
        }
        out.body(bytes)
            .map_err(|e| protocol(format!("{what}: {e}")))
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn transport(what: &str, e: &reqwest::Error) -> ForgeError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    ForgeError::Transport {
        forge: FORGE,
        message: format!("{what}: {kind}: {e}"),
    }
}

/// Maps a non-2xx answer.
pub(super) fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    what: &str,
) -> ForgeError {
    let message = error_message(body);
    let code = status.as_u16();
    match code {
        401 | 403 => ForgeError::Unauthorized {
            forge: FORGE,
            status: code,
            message,
        },
        404 => ForgeError::NotFound {
            forge: FORGE,
            what: format!("{what}: {message}"),
        },
        429 => ForgeError::RateLimited {
            forge: FORGE,
            retry_after: retry_after(headers),
        },
        500..=599 => ForgeError::Server {
            forge: FORGE,
            status: code,
            message,
        },
        _ => ForgeError::Rejected {
            forge: FORGE,
            status: code,
            message,
        },
    }
}

/// GitLab's error text: `message` as a string, an array of strings or an
/// object of field → messages; or Grape's `error`; else the body itself.
pub(super) fn error_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return shorten(body.trim());
    };
    let found = value.get("message").or_else(|| value.get("error"));
    match found {
        Some(v) => shorten(&flatten(v)),
        None => shorten(body.trim()),
    }
}

fn flatten(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(flatten).collect::<Vec<_>>().join("; "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k} {}", flatten(v)))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE {
        return s.to_string();
    }
    let cut: String = s.chars().take(MAX_MESSAGE).collect();
    format!("{cut}…")
}

/// `Retry-After` seconds, else the `RateLimit-Reset` epoch from now.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(secs) = header_str(headers, "retry-after").and_then(|v| v.trim().parse().ok()) {
        return Some(Duration::from_secs(secs));
    }
    let reset: u64 = header_str(headers, "ratelimit-reset")?
        .trim()
        .parse()
        .ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

#[cfg(test)]
mod tests;
