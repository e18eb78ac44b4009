//! GitHub's answers turned into forge types, at the boundary: pull requests
//! (through octocrab's model), statuses plus check runs into one
//! [`Checks`], GraphQL auto-merge answers into [`AutoMerge`].

use octocrab::models::IssueState;
use octocrab::models::pulls::PullRequest;
use serde_json::Value;

use super::http::FORGE;
use crate::forge::{AutoMerge, Checks, ForgeError, MergeRequest, MrState};

/// A pull request from the API, and whether its head branch lives in the
/// base repository (`owner/name`), i.e. is not a fork's.
pub(super) fn pull_request(v: Value, repo: &str) -> Result<(MergeRequest, bool), ForgeError> {
    let pr: PullRequest = serde_json::from_value(v).map_err(|e| ForgeError::Protocol {
        forge: FORGE,
        message: format!("pull request: {e}"),
    })?;
    let same_repo = pr
        .head
        .repo
        .as_ref()
        .and_then(|r| r.full_name.as_deref())
        .is_some_and(|n| n.eq_ignore_ascii_case(repo));
    let state = if pr.merged_at.is_some() {
        MrState::Merged
    } else if pr.state == Some(IssueState::Open) {
        MrState::Open
    } else {
        MrState::Closed
    };
    let mr = MergeRequest {
        number: pr.number,
        node_id: pr.node_id,
        title: pr.title.unwrap_or_default(),
        body: pr.body.unwrap_or_default(),
        head_branch: pr.head.ref_field,
        head_sha: pr.head.sha,
        base_branch: pr.base.ref_field,
        state,
        web_url: pr.html_url.map(|u| u.to_string()).unwrap_or(pr.url),
        auto_merge: pr.auto_merge.is_some(),
    };
    Ok((mr, same_repo))
}

/// `org/team` entries are teams (GitHub wants the slug after `/`), the
/// rest users: `(teams, users)`.
pub(super) fn split_reviewers(reviewers: &[String]) -> (Vec<String>, Vec<String>) {
    let mut teams = Vec::new();
    let mut users = Vec::new();
    for r in reviewers {
        match r.split_once('/') {
            Some((_, team)) => teams.push(team.to_string()),
            None => users.push(r.clone()),
        }
    }
    (teams, users)
}

/// Percent-encodes a query value (`owner:branch` with `/` and friends).
pub(super) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum One {
    Success,
    Pending,
    Failure,
}

/// Combines the combined-status answer (`GET commits/{sha}/status`) and the
/// check runs of a commit: any failure wins, then anything still running,
/// then success; [`Checks::None`] when neither has an entry.
pub(super) fn combine_checks(combined: &Value, runs: &[Value]) -> Checks {
    let one = |state: &str| match state {
        "success" => One::Success,
        "pending" => One::Pending,
        _ => One::Failure,
    };
    let statuses = combined["statuses"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    // The combined `state` covers every status, also those past the first
    // page of `statuses`; it says "pending" when there are none at all.
    let from_statuses: Vec<One> =
        match (combined["total_count"].as_u64(), combined["state"].as_str()) {
            (Some(0), _) => Vec::new(),
            (Some(_), Some(state)) => vec![one(state)],
            _ => statuses
                .iter()
                .map(|s| one(s["state"].as_str().unwrap_or_default()))
                .collect(),
        };
    let from_runs = runs.iter().map(|r| {
        if r["status"].as_str() != Some("completed") {
            return One::Pending;
        }
        match r["conclusion"].as_str().unwrap_or_default() {
            "success" | "neutral" | "skipped" => One::Success,
            "stale" => One::Pending,
            _ => One::Failure,
        }
    });
    match from_statuses.into_iter().chain(from_runs).max() {
        None => Checks::None,
        Some(One::Success) => Checks::Success,
        Some(One::Pending) => Checks::Pending,
        Some(One::Failure) => Checks::Failure,
    }
}

/// The answer to `enablePullRequestAutoMerge`. GitHub answers 200 with
/// `errors` when the repository does not allow auto-merge, when the PR
/// could be merged right away ("clean status"), or when only checks that
/// are not required are pending or failing ("unstable status"): then the
/// caller merges itself once the head's checks are green. A GraphQL rate
/// limit is also a 200, with `type: RATE_LIMITED`: retried like a 429.
pub(super) fn auto_merge_outcome(body: &Value) -> Result<AutoMerge, ForgeError> {
    let errors = body["errors"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if errors.is_empty() {
        return Ok(AutoMerge::Enabled);
    }
    let message = errors
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let lower = message.to_ascii_lowercase();
    let unavailable = lower.contains("auto merge is not allowed")
        || lower.contains("auto-merge is not allowed")
        || lower.contains("not enabled")
        || lower.contains("clean status")
        || lower.contains("unstable status");
    if unavailable && !errors.iter().any(is_rate_limit) {
        return Ok(AutoMerge::Unavailable(message));
    }
    graphql_errors(body).map(|()| AutoMerge::Enabled)
}

/// GraphQL's rate-limit error: `RATE_LIMITED`, or the newer `RATE_LIMIT`
/// with code `graphql_rate_limit`.
fn is_rate_limit(e: &Value) -> bool {
    matches!(e["type"].as_str(), Some("RATE_LIMITED" | "RATE_LIMIT"))
        || e["code"].as_str() == Some("graphql_rate_limit")
}

/// A GraphQL answer's `errors` as a [`ForgeError`] (GraphQL answers 200
/// for them): rate limits are retried like a 429.
pub(super) fn graphql_errors(body: &Value) -> Result<(), ForgeError> {
    let errors = body["errors"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(first) = errors.first() else {
        return Ok(());
    };
    if errors.iter().any(is_rate_limit) {
        return Err(ForgeError::RateLimited {
            forge: FORGE,
            retry_after: None,
        });
    }
    let message = errors
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect::<Vec<_>>()
        .join("; ");
    Err(match first["type"].as_str().unwrap_or_default() {
        "FORBIDDEN" => ForgeError::Unauthorized {
            forge: FORGE,
            status: 403,
            message,
        },
        "NOT_FOUND" => ForgeError::NotFound {
            forge: FORGE,
            what: message,
        },
        _ => ForgeError::Rejected {
            forge: FORGE,
            status: 422,
            message,
        },
    })
}

#[cfg(test)]
mod tests;
