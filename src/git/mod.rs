//! Git for one environment repository (docs/ARCHITECTURE.md, Effects): a bare mirror per
//! repo under the data dir, fetched incrementally with gix; reading trees
//! and files at a commit; building commits without a work tree (signed
//! with SSH like git's `gpg.format=ssh` when a key is given); pushing
//! with the `git` CLI (gix cannot push) under `--force-with-lease`.
//!
//! Invariants:
//! - the mirror's branches equal the remote's after a fetch
//!   (`+refs/heads/*:refs/heads/*`, branches deleted upstream are pruned);
//! - a push needs the repository's [`RepoGuard`](crate::lock::RepoGuard);
//! - credentials ([`GitAuth`]) reach only the one gix connection or `git`
//!   process that needs them, as an HTTP header in memory or in that
//!   process's environment: never argv, never disk, never a log line.
//!
//! Nothing here knows about forges or merge requests.

mod commit;
mod history;
mod mirror;
mod push;
mod sign;
mod tree;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use base64::Engine;

pub use history::LineCommit;
pub use mirror::Mirror;
pub use sign::SigningKey;

/// Credentials for one remote, passed only to the one `git`/gix process or
/// connection that needs them.
#[derive(Clone)]
pub struct GitAuth {
    /// The value of the HTTP `Authorization` header.
    header: String,
    /// Strings that must never appear in a message (the raw secrets and
    /// their encoded forms).
    secrets: Vec<String>,
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GitAuth(***)")
    }
}

impl GitAuth {
    /// HTTP basic authentication, e.g. `("x-access-token", token)` for
    /// GitHub or `("oauth2", token)` for GitLab.
    pub fn basic(username: &str, password: &str) -> Self {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        GitAuth {
            header: format!("Authorization: Basic {encoded}"),
            secrets: vec![password.to_string(), encoded],
        }
    }

    /// A bearer token.
    pub fn bearer(token: &str) -> Self {
        GitAuth {
            header: format!("Authorization: Bearer {token}"),
            secrets: vec![token.to_string()],
        }
    }

    /// The full `Authorization: …` header line.
    pub(crate) fn header(&self) -> &str {
        &self.header
    }

    /// `text` with every secret replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if !s.is_empty() {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

/// Author and committer of the commits the bot makes, and the key that
/// signs them (none: unsigned commits).
#[derive(Clone, Debug)]
pub struct Signature {
    pub name: String,
    pub email: String,
    pub signing_key: Option<Arc<SigningKey>>,
}

/// What a commit says, as far as the bot cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    pub sha: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub author_email: String,
    pub committer_email: String,
    /// Committer time, in milliseconds since the Unix epoch.
    pub committed_ms: i64,
    pub message: String,
}

/// What the remote branch must be for a push to go through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lease {
    /// The branch must not exist yet.
    MustNotExist,
    /// The branch must point at this sha.
    Expect(String),
}

/// Why a push did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Not a fast-forward, or the lease was stale: the caller fetches,
    /// rebuilds and retries.
    #[error("push rejected: {0}")]
    Rejected(String),
    /// Anything else, with git's stderr (credentials redacted).
    #[error("push failed: {0}")]
    Failed(String),
}

/// Removes `user:password@` from a URL so it can be shown.
pub(crate) fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if let Some((_, host)) = authority.rsplit_once('@') {
            return format!("{scheme}://***@{host}{path}");
        }
    }
    url.to_string()
}

/// `text` without credentials: neither `auth`'s secrets nor the password
/// in `url`.
pub(crate) fn redact_text(text: &str, url: &str, auth: Option<&GitAuth>) -> String {
    let mut out = text.replace(url, &redact_url(url));
    if let Some(auth) = auth {
        out = auth.redact(&out);
    }
    out
}

/// An error whose whole chain is redacted with [`redact_text`].
pub(crate) fn redact_error(e: anyhow::Error, url: &str, auth: Option<&GitAuth>) -> anyhow::Error {
    anyhow::anyhow!(redact_text(&format!("{e:#}"), url, auth))
}

/// Whether the URL uses HTTP(S), where [`GitAuth`] applies.
pub(crate) fn is_http(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}
