//! Repository discovery on GitLab (`[[discover]]`): a group's projects,
//! subgroups included (`GET /groups/:id/projects?include_subgroups=true`),
//! and whether a file is on a branch (`GET …/repository/files/:path`).

use gitlab::api::groups::projects::GroupProjects;
use gitlab::api::projects::repository::files::File;
use serde::Deserialize;

use super::http::{Api, Token};
use super::{built, parse_base};
use crate::forge::{ForgeError, Listed};

/// A GitLab instance seen by one token, not tied to a project.
pub struct GitLabGroup {
    api: Api,
}

#[derive(Deserialize)]
struct ApiProject {
    path_with_namespace: String,
    http_url_to_repo: String,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    archived: bool,
}

impl GitLabGroup {
    pub fn new(base_url: &str, token: &str) -> anyhow::Result<GitLabGroup> {
        Ok(GitLabGroup {
            api: Api::new(parse_base(base_url)?, Token::new(token))?,
        })
    }

    /// The group's projects with a default branch, subgroups included,
    /// archived ones left out.
    pub async fn projects(&self, group: &str) -> Result<Vec<Listed>, ForgeError> {
        let endpoint = GroupProjects::builder()
            .group(group)
            .include_subgroups(true)
            .archived(false)
            .build();
        let projects: Vec<ApiProject> = self.api.all(built(endpoint)?).await?;
        Ok(projects
            .into_iter()
            .filter(|p| !p.archived)
            .filter_map(|p| {
                Some(Listed {
                    default_branch: p.default_branch?,
                    path: p.path_with_namespace,
                    clone_url: p.http_url_to_repo,
                })
            })
            .collect())
    }

    /// Whether `path` exists on `branch` of project `project`.
    pub async fn has_file(
        &self,
        project: &str,
        branch: &str,
        path: &str,
    ) -> Result<bool, ForgeError> {
        let endpoint = File::builder()
            .project(project)
            .file_path(path)
            .ref_(branch)
            .build();
        match self
            .api
            .call::<_, serde_json::Value>(built(endpoint)?)
            .await
        {
            Ok(_) => Ok(true),
            Err(ForgeError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
