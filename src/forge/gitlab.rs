//! [`Forge`] for GitLab (gitlab.com or self-hosted), on the REST v4 API.
//!
//! One [`GitLab`] serves one project (`group/sub/name`, sent URL-encoded as
//! `:id`). It talks to GitLab with `reqwest` directly rather than through
//! the `gitlab` crate: the bot needs the status, headers and body of every
//! failure (`Retry-After`, `message` in three shapes), a request timeout,
//! and instances under a relative URL root (`https://host/gitlab`), none of
//! which the crate's `AsyncGitlab` exposes.
//!
//! Nothing here retries: callers wrap calls in [`crate::forge::retry`].
//! Auto-merge uses `auto_merge=true` (GitLab ≥ 17.11) together with the
//! older `merge_when_pipeline_succeeds=true`, so both old and new servers
//! understand it.

mod http;
mod models;

use async_trait::async_trait;
use reqwest::{Method, Url};
use serde_json::json;

use self::http::{Api, FORGE, Token, encode_segment};
use self::models::{
    ApiIssue, ApiMr, ApiNote, ApiStatus, ApiUser, combined_checks, pipeline_checks,
};
use crate::forge::{AutoMerge, Checks, Forge, ForgeError, MergeRequest, MrDraft, MrState};

pub use self::http::REQUEST_TIMEOUT;

/// A GitLab project the bot opens merge requests on.
#[derive(Clone, Debug)]
pub struct GitLab {
    api: Api,
    /// `/projects/<url-encoded path>`.
    project: String,
}

impl GitLab {
    /// Connects to `base_url` (`https://gitlab.com`, `https://git.example`,
    /// `http://127.0.0.1:PORT`; without a scheme, `https://` except for
    /// loopback hosts) and checks the token with `GET /user` and the
    /// project with `GET /projects/:id`.
    pub async fn new(base_url: &str, project: &str, token: &str) -> anyhow::Result<GitLab> {
        let base = parse_base(base_url)?;
        let project = project.trim().trim_matches('/');
        anyhow::ensure!(!project.is_empty(), "GitLab project path is empty");
        let api = Api::new(base, Token::new(token))?;
        let gitlab = GitLab {
            api,
            project: format!("/projects/{}", encode_segment(project)),
        };
        let user: ApiUser = gitlab.api.get("/user", &[]).await.map_err(|e| {
            anyhow::Error::new(e).context(format!("checking the GitLab token at {base_url}"))
        })?;
        let _: serde_json::Value = gitlab.api.get(&gitlab.project, &[]).await.map_err(|e| {
            anyhow::Error::new(e).context(format!("opening GitLab project {project}"))
        })?;
        tracing::debug!(user = %user.username, project, "connected to GitLab");
        Ok(gitlab)
    }

    /// The token, for `git` over HTTPS as `oauth2:<token>`.
    pub fn git_token(&self) -> &str {
        self.api.token().expose()
    }

    fn mr_path(&self, iid: u64) -> String {
        format!("{}/merge_requests/{iid}", self.project)
    }

    /// User ids of `usernames`; unknown names are skipped with a warning.
    async fn reviewer_ids(&self, usernames: &[String]) -> Result<Vec<u64>, ForgeError> {
        let mut ids = Vec::new();
        for name in usernames {
            let name = name.trim_start_matches('@');
            let users: Vec<ApiUser> = self
                .api
                .get("/users", &[("username", name.to_string())])
                .await?;
            match users
                .into_iter()
                .find(|u| u.username.eq_ignore_ascii_case(name))
            {
                Some(u) => ids.push(u.id),
                None => tracing::warn!(
                    reviewer = name,
                    "no such GitLab user; not requesting review"
                ),
            }
        }
        Ok(ids)
    }

    async fn list_mrs(&self, query: &[(&str, String)]) -> Result<Vec<ApiMr>, ForgeError> {
        self.api
            .get_all(&format!("{}/merge_requests", self.project), query)
            .await
    }
}

/// The instance URL, with `http` only where asked for or on loopback.
fn parse_base(base_url: &str) -> anyhow::Result<Url> {
    let text = base_url.trim();
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        let host = text.split(['/', ':']).next().unwrap_or_default();
        let scheme = if is_loopback(host) { "http" } else { "https" };
        format!("{scheme}://{text}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|e| anyhow::anyhow!("bad GitLab URL {base_url:?}: {e}"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "GitLab URL {base_url:?} must be http(s)"
    );
    anyhow::ensure!(
        url.host_str().is_some(),
        "GitLab URL {base_url:?} has no host"
    );
    if url.scheme() == "http" && !is_loopback(url.host_str().unwrap_or_default()) {
        tracing::warn!(url = %url, "GitLab over plain http: the token travels unencrypted");
    }
    Ok(url)
}

/// `localhost`, `127.0.0.0/8` or `[::1]`.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[async_trait]
impl Forge for GitLab {
    async fn git_credentials(&self) -> Result<(String, String), ForgeError> {
        Ok(("oauth2".to_string(), self.git_token().to_string()))
    }

    fn kind(&self) -> &'static str {
        FORGE
    }

    async fn open_mrs(&self, branch_prefix: &str) -> Result<Vec<MergeRequest>, ForgeError> {
        let mrs = self.list_mrs(&[("state", "opened".to_string())]).await?;
        Ok(mrs
            .into_iter()
            .filter(|mr| mr.source_branch.starts_with(branch_prefix))
            .map(MergeRequest::from)
            .collect())
    }

    async fn closed_mrs(&self, head_branch: &str) -> Result<Vec<MergeRequest>, ForgeError> {
        let mrs = self
            .list_mrs(&[
                ("source_branch", head_branch.to_string()),
                ("state", "all".to_string()),
                ("order_by", "updated_at".to_string()),
                ("sort", "desc".to_string()),
            ])
            .await?;
        Ok(mrs
            .into_iter()
            .filter(|mr| mr.source_branch == head_branch)
            .map(MergeRequest::from)
            .filter(|mr| mr.state != MrState::Open)
            .collect())
    }

    async fn get_mr(&self, number: u64) -> Result<MergeRequest, ForgeError> {
        let mr: ApiMr = self.api.get(&self.mr_path(number), &[]).await?;
        Ok(mr.into())
    }

    async fn can_write(&self, user: &str) -> Result<bool, ForgeError> {
        /// GitLab's Developer role: may push to unprotected branches.
        const DEVELOPER: u64 = 30;
        if !crate::forge::is_plain_login(user) {
            return Ok(false);
        }
        let users: Vec<ApiUser> = self
            .api
            .get("/users", &[("username", user.to_string())])
            .await?;
        let Some(id) = users
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(user))
            .map(|u| u.id)
        else {
            return Ok(false);
        };
        let path = format!("{}/members/all/{id}", self.project);
        match self.api.get::<serde_json::Value>(&path, &[]).await {
            Ok(member) => Ok(member["access_level"]
                .as_u64()
                .is_some_and(|level| level >= DEVELOPER)),
            Err(ForgeError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn create_mr(&self, draft: &MrDraft) -> Result<MergeRequest, ForgeError> {
        let reviewer_ids = self.reviewer_ids(&draft.reviewers).await?;
        let body = json!({
            "source_branch": draft.head_branch,
            "target_branch": draft.base_branch,
            "title": draft.title,
            "description": draft.body,
            "labels": draft.labels.join(","),
            "reviewer_ids": reviewer_ids,
            "remove_source_branch": true,
        });
        let mr: ApiMr = self
            .api
            .write(
                Method::POST,
                &format!("{}/merge_requests", self.project),
                &body,
            )
            .await?;
        Ok(mr.into())
    }

    async fn update_mr(&self, number: u64, title: &str, body: &str) -> Result<(), ForgeError> {
        let body = json!({ "title": title, "description": body });
        let _: ApiMr = self
            .api
            .write(Method::PUT, &self.mr_path(number), &body)
            .await?;
        Ok(())
    }

    async fn close_mr(&self, number: u64) -> Result<(), ForgeError> {
        let body = json!({ "state_event": "close" });
        let _: ApiMr = self
            .api
            .write(Method::PUT, &self.mr_path(number), &body)
            .await?;
        Ok(())
    }

    async fn comments(&self, number: u64) -> Result<Vec<String>, ForgeError> {
        let notes: Vec<ApiNote> = self
            .api
            .get_all(
                &format!("{}/notes", self.mr_path(number)),
                &[
                    ("sort", "asc".to_string()),
                    ("order_by", "created_at".to_string()),
                ],
            )
            .await?;
        Ok(notes
            .into_iter()
            .filter(|n| !n.system)
            .map(|n| n.body)
            .collect())
    }

    async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        let path = format!("{}/notes", self.mr_path(number));
        let _: serde_json::Value = self
            .api
            .write(Method::POST, &path, &json!({ "body": body }))
            .await?;
        Ok(())
    }

    /// The latest pipeline of `sha` decides; without pipelines, the
    /// commit's statuses (external CI) are combined.
    async fn checks(&self, sha: &str) -> Result<Checks, ForgeError> {
        let pipelines: Vec<ApiStatus> = self
            .api
            .get(
                &format!("{}/pipelines", self.project),
                &[
                    ("sha", sha.to_string()),
                    ("order_by", "id".to_string()),
                    ("sort", "desc".to_string()),
                    ("per_page", "1".to_string()),
                ],
            )
            .await?;
        if let Some(latest) = pipelines.first() {
            return Ok(pipeline_checks(&latest.status));
        }
        let path = format!(
            "{}/repository/commits/{}/statuses",
            self.project,
            encode_segment(sha)
        );
        let statuses: Vec<ApiStatus> = self.api.get_all(&path, &[]).await?;
        Ok(combined_checks(&statuses))
    }

    async fn enable_auto_merge(&self, mr: &MergeRequest) -> Result<AutoMerge, ForgeError> {
        let body = json!({
            "auto_merge": true,
            "merge_when_pipeline_succeeds": true,
            "sha": mr.head_sha,
            "squash": true,
        });
        let path = format!("{}/merge", self.mr_path(mr.number));
        match self.api.write::<ApiMr>(Method::PUT, &path, &body).await {
            Ok(answer) if answer.auto_merge() || answer.state == "merged" => Ok(AutoMerge::Enabled),
            Ok(_) => Ok(AutoMerge::Unavailable(
                "GitLab accepted the request but did not switch on auto-merge".to_string(),
            )),
            Err(ForgeError::Rejected {
                status: 405 | 422,
                message,
                ..
            }) => Ok(AutoMerge::Unavailable(message)),
            Err(e) => Err(e),
        }
    }

    async fn merge(&self, mr: &MergeRequest) -> Result<(), ForgeError> {
        let body = json!({ "sha": mr.head_sha, "squash": true });
        let path = format!("{}/merge", self.mr_path(mr.number));
        let _: ApiMr = self.api.write(Method::PUT, &path, &body).await?;
        Ok(())
    }

    async fn report_issue(&self, title: &str, body: &str) -> Result<u64, ForgeError> {
        let issues: Vec<ApiIssue> = self
            .api
            .get_all(
                &format!("{}/issues", self.project),
                &[
                    ("state", "opened".to_string()),
                    ("search", title.to_string()),
                    ("in", "title".to_string()),
                ],
            )
            .await?;
        if let Some(issue) = issues.iter().find(|i| i.title == title) {
            let path = format!("{}/issues/{}/notes", self.project, issue.iid);
            let _: serde_json::Value = self
                .api
                .write(Method::POST, &path, &json!({ "body": body }))
                .await?;
            return Ok(issue.iid);
        }
        let issue: ApiIssue = self
            .api
            .write(
                Method::POST,
                &format!("{}/issues", self.project),
                &json!({ "title": title, "description": body }),
            )
            .await?;
        Ok(issue.iid)
    }
}

#[cfg(test)]
mod tests;
