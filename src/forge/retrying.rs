//! Retries in one place: [`Retrying`] is a [`Forge`] that runs each call
//! of the forge it wraps through [`retry`] (5xx, timeouts, 429 with
//! `Retry-After`, under the repository's [`RetryPolicy`]). Callers use it
//! like any forge and write no retry loop of their own.
//!
//! Creating an MR is the one call it does not repeat: a create whose
//! answer was lost may have gone through, so the caller re-lists before
//! trying again (`reconcile/deliver.rs`, `create_once`).

use async_trait::async_trait;

use super::{
    ApiCommit, AutoMerge, Checks, Forge, ForgeError, Merge, MergeRequest, MrDraft, Opened,
    RetryPolicy, retry,
};

/// A forge whose calls are retried under `policy`.
pub struct Retrying<'a> {
    pub inner: &'a dyn Forge,
    pub policy: &'a RetryPolicy,
}

#[async_trait]
impl Forge for Retrying<'_> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn git_credentials(&self) -> Result<(String, String), ForgeError> {
        retry("git credentials", self.policy, || {
            self.inner.git_credentials()
        })
        .await
    }

    async fn open_mrs(&self, branch_prefix: &str) -> Result<Vec<MergeRequest>, ForgeError> {
        retry("list open MRs", self.policy, || {
            self.inner.open_mrs(branch_prefix)
        })
        .await
    }

    async fn closed_mrs(&self, head_branch: &str) -> Result<Vec<MergeRequest>, ForgeError> {
        retry("list closed MRs", self.policy, || {
            self.inner.closed_mrs(head_branch)
        })
        .await
    }

    async fn get_mr(&self, number: u64) -> Result<MergeRequest, ForgeError> {
        retry("read MR", self.policy, || self.inner.get_mr(number)).await
    }

    async fn can_write(&self, user: &str) -> Result<bool, ForgeError> {
        retry("read permission", self.policy, || {
            self.inner.can_write(user)
        })
        .await
    }

    /// Not retried (see the module's note).
    async fn create_mr(&self, draft: &MrDraft) -> Result<Opened, ForgeError> {
        self.inner.create_mr(draft).await
    }

    async fn update_mr(&self, number: u64, title: &str, body: &str) -> Result<(), ForgeError> {
        retry("update MR", self.policy, || {
            self.inner.update_mr(number, title, body)
        })
        .await
    }

    async fn close_mr(&self, number: u64) -> Result<(), ForgeError> {
        retry("close MR", self.policy, || self.inner.close_mr(number)).await
    }

    async fn comments(&self, number: u64) -> Result<Vec<String>, ForgeError> {
        retry("read comments", self.policy, || self.inner.comments(number)).await
    }

    async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        retry("comment", self.policy, || self.inner.comment(number, body)).await
    }

    async fn checks(&self, mr: &MergeRequest) -> Result<Checks, ForgeError> {
        retry("read checks", self.policy, || self.inner.checks(mr)).await
    }

    async fn commit_checks(&self, sha: &str) -> Result<Checks, ForgeError> {
        retry("read a commit's checks", self.policy, || {
            self.inner.commit_checks(sha)
        })
        .await
    }

    async fn enable_auto_merge(&self, mr: &MergeRequest) -> Result<AutoMerge, ForgeError> {
        retry("enable auto-merge", self.policy, || {
            self.inner.enable_auto_merge(mr)
        })
        .await
    }

    async fn disable_auto_merge(&self, mr: &MergeRequest) -> Result<(), ForgeError> {
        retry("disable auto-merge", self.policy, || {
            self.inner.disable_auto_merge(mr)
        })
        .await
    }

    async fn merge(&self, mr: &MergeRequest) -> Result<Merge, ForgeError> {
        retry("merge", self.policy, || self.inner.merge(mr)).await
    }

    async fn commit_via_api(&self, commit: &ApiCommit<'_>) -> Result<String, ForgeError> {
        retry("commit through the API", self.policy, || {
            self.inner.commit_via_api(commit)
        })
        .await
    }

    async fn api_author_email(&self) -> Result<Option<String>, ForgeError> {
        retry("read the API author", self.policy, || {
            self.inner.api_author_email()
        })
        .await
    }

    async fn report_issue(&self, title: &str, body: &str) -> Result<u64, ForgeError> {
        retry("report issue", self.policy, || {
            self.inner.report_issue(title, body)
        })
        .await
    }
}
