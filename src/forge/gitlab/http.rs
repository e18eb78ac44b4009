//! The GitLab REST v4 transport: one `reqwest` client, the `PRIVATE-TOKEN`
//! header, status → [`ForgeError`] mapping and page following.
//!
//! Nothing here retries (see [`crate::forge::retry`]). The token is held in
//! a [`Token`] whose `Debug` prints nothing and is only ever sent to the
//! configured base URL: `Link: rel="next"` URLs on another origin are not
//! followed (the `X-Next-Page` number is used instead).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::forge::ForgeError;

pub(super) const FORGE: &str = "gitlab";

/// Per-request limit (connect + answer). GitLab answers API calls in well
/// under a second; 30 s leaves room for a slow self-hosted instance without
/// letting one hung request stall a reconcile pass.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest page GitLab serves (`per_page` is capped at 100 by the server).
pub const PER_PAGE: u32 = 100;

/// Stops a list that never ends (a misbehaving proxy repeating the same
/// `X-Next-Page`): 1,000 pages of 100 is far beyond what the bot lists.
const MAX_PAGES: usize = 1000;

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

    /// `path` is relative to `/api/v4` and already percent-encoded
    /// (`/projects/group%2Fenv/merge_requests`).
    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, ForgeError> {
        let text = format!("{}{}", self.api.as_str().trim_end_matches('/'), path);
        let mut url = Url::parse(&text).map_err(|e| ForgeError::Protocol {
            forge: FORGE,
            message: format!("bad URL {text}: {e}"),
        })?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, ForgeError> {
        let what = format!("{method} {}", url.path());
        let mut req = self
            .http
            .request(method, url)
            .header("PRIVATE-TOKEN", self.token.expose());
        if let Some(body) = body {
            req = req.json(body);
        }
        let rsp = req.send().await.map_err(|e| transport(&what, &e))?;
        if rsp.status().is_success() {
            return Ok(rsp);
        }
        let status = rsp.status();
        let headers = rsp.headers().clone();
        let text = rsp.text().await.unwrap_or_default();
        Err(status_error(status, &headers, &text, &what))
    }

    async fn decode<T: DeserializeOwned>(rsp: reqwest::Response) -> Result<T, ForgeError> {
        let what = rsp.url().path().to_string();
        let bytes = rsp.bytes().await.map_err(|e| transport(&what, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| ForgeError::Protocol {
            forge: FORGE,
            message: format!("{what}: {e}"),
        })
    }

    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ForgeError> {
        let url = self.url(path, query)?;
        Self::decode(self.send(Method::GET, url, None).await?).await
    }

    /// Sends `body` as JSON and decodes the answer.
    pub(super) async fn write<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<T, ForgeError> {
        let url = self.url(path, &[])?;
        Self::decode(self.send(method, url, Some(body)).await?).await
    }

    /// Every page of a list endpoint, following `Link: rel="next"` on the
    /// same origin, else `X-Next-Page`.
    pub(super) async fn get_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, ForgeError> {
        let mut query = query.to_vec();
        query.push(("per_page", PER_PAGE.to_string()));
        let mut url = self.url(path, &query)?;
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let rsp = self.send(Method::GET, url.clone(), None).await?;
            let next = self.next_page(&url, rsp.headers());
            let page: Vec<T> = Self::decode(rsp).await?;
            all.extend(page);
            match next {
                Some(n) => url = n,
                None => return Ok(all),
            }
        }
        Err(ForgeError::Protocol {
            forge: FORGE,
            message: format!("{path}: more than {MAX_PAGES} pages"),
        })
    }

    fn next_page(&self, current: &Url, headers: &HeaderMap) -> Option<Url> {
        if let Some(link) = link_next(headers)
            && let Ok(next) = current.join(&link)
            && next.origin() == self.api.origin()
            && next.path().starts_with(self.api.path())
        {
            return Some(next);
        }
        let page = header_str(headers, "x-next-page")?.trim();
        let page: u64 = page.parse().ok()?;
        let mut next = current.clone();
        let kept: Vec<(String, String)> = current
            .query_pairs()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        {
            let mut pairs = next.query_pairs_mut();
            pairs.clear();
            for (k, v) in &kept {
                pairs.append_pair(k, v);
            }
            pairs.append_pair("page", &page.to_string());
        }
        Some(next)
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The `rel="next"` target of a `Link` header, if any.
fn link_next(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all("link") {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(',') {
            let mut pieces = part.split(';');
            let target = pieces.next()?.trim();
            let is_next = pieces.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                return Some(
                    target
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string(),
                );
            }
        }
    }
    None
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

/// Percent-encodes one path segment (everything but RFC 3986 unreserved),
/// so `group/sub/env` becomes `group%2Fsub%2Fenv` and a branch or SHA is
/// safe inside a path.
pub(super) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
