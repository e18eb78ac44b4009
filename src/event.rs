//! Normalized events (docs/ARCHITECTURE.md, Triggers): what a verified webhook says, in our
//! own terms. An event is only a hint of what to reconcile; the registry
//! and git stay the truth (a payload's tag is never written by itself).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    ImagePushed(ImagePushed),
    RepoPushed(RepoPushed),
    ChangeRequestUpdated(ChangeRequestUpdated),
    ChecksCompleted(ChecksCompleted),
    Command(Command),
}

/// A registry received an image (tag and/or digest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePushed {
    /// `host[:port]` as the registry names itself (`docker.io` for Hub).
    pub registry: String,
    /// Repository path, e.g. `acme/web` (`library/nginx` on Docker Hub).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImagePushed {
    /// The image, as policies name it (`None` if the names are not valid).
    pub fn image(&self) -> Option<crate::domain::ImageRepo> {
        crate::domain::ImageRepo::parse(&format!("{}/{}", self.registry, self.repository)).ok()
    }
}

/// Commits were pushed to a branch of a Git repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoPushed {
    /// `owner/name` or `group/sub/project` as the platform names it.
    pub repo: String,
    /// Without `refs/heads/`.
    pub branch: String,
    /// The new head commit.
    pub after: String,
}

/// A pull/merge request was opened, updated, closed or merged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRequestUpdated {
    pub repo: String,
    pub number: u64,
    /// `open`, `closed` or `merged`.
    pub state: String,
    /// Head branch name.
    pub head: String,
    /// Login of the user who caused the event.
    pub author: String,
}

/// Checks (statuses, check suites, pipelines) of a commit finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksCompleted {
    pub repo: String,
    pub sha: String,
    /// `success`, `failure`, … as the platform says.
    pub conclusion: String,
}

/// A comment on an MR that may be a `/imagebump …` command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub repo: String,
    pub number: u64,
    pub user: String,
    pub text: String,
}
