//! The fake's model of one GitHub repository: pull requests and issues
//! (one numbering, like GitHub), comments, commit statuses and check runs,
//! tokens, faults. Branch contents are a real bare repository read and
//! written with the `git` CLI.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A pull request as the fake holds it (a snapshot for tests).
#[derive(Clone, Debug, PartialEq)]
pub struct FakePr {
    pub number: u64,
    pub node_id: String,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    /// `open` or `closed`.
    pub state: String,
    pub merged_at: Option<String>,
    /// Head commit: live from the bare repo while open, frozen once closed.
    pub head_sha: String,
    pub merge_commit_sha: Option<String>,
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub team_reviewers: Vec<String>,
    pub auto_merge: Option<FakeAutoMerge>,
    /// The owner of the fork the head branch lives in; `None`: this
    /// repository.
    pub fork: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FakeAutoMerge {
    pub enabled_by: String,
    pub merge_method: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FakeIssue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub state: String,
}

pub struct Fault {
    pub method: String,
    pub prefix: String,
    pub status: u16,
    pub remaining: usize,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

pub struct Delay {
    pub method: String,
    pub prefix: String,
    pub remaining: usize,
    pub delay: Duration,
}

/// The login of the bot user (tokens) and of the App's bot.
pub const BOT_LOGIN: &str = "imagebump-bot";
pub const HUMAN_LOGIN: &str = "octocat";

pub struct World {
    pub owner: String,
    pub name: String,
    pub bare: PathBuf,
    /// `http://127.0.0.1:PORT`, for URLs in bodies and `Link` headers.
    pub base_url: String,
    pub next_number: u64,
    pub prs: Vec<FakePr>,
    pub issues: Vec<FakeIssue>,
    pub comments: HashMap<u64, Vec<String>>,
    /// sha → (context, state), latest per context.
    pub statuses: HashMap<String, Vec<(String, String)>>,
    /// sha → (name, status, conclusion).
    pub check_runs: HashMap<String, Vec<(String, String, Option<String>)>>,
    pub allow_auto_merge: bool,
    pub tokens: HashSet<String>,
    pub app_id: u64,
    pub installation_id: u64,
    pub mints: usize,
    pub max_per_page: usize,
    pub faults: Vec<Fault>,
    pub delays: Vec<Delay>,
    pub requests: Vec<(String, String)>,
    pub write_calls: usize,
    pub rate_used: u64,
    /// login → `admin`, `maintain`, `write`, `triage`, `read` or `none`;
    /// logins not listed are unknown (404).
    pub permissions: HashMap<String, String>,
    /// Logins review may be requested from (collaborators).
    pub collaborators: HashSet<String>,
    /// The base branch's protection requires the head's checks to pass
    /// (and so blocks merging until they do).
    pub required_checks: bool,
    /// The base branch's protection requires an approving review (none is
    /// ever given in the fake).
    pub required_review: bool,
    /// GHES layout: REST under `/api/v3`, GraphQL at `/api/graphql`.
    pub ghes: bool,
    /// GraphQL requests left that answer RATE_LIMITED.
    pub graphql_rate_limited: usize,
    /// Commits GitHub made through the API for the App, which it signs
    /// (shown as verified).
    pub verified: Vec<String>,
    /// Other repositories of the owner / installation: (name, whether its
    /// default branch has `.imagebump.yaml`, archived).
    pub others: Vec<(String, bool, bool)>,
}

/// The App's slug and its bot user's id (`GET /app`, `GET /users/<slug>[bot]`).
pub const APP_SLUG: &str = "imagebump-test";
pub const APP_BOT_ID: u64 = 9_990_001;

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time (civil-from-days).
pub fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

impl World {
    pub fn git(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.bare)
            .args(args)
            .env("GIT_AUTHOR_NAME", "GitHub")
            .env("GIT_AUTHOR_EMAIL", "noreply@github.com")
            .env("GIT_COMMITTER_NAME", "GitHub")
            .env("GIT_COMMITTER_EMAIL", "noreply@github.com")
            .output()
            .map_err(|e| format!("git: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "git {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    pub fn branch_sha(&self, branch: &str) -> Option<String> {
        self.git(&[
            "rev-parse",
            "--verify",
            "-q",
            &format!("refs/heads/{branch}"),
        ])
        .ok()
        .filter(|s| !s.is_empty())
    }

    /// Refreshes the head sha of open PRs from the bare repo.
    pub fn refresh(&mut self) {
        // A fork's branch lives in the fork, not in this repository.
        let shas: Vec<Option<String>> = self
            .prs
            .iter()
            .map(|pr| {
                (pr.state == "open" && pr.fork.is_none())
                    .then(|| self.branch_sha(&pr.head))
                    .flatten()
            })
            .collect();
        for (pr, sha) in self.prs.iter_mut().zip(shas) {
            if let Some(sha) = sha {
                pr.head_sha = sha;
            }
        }
    }

    pub fn pr_mut(&mut self, number: u64) -> Option<&mut FakePr> {
        self.prs.iter_mut().find(|p| p.number == number)
    }

    pub fn issue_exists(&self, number: u64) -> bool {
        self.prs.iter().any(|p| p.number == number)
            || self.issues.iter().any(|i| i.number == number)
    }

    /// `success`, `pending`, `failure` or `none` over statuses and runs.
    pub fn check_state(&self, sha: &str) -> &'static str {
        let mut states: Vec<&'static str> = Vec::new();
        for (_, s) in self.statuses.get(sha).into_iter().flatten() {
            states.push(match s.as_str() {
                "success" => "success",
                "pending" => "pending",
                _ => "failure",
            });
        }
        for (_, status, conclusion) in self.check_runs.get(sha).into_iter().flatten() {
            states.push(if status != "completed" {
                "pending"
            } else {
                match conclusion.as_deref() {
                    Some("success" | "neutral" | "skipped") => "success",
                    Some("stale") => "pending",
                    _ => "failure",
                }
            });
        }
        if states.is_empty() {
            "none"
        } else if states.contains(&"failure") {
            "failure"
        } else if states.contains(&"pending") {
            "pending"
        } else {
            "success"
        }
    }

    /// Why branch protection blocks merging PR `pr` now, if it does: the
    /// message of GitHub's 405 (docs.github.com/rest/pulls/pulls#merge-a-pull-request:
    /// "405 Method Not Allowed if merge cannot be performed").
    pub fn protection_blocks(&self, pr: &FakePr) -> Option<String> {
        if self.required_review {
            return Some(
                "At least 1 approving review is required by reviewers with write access."
                    .to_string(),
            );
        }
        (self.required_checks && self.check_state(&pr.head_sha) != "success")
            .then(|| "Required status check \"ci/fake\" is expected.".to_string())
    }

    /// Squash-merges PR `number` into its base in the bare repo. `Err`
    /// carries the HTTP status and GitHub's message.
    pub fn squash_merge(
        &mut self,
        number: u64,
        expected_sha: Option<&str>,
    ) -> Result<String, (u16, String)> {
        self.refresh();
        let Some(pr) = self.prs.iter().find(|p| p.number == number).cloned() else {
            return Err((404, "Not Found".to_string()));
        };
        if pr.state != "open" {
            return Err((405, "Pull Request is not mergeable".to_string()));
        }
        let head = self.branch_sha(&pr.head);
        if let (Some(expected), Some(head)) = (expected_sha, head.as_deref())
            && expected != head
        {
            return Err((
                409,
                "Head branch was modified. Review and try the merge again.".to_string(),
            ));
        }
        let (Some(head), Some(base)) = (head, self.branch_sha(&pr.base)) else {
            return Err((405, "Pull Request is not mergeable".to_string()));
        };
        let tree = self
            .git(&["merge-tree", "--write-tree", &base, &head])
            .map_err(|_| (405, "Pull Request is not mergeable".to_string()))?;
        let tree = tree.lines().next().unwrap_or_default().to_string();
        let message = format!("{} (#{})\n\n{}", pr.title, pr.number, pr.body);
        let commit = self
            .git(&["commit-tree", &tree, "-p", &base, "-m", &message])
            .map_err(|e| (500, e))?;
        self.git(&[
            "update-ref",
            &format!("refs/heads/{}", pr.base),
            &commit,
            &base,
        ])
        .map_err(|_| {
            (
                409,
                "Base branch was modified. Review and try the merge again.".to_string(),
            )
        })?;
        if let Some(p) = self.pr_mut(number) {
            p.state = "closed".to_string();
            p.merged_at = Some(iso8601(now_secs()));
            p.head_sha = head;
            p.merge_commit_sha = Some(commit.clone());
        }
        Ok(commit)
    }

    /// Merges every open auto-merge PR whose head's checks all passed and
    /// that protection no longer blocks, as GitHub does.
    pub fn run_auto_merge(&mut self) {
        self.refresh();
        let ready: Vec<u64> = self
            .prs
            .iter()
            .filter(|p| p.state == "open" && p.auto_merge.is_some())
            .filter(|p| self.check_state(&p.head_sha) == "success")
            .filter(|p| self.protection_blocks(p).is_none())
            .map(|p| p.number)
            .collect();
        for number in ready {
            let _ = self.squash_merge(number, None);
        }
    }

    pub fn close(&mut self, number: u64) {
        self.refresh();
        if let Some(p) = self.pr_mut(number) {
            p.state = "closed".to_string();
            p.auto_merge = None;
        }
    }
}
