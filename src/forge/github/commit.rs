//! `commit = "api"` on GitHub: the bot's commits made by GitHub through the
//! GraphQL `createCommitOnBranch` mutation, so that GitHub signs them and
//! marks them verified (an App's API commits are; docs.github.com
//! "About commit signature verification"). `expectedHeadOid` is the lease:
//! GitHub refuses the commit if the branch moved meanwhile.
//!
//! The mutation commits on top of the branch's head, so the branch is
//! first created at the base (`POST git/refs`) or moved back to it
//! (`PATCH git/refs`, forced: the caller saw only the bot's commits on it).

use base64::Engine as _;
use serde_json::{Value, json};

use super::GitHub;
use super::http::{FORGE, Verb};
use super::model;
use crate::forge::{ApiCommit, ForgeError};

impl GitHub {
    pub(super) async fn api_commit(&self, c: &ApiCommit<'_>) -> Result<String, ForgeError> {
        self.branch_at(c.branch, c.parent, c.replaces).await?;
        let (headline, body) = match c.message.split_once('\n') {
            Some((head, rest)) => (head, rest.trim_start_matches('\n')),
            None => (c.message, ""),
        };
        let additions: Vec<Value> = c
            .files
            .iter()
            .map(|(path, text)| {
                json!({
                    "path": path,
                    "contents": base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
                })
            })
            .collect();
        let query = json!({
            "query": "mutation($input: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $input) { commit { oid } } }",
            "variables": { "input": {
                "branch": { "repositoryNameWithOwner": self.full_name(), "branchName": c.branch },
                "message": { "headline": headline, "body": body },
                "fileChanges": { "additions": additions },
                "expectedHeadOid": c.parent,
            } },
        });
        let token = self.git_token().await?;
        let reply = self
            .graphql
            .send_as(Verb::Post, "/graphql", Some(&query), &token)
            .await?;
        model::graphql_errors(&reply.body)?;
        reply.body["data"]["createCommitOnBranch"]["commit"]["oid"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ForgeError::Protocol {
                forge: FORGE,
                message: "createCommitOnBranch answered no commit".to_string(),
            })
    }

    /// Points `branch` at `parent`: created when missing, moved back from
    /// `replaces`. A create that finds the ref already there (a retry whose
    /// first try went through) moves it instead.
    async fn branch_at(
        &self,
        branch: &str,
        parent: &str,
        replaces: Option<&str>,
    ) -> Result<(), ForgeError> {
        let moved = json!({ "sha": parent, "force": true });
        let path = self.repo_path(&format!("git/refs/heads/{branch}"));
        if replaces.is_some() {
            return self
                .rest
                .send(Verb::Patch, &path, Some(&moved))
                .await
                .map(drop);
        }
        let created = json!({ "ref": format!("refs/heads/{branch}"), "sha": parent });
        match self
            .rest
            .send(Verb::Post, &self.repo_path("git/refs"), Some(&created))
            .await
        {
            Ok(_) => Ok(()),
            Err(ForgeError::Rejected { status: 422, .. }) => self
                .rest
                .send(Verb::Patch, &path, Some(&moved))
                .await
                .map(drop),
            Err(e) => Err(e),
        }
    }

    /// The App's bot user's address, which GitHub writes as the author of
    /// the App's API commits: `<id>+<slug>[bot]@users.noreply.github.com`
    /// (`GET /app` for the slug, `GET /users/<slug>[bot]` for the id).
    pub(super) async fn app_bot_email(&self) -> Result<String, ForgeError> {
        let app = self.app.as_ref().ok_or_else(|| ForgeError::Protocol {
            forge: FORGE,
            message: "API commits on GitHub need a GitHub App".to_string(),
        })?;
        let me = app.send(Verb::Get, "/app", None).await?.body;
        let slug = me["slug"].as_str().ok_or_else(|| ForgeError::Protocol {
            forge: FORGE,
            message: "GET /app answered no slug".to_string(),
        })?;
        let login = format!("{slug}[bot]");
        let path = format!("/users/{}", model::query_escape(&login));
        let user = self.rest.send(Verb::Get, &path, None).await?.body;
        let id = user["id"].as_u64().ok_or_else(|| ForgeError::Protocol {
            forge: FORGE,
            message: format!("GET /users/{login} answered no id"),
        })?;
        Ok(format!("{id}+{login}@users.noreply.github.com"))
    }
}
