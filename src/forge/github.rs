//! GitHub (github.com or GitHub Enterprise Server) as a [`Forge`], through
//! octocrab with a personal/installation token or as a GitHub App.
//!
//! Owns: the API client of one repository, its auth, and the translation
//! between GitHub's pull requests, issues, statuses and check runs and the
//! forge types. Every request goes through [`http::Api::send`] (timeout,
//! status → [`ForgeError`]); nothing here retries, [`crate::forge::Retrying`]
//! does. Tokens are kept in octocrab's secret types and never logged.

mod commit;
mod discover;
mod http;
mod model;

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use octocrab::secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use self::http::{Api, FORGE, Verb, array};
use crate::forge::{
    ApiCommit, AutoMerge, Checks, Forge, ForgeError, Merge, MergeRequest, MrDraft, Opened,
};

pub use self::http::REQUEST_TIMEOUT;

/// How the bot authenticates to GitHub.
pub enum GitHubAuth {
    /// A personal access token or any other token sent as `Bearer`.
    Token(String),
    /// A GitHub App installation: the app signs a JWT with its private key
    /// (PKCS#1 PEM) and trades it for installation tokens (cached by
    /// octocrab, re-minted 30 s before they expire).
    App {
        app_id: u64,
        private_key_pem: String,
        installation_id: u64,
    },
}

impl std::fmt::Debug for GitHubAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitHubAuth::Token(_) => f.write_str("Token(<redacted>)"),
            GitHubAuth::App {
                app_id,
                installation_id,
                ..
            } => write!(
                f,
                "App {{ app_id: {app_id}, installation_id: {installation_id} }}"
            ),
        }
    }
}

enum Credential {
    Token(SecretString),
    Installation,
}

/// The GitHub client of one repository.
pub struct GitHub {
    owner: String,
    name: String,
    rest: Api,
    /// The GraphQL endpoint (`/graphql`; `/api/graphql` on GHES), without
    /// auth of its own: each request carries [`GitHub::git_token`], which
    /// the REST client mints (under `/api/v3` on GHES, the only place GHES
    /// serves the token mint).
    graphql: Api,
    /// The App itself (JWT auth), for `GET /app`; `None` with a token.
    app: Option<Api>,
    credential: Credential,
}

impl GitHub {
    /// `api_base`: `https://api.github.com`, a GHE `https://ghe.example/api/v3`,
    /// or a test server's URL. `repo`: `owner/name`.
    pub fn new(api_base: &str, repo: &str, auth: GitHubAuth) -> anyhow::Result<GitHub> {
        let (owner, name) = repo
            .split_once('/')
            .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
            .with_context(|| format!("GitHub repository {repo:?} is not owner/name"))?;
        let api_base = api_base.trim_end_matches('/');
        let graphql_base = match api_base.strip_suffix("/api/v3") {
            Some(host) => format!("{host}/api"),
            None => api_base.to_string(),
        };
        let credential = match &auth {
            GitHubAuth::Token(t) => Credential::Token(SecretString::from(t.clone())),
            GitHubAuth::App { .. } => Credential::Installation,
        };
        let (rest, app) = client(api_base, &auth)?;
        let graphql = Octocrab::builder()
            .base_uri(graphql_base.as_str())
            .with_context(|| format!("GitHub GraphQL base {graphql_base:?}"))?
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(REQUEST_TIMEOUT))
            .build()
            .context("building the GitHub GraphQL client")?;
        Ok(GitHub {
            owner: owner.to_string(),
            name: name.to_string(),
            rest: Api {
                crab: rest,
                timeout: REQUEST_TIMEOUT,
            },
            graphql: Api {
                crab: graphql,
                timeout: REQUEST_TIMEOUT,
            },
            app: app.map(|crab| Api {
                crab,
                timeout: REQUEST_TIMEOUT,
            }),
            credential,
        })
    }

    /// Replaces [`REQUEST_TIMEOUT`] for every request of this client.
    pub fn with_timeout(mut self, timeout: Duration) -> GitHub {
        self.rest.timeout = timeout;
        self.graphql.timeout = timeout;
        if let Some(app) = &mut self.app {
            app.timeout = timeout;
        }
        self
    }

    /// The token for git over HTTPS (`x-access-token:<token>`): the
    /// configured token, or the App's current installation token (minted or
    /// refreshed when it expires within 30 s).
    pub async fn git_token(&self) -> Result<String, ForgeError> {
        match &self.credential {
            Credential::Token(t) => Ok(t.expose_secret().to_string()),
            Credential::Installation => {
                let minted =
                    tokio::time::timeout(self.rest.timeout, self.rest.crab.installation_token())
                        .await
                        .map_err(|_| ForgeError::Transport {
                            forge: FORGE,
                            message: "no installation token within the request timeout".to_string(),
                        })?;
                minted
                    .map(|t| t.expose_secret().to_string())
                    .map_err(|e| http::map_error(&e, "installation token"))
            }
        }
    }

    fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.owner, self.name)
    }

    /// Every page of `GET pulls?{query}`, with whether each PR's head is in
    /// this repository (not a fork).
    async fn pulls(&self, query: &str) -> Result<Vec<(MergeRequest, bool)>, ForgeError> {
        let path = self.repo_path(&format!("pulls?{query}&per_page=100"));
        let repo = self.full_name();
        self.rest
            .all_pages(&path, array)
            .await?
            .into_iter()
            .map(|v| model::pull_request(v, &repo))
            .collect()
    }

    /// Requests review from `reviewers`. GitHub answers 422 for the whole
    /// request when one of them is not a collaborator (or is the PR's
    /// author) without saying which, so after a 422 each is requested on
    /// its own: the others still get the request, and each refusal is
    /// returned as "`who`: why".
    async fn request_reviewers(
        &self,
        number: u64,
        reviewers: &[String],
    ) -> Result<Vec<String>, ForgeError> {
        let path = self.repo_path(&format!("pulls/{number}/requested_reviewers"));
        let send = |who: &[String]| {
            let (teams, users) = model::split_reviewers(who);
            let request = json!({ "reviewers": users, "team_reviewers": teams });
            let path = path.clone();
            async move { self.rest.send(Verb::Post, &path, Some(&request)).await }
        };
        let refused = |e: ForgeError| match e {
            ForgeError::Rejected {
                status: 422,
                message,
                ..
            } => Ok(message),
            e => Err(e),
        };
        match send(reviewers).await {
            Ok(_) => return Ok(Vec::new()),
            Err(e) => refused(e)?,
        };
        let mut problems = Vec::new();
        for who in reviewers {
            if let Err(e) = send(std::slice::from_ref(who)).await {
                let why = refused(e)?;
                problems.push(format!(
                    "`{who}`: GitHub refused the review request (422): {why}"
                ));
            }
        }
        Ok(problems)
    }

    fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// The REST client, and for an App also the App's own (JWT) client.
fn client(base: &str, auth: &GitHubAuth) -> anyhow::Result<(Octocrab, Option<Octocrab>)> {
    let builder = Octocrab::builder()
        .base_uri(base)
        .with_context(|| format!("GitHub API base {base:?}"))?
        .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
        .set_connect_timeout(Some(REQUEST_TIMEOUT));
    match auth {
        GitHubAuth::Token(token) => Ok((
            builder
                .personal_token(token.clone())
                .build()
                .context("building the GitHub client")?,
            None,
        )),
        GitHubAuth::App {
            app_id,
            private_key_pem,
            installation_id,
        } => {
            let app = builder
                .app_from_rsa_pem(AppId(*app_id), private_key_pem.as_bytes())
                .context("GitHub App private key (PKCS#1 PEM)")?
                .build()
                .context("building the GitHub App client")?;
            let installation = app
                .installation(InstallationId(*installation_id))
                .context("GitHub App installation client")?;
            Ok((installation, Some(app)))
        }
    }
}

/// The pull request's GraphQL id.
fn node_id(mr: &MergeRequest) -> Result<&str, ForgeError> {
    mr.node_id.as_deref().ok_or_else(|| ForgeError::Protocol {
        forge: FORGE,
        message: format!("pull request #{} has no node_id", mr.number),
    })
}

impl GitHub {
    /// A GraphQL mutation with the installation's (or the token's) git
    /// token; the answer's body.
    async fn mutation(&self, query: &serde_json::Value) -> Result<serde_json::Value, ForgeError> {
        let token = self.git_token().await?;
        let reply = self
            .graphql
            .send_as(Verb::Post, "/graphql", Some(query), &token)
            .await?;
        Ok(reply.body)
    }
}

#[async_trait]
impl Forge for GitHub {
    async fn git_credentials(&self) -> Result<(String, String), ForgeError> {
        Ok(("x-access-token".to_string(), self.git_token().await?))
    }

    fn kind(&self) -> &'static str {
        FORGE
    }

    async fn open_mrs(&self, branch_prefix: &str) -> Result<Vec<MergeRequest>, ForgeError> {
        // A fork's branch is never the bot's, whatever its name.
        let pulls = self.pulls("state=open").await?;
        Ok(pulls
            .into_iter()
            .filter(|(mr, same_repo)| *same_repo && mr.head_branch.starts_with(branch_prefix))
            .map(|(mr, _)| mr)
            .collect())
    }

    async fn closed_mrs(&self, head_branch: &str) -> Result<Vec<MergeRequest>, ForgeError> {
        let head = model::query_escape(&format!("{}:{head_branch}", self.owner));
        let mut mrs: Vec<MergeRequest> = self
            .pulls(&format!("state=closed&head={head}"))
            .await?
            .into_iter()
            .filter(|(mr, same_repo)| *same_repo && mr.head_branch == head_branch)
            .map(|(mr, _)| mr)
            .collect();
        mrs.sort_by_key(|mr| std::cmp::Reverse(mr.number));
        Ok(mrs)
    }

    async fn get_mr(&self, number: u64) -> Result<MergeRequest, ForgeError> {
        let reply = self
            .rest
            .send(Verb::Get, &self.repo_path(&format!("pulls/{number}")), None)
            .await?;
        model::pull_request(reply.body, &self.full_name()).map(|(mr, _)| mr)
    }

    async fn can_write(&self, user: &str) -> Result<bool, ForgeError> {
        if !crate::forge::is_plain_login(user) {
            return Ok(false);
        }
        let path = self.repo_path(&format!("collaborators/{user}/permission"));
        match self.rest.send(Verb::Get, &path, None).await {
            Ok(reply) => {
                let writes = |v: &Value| matches!(v.as_str(), Some("admin" | "maintain" | "write"));
                Ok(writes(&reply.body["permission"]) || writes(&reply.body["role_name"]))
            }
            Err(ForgeError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn create_mr(&self, draft: &MrDraft) -> Result<Opened, ForgeError> {
        let body = json!({
            "title": draft.title,
            "head": draft.head_branch,
            "base": draft.base_branch,
            "body": draft.body,
        });
        let created = self
            .rest
            .send(Verb::Post, &self.repo_path("pulls"), Some(&body))
            .await?;
        let (mr, _) = model::pull_request(created.body, &self.full_name())?;
        tracing::info!(mr = mr.number, head = %mr.head_branch, "opened pull request");
        if !draft.labels.is_empty() {
            let labels = json!({ "labels": draft.labels });
            self.rest
                .send(
                    Verb::Post,
                    &self.repo_path(&format!("issues/{}/labels", mr.number)),
                    Some(&labels),
                )
                .await?;
        }
        let problems = if draft.reviewers.is_empty() {
            Vec::new()
        } else {
            self.request_reviewers(mr.number, &draft.reviewers).await?
        };
        Ok(Opened { mr, problems })
    }

    async fn update_mr(&self, number: u64, title: &str, body: &str) -> Result<(), ForgeError> {
        let patch = json!({ "title": title, "body": body });
        self.rest
            .send(
                Verb::Patch,
                &self.repo_path(&format!("pulls/{number}")),
                Some(&patch),
            )
            .await
            .map(drop)
    }

    async fn close_mr(&self, number: u64) -> Result<(), ForgeError> {
        let patch = json!({ "state": "closed" });
        self.rest
            .send(
                Verb::Patch,
                &self.repo_path(&format!("pulls/{number}")),
                Some(&patch),
            )
            .await
            .map(drop)
    }

    async fn comments(&self, number: u64) -> Result<Vec<String>, ForgeError> {
        let path = self.repo_path(&format!("issues/{number}/comments?per_page=100"));
        let comments = self.rest.all_pages(&path, array).await?;
        Ok(comments
            .iter()
            .map(|c| c["body"].as_str().unwrap_or_default().to_string())
            .collect())
    }

    async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        let comment = json!({ "body": body });
        self.rest
            .send(
                Verb::Post,
                &self.repo_path(&format!("issues/{number}/comments")),
                Some(&comment),
            )
            .await
            .map(drop)
    }

    async fn checks(&self, mr: &MergeRequest) -> Result<Checks, ForgeError> {
        self.commit_checks(&mr.head_sha).await
    }

    /// The combined status and the check runs of the commit.
    async fn commit_checks(&self, sha: &str) -> Result<Checks, ForgeError> {
        let combined = self
            .rest
            .send(
                Verb::Get,
                &self.repo_path(&format!("commits/{sha}/status?per_page=100")),
                None,
            )
            .await?
            .body;
        let runs = self
            .rest
            .all_pages(
                &self.repo_path(&format!("commits/{sha}/check-runs?per_page=100")),
                |v| match v {
                    Value::Object(mut o) => o.remove("check_runs").and_then(array),
                    _ => None,
                },
            )
            .await?;
        Ok(model::combine_checks(&combined, &runs))
    }

    async fn enable_auto_merge(&self, mr: &MergeRequest) -> Result<AutoMerge, ForgeError> {
        // `expectedHeadOid`: GitHub refuses if the head is no longer the
        // commit this run built and judged.
        let query = json!({
            "query": "mutation($id: ID!, $head: GitObjectID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: SQUASH, expectedHeadOid: $head}) { pullRequest { number } } }",
            "variables": { "id": node_id(mr)?, "head": mr.head_sha },
        });
        model::auto_merge_outcome(&self.mutation(&query).await?)
    }

    async fn disable_auto_merge(&self, mr: &MergeRequest) -> Result<(), ForgeError> {
        let query = json!({
            "query": "mutation($id: ID!) { disablePullRequestAutoMerge(input: {pullRequestId: $id}) { pullRequest { number } } }",
            "variables": { "id": node_id(mr)? },
        });
        model::graphql_errors(&self.mutation(&query).await?)
    }

    async fn merge(&self, mr: &MergeRequest) -> Result<Merge, ForgeError> {
        let request = json!({ "sha": mr.head_sha, "merge_method": "squash" });
        let path = self.repo_path(&format!("pulls/{}/merge", mr.number));
        match self.rest.send(Verb::Put, &path, Some(&request)).await {
            Ok(_) => {
                tracing::info!(mr = mr.number, "merged pull request");
                Ok(Merge::Merged)
            }
            // 405: not mergeable now (reviews or required checks missing,
            // merge method not allowed); 409: the head moved.
            Err(ForgeError::Rejected {
                status: status @ (405 | 409),
                message,
                ..
            }) => Ok(Merge::Refused(format!(
                "GitHub refused the merge ({status}): {message}"
            ))),
            Err(e) => Err(e),
        }
    }

    async fn commit_via_api(&self, commit: &ApiCommit<'_>) -> Result<String, ForgeError> {
        self.api_commit(commit).await
    }

    async fn api_author_email(&self) -> Result<Option<String>, ForgeError> {
        self.app_bot_email().await.map(Some)
    }

    async fn report_issue(&self, title: &str, body: &str) -> Result<u64, ForgeError> {
        let path = self.repo_path("issues?state=open&per_page=100");
        let issues = self.rest.all_pages(&path, array).await?;
        let existing = issues
            .iter()
            .filter(|i| i.get("pull_request").is_none())
            .find(|i| i["title"].as_str() == Some(title))
            .and_then(|i| i["number"].as_u64());
        if let Some(number) = existing {
            self.comment(number, body).await?;
            return Ok(number);
        }
        let issue = json!({ "title": title, "body": body });
        let created = self
            .rest
            .send(Verb::Post, &self.repo_path("issues"), Some(&issue))
            .await?;
        created.body["number"]
            .as_u64()
            .ok_or_else(|| ForgeError::Protocol {
                forge: FORGE,
                message: "created issue has no number".to_string(),
            })
    }
}
