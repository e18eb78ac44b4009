//! [`Forge`] for GitLab (gitlab.com or self-hosted), on the REST v4 API.
//!
//! One [`GitLab`] serves one project (`group/sub/name`, looked up once; its
//! numeric id is `:id` afterwards). Requests are the `gitlab` crate's typed
//! endpoints, sent by our own client ([`http::Api`], which implements the
//! crate's `AsyncClient`): it keeps the status, headers and body of every
//! failure (`Retry-After`, `message` in three shapes), a request timeout,
//! and instances under a relative URL root (`https://host/gitlab`). The one
//! parameter the crate lacks (`auto_merge`) is [`endpoints::AutoMerge`].
//!
//! Nothing here retries: callers go through [`crate::forge::Retrying`].
//!
//! Auto-merge is asked for only while the MR's `head_pipeline` (read from
//! a single-MR answer; lists do not carry it) is the head's and still
//! running. GitLab 17.11+ merges *at once* when auto-merge is asked for an
//! MR with no head pipeline or a finished one, so those cases never send
//! it: a passed pipeline is merged by the caller with an explicit `sha`,
//! and no pipeline means nothing vouches for the head yet. The request
//! carries `auto_merge=true` (17.11+) and `merge_when_pipeline_succeeds=true`
//! (older), so both understand it; both set auto-merge on a running
//! pipeline. 405/406/409/422 on merge (not mergeable, conflicts, head
//! moved) and 401 (the bot may not merge here) are refusals, not errors.

mod discover;
mod endpoints;
mod http;
mod models;

use anyhow::Context as _;
use async_trait::async_trait;
use reqwest::Url;

use gitlab::api::common::SortOrder;
use gitlab::api::projects::issues::{CreateIssue, IssueSearchScope, IssueState, Issues};
use gitlab::api::projects::members::AllProjectMember;
use gitlab::api::projects::merge_requests::notes::{
    CreateMergeRequestNote, MergeRequestNotes, NoteOrderBy,
};
use gitlab::api::projects::merge_requests::{
    CreateMergeRequest, EditMergeRequest, MergeMergeRequest, MergeRequestOrderBy,
    MergeRequestState, MergeRequestStateEvent, MergeRequests,
};
use gitlab::api::projects::pipelines::{PipelineOrderBy, Pipelines};
use gitlab::api::projects::repository::commits::{
    CommitAction, CommitActionType, CommitStatuses, CreateCommit,
};
use gitlab::api::users::{CurrentUser, Users};

use self::http::{Api, FORGE, Token};
use self::models::{
    ApiIssue, ApiMr, ApiNote, ApiStatus, ApiUser, combined_checks, pipeline_checks,
};
use crate::forge::{
    ApiCommit, AutoMerge, Checks, Forge, ForgeError, Merge, MergeRequest, MrDraft, MrState, Opened,
};

pub use self::discover::GitLabGroup;
pub use self::http::REQUEST_TIMEOUT;

/// A GitLab project the bot opens merge requests on.
#[derive(Clone, Debug)]
pub struct GitLab {
    api: Api,
    /// The project's numeric id (`:id`): MRs whose `source_project_id`
    /// differs come from forks and are never the bot's.
    project_id: u64,
}

/// A builder's error: only a missing required field, which is ours.
fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, ForgeError> {
    r.map_err(|e| ForgeError::Protocol {
        forge: FORGE,
        message: format!("building a request: {e}"),
    })
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
        let user: ApiUser = api
            .call(CurrentUser::builder().build()?)
            .await
            .map_err(|e| {
                anyhow::Error::new(e).context(format!("checking the GitLab token at {base_url}"))
            })?;
        let endpoint = gitlab::api::projects::Project::builder()
            .project(project)
            .build()?;
        let found: serde_json::Value = api.call(endpoint).await.map_err(|e| {
            anyhow::Error::new(e).context(format!("opening GitLab project {project}"))
        })?;
        let project_id = found["id"]
            .as_u64()
            .with_context(|| format!("GitLab project {project} has no numeric id"))?;
        tracing::debug!(user = %user.username, project, "connected to GitLab");
        Ok(GitLab { api, project_id })
    }

    /// The token, for `git` over HTTPS as `oauth2:<token>`.
    pub fn git_token(&self) -> &str {
        self.api.token().expose()
    }

    /// User ids of `usernames`, and a problem line for each unknown name.
    async fn reviewer_ids(
        &self,
        usernames: &[String],
    ) -> Result<(Vec<u64>, Vec<String>), ForgeError> {
        let mut ids = Vec::new();
        let mut problems = Vec::new();
        for name in usernames {
            let name = name.trim_start_matches('@');
            let users: Vec<ApiUser> = self.users(name).await?;
            match users
                .into_iter()
                .find(|u| u.username.eq_ignore_ascii_case(name))
            {
                Some(u) => ids.push(u.id),
                None => problems.push(format!(
                    "`{name}`: GitLab has no such user, so no review was requested"
                )),
            }
        }
        Ok((ids, problems))
    }

    /// The MR as a single-MR answer (with `head_pipeline`).
    async fn mr_detail(&self, iid: u64) -> Result<ApiMr, ForgeError> {
        let endpoint = gitlab::api::projects::merge_requests::MergeRequest::builder()
            .project(self.project_id)
            .merge_request(iid)
            .build();
        self.api.call(built(endpoint)?).await
    }

    /// Users named `username` (GitLab matches it exactly, case aside).
    async fn users(&self, username: &str) -> Result<Vec<ApiUser>, ForgeError> {
        let endpoint = Users::builder().username(username).build();
        self.api.all(built(endpoint)?).await
    }

    /// Replaces what `edit` sets on MR `iid`.
    async fn edit_mr<'a>(
        &self,
        iid: u64,
        edit: impl FnOnce(&mut gitlab::api::projects::merge_requests::EditMergeRequestBuilder<'a>),
    ) -> Result<(), ForgeError> {
        let mut builder = EditMergeRequest::builder();
        builder.project(self.project_id).merge_request(iid);
        edit(&mut builder);
        let _: ApiMr = self.api.call(built(builder.build())?).await?;
        Ok(())
    }

    /// MRs of this project's own branches, not of forks.
    fn own(&self, mr: &ApiMr) -> bool {
        mr.source_project_id == Some(self.project_id)
    }
}

/// The merge endpoint's normal refusals as text: 405 (not mergeable now),
/// 406 (conflicts, before 16.x) or 422 (conflicts), 409 (the head moved)
/// and 401 (the bot may not merge this MR, while its token is fine).
/// Anything else stays an error.
fn refusal(e: ForgeError) -> Result<String, ForgeError> {
    match e {
        ForgeError::Rejected {
            status: status @ (405 | 406 | 409 | 422),
            message,
            ..
        } => Ok(format!("GitLab refused the merge ({status}): {message}")),
        ForgeError::Unauthorized {
            status: 401,
            message,
            ..
        } => Ok(format!(
            "GitLab does not let the bot merge this MR (401): {message}"
        )),
        e => Err(e),
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

impl GitLab {
    /// The commit statuses of `sha`, combined.
    async fn statuses(&self, sha: &str) -> Result<Checks, ForgeError> {
        let endpoint = CommitStatuses::builder()
            .project(self.project_id)
            .commit(sha)
            .build();
        let statuses: Vec<ApiStatus> = self.api.all(built(endpoint)?).await?;
        Ok(combined_checks(&statuses))
    }
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
        let endpoint = MergeRequests::builder()
            .project(self.project_id)
            .state(MergeRequestState::Opened)
            .build();
        let mrs: Vec<ApiMr> = self.api.all(built(endpoint)?).await?;
        Ok(mrs
            .into_iter()
            .filter(|mr| self.own(mr) && mr.source_branch.starts_with(branch_prefix))
            .map(MergeRequest::from)
            .collect())
    }

    async fn closed_mrs(&self, head_branch: &str) -> Result<Vec<MergeRequest>, ForgeError> {
        let endpoint = MergeRequests::builder()
            .project(self.project_id)
            .source_branch(head_branch)
            .order_by(MergeRequestOrderBy::UpdatedAt)
            .sort(SortOrder::Descending)
            .build();
        let mrs: Vec<ApiMr> = self.api.all(built(endpoint)?).await?;
        Ok(mrs
            .into_iter()
            .filter(|mr| self.own(mr) && mr.source_branch == head_branch)
            .map(MergeRequest::from)
            .filter(|mr| mr.state != MrState::Open)
            .collect())
    }

    async fn get_mr(&self, number: u64) -> Result<MergeRequest, ForgeError> {
        Ok(self.mr_detail(number).await?.into())
    }

    async fn can_write(&self, user: &str) -> Result<bool, ForgeError> {
        /// GitLab's Developer role: may push to unprotected branches.
        const DEVELOPER: u64 = 30;
        if !crate::forge::is_plain_login(user) {
            return Ok(false);
        }
        let users = self.users(user).await?;
        let Some(id) = users
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(user))
            .map(|u| u.id)
        else {
            return Ok(false);
        };
        let endpoint = AllProjectMember::builder()
            .project(self.project_id)
            .user(id)
            .build();
        match self
            .api
            .call::<_, serde_json::Value>(built(endpoint)?)
            .await
        {
            Ok(member) => Ok(member["access_level"]
                .as_u64()
                .is_some_and(|level| level >= DEVELOPER)),
            Err(ForgeError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn create_mr(&self, draft: &MrDraft) -> Result<Opened, ForgeError> {
        let (reviewer_ids, problems) = self.reviewer_ids(&draft.reviewers).await?;
        let mut builder = CreateMergeRequest::builder();
        builder
            .project(self.project_id)
            .source_branch(draft.head_branch.as_str())
            .target_branch(draft.base_branch.as_str())
            .title(draft.title.as_str())
            .description(draft.body.as_str())
            .remove_source_branch(true);
        if !draft.labels.is_empty() {
            builder.labels(draft.labels.iter().map(String::as_str));
        }
        if !reviewer_ids.is_empty() {
            builder.reviewers(reviewer_ids.iter().copied());
        }
        let mr: ApiMr = self.api.call(built(builder.build())?).await?;
        Ok(Opened {
            mr: mr.into(),
            problems,
        })
    }

    async fn update_mr(&self, number: u64, title: &str, body: &str) -> Result<(), ForgeError> {
        self.edit_mr(number, |e| {
            e.title(title).description(body);
        })
        .await
    }

    async fn close_mr(&self, number: u64) -> Result<(), ForgeError> {
        self.edit_mr(number, |e| {
            e.state_event(MergeRequestStateEvent::Close);
        })
        .await
    }

    async fn comments(&self, number: u64) -> Result<Vec<String>, ForgeError> {
        let endpoint = MergeRequestNotes::builder()
            .project(self.project_id)
            .merge_request(number)
            .order_by(NoteOrderBy::CreatedAt)
            .sort(SortOrder::Ascending)
            .build();
        let notes: Vec<ApiNote> = self.api.all(built(endpoint)?).await?;
        Ok(notes
            .into_iter()
            .filter(|n| !n.system)
            .map(|n| n.body)
            .collect())
    }

    async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        let endpoint = CreateMergeRequestNote::builder()
            .project(self.project_id)
            .merge_request(number)
            .body(body)
            .build();
        let _: serde_json::Value = self.api.call(built(endpoint)?).await?;
        Ok(())
    }

    /// The MR's head pipeline decides (merged-results pipelines run on the
    /// merge ref, so a search by the head's SHA would miss them); without
    /// one, the head's commit statuses (external CI) are combined.
    async fn checks(&self, mr: &MergeRequest) -> Result<Checks, ForgeError> {
        let fresh = self.mr_detail(mr.number).await?;
        if let Some(p) = fresh.pipeline_of(&mr.head_sha) {
            return Ok(pipeline_checks(&p.status));
        }
        self.statuses(&mr.head_sha).await
    }

    /// The newest pipeline of the commit decides; without one, its commit
    /// statuses (external CI) are combined.
    async fn commit_checks(&self, sha: &str) -> Result<Checks, ForgeError> {
        let endpoint = Pipelines::builder()
            .project(self.project_id)
            .sha(sha)
            .order_by(PipelineOrderBy::Id)
            .sort(SortOrder::Descending)
            .build();
        let newest: Option<ApiStatus> = self.api.first(built(endpoint)?).await?;
        match newest {
            Some(p) => Ok(pipeline_checks(&p.status)),
            None => self.statuses(sha).await,
        }
    }

    async fn enable_auto_merge(&self, mr: &MergeRequest) -> Result<AutoMerge, ForgeError> {
        let fresh = self.mr_detail(mr.number).await?;
        if fresh.sha.as_deref() != Some(mr.head_sha.as_str()) {
            return Ok(AutoMerge::NotYet("the MR's head moved".to_string()));
        }
        let Some(pipeline) = fresh.pipeline_of(&mr.head_sha) else {
            // GitLab 17.11+ would merge at once: nothing has tested it.
            return Ok(AutoMerge::NotYet("no pipeline on the head yet".to_string()));
        };
        match pipeline_checks(&pipeline.status) {
            // Would merge at once on 17.11+, 405 before: merge it ourselves.
            Checks::Success => return Ok(AutoMerge::NotYet("its pipeline passed".to_string())),
            Checks::Failure | Checks::None => {
                return Ok(AutoMerge::NotYet(format!(
                    "its pipeline is {}",
                    pipeline.status
                )));
            }
            Checks::Pending => {}
        }
        let endpoint = endpoints::AutoMerge {
            project: self.project_id,
            iid: mr.number,
            sha: &mr.head_sha,
        };
        match self.api.call::<_, ApiMr>(endpoint).await {
            Ok(answer) if answer.state == "merged" => Ok(AutoMerge::Merged),
            Ok(answer) if answer.auto_merge() => Ok(AutoMerge::Enabled),
            Ok(_) => Ok(AutoMerge::NotYet(
                "GitLab accepted the request but did not switch on auto-merge".to_string(),
            )),
            Err(e) => refusal(e).map(AutoMerge::NotYet),
        }
    }

    async fn disable_auto_merge(&self, mr: &MergeRequest) -> Result<(), ForgeError> {
        let endpoint = endpoints::CancelAutoMerge {
            project: self.project_id,
            iid: mr.number,
        };
        let _: ApiMr = self.api.call(endpoint).await?;
        Ok(())
    }

    async fn merge(&self, mr: &MergeRequest) -> Result<Merge, ForgeError> {
        let endpoint = MergeMergeRequest::builder()
            .project(self.project_id)
            .merge_request(mr.number)
            .sha(mr.head_sha.as_str())
            .squash(true)
            .build();
        match self.api.call::<_, ApiMr>(built(endpoint)?).await {
            Ok(answer) if answer.state == "merged" => Ok(Merge::Merged),
            // `locked`: GitLab is merging it right now.
            Ok(answer) => Ok(Merge::Refused(format!(
                "GitLab answered the merge with state `{}`",
                answer.state
            ))),
            Err(e) => refusal(e).map(Merge::Refused),
        }
    }

    /// The commits API with one `update` action per file, authored as the
    /// configured identity; `start_sha` creates the branch at the base, and
    /// `force` moves an existing one off its stale head. GitLab's API has
    /// no branch lease: the repository's lock keeps the bot's own runs
    /// apart, and the caller saw only the bot's commits on the branch.
    async fn commit_via_api(&self, c: &ApiCommit<'_>) -> Result<String, ForgeError> {
        let actions = c
            .files
            .iter()
            .map(|(path, text)| {
                built(
                    CommitAction::builder()
                        .action(CommitActionType::Update)
                        .file_path(path.as_str())
                        .content(text.as_bytes())
                        .build(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut builder = CreateCommit::builder();
        builder
            .project(self.project_id)
            .branch(c.branch)
            .commit_message(c.message)
            .start_sha(c.parent)
            .author_name(c.author_name)
            .author_email(c.author_email)
            .actions(actions);
        if c.replaces.is_some() {
            builder.force(true);
        }
        let commit: serde_json::Value = self.api.call(built(builder.build())?).await?;
        commit["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ForgeError::Protocol {
                forge: FORGE,
                message: "the commits API answered no id".to_string(),
            })
    }

    /// GitLab records the author the bot sends.
    async fn api_author_email(&self) -> Result<Option<String>, ForgeError> {
        Ok(None)
    }

    async fn report_issue(&self, title: &str, body: &str) -> Result<u64, ForgeError> {
        let endpoint = Issues::builder()
            .project(self.project_id)
            .state(IssueState::Opened)
            .search(title)
            .search_in(IssueSearchScope::Title)
            .build();
        let issues: Vec<ApiIssue> = self.api.all(built(endpoint)?).await?;
        if let Some(issue) = issues.iter().find(|i| i.title == title) {
            let endpoint = gitlab::api::projects::issues::notes::CreateIssueNote::builder()
                .project(self.project_id)
                .issue(issue.iid)
                .body(body)
                .build();
            let _: serde_json::Value = self.api.call(built(endpoint)?).await?;
            return Ok(issue.iid);
        }
        let endpoint = CreateIssue::builder()
            .project(self.project_id)
            .title(title)
            .description(body)
            .build();
        let issue: ApiIssue = self.api.call(built(endpoint)?).await?;
        Ok(issue.iid)
    }
}

#[cfg(test)]
mod tests;
