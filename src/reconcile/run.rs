//! One run of a reconcile, as named steps: fetch → config → plan → group →
//! deliver. Each step is its own function and its own span (`step`), so a
//! log line says which step it came from. Reads come first (fetch, config,
//! the manifests; the closed MRs, for planning); planning is pure but for
//! the registry and the refusals it is given; writes (commits, pushes, MR
//! calls) happen only in deliver, which starts by reading the open MRs.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use tracing::Instrument as _;

use super::tags::CachedSource;
use super::{Action, Outcome, Overrides, Repo, change, decode_marker, deliver, feedback};
use crate::config::DirectTarget;
use crate::forge::{Forge, MergeRequest, MrState, Retrying};
use crate::git::GitAuth;
use crate::plan::{self, Report, SourceFile};
use crate::policy::{self, CONFIG_FILE, RepoConfig};
use crate::rollback;

/// Where a repository's changes go.
pub(super) enum Delivery<'a> {
    /// Branches and merge requests on the platform.
    MergeRequests(Retrying<'a>),
    /// Commits straight onto the base branch (`direct = "base"`).
    DirectToBase,
    /// A branch per change, pushed, with no MR (`direct = "branch"`).
    DirectBranch,
}

impl Repo {
    pub(super) fn delivery(&self) -> Delivery<'_> {
        match (self.platform(), self.settings.direct) {
            (Some(f), _) => Delivery::MergeRequests(f),
            (None, DirectTarget::Base) => Delivery::DirectToBase,
            (None, DirectTarget::Branch) => Delivery::DirectBranch,
        }
    }
}

fn step(step: &'static str) -> tracing::Span {
    tracing::info_span!("step", step)
}

pub(super) async fn run_once(
    repo: &Repo,
    guard: &crate::lock::RepoGuard,
    overrides: &Overrides,
) -> anyhow::Result<Outcome> {
    let base = fetch(repo, guard).instrument(step("fetch")).await?;
    let mut outcome = Outcome {
        base: base.clone(),
        ..Outcome::default()
    };
    let Some(config) = read_config(repo, &base, &mut outcome)
        .instrument(step("config"))
        .await?
    else {
        return Ok(outcome);
    };
    outcome.images = config.policies.iter().map(|p| p.image.clone()).collect();
    outcome.branch_prefix = Some(config.pull_requests.branch_prefix.clone());
    let (files, read_problems) =
        repo.mirror
            .read_files(&base, &config.files, &config.exclude, config.max_file_bytes)?;

    let holds = match &repo.rollbacks {
        Some(book) => {
            let unread: Vec<&str> = read_problems.iter().map(|p| p.file.as_str()).collect();
            book.track(repo, &config, &base, &files, &unread)
                .instrument(step("rollbacks"))
                .await?
        }
        None => Vec::new(),
    };
    outcome.held = holds.iter().map(rollback::RollbackHold::describe).collect();

    let client = repo.registry.client();
    // References of a promoted environment do not follow the registry.
    // (Their promotions, below, say why each is left.)
    let (followed, _) = plan::promote::followed(&config, &files)?;
    let envs = plan::promote::Environments::new(&config)?;
    let mut report = plan_refusing(repo, &client, &config, &followed, overrides)
        .instrument(step("plan"))
        .await?;
    for b in &mut report.bumps {
        b.environment = envs.of(&b.file).map(|e| e.name.clone());
    }
    let promoted = super::promote::plan(repo, &config, &base, &files)
        .instrument(step("promote"))
        .await?;
    outcome.next_due_ms = promoted.next_due_ms;
    report.bumps.extend(promoted.report.bumps);
    report.skipped.extend(promoted.report.skipped);
    report.errors.extend(promoted.report.errors);
    report.bumps.retain(|b| !overrides.drops(b));
    let mrs = repo.platform().is_some();
    let restrained = rollback::restrain(&config, &holds, &files, &mut report.bumps, mrs);
    for (b, hold) in &restrained.withheld {
        tracing::info!(file = %b.file, line = b.line, to = %b.to.tag, hold = %hold.describe(), "held after a rollback: not proposed");
    }
    wait_for_due(repo, &report, promoted.next_due_ms).await;
    report.errors.splice(0..0, read_problems);
    for e in &report.errors {
        tracing::warn!(file = %e.file, line = e.line, "{}", e.message);
        outcome
            .problems
            .push(format!("{}:{}: {}", e.file, e.line, e.message));
    }
    let changes = change::group(&report, &config);

    let ctx = deliver::Ctx {
        repo,
        guard,
        config: &config,
        base: &base,
        files: &files,
        restrained: &restrained,
    };
    let delivered = deliver_all(&ctx, &report, &changes, overrides)
        .instrument(step("deliver"))
        .await?;
    outcome.actions = delivered.actions;
    outcome.failures = delivered.failures;
    outcome.unlisted = client.passing_failures();
    outcome.report = report;
    Ok(outcome)
}

/// Logs each reference that waits for a young tag, and asks for a
/// reconcile when the first thing this run waits for becomes due (a young
/// tag comes of age, a promotion's soak ends: `promotion_due`), through a
/// timer in the store fired by the service's duties, instead of waiting
/// for the next poll.
async fn wait_for_due(repo: &Repo, report: &Report, promotion_due: Option<i64>) {
    for w in &report.waiting {
        tracing::info!(file = %w.file, line = w.line, image = %w.image, tag = %w.tag, until = %w.until, "waiting for release age");
    }
    let release = report
        .next_due_ms()
        .map(|w| (w.until_ms, format!("release age of {}:{}", w.image, w.tag)));
    let promotion = promotion_due.map(|due| (due, "promotion soak".to_string()));
    let first = release
        .into_iter()
        .chain(promotion)
        .min_by_key(|(due, _)| *due);
    let (Some(cache), Some((due, reason))) = (&repo.tag_cache, first) else {
        return;
    };
    if let Err(e) = cache.set_timer(repo.mirror.name(), due, &reason).await {
        tracing::warn!(
            error = format!("{e:#}"),
            "cannot set the timer ({reason}); the next poll looks again"
        );
    }
}

/// Fetches the mirror (with a fresh token: installation tokens live an
/// hour) and returns the base branch's HEAD; before this process's first
/// fetch, removes the lock files a dead process left in the mirror.
async fn fetch(repo: &Repo, guard: &crate::lock::RepoGuard) -> anyhow::Result<String> {
    repo.mirror.remove_stale_locks(guard)?;
    if let Some(forge) = repo.platform() {
        let (user, token) = forge
            .git_credentials()
            .await
            .context("getting git credentials")?;
        repo.mirror.set_auth(Some(GitAuth::basic(&user, &token)));
    }
    repo.mirror
        .fetch()
        .await
        .context("fetching the repository")?;
    let branch = &repo.settings.branch;
    repo.mirror
        .branch_head(branch)?
        .with_context(|| format!("the repository has no branch `{branch}`"))
}

/// `.imagebump.yaml` at `base`; `None` (with the problem reported) when it
/// is missing or invalid.
async fn read_config(
    repo: &Repo,
    base: &str,
    outcome: &mut Outcome,
) -> anyhow::Result<Option<RepoConfig>> {
    let text = repo.mirror.read_file(base, CONFIG_FILE)?;
    match text
        .as_deref()
        .map(|t| policy::parse_config(CONFIG_FILE, t))
    {
        Some(Ok(c)) => Ok(Some(c)),
        Some(Err(errors)) => {
            let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            outcome.actions = feedback::report_config_problem(repo, &lines).await?;
            outcome.problems = lines;
            Ok(None)
        }
        None => {
            let line = format!(
                "{CONFIG_FILE} is missing on branch `{}`",
                repo.settings.branch
            );
            tracing::warn!("{line}");
            outcome.problems.push(line);
            Ok(None)
        }
    }
}

/// Plans with what people refused as part of each policy (ignores from
/// comment commands, and the versions of the bot's MRs they closed). The
/// closed MRs are read for the branches the first plan uses; if they refuse
/// anything, one more plan takes it in. Refusals only remove candidates, so
/// the second plan's branches are among the first's: no third is needed.
async fn plan_refusing(
    repo: &Repo,
    client: &crate::registry::Client,
    config: &RepoConfig,
    files: &[SourceFile],
    overrides: &Overrides,
) -> anyhow::Result<Report> {
    let registry = CachedSource::new(client, repo.tag_cache.as_ref());
    let mut refused = super::refusals(&overrides.ignored);
    let now_ms = repo.clock.now_ms();
    let report = plan::plan(&config.refusing(&refused), files, &registry, now_ms).await;
    let closed = closed_versions(repo, config, &report).await?;
    if closed.is_empty() {
        return Ok(report);
    }
    for (policy, tags) in closed {
        refused.entry(policy).or_default().tags.extend(tags);
    }
    Ok(plan::plan(&config.refusing(&refused), files, &registry, now_ms).await)
}

/// Versions that people refused by closing the bot's MRs without merging,
/// by policy, on the branches this plan would use.
async fn closed_versions(
    repo: &Repo,
    config: &RepoConfig,
    report: &Report,
) -> anyhow::Result<HashMap<String, HashSet<String>>> {
    let mut refused: HashMap<String, HashSet<String>> = HashMap::new();
    let Some(forge) = repo.platform() else {
        return Ok(refused);
    };
    for c in change::group(report, config) {
        let closed = forge.closed_mrs(&c.branch).await?;
        for mr in closed.iter().filter(|m| m.state == MrState::Closed) {
            for b in decode_marker(&mr.body).map(|m| m.bumps).unwrap_or_default() {
                if config.policy(&b.policy).is_some() {
                    refused.entry(b.policy).or_default().insert(b.to);
                }
            }
        }
    }
    Ok(refused)
}

#[derive(Default)]
struct Delivered {
    actions: Vec<Action>,
    failures: Vec<String>,
}

/// Brings the platform (or the base branch) to the plan.
async fn deliver_all(
    ctx: &deliver::Ctx<'_>,
    report: &Report,
    changes: &[change::Change],
    overrides: &Overrides,
) -> anyhow::Result<Delivered> {
    let repo = ctx.repo;
    let mut out = Delivered::default();
    match repo.delivery() {
        Delivery::DirectToBase => {
            if !changes.is_empty() {
                out.actions
                    .extend(deliver::commit_to_base(ctx, report).await?);
            }
        }
        Delivery::DirectBranch => {
            for c in changes {
                out.actions.extend(deliver::push_branch(ctx, c).await?);
            }
        }
        Delivery::MergeRequests(forge) => {
            let forge: &dyn Forge = &forge;
            let prefix = &ctx.config.pull_requests.branch_prefix;
            let open = forge.open_mrs(prefix).await?;
            let held = held_branches(&open, &overrides.holds);
            let wanted: HashSet<&str> = changes.iter().map(|c| c.branch.as_str()).collect();
            // One change's failure is that change's: recorded, and the run
            // goes on with the others and with closing. Only a rejected
            // push (something moved) starts the whole run over.
            for c in changes.iter().filter(|c| !held.contains(c.branch.as_str())) {
                let existing = open.iter().find(|m| m.head_branch == c.branch);
                let done = out.actions.len();
                let result =
                    deliver::merge_request(ctx, forge, c, existing, &mut out.actions).await;
                if let Err(e) = result {
                    if super::is_push_rejection(&e) {
                        return Err(e);
                    }
                    let number = existing
                        .map(|m| m.number)
                        .or_else(|| opened_in(&out.actions[done..]));
                    let failure =
                        feedback::delivery_failed(repo, Some(forge), &c.branch, number, &e).await;
                    out.failures.push(failure);
                }
            }
            // MRs of changes that are no longer needed: close them, unless
            // part of the plan failed (a registry outage must not close MRs).
            if report.errors.is_empty() {
                for mr in open.iter().filter(|m| {
                    m.state == MrState::Open
                        && !wanted.contains(m.head_branch.as_str())
                        && !held.contains(m.head_branch.as_str())
                }) {
                    match deliver::close_unneeded(ctx, forge, mr).await {
                        Ok(done) => out.actions.extend(done),
                        Err(e) if super::is_push_rejection(&e) => return Err(e),
                        Err(e) => {
                            let failure = feedback::delivery_failed(
                                repo,
                                Some(forge),
                                &mr.head_branch,
                                Some(mr.number),
                                &e,
                            )
                            .await;
                            out.failures.push(failure);
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The MR a change's delivery opened, among the actions it added.
fn opened_in(actions: &[Action]) -> Option<u64> {
    actions.iter().find_map(|a| match a {
        Action::Opened { number, .. } => Some(*number),
        _ => None,
    })
}

/// Head branches of open bot MRs that bump a held policy: neither updated
/// nor closed while the hold lasts.
fn held_branches<'a>(open: &'a [MergeRequest], holds: &HashSet<String>) -> HashSet<&'a str> {
    if holds.is_empty() {
        return HashSet::new();
    }
    open.iter()
        .filter(|m| {
            decode_marker(&m.body)
                .is_some_and(|marker| marker.bumps.iter().any(|b| holds.contains(&b.policy)))
        })
        .map(|m| m.head_branch.as_str())
        .collect()
}
