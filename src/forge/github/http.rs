//! The one door to the GitHub REST and GraphQL APIs: every request of
//! [`super::GitHub`] goes through [`Api::send`], which applies the request
//! timeout, maps failures to [`ForgeError`] by HTTP status, and parses the
//! body as JSON. [`Api::all_pages`] follows `Link: rel="next"` to the end.
//!
//! Octocrab's own retry layer is off; [`crate::forge::Retrying`] decides. Tokens
//! never appear in errors or logs: only GitHub's `message` does.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use octocrab::Octocrab;
use serde_json::Value;

use crate::forge::ForgeError;

pub(super) const FORGE: &str = "github";

/// Longest a single request (connect, send, full answer) may take. GitHub
/// answers nearly everything within a few seconds; 30 s leaves room for a
/// slow merge while still freeing a stuck reconcile.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Upper bound on pages followed in one listing (100 items a page), so a
/// server that keeps sending `rel="next"` cannot loop us forever.
const MAX_PAGES: usize = 200;

#[derive(Clone, Copy, Debug)]
pub(super) enum Verb {
    Get,
    Post,
    Patch,
    Put,
}

/// A successful answer: the `Link` header's next page (path and query
/// only) and the JSON body (`Value::Null` when empty).
pub(super) struct Reply {
    pub next: Option<String>,
    pub body: Value,
}

#[derive(Clone)]
pub(super) struct Api {
    pub crab: Octocrab,
    pub timeout: Duration,
}

impl Api {
    /// Sends one request to `path` (relative to the API base, with query).
    pub async fn send(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ForgeError> {
        match tokio::time::timeout(self.timeout, self.send_inner(verb, path, body, None)).await {
            Ok(result) => result,
            Err(_) => Err(ForgeError::Transport {
                forge: FORGE,
                message: format!("{verb:?} {path}: no answer within {:?}", self.timeout),
            }),
        }
    }

    /// Sends one request with `Authorization: Bearer <token>` set here,
    /// for a client that has no auth of its own (the GraphQL endpoint,
    /// whose base differs from the REST base on GHES: the token is minted
    /// through the REST client, under `/api/v3`).
    pub async fn send_as(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
        token: &str,
    ) -> Result<Reply, ForgeError> {
        let exchange = self.send_inner(verb, path, body, Some(token));
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ForgeError::Transport {
                forge: FORGE,
                message: format!("{verb:?} {path}: no answer within {:?}", self.timeout),
            }),
        }
    }

    async fn send_inner(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<Reply, ForgeError> {
        let crab = &self.crab;
        let response =
            match token {
                None => match verb {
                    Verb::Get => crab._get(path).await,
                    Verb::Post => crab._post(path, body).await,
                    Verb::Patch => crab._patch(path, body).await,
                    Verb::Put => crab._put(path, body).await,
                },
                Some(token) => {
                    let method = match verb {
                        Verb::Get => http::Method::GET,
                        Verb::Post => http::Method::POST,
                        Verb::Patch => http::Method::PATCH,
                        Verb::Put => http::Method::PUT,
                    };
                    let mut auth = http::HeaderValue::from_str(&format!("Bearer {token}"))
                        .map_err(|_| ForgeError::Protocol {
                            forge: FORGE,
                            message: "the token is not a valid header value".to_string(),
                        })?;
                    auth.set_sensitive(true);
                    let builder = http::Request::builder()
                        .method(method)
                        .uri(path)
                        .header(http::header::AUTHORIZATION, auth);
                    match crab.build_request(builder, body) {
                        Ok(request) => crab.execute(request).await,
                        Err(e) => Err(e),
                    }
                }
            }
            .map_err(|e| map_error(&e, path))?;
        let response = octocrab::map_github_error(response)
            .await
            .map_err(|e| map_error(&e, path))?;
        let next = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let text = crab
            .body_to_string(response)
            .await
            .map_err(|e| map_error(&e, path))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| ForgeError::Protocol {
                forge: FORGE,
                message: format!("{path}: body is not JSON: {e}"),
            })?
        };
        Ok(Reply { next, body })
    }

    /// GETs `first` and every following page; `items` picks the list out of
    /// a page's body (the body itself, or a field like `check_runs`).
    pub async fn all_pages(
        &self,
        first: &str,
        items: fn(Value) -> Option<Vec<Value>>,
    ) -> Result<Vec<Value>, ForgeError> {
        let mut all = Vec::new();
        let mut url = Some(first.to_string());
        let mut pages = 0;
        while let Some(path) = url {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(ForgeError::Protocol {
                    forge: FORGE,
                    message: format!("{first}: more than {MAX_PAGES} pages"),
                });
            }
            let reply = self.send(Verb::Get, &path, None).await?;
            let page = items(reply.body).ok_or_else(|| ForgeError::Protocol {
                forge: FORGE,
                message: format!("{path}: page is not a list"),
            })?;
            all.extend(page);
            url = reply.next;
        }
        Ok(all)
    }
}

/// The list a plain listing endpoint answers.
pub(super) fn array(v: Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(items) => Some(items),
        _ => None,
    }
}

/// The path and query of the `rel="next"` entry of a `Link` header. The
/// scheme and host are dropped so the request goes through octocrab's base
/// URI and auth layers like any other (an absolute URL would lose the
/// installation token).
pub(super) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        if !is_next {
            return None;
        }
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        match url.split_once("://") {
            Some((_, rest)) => rest.find('/').map(|i| rest[i..].to_string()),
            None => Some(url.to_string()),
        }
    })
}

/// Maps an octocrab failure to a [`ForgeError`] by HTTP status.
pub(super) fn map_error(error: &octocrab::Error, path: &str) -> ForgeError {
    match error {
        octocrab::Error::GitHub { source, .. } => map_status(source, path),
        octocrab::Error::Service { source, .. } => ForgeError::Transport {
            forge: FORGE,
            message: format!("{path}: {source}"),
        },
        octocrab::Error::Hyper { source, .. } => ForgeError::Transport {
            forge: FORGE,
            message: format!("{path}: {source}"),
        },
        octocrab::Error::JWT { source, .. } => ForgeError::Unauthorized {
            forge: FORGE,
            status: 0,
            message: format!("cannot sign the app JWT: {source}"),
        },
        other => ForgeError::Protocol {
            forge: FORGE,
            message: format!("{path}: {other}"),
        },
    }
}

fn map_status(e: &octocrab::GitHubError, path: &str) -> ForgeError {
    let status = e.status_code.as_u16();
    let header = |name: &str| {
        e.headers
            .as_ref()
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let message = full_message(e);
    if status == 403 || status == 429 {
        let retry_after = header("retry-after").and_then(|s| s.trim().parse::<u64>().ok());
        let exhausted = header("x-ratelimit-remaining").as_deref() == Some("0");
        let secondary = message.to_ascii_lowercase().contains("rate limit");
        if status == 429 || retry_after.is_some() || exhausted || secondary {
            let retry_after = retry_after.map(Duration::from_secs).or_else(|| {
                let reset = header("x-ratelimit-reset")?.parse::<u64>().ok()?;
                let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
                Some(Duration::from_secs(reset.saturating_sub(now)))
            });
            return ForgeError::RateLimited {
                forge: FORGE,
                retry_after,
            };
        }
    }
    match status {
        401 | 403 => ForgeError::Unauthorized {
            forge: FORGE,
            status,
            message,
        },
        404 => ForgeError::NotFound {
            forge: FORGE,
            what: path.to_string(),
        },
        500..=599 => ForgeError::Server {
            forge: FORGE,
            status,
            message,
        },
        _ => ForgeError::Rejected {
            forge: FORGE,
            status,
            message,
        },
    }
}

/// GitHub's `message`, then each `errors[].message` (or `code`), e.g.
/// `Validation Failed: A pull request already exists for acme:imagebump/web.`
fn full_message(e: &octocrab::GitHubError) -> String {
    let details: Vec<String> = e
        .errors
        .iter()
        .flatten()
        .filter_map(|err| match err {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o
                .get("message")
                .or_else(|| o.get("code"))
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        })
        .collect();
    if details.is_empty() {
        e.message.clone()
    } else {
        format!("{}: {}", e.message, details.join("; "))
    }
}

#[cfg(test)]
mod tests;
