//! GitLab REST v4 response shapes, only the fields the bot reads, and their
//! conversion into [`crate::forge`] types at the boundary.

use serde::Deserialize;

use crate::forge::{Checks, MergeRequest, MrState};

/// `GET /projects/:id/merge_requests` item.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct ApiMr {
    pub iid: u64,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub source_branch: String,
    pub target_branch: String,
    #[serde(default)]
    pub sha: Option<String>,
    pub state: String,
    #[serde(default)]
    pub web_url: String,
    /// Deprecated in 17.11 but still sent.
    #[serde(default)]
    pub merge_when_pipeline_succeeds: Option<bool>,
    #[serde(default)]
    pub auto_merge_enabled: Option<bool>,
    /// The project the source branch lives in: another project's id for
    /// an MR from a fork.
    #[serde(default)]
    pub source_project_id: Option<u64>,
    /// The pipeline of the MR's current head (a branch pipeline, or a
    /// merged-results pipeline on `refs/merge-requests/:iid/merge`).
    /// Only single-MR answers carry it, not lists.
    #[serde(default)]
    pub head_pipeline: Option<ApiPipeline>,
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct ApiPipeline {
    #[serde(default)]
    pub sha: String,
    #[serde(default, rename = "ref")]
    pub git_ref: String,
    pub status: String,
}

impl ApiMr {
    /// The head pipeline, if it is the pipeline of `head`: a branch
    /// pipeline of that commit, or the MR's merged-results pipeline (which
    /// runs on a merge commit GitLab made of that head) while the MR's
    /// head is still `head`.
    pub fn pipeline_of(&self, head: &str) -> Option<&ApiPipeline> {
        let p = self.head_pipeline.as_ref()?;
        let merged_results = p.git_ref == format!("refs/merge-requests/{}/merge", self.iid);
        let current = self.sha.as_deref() == Some(head);
        (current && (p.sha == head || merged_results)).then_some(p)
    }

    pub fn auto_merge(&self) -> bool {
        self.merge_when_pipeline_succeeds.unwrap_or(false)
            || self.auto_merge_enabled.unwrap_or(false)
    }
}

impl From<ApiMr> for MergeRequest {
    fn from(mr: ApiMr) -> MergeRequest {
        let state = match mr.state.as_str() {
            "merged" => MrState::Merged,
            "closed" => MrState::Closed,
            // `opened` and `locked` (a merge in progress) are still open.
            _ => MrState::Open,
        };
        let auto_merge = mr.auto_merge();
        MergeRequest {
            number: mr.iid,
            node_id: None,
            title: mr.title,
            body: mr.description.unwrap_or_default(),
            head_branch: mr.source_branch,
            head_sha: mr.sha.unwrap_or_default(),
            base_branch: mr.target_branch,
            state,
            web_url: mr.web_url,
            auto_merge,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct ApiUser {
    pub id: u64,
    pub username: String,
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct ApiNote {
    pub body: String,
    #[serde(default)]
    pub system: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct ApiIssue {
    pub iid: u64,
    pub title: String,
}

/// A pipeline or a commit status: both carry `status`.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct ApiStatus {
    pub status: String,
}

/// One pipeline's state in the bot's terms. `skipped` counts as a failure:
/// nothing ran, so nothing vouches for the commit. Everything else
/// (`created`, `waiting_for_resource`, `preparing`, `pending`, `running`,
/// `scheduled`, `manual`) is still to finish.
pub(super) fn pipeline_checks(status: &str) -> Checks {
    match status {
        "success" => Checks::Success,
        "failed" | "canceled" | "canceling" | "skipped" => Checks::Failure,
        _ => Checks::Pending,
    }
}

/// Commit statuses combined: any failure wins, then anything unfinished.
pub(super) fn combined_checks(statuses: &[ApiStatus]) -> Checks {
    if statuses.is_empty() {
        return Checks::None;
    }
    let each: Vec<Checks> = statuses
        .iter()
        .map(|s| pipeline_checks(&s.status))
        .collect();
    if each.contains(&Checks::Failure) {
        Checks::Failure
    } else if each.contains(&Checks::Pending) {
        Checks::Pending
    } else {
        Checks::Success
    }
}
