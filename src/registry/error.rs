//! Why a registry call failed, as callers branch on it and people read it.

use std::time::Duration;

/// Why a registry call failed. `host` is the registry host as written in
/// image names, `repo` the repository path inside it.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RegistryError {
    /// 401/403 after the authentication attempt. Not retried.
    #[error("registry {host} refused {who} for {repo} ({status}): {hint}")]
    Unauthorized {
        host: String,
        repo: String,
        status: u16,
        who: &'static str,
        hint: &'static str,
    },
    /// 404. Not retried.
    #[error("{what} not found on registry {host}: check the image name")]
    NotFound {
        host: String,
        repo: String,
        what: String,
    },
    /// The host's reported budget (`ratelimit-remaining`) allows no
    /// request for longer than [`super::budget::MAX_BUDGET_WAIT`]: not sent.
    #[error(
        "registry {host} has spent its request budget for us (ratelimit-remaining) until \
         about {}s from now: {repo} was not asked, to spare the budget; it is tried again later",
        resets_in.as_secs()
    )]
    BudgetSpent {
        host: String,
        repo: String,
        resets_in: Duration,
    },
    /// 429 after all retries.
    #[error(
        "registry {host} kept rate-limiting requests for {repo} (429) after {attempts} attempts: \
         lower the request rate or try again later"
    )]
    RateLimited {
        host: String,
        repo: String,
        attempts: u32,
    },
    /// 5xx after all retries.
    #[error(
        "registry {host} answered {status} for {repo} after {attempts} attempts: \
         the registry is failing, try again later"
    )]
    Server {
        host: String,
        repo: String,
        status: u16,
        attempts: u32,
    },
    /// Connection refused, DNS failure, timeout… after all retries.
    #[error(
        "cannot reach registry {host} for {repo} after {attempts} attempts ({reason}): \
         check the host name, the network and that the registry is up"
    )]
    Transport {
        host: String,
        repo: String,
        attempts: u32,
        reason: String,
    },
    /// The registry answered something we cannot use.
    #[error("registry {host} sent an unusable answer for {repo}: {reason}")]
    Protocol {
        host: String,
        repo: String,
        reason: String,
    },
}

impl RegistryError {
    /// Whether the failure passes by itself (an outage, a rate limit, a
    /// spent budget), so that asking again later may succeed; not a wrong
    /// name, a refused credential or an answer that makes no sense.
    pub fn is_passing(&self) -> bool {
        matches!(
            self,
            RegistryError::BudgetSpent { .. }
                | RegistryError::RateLimited { .. }
                | RegistryError::Server { .. }
                | RegistryError::Transport { .. }
        )
    }
}
