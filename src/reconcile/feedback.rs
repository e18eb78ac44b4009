//! Talking back on the platform: auto-merge once a change may merge,
//! one-time comments, and reporting an invalid `.imagebump.yaml`.

use super::action::Action;
use super::deliver::Ctx;
use super::{CONFIG_ISSUE_TITLE, Repo};
use crate::forge::{AutoMerge, Checks, Forge, MergeRequest, RetryPolicy, retry};

/// Native auto-merge where the platform allows it; otherwise merge once
/// the head's checks are green. No checks at all is not green: right after
/// a push the platform may not have created them yet, so auto-merge needs
/// at least one status, check run or pipeline on the head.
pub(super) async fn auto_merge(
    ctx: &Ctx<'_>,
    forge: &dyn Forge,
    mr: &MergeRequest,
) -> anyhow::Result<Vec<Action>> {
    let policy = &ctx.repo.retry;
    if mr.auto_merge {
        return Ok(Vec::new());
    }
    let key = (mr.number, mr.head_sha.clone());
    let refused = ctx
        .repo
        .memo
        .no_auto_merge
        .lock()
        .map(|s| s.contains(&key))
        .unwrap_or(false);
    if !refused {
        match retry("enable auto-merge", policy, || forge.enable_auto_merge(mr)).await? {
            AutoMerge::Enabled => return Ok(vec![Action::AutoMergeEnabled { number: mr.number }]),
            AutoMerge::Unavailable(why) => {
                tracing::info!(mr = mr.number, reason = %why, "native auto-merge unavailable; merging when checks pass");
                if let Ok(mut s) = ctx.repo.memo.no_auto_merge.lock() {
                    s.insert(key);
                }
            }
        }
    }
    match retry("read checks", policy, || forge.checks(&mr.head_sha)).await? {
        Checks::Success => {
            retry("merge", policy, || forge.merge(mr)).await?;
            Ok(vec![Action::Merged { number: mr.number }])
        }
        Checks::Pending | Checks::Failure | Checks::None => Ok(Vec::new()),
    }
}

/// Comments `body` unless a comment carrying `mark` is already there.
pub async fn comment_once(
    forge: &dyn Forge,
    policy: &RetryPolicy,
    number: u64,
    body: &str,
    mark: &str,
) -> anyhow::Result<bool> {
    let comments = retry("read comments", policy, || forge.comments(number)).await?;
    if comments.iter().any(|c| c.contains(mark)) {
        return Ok(false);
    }
    retry("comment", policy, || forge.comment(number, body)).await?;
    Ok(true)
}

/// An invalid `.imagebump.yaml` on the base: no MR changes; the problem is
/// logged and shown on every open bot MR (once per distinct problem), or on
/// a tracking issue when there is none.
pub async fn report_config_problem(repo: &Repo, lines: &[String]) -> anyhow::Result<Vec<Action>> {
    for l in lines {
        tracing::error!(repo = repo.mirror.name(), "{l}");
    }
    let Some(forge) = &repo.forge else {
        return Ok(Vec::new());
    };
    let policy = &repo.retry;
    let text = lines.join("\n");
    // The mark names this exact problem: a new problem is reported again.
    let mark = format!(
        "<!-- imagebump: config-error {:016x} -->",
        fingerprint(&text)
    );
    let body = format!(
        "imagebump cannot use `.imagebump.yaml` on `{}`; it changes no MR until the file is fixed:\n\n```\n{text}\n```\n\n{mark}",
        repo.settings.branch
    );
    let open = retry("list open MRs", policy, || forge.open_mrs("")).await?;
    let ours: Vec<&MergeRequest> = open
        .iter()
        .filter(|m| super::decode_marker(&m.body).is_some())
        .collect();
    let mut actions = Vec::new();
    for mr in &ours {
        if comment_once(forge.as_ref(), policy, mr.number, &body, &mark).await? {
            actions.push(Action::Commented {
                number: mr.number,
                about: "invalid .imagebump.yaml",
            });
        }
    }
    if ours.is_empty() {
        let already = repo
            .memo
            .last_config_report
            .lock()
            .map(|l| l.as_deref() == Some(text.as_str()))
            .unwrap_or(false);
        if !already {
            let number = retry("report issue", policy, || {
                forge.report_issue(CONFIG_ISSUE_TITLE, &body)
            })
            .await?;
            if let Ok(mut l) = repo.memo.last_config_report.lock() {
                *l = Some(text);
            }
            actions.push(Action::ReportedIssue { number });
        }
    }
    Ok(actions)
}

/// A short, stable fingerprint of a problem's text (FNV-1a).
fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
