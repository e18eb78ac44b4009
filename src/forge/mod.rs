//! Merge requests on the Git platform: one small trait, three
//! implementations (`github`, `gitlab`, `direct`).
//!
//! The trait speaks only in this module's types; each implementation
//! converts its platform's models at the boundary. Implementations do not
//! retry by themselves: [`Retrying`] wraps one and runs its calls through
//! [`retry`], which decides what is worth retrying (5xx, timeouts, 429 with
//! `Retry-After`); a create is never repeated blindly (the caller re-lists
//! before creating again).

pub mod gitlab;
mod retrying;

use std::time::Duration;

use async_trait::async_trait;

pub mod github;
pub use retrying::Retrying;

/// A repository found by discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// `owner/name` or `group/sub/name`.
    pub path: String,
    pub clone_url: String,
    pub default_branch: String,
}

/// A merge request (GitHub pull request, GitLab merge request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeRequest {
    /// PR number (GitHub) or MR iid (GitLab).
    pub number: u64,
    /// GraphQL node id (GitHub), used for auto-merge.
    pub node_id: Option<String>,
    pub title: String,
    pub body: String,
    /// Source branch name, without `refs/heads/`.
    pub head_branch: String,
    /// Commit the head branch pointed at, as the forge reports it.
    pub head_sha: String,
    pub base_branch: String,
    pub state: MrState,
    pub web_url: String,
    /// Auto-merge is already enabled on it.
    pub auto_merge: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MrState {
    Open,
    /// Closed without merging.
    Closed,
    Merged,
}

/// What to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MrDraft {
    pub head_branch: String,
    pub base_branch: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    /// Users or `org/team` slugs (GitHub) / usernames (GitLab).
    pub reviewers: Vec<String>,
}

/// The combined result of a commit's checks (statuses, check runs,
/// pipelines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checks {
    /// Some are still running (or queued).
    Pending,
    Success,
    Failure,
    /// No checks are configured for the commit.
    None,
}

/// What asking for native auto-merge did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AutoMerge {
    /// The platform will merge once its checks pass.
    Enabled,
    /// The platform merged at once (its checks had already passed).
    Merged,
    /// Not asked, or refused for now (no pipeline on the head yet, a
    /// pipeline failed): ask again on the next run. Meanwhile the caller
    /// merges itself only if the head's checks are green.
    NotYet(String),
    /// The platform or repository does not allow it for this head (the
    /// reason as given); the caller merges itself once checks pass.
    Unavailable(String),
}

/// What a merge request did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Merge {
    Merged,
    /// The platform will not merge it now (reviews or required checks
    /// missing, conflicts, the bot may not merge, the head moved): the
    /// platform's reason, shown on the MR. Not an error.
    Refused(String),
}

/// An MR just opened, and what went wrong with its extras (reviewers
/// that could not be requested, with the platform's reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    pub mr: MergeRequest,
    pub problems: Vec<String>,
}

/// Why a forge call failed.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// 401/403: the token or app lacks access.
    #[error("{forge} refused the credentials ({status}): {message}")]
    Unauthorized {
        forge: &'static str,
        status: u16,
        message: String,
    },
    #[error("{forge}: not found: {what}")]
    NotFound { forge: &'static str, what: String },
    /// 409/422: the request conflicts with the platform's state (an MR for
    /// the branch already exists, the MR is not mergeable, …).
    #[error("{forge} rejected the request ({status}): {message}")]
    Rejected {
        forge: &'static str,
        status: u16,
        message: String,
    },
    /// 429 or a rate-limit 403; `retry_after` when the platform said.
    #[error("{forge} rate limit hit; retry after {retry_after:?}")]
    RateLimited {
        forge: &'static str,
        retry_after: Option<Duration>,
    },
    /// 5xx.
    #[error("{forge} server error ({status}): {message}")]
    Server {
        forge: &'static str,
        status: u16,
        message: String,
    },
    /// Connection failure or timeout.
    #[error("{forge} unreachable: {message}")]
    Transport {
        forge: &'static str,
        message: String,
    },
    /// An answer that does not parse.
    #[error("{forge} sent an unexpected answer: {message}")]
    Protocol {
        forge: &'static str,
        message: String,
    },
}

impl ForgeError {
    /// 5xx, timeouts and rate limits are worth another try.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ForgeError::Server { .. }
                | ForgeError::Transport { .. }
                | ForgeError::RateLimited { .. }
        )
    }
}

/// A commit the platform makes (`commit = "api"`): on `branch`, with
/// `parent` (the base's head) as its only parent and the parent's tree with
/// `files` replaced. The branch is created, or moved off `replaces`.
#[derive(Clone, Debug)]
pub struct ApiCommit<'a> {
    pub branch: &'a str,
    pub parent: &'a str,
    /// The branch's head now; `None`: the branch does not exist yet.
    pub replaces: Option<&'a str>,
    pub message: &'a str,
    /// `(path, new text)`, exactly the bytes a git commit would hold.
    pub files: &'a [(String, String)],
    /// The configured identity (GitLab records it as the author; GitHub
    /// authors API commits as the App's bot user).
    pub author_name: &'a str,
    pub author_email: &'a str,
}

/// The operations reconcile needs from a Git platform.
#[async_trait]
pub trait Forge: Send + Sync {
    /// `github`, `gitlab` or `direct`, for logs.
    fn kind(&self) -> &'static str;

    /// Username and token for git over HTTPS, current now (an installation
    /// token is refreshed before it expires).
    async fn git_credentials(&self) -> Result<(String, String), ForgeError>;

    /// Open MRs whose head branch starts with `branch_prefix`, every page.
    async fn open_mrs(&self, branch_prefix: &str) -> Result<Vec<MergeRequest>, ForgeError>;

    /// Closed and merged MRs of one head branch, newest first, every page.
    async fn closed_mrs(&self, head_branch: &str) -> Result<Vec<MergeRequest>, ForgeError>;

    /// One MR by number, whatever its state.
    async fn get_mr(&self, number: u64) -> Result<MergeRequest, ForgeError>;

    /// Whether `user` may push to the repository (GitHub: admin, maintain
    /// or write; GitLab: Developer or above). Unknown users cannot.
    async fn can_write(&self, user: &str) -> Result<bool, ForgeError>;

    /// Opens an MR, then adds labels and requests reviewers. Reviewers the
    /// platform refuses are reported in [`Opened::problems`]; the MR
    /// stays open.
    async fn create_mr(&self, draft: &MrDraft) -> Result<Opened, ForgeError>;

    /// Replaces title and body.
    async fn update_mr(&self, number: u64, title: &str, body: &str) -> Result<(), ForgeError>;

    /// Closes without merging.
    async fn close_mr(&self, number: u64) -> Result<(), ForgeError>;

    /// Bodies of the MR's comments (notes), oldest first, every page.
    async fn comments(&self, number: u64) -> Result<Vec<String>, ForgeError>;

    async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError>;

    /// Combined state of the checks of the MR's head (`mr.head_sha`).
    async fn checks(&self, mr: &MergeRequest) -> Result<Checks, ForgeError>;

    /// Combined state of the checks of commit `sha` of the base branch
    /// (promotion's `require: [checks]`, `reconcile/promote.rs`).
    async fn commit_checks(&self, sha: &str) -> Result<Checks, ForgeError>;

    /// Asks for the platform's auto-merge (merge once checks pass) of the
    /// head `mr.head_sha`, never for a head whose checks have not started.
    async fn enable_auto_merge(&self, mr: &MergeRequest) -> Result<AutoMerge, ForgeError>;

    /// Switches the platform's auto-merge of `mr` off (a rollback hold
    /// came after it was switched on: src/rollback/).
    async fn disable_auto_merge(&self, mr: &MergeRequest) -> Result<(), ForgeError>;

    /// Merges now, only if the head is still `mr.head_sha`. A refusal that
    /// is the platform's normal answer on a protected branch is
    /// [`Merge::Refused`], not an error.
    async fn merge(&self, mr: &MergeRequest) -> Result<Merge, ForgeError>;

    /// Makes `commit` through the platform's API; returns its SHA.
    async fn commit_via_api(&self, commit: &ApiCommit<'_>) -> Result<String, ForgeError>;

    /// The author email of commits [`Forge::commit_via_api`] makes, when it
    /// is not the configured identity (GitHub: the App's bot user).
    async fn api_author_email(&self) -> Result<Option<String>, ForgeError>;

    /// Opens an issue titled `title` with `body`, or comments `body` on the
    /// open one with that title (the bot's tracking issue for problems that
    /// have no MR to comment on). Returns the issue number.
    async fn report_issue(&self, title: &str, body: &str) -> Result<u64, ForgeError>;
}

/// A login as platforms allow them (letters, digits, `-`, `_`, `.`), so
/// that it can go into a URL path as it is.
pub fn is_plain_login(user: &str) -> bool {
    !user.is_empty()
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// How often and how long to retry a forge call.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    /// Longest single wait (also caps `Retry-After`).
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// Runs `op` until it succeeds, fails with a non-retryable error, or the
/// attempts are used up.
pub async fn retry<T, F, Fut>(name: &str, policy: &RetryPolicy, mut op: F) -> Result<T, ForgeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ForgeError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && attempt < policy.attempts => {
                let wait = match &e {
                    ForgeError::RateLimited {
                        retry_after: Some(d),
                        ..
                    } => *d,
                    _ => policy.base * 2u32.saturating_pow(attempt - 1),
                }
                .min(policy.max_wait);
                tracing::warn!(op = name, attempt, error = %e, wait_ms = wait.as_millis() as u64, "forge call failed; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}
