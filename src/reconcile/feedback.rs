//! Talking back on the platform: auto-merge once a change may merge,
//! one-time comments, and reporting an invalid `.imagebump.yaml`.

use super::Repo;
use super::action::Action;
use super::deliver::Ctx;
use crate::forge::{AutoMerge, Checks, Forge, Merge, MergeRequest};
use crate::texts::{self, CONFIG_ISSUE_TITLE};

/// Native auto-merge where the platform allows it; otherwise merge once
/// the head's checks are green. No checks at all is not green: right after
/// a push the platform may not have created them yet, so auto-merge needs
/// at least one status, check run or pipeline on the head.
///
/// Whether auto-merge is wanted is derived afresh on every run from the
/// MR and the policy (the caller's); [`super::Memo`] only saves asking
/// again for native auto-merge the platform refused for this head.
pub(super) async fn auto_merge(
    ctx: &Ctx<'_>,
    forge: &dyn Forge,
    mr: &MergeRequest,
) -> anyhow::Result<Vec<Action>> {
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
        match forge.enable_auto_merge(mr).await? {
            AutoMerge::Enabled => return Ok(vec![Action::AutoMergeEnabled { number: mr.number }]),
            AutoMerge::Merged => return Ok(vec![Action::Merged { number: mr.number }]),
            AutoMerge::NotYet(why) => {
                tracing::info!(mr = mr.number, reason = %why, "not asking for native auto-merge yet");
            }
            AutoMerge::Unavailable(why) => {
                tracing::info!(mr = mr.number, reason = %why, "native auto-merge unavailable; merging when checks pass");
                if let Ok(mut s) = ctx.repo.memo.no_auto_merge.lock() {
                    s.insert(key);
                }
            }
        }
    }
    match forge.checks(mr).await? {
        Checks::Success => match forge.merge(mr).await? {
            Merge::Merged => Ok(vec![Action::Merged { number: mr.number }]),
            Merge::Refused(why) => {
                tracing::info!(mr = mr.number, reason = %why, "the platform did not merge it");
                let head = &mr.head_sha[..mr.head_sha.len().min(12)];
                let mark = texts::merge_refused_mark(head);
                let note = texts::merge_refused(&why, &mark);
                Ok(if comment_once(forge, mr.number, &note, &mark).await? {
                    vec![Action::Commented {
                        number: mr.number,
                        about: "the platform refused the merge",
                    }]
                } else {
                    Vec::new()
                })
            }
        },
        Checks::Pending | Checks::Failure | Checks::None => Ok(Vec::new()),
    }
}

/// Records that delivering one change failed: a log line naming the
/// change, a metric, and one comment on its MR (once per distinct
/// problem) where there is an MR. Failing to comment is only logged: the
/// run goes on with the other changes either way.
pub(super) async fn delivery_failed(
    repo: &Repo,
    forge: Option<&dyn Forge>,
    branch: &str,
    number: Option<u64>,
    error: &anyhow::Error,
) -> String {
    let text = format!("{error:#}");
    tracing::error!(repo = repo.mirror.name(), branch, mr = ?number, error = %text, "delivering a change failed; going on with the others");
    crate::metrics::delivery_failed(repo.mirror.name());
    if let (Some(forge), Some(number)) = (forge, number) {
        let mark = texts::mark_for("delivery-failed", &text);
        let note = texts::delivery_failed(&text, &mark);
        if let Err(e) = comment_once(forge, number, &note, &mark).await {
            tracing::warn!(repo = repo.mirror.name(), mr = number, error = %e, "could not comment on the MR about the failure");
        }
    }
    format!("{branch}: {text}")
}

/// Comments `body` unless a comment carrying `mark` is already there.
pub async fn comment_once(
    forge: &dyn Forge,
    number: u64,
    body: &str,
    mark: &str,
) -> anyhow::Result<bool> {
    let comments = forge.comments(number).await?;
    if comments.iter().any(|c| c.contains(mark)) {
        return Ok(false);
    }
    forge.comment(number, body).await?;
    Ok(true)
}

/// An invalid `.imagebump.yaml` on the base: no MR changes; the problem is
/// logged and shown on every open bot MR (once per distinct problem), or on
/// a tracking issue when there is none.
pub async fn report_config_problem(repo: &Repo, lines: &[String]) -> anyhow::Result<Vec<Action>> {
    for l in lines {
        tracing::error!(repo = repo.mirror.name(), "{l}");
    }
    let Some(forge) = repo.platform() else {
        return Ok(Vec::new());
    };
    let text = lines.join("\n");
    // The mark names this exact problem: a new problem is reported again.
    let mark = texts::mark_for("config-error", &text);
    let body = texts::config_invalid(&repo.settings.branch, &text, &mark);
    let open = forge.open_mrs("").await?;
    let ours: Vec<&MergeRequest> = open
        .iter()
        .filter(|m| super::decode_marker(&m.body).is_some())
        .collect();
    let mut actions = Vec::new();
    for mr in &ours {
        if comment_once(&forge, mr.number, &body, &mark).await? {
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
            let number = forge.report_issue(CONFIG_ISSUE_TITLE, &body).await?;
            if let Ok(mut l) = repo.memo.last_config_report.lock() {
                *l = Some(text);
            }
            actions.push(Action::ReportedIssue { number });
        }
    }
    Ok(actions)
}
