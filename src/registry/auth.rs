//! Authentication: the `WWW-Authenticate` challenge, bearer tokens and
//! their cache, and when credentials may be sent.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};

use super::http::host_port;
use super::{HostAuth, Inner, RegistryError};
use crate::domain::ImageRepo;

/// Lifetime of a bearer token whose answer has no `expires_in`.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// A cached token is dropped this long before it expires.
const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    Basic,
}

/// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let params = parse_auth_params(rest);
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Some(Challenge::Bearer {
            realm: get("realm").filter(|r| !r.is_empty())?,
            service: get("service"),
            scope: get("scope"),
        }),
        "basic" => Some(Challenge::Basic),
        _ => None,
    }
}

/// `key=value` / `key="quoted, \"value\""` pairs, keys lower-cased.
fn parse_auth_params(s: &str) -> Vec<(String, String)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        let key = s[start..i].trim().to_ascii_lowercase();
        if i >= b.len() || b[i] == b',' {
            continue;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = Vec::new();
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                v.push(b[i]);
                i += 1;
            }
            i += 1;
            String::from_utf8_lossy(&v).into_owned()
        } else {
            let start = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            s[start..i].trim().to_string()
        };
        if !key.is_empty() {
            out.push((key, value));
        }
    }
    out
}

/// Bearer tokens per (API host, scope), and the hosts known to want Basic.
#[derive(Default)]
pub(super) struct TokenCache {
    tokens: Mutex<HashMap<(String, String), (String, Instant)>>,
    basic_hosts: Mutex<HashSet<String>>,
}

impl TokenCache {
    fn get(&self, host: &str, scope: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let (token, expires) = tokens.get(&(host.to_string(), scope.to_string()))?;
        (Instant::now() < *expires).then(|| token.clone())
    }

    fn insert(&self, host: &str, scope: &str, token: &str, lifetime: Duration) {
        let lifetime = lifetime.saturating_sub(TOKEN_EXPIRY_MARGIN);
        if lifetime.is_zero() {
            return;
        }
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.insert(
            (host.to_string(), scope.to_string()),
            (token.to_string(), Instant::now() + lifetime),
        );
    }

    fn remove(&self, host: &str, scope: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.remove(&(host.to_string(), scope.to_string()));
    }

    fn wants_basic(&self, host: &str) -> bool {
        let hosts = self.basic_hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts.contains(host)
    }

    fn mark_basic(&self, host: &str) {
        let mut hosts = self.basic_hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts.insert(host.to_string());
    }
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl Inner {
    /// Sends a request for `repo`, answering a 401 challenge once. The
    /// answer is never 401/403 (those become `Unauthorized`).
    pub(super) async fn fetch(
        &self,
        repo: &ImageRepo,
        method: Method,
        url: &Url,
        accept: Option<&HeaderValue>,
    ) -> Result<Response, RegistryError> {
        let api_host = repo.api_host();
        let scope = format!("repository:{}:pull", repo.path());
        let looked_up = self.shared.credentials.lookup(repo.host()).await;
        let configured = looked_up.as_ref();
        let basic = configured.filter(|a| matches!(a, HostAuth::Basic { .. }));
        let first = match configured {
            Some(HostAuth::Bearer(token)) => Some(HostAuth::Bearer(token.clone())),
            _ => self
                .shared
                .tokens
                .get(api_host, &scope)
                .map(HostAuth::Bearer)
                .or_else(|| {
                    basic
                        .filter(|_| self.shared.tokens.wants_basic(api_host))
                        .cloned()
                }),
        };
        let response = self
            .send(repo, &method, url, accept, first.as_ref())
            .await?;
        let status = response.status();
        if status == StatusCode::FORBIDDEN {
            return Err(self.unauthorized(repo, status, configured.is_some()));
        }
        if status != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        if matches!(configured, Some(HostAuth::Bearer(_))) {
            return Err(self.unauthorized(repo, status, true));
        }
        let challenges: Vec<Challenge> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(parse_challenge)
            .collect();
        let bearer = challenges
            .iter()
            .find(|c| matches!(c, Challenge::Bearer { .. }));
        let auth = match (bearer, challenges.first()) {
            (Some(Challenge::Bearer { realm, service, .. }), _) => {
                let token = self
                    .fetch_token(repo, realm, service.as_deref(), &scope)
                    .await?;
                HostAuth::Bearer(token)
            }
            (_, Some(Challenge::Basic)) if first.is_none() && self.credentials_allowed(url) => {
                match basic {
                    Some(b) => {
                        self.shared.tokens.mark_basic(api_host);
                        b.clone()
                    }
                    None => return Err(self.unauthorized(repo, status, false)),
                }
            }
            _ => return Err(self.unauthorized(repo, status, first.is_some())),
        };
        tracing::debug!(
            host = repo.host(),
            repo = repo.path(),
            "retrying with credentials"
        );
        let response = self.send(repo, &method, url, accept, Some(&auth)).await?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            self.shared.tokens.remove(api_host, &scope);
            return Err(self.unauthorized(repo, status, basic.is_some()));
        }
        Ok(response)
    }

    /// Gets a bearer token for `scope` from `realm` (with Basic credentials
    /// when configured) and caches it.
    async fn fetch_token(
        &self,
        repo: &ImageRepo,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, RegistryError> {
        let mut url = Url::parse(realm)
            .map_err(|e| self.protocol(repo, format!("bad token realm {realm:?}: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope);
        }
        let looked_up = self.shared.credentials.lookup(repo.host()).await;
        let basic = match looked_up.as_ref() {
            Some(b @ HostAuth::Basic { .. }) if self.credentials_allowed(&url) => Some(b),
            Some(HostAuth::Basic { .. }) => {
                tracing::warn!(
                    host = repo.host(),
                    realm = host_port(&url),
                    "not sending credentials over plain HTTP; asking for an anonymous token"
                );
                None
            }
            _ => None,
        };
        let response = self.send(repo, &Method::GET, &url, None, basic).await?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(self.unauthorized(repo, status, basic.is_some()));
        }
        if !status.is_success() {
            return Err(self.protocol(repo, format!("token endpoint answered {status}")));
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|e| self.protocol(repo, format!("bad token answer: {e}")))?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.protocol(repo, "the token answer has no token"))?;
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        self.shared
            .tokens
            .insert(repo.api_host(), scope, &token, lifetime);
        tracing::debug!(host = repo.host(), repo = repo.path(), "got a bearer token");
        Ok(token)
    }

    /// Credentials go over HTTPS, or plain HTTP to loopback/insecure hosts.
    fn credentials_allowed(&self, url: &Url) -> bool {
        url.scheme() == "https" || self.plain_http_allowed(&host_port(url))
    }

    fn unauthorized(&self, repo: &ImageRepo, status: StatusCode, sent: bool) -> RegistryError {
        let (who, hint) = if sent {
            ("credentials", "check the credentials for this host")
        } else {
            (
                "anonymous access",
                "add credentials for this host to the Docker config.json",
            )
        };
        RegistryError::Unauthorized {
            host: repo.host().to_string(),
            repo: repo.path().to_string(),
            status: status.as_u16(),
            who,
            hint,
        }
    }
}
