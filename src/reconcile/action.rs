//! What a run did ([`Action`]) and what it remembers between runs ([`Memo`]).

use std::collections::HashSet;
use std::fmt;
use std::sync::Mutex;

/// What a run learnt that the platform does not show, kept between runs.
#[derive(Debug, Default)]
pub struct Memo {
    /// (MR number, head sha) whose native auto-merge was refused.
    pub(super) no_auto_merge: Mutex<HashSet<(u64, String)>>,
    /// The last config problem reported on the tracking issue.
    pub(super) last_config_report: Mutex<Option<String>>,
}

/// One thing a run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    CommittedToBase {
        branch: String,
        sha: String,
        title: String,
    },
    PushedBranch {
        branch: String,
        sha: String,
    },
    Opened {
        number: u64,
        branch: String,
        title: String,
        url: String,
    },
    Updated {
        number: u64,
        branch: String,
        title: String,
    },
    Closed {
        number: u64,
        branch: String,
    },
    Commented {
        number: u64,
        about: &'static str,
    },
    LeftAlone {
        number: Option<u64>,
        branch: String,
        reason: String,
    },
    AutoMergeEnabled {
        number: u64,
    },
    /// Switched off because a rollback hold came after it (src/rollback/).
    AutoMergeDisabled {
        number: u64,
    },
    Merged {
        number: u64,
    },
    ReportedIssue {
        number: u64,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::CommittedToBase { branch, sha, title } => write!(
                f,
                "committed {} to {branch}: {title}",
                &sha[..sha.len().min(12)]
            ),
            Action::PushedBranch { branch, sha } => {
                write!(f, "pushed {} to {branch}", &sha[..sha.len().min(12)])
            }
            Action::Opened {
                number,
                branch,
                title,
                url,
            } => write!(f, "opened !{number} ({branch}): {title} {url}"),
            Action::Updated {
                number,
                branch,
                title,
            } => write!(f, "updated !{number} ({branch}): {title}"),
            Action::Closed { number, branch } => {
                write!(f, "closed !{number} ({branch}): no longer needed")
            }
            Action::Commented { number, about } => write!(f, "commented on !{number}: {about}"),
            Action::LeftAlone {
                number,
                branch,
                reason,
            } => match number {
                Some(n) => write!(f, "left !{n} ({branch}) alone: {reason}"),
                None => write!(f, "left {branch} alone: {reason}"),
            },
            Action::AutoMergeEnabled { number } => write!(f, "enabled auto-merge on !{number}"),
            Action::AutoMergeDisabled { number } => {
                write!(f, "disabled auto-merge on !{number}: a rollback holds it")
            }
            Action::Merged { number } => write!(f, "merged !{number}"),
            Action::ReportedIssue { number } => {
                write!(f, "reported the problem on issue #{number}")
            }
        }
    }
}
