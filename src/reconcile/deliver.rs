//! Delivering changes: commits on the bot's branches (or the base branch
//! in `direct` mode), and the MR lifecycle — open, update in place, leave
//! alone when a human pushed, close when no longer needed, auto-merge.
//!
//! Every write is preceded by a read that shows it is needed, so a run on
//! an unchanged world writes nothing.

use anyhow::Context;

use super::Repo;
use super::action::Action;
use super::change::Change;
use super::feedback::{auto_merge, comment_once};
use crate::config::CommitMode;
use crate::forge::{ApiCommit, Forge, ForgeError, MergeRequest, MrDraft, Opened};
use crate::git::Lease;
use crate::lock::RepoGuard;
use crate::plan::{self, Report, SourceFile};
use crate::policy::RepoConfig;
use crate::texts;

/// What delivering needs from the run.
pub struct Ctx<'a> {
    pub repo: &'a Repo,
    pub guard: &'a RepoGuard,
    pub config: &'a RepoConfig,
    pub base: &'a str,
    pub files: &'a [SourceFile],
    /// What the rollback holds did to the plan (src/rollback/).
    pub restrained: &'a crate::rollback::Restrained,
}

/// The bot branch as found on the remote, against the wanted commit.
enum BranchState {
    Missing,
    /// Base + exactly the wanted tree, made by the bot.
    Current(String),
    /// The bot's, but on an old base or with an old tree.
    Stale(String),
    /// Someone else committed to it.
    Human(String),
}

/// A change's commit, built in the mirror (not pushed), with what it
/// writes, for the platform to make the same commit (`commit = "api"`).
struct Built {
    sha: String,
    edits: Vec<(String, String)>,
    message: String,
}

impl Ctx<'_> {
    /// The commit that applies `bumps` on the base (not pushed).
    fn build(&self, bumps: &[plan::Bump], message: &str) -> anyhow::Result<Built> {
        let mut sub = Report {
            bumps: bumps.to_vec(),
            ..Report::default()
        };
        let changes = plan::apply(&mut sub, self.files);
        if let Some(e) = sub.errors.first() {
            anyhow::bail!("cannot edit {}: {}", e.file, e.message);
        }
        let edits: Vec<(String, String)> = changes.into_iter().map(|c| (c.path, c.after)).collect();
        let sha = self
            .repo
            .mirror
            .commit(self.base, &edits, message, &self.repo.identity)?;
        Ok(Built {
            sha,
            edits,
            message: message.to_string(),
        })
    }

    /// Whether a commit on a bot branch is the bot's: by the configured
    /// identity, or made through the platform's API for it.
    fn is_bot(&self, author_email: &str) -> bool {
        author_email == self.repo.identity.email
            || self.repo.api_author.as_deref() == Some(author_email)
    }

    fn branch_state(&self, branch: &str, wanted: &str) -> anyhow::Result<BranchState> {
        let Some(head) = self.repo.mirror.branch_head(branch)? else {
            return Ok(BranchState::Missing);
        };
        let commits = self.repo.mirror.commits_between(self.base, &head)?;
        if commits.iter().any(|c| !self.is_bot(&c.author_email)) {
            return Ok(BranchState::Human(head));
        }
        let wanted_tree = self.repo.mirror.commit_info(wanted)?.tree;
        let current = match commits.as_slice() {
            [only] => only.parents == [self.base] && only.tree == wanted_tree,
            _ => false,
        };
        Ok(if current {
            BranchState::Current(head)
        } else {
            BranchState::Stale(head)
        })
    }

    /// Puts `wanted` on `branch` unless it is already there or a human
    /// owns the branch: pushed with git, or, with `commit = "api"` and a
    /// forge, made by the platform from the same edits. Returns the branch
    /// head afterwards and whether it moved.
    async fn sync_branch(
        &self,
        branch: &str,
        wanted: &Built,
        forge: Option<&dyn Forge>,
    ) -> anyhow::Result<Result<(String, bool), String>> {
        let lease = match self.branch_state(branch, &wanted.sha)? {
            BranchState::Human(head) => return Ok(Err(head)),
            BranchState::Current(head) => return Ok(Ok((head, false))),
            BranchState::Missing => Lease::MustNotExist,
            BranchState::Stale(head) => Lease::Expect(head),
        };
        if let (Some(forge), CommitMode::Api) = (forge, self.repo.settings.commit) {
            let replaces = match &lease {
                Lease::Expect(head) => Some(head.as_str()),
                _ => None,
            };
            let commit = ApiCommit {
                branch,
                parent: self.base,
                replaces,
                message: &wanted.message,
                files: &wanted.edits,
                author_name: &self.repo.identity.name,
                author_email: &self.repo.identity.email,
            };
            let sha = forge
                .commit_via_api(&commit)
                .await
                .with_context(|| format!("committing to {branch} through the API"))?;
            // Later reads (the branch's state, the next run) see it.
            self.repo
                .mirror
                .fetch()
                .await
                .context("fetching the API commit")?;
            return Ok(Ok((sha, true)));
        }
        self.repo
            .mirror
            .push(self.guard, &wanted.sha, branch, lease, true)
            .await
            .with_context(|| format!("pushing {branch}"))?;
        Ok(Ok((wanted.sha.clone(), true)))
    }
}

/// `direct` mode, base target: one commit with every bump, on the base.
pub async fn commit_to_base(ctx: &Ctx<'_>, report: &Report) -> anyhow::Result<Vec<Action>> {
    let branch = &ctx.repo.settings.branch;
    let change = Change {
        branch: branch.clone(),
        bumps: report.bumps.clone(),
    };
    let sha = ctx.build(&change.bumps, &change.commit_message())?.sha;
    ctx.repo
        .mirror
        .push(
            ctx.guard,
            &sha,
            branch,
            Lease::Expect(ctx.base.to_string()),
            false,
        )
        .await
        .with_context(|| format!("pushing to {branch}"))?;
    tracing::info!(%branch, %sha, bumps = change.bumps.len(), "committed to the base branch");
    Ok(vec![Action::CommittedToBase {
        branch: branch.clone(),
        sha,
        title: change.title(),
    }])
}

/// `direct` mode, branch target: the bot branch only, no MR.
pub async fn push_branch(ctx: &Ctx<'_>, change: &Change) -> anyhow::Result<Vec<Action>> {
    let wanted = ctx.build(&change.bumps, &change.commit_message())?;
    Ok(
        match ctx.sync_branch(&change.branch, &wanted, None).await? {
            Err(_) => vec![Action::LeftAlone {
                number: None,
                branch: change.branch.clone(),
                reason: "someone else pushed to it".into(),
            }],
            Ok((sha, true)) => vec![Action::PushedBranch {
                branch: change.branch.clone(),
                sha,
            }],
            Ok((_, false)) => Vec::new(),
        },
    )
}

/// Brings one change's branch and MR up to date. What it did is added to
/// `actions` as it goes, so that a failure part-way keeps the record of
/// what was done before it.
pub async fn merge_request(
    ctx: &Ctx<'_>,
    forge: &dyn Forge,
    change: &Change,
    existing: Option<&MergeRequest>,
    actions: &mut Vec<Action>,
) -> anyhow::Result<()> {
    let policy = &ctx.repo.retry;
    let wanted = ctx.build(&change.bumps, &change.commit_message())?;
    let head = match ctx
        .sync_branch(&change.branch, &wanted, Some(forge))
        .await?
    {
        Ok((head, pushed)) => {
            if pushed {
                actions.push(Action::PushedBranch {
                    branch: change.branch.clone(),
                    sha: head.clone(),
                });
            }
            head
        }
        Err(_) => {
            if let Some(mr) = existing {
                let note = texts::human_push(&change.branch);
                let mark = texts::human_push_mark();
                if comment_once(forge, mr.number, &note, &mark).await? {
                    actions.push(Action::Commented {
                        number: mr.number,
                        about: "someone else pushed to the branch",
                    });
                }
            }
            actions.push(Action::LeftAlone {
                number: existing.map(|m| m.number),
                branch: change.branch.clone(),
                reason: "someone else pushed to it".into(),
            });
            return Ok(());
        }
    };
    // A change bumping a reference held after a rollback says so, and is
    // never auto-merged while the hold stands.
    let holds = ctx.restrained.holds_of(&change.bumps);
    let note = texts::rollback_held(&holds);
    let (title, body) = (change.title(), change.body_noting(&note));
    let mut mr = match existing {
        Some(mr) => {
            if mr.title != title || mr.body != body {
                forge.update_mr(mr.number, &title, &body).await?;
                actions.push(Action::Updated {
                    number: mr.number,
                    branch: change.branch.clone(),
                    title: title.clone(),
                });
            }
            mr.clone()
        }
        None => {
            let draft = MrDraft {
                head_branch: change.branch.clone(),
                base_branch: ctx.repo.settings.branch.clone(),
                title: title.clone(),
                body,
                labels: ctx.config.pull_requests.labels.clone(),
                reviewers: ctx.config.pull_requests.reviewers.clone(),
            };
            let opened = create_once(
                forge,
                policy,
                &draft,
                &ctx.config.pull_requests.branch_prefix,
            )
            .await?;
            let mr = opened.mr;
            actions.push(Action::Opened {
                number: mr.number,
                branch: change.branch.clone(),
                title,
                url: mr.web_url.clone(),
            });
            if !opened.problems.is_empty() {
                let list: Vec<String> = opened.problems.iter().map(|p| format!("- {p}")).collect();
                let note = texts::reviewers_refused(&list.join("\n"));
                tracing::warn!(mr = mr.number, problems = ?opened.problems, "reviewers refused");
                if comment_once(forge, mr.number, &note, &texts::reviewers_mark()).await? {
                    actions.push(Action::Commented {
                        number: mr.number,
                        about: "reviewers could not be requested",
                    });
                }
            }
            mr
        }
    };
    mr.head_sha = head;
    if !holds.is_empty() {
        // Switched on before the rollback: switched off while it holds.
        if mr.auto_merge {
            forge.disable_auto_merge(&mr).await?;
            actions.push(Action::AutoMergeDisabled { number: mr.number });
        }
    } else if change.automerge_allowed(ctx.config) {
        actions.extend(auto_merge(ctx, forge, &mr).await?);
    }
    Ok(())
}

/// Opens the MR. A create is not retried blindly: after a failure the open
/// MRs are listed again, and an MR for the branch that appeared (the first
/// try went through after all) is taken instead of opening a second.
async fn create_once(
    forge: &dyn Forge,
    policy: &crate::forge::RetryPolicy,
    draft: &MrDraft,
    prefix: &str,
) -> anyhow::Result<Opened> {
    let mut last: Option<ForgeError> = None;
    for attempt in 1..=policy.attempts {
        if attempt > 1 {
            let open = forge.open_mrs(prefix).await?;
            if let Some(mr) = open
                .into_iter()
                .find(|m| m.head_branch == draft.head_branch)
            {
                return Ok(Opened {
                    mr,
                    problems: Vec::new(),
                });
            }
        }
        match forge.create_mr(draft).await {
            Ok(opened) => return Ok(opened),
            Err(e) if e.is_retryable() || matches!(e, ForgeError::Rejected { .. }) => {
                tracing::warn!(branch = %draft.head_branch, attempt, error = %e, "opening the MR failed");
                let wait = policy.base * 2u32.saturating_pow(attempt - 1);
                tokio::time::sleep(wait.min(policy.max_wait)).await;
                last = Some(e);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(last
        .map(anyhow::Error::from)
        .unwrap_or_else(|| anyhow::anyhow!("opening the MR failed")))
}

/// Closes an MR whose change is no longer needed (the base already has
/// these versions or newer), with a comment, and deletes its branch —
/// unless someone else pushed to it.
pub async fn close_unneeded(
    ctx: &Ctx<'_>,
    forge: &dyn Forge,
    mr: &MergeRequest,
) -> anyhow::Result<Vec<Action>> {
    if super::decode_marker(&mr.body).is_none() {
        return Ok(Vec::new()); // not one of ours
    }
    let head = ctx.repo.mirror.branch_head(&mr.head_branch)?;
    if let Some(head) = &head {
        let commits = ctx.repo.mirror.commits_between(ctx.base, head)?;
        if commits.iter().any(|c| !ctx.is_bot(&c.author_email)) {
            return Ok(vec![Action::LeftAlone {
                number: Some(mr.number),
                branch: mr.head_branch.clone(),
                reason: "no longer needed, but someone else pushed to it".into(),
            }]);
        }
    }
    let note = format!(
        "imagebump is closing this MR: `{}` already has these versions or newer, or no policy asks for them any more.",
        ctx.repo.settings.branch
    );
    forge.comment(mr.number, &note).await?;
    forge.close_mr(mr.number).await?;
    if let Some(head) = head
        && let Err(e) = ctx
            .repo
            .mirror
            .delete_branch(ctx.guard, &mr.head_branch, &head)
            .await
    {
        tracing::warn!(branch = %mr.head_branch, error = %e, "could not delete the branch of a closed MR");
    }
    Ok(vec![Action::Closed {
        number: mr.number,
        branch: mr.head_branch.clone(),
    }])
}
