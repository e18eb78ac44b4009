//! Repository discovery on GitHub (`[[discover]]`): the repositories a
//! GitHub App installation may see (`GET /installation/repositories`), or
//! with a token those of an organisation or user, and whether a file is on
//! a branch (`GET /repos/{owner}/{repo}/contents/{path}?ref=`).

use serde_json::Value;

use super::GitHub;
use super::http::{FORGE, Verb};
use super::model;
use crate::forge::{ForgeError, Listed};

impl GitHub {
    /// The repositories this client can see, archived ones left out: the
    /// App installation's, or `owner`'s with a token.
    pub async fn list_repositories(&self, owner: Option<&str>) -> Result<Vec<Listed>, ForgeError> {
        let items = match (&self.app, owner) {
            (Some(_), _) => {
                self.rest
                    .all_pages("/installation/repositories?per_page=100", |v| match v {
                        Value::Object(mut o) => o.remove("repositories").and_then(super::array),
                        _ => None,
                    })
                    .await?
            }
            (None, Some(owner)) => {
                let owner = model::query_escape(owner);
                let org = format!("/orgs/{owner}/repos?type=all&per_page=100");
                match self.rest.all_pages(&org, super::array).await {
                    Err(ForgeError::NotFound { .. }) => {
                        let user = format!("/users/{owner}/repos?type=owner&per_page=100");
                        self.rest.all_pages(&user, super::array).await?
                    }
                    other => other?,
                }
            }
            (None, None) => {
                return Err(ForgeError::Protocol {
                    forge: FORGE,
                    message: "discovery with a token needs `owner` (an organisation or user)"
                        .to_string(),
                });
            }
        };
        Ok(items
            .iter()
            .filter(|r| !r["archived"].as_bool().unwrap_or(false))
            .filter_map(|r| {
                Some(Listed {
                    path: r["full_name"].as_str()?.to_string(),
                    clone_url: r["clone_url"].as_str()?.to_string(),
                    default_branch: r["default_branch"].as_str()?.to_string(),
                })
            })
            .collect())
    }

    /// Whether `path` exists on `branch` of `repo` (`owner/name`).
    pub async fn has_file(&self, repo: &str, branch: &str, path: &str) -> Result<bool, ForgeError> {
        let url = format!(
            "/repos/{repo}/contents/{path}?ref={}",
            model::query_escape(branch)
        );
        match self.rest.send(Verb::Get, &url, None).await {
            Ok(_) => Ok(true),
            Err(ForgeError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
