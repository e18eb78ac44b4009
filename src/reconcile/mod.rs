//! `reconcile(repo)`: DESIGN.md §1 steps 1–7 for one environment
//! repository — fetch the mirror, read `.imagebump.yaml` and the manifests
//! at the base branch's HEAD, plan against the registries (their tag lists
//! through the store's cache, [`TagCache`]), group bumps into
//! changes, and bring the bot's branches and MRs (or, in `direct` mode, the
//! base branch) to match.
//!
//! Idempotent: on an unchanged world a second run builds the same trees,
//! finds the branches and MRs already right, and calls no write API. Runs of
//! one repository never overlap: the whole run holds the repo's
//! [`RepoGuard`], which pushes require. A rejected push (the base or the
//! branch moved) makes the run start over from a fresh fetch, a bounded
//! number of times.

mod action;
mod change;
mod deliver;
mod feedback;
mod tags;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tracing::Instrument as _;

use crate::config::{DirectTarget, RepoSettings};
use crate::domain::{Digest, ImageRepo};
use crate::forge::{Forge, MergeRequest, MrState, RetryPolicy};
use crate::git::{GitAuth, Mirror, PushError, Signature};
use crate::lock::RepoLocks;
use crate::plan::{self, Report, TagSource};
use crate::policy::{self, CONFIG_FILE};
use crate::registry::{self, TagList};
use crate::store::{Ignored, Store};

pub use action::{Action, Memo};
pub use change::{Change, Marker, decode_marker};
pub use feedback::comment_once;
use tags::CachedSource;
pub use tags::{TagCache, tag_cache_key};

/// Attempts of a run whose push was rejected because something moved.
pub const MAX_ATTEMPTS: u32 = 3;

/// Title of the tracking issue for problems no MR can carry.
pub const CONFIG_ISSUE_TITLE: &str = "imagebump: .imagebump.yaml is invalid";

/// One managed environment repository and what reconciling it needs.
pub struct Repo {
    pub settings: RepoSettings,
    pub mirror: Mirror,
    /// `None` in `direct` mode.
    pub forge: Option<Arc<dyn Forge>>,
    pub identity: Signature,
    /// The author email of the platform's API commits (`commit = "api"`
    /// on GitHub: the App's bot user), also counted as the bot's.
    pub api_author: Option<String>,
    /// The process's registry state; each run takes a client of its own
    /// ([`registry::Registry::client`]).
    pub registry: registry::Registry,
    /// The store's tag cache (service reconciles); `None`: every run asks
    /// the registry.
    pub tag_cache: Option<TagCache>,
    pub retry: RetryPolicy,
    /// What earlier runs learnt that the platform does not show.
    pub memo: Memo,
}

/// What one run found and did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub base: String,
    /// The images the repository's policies name (empty when its config
    /// could not be read).
    pub images: Vec<ImageRepo>,
    pub report: Report,
    pub actions: Vec<Action>,
    /// Problems shown to people (invalid config, registry errors, …).
    pub problems: Vec<String>,
    /// Changes whose delivery failed (`branch: error`), each recorded on
    /// its own while the run went on with the others. A run with failures
    /// has failed: the service retries it with backoff.
    pub failures: Vec<String>,
}

/// What people asked for through comment commands (the store's ignores
/// and holds of one repository). Empty for `imagebump reconcile`, a run
/// by hand that uses the store only for the repository's lock.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub ignored: Ignored,
    /// Policies on hold: no bumps proposed, their open MRs left alone.
    pub holds: HashSet<String>,
}

impl Overrides {
    /// The store's ignores and holds of `repo` (its mirror name).
    pub async fn load(store: &Store, repo: &str) -> anyhow::Result<Overrides> {
        Ok(Overrides {
            ignored: store.ignored(repo).await?,
            holds: store.holds(repo).await?,
        })
    }

    fn drops(&self, bump: &plan::Bump) -> bool {
        self.holds.contains(&bump.policy)
            || self
                .ignored
                .update_types
                .get(&bump.policy)
                .is_some_and(|t| t.contains(bump.update.as_str()))
    }
}

/// Reconciles `repo` once, without overrides.
pub async fn reconcile(repo: &Repo, locks: &RepoLocks) -> anyhow::Result<Outcome> {
    reconcile_with(repo, locks, &Overrides::default()).await
}

/// Reconciles `repo` once, honouring people's ignores and holds.
pub async fn reconcile_with(
    repo: &Repo,
    locks: &RepoLocks,
    overrides: &Overrides,
) -> anyhow::Result<Outcome> {
    let span = tracing::info_span!("reconcile", repo = repo.mirror.name());
    run_with(repo, locks, overrides).instrument(span).await
}

async fn run_with(
    repo: &Repo,
    locks: &RepoLocks,
    overrides: &Overrides,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    // Fails (and the job is retried) when the cross-replica lock cannot be
    // taken: never run unlocked.
    let guard = locks.acquire(repo.mirror.name()).await?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match run_once(repo, &guard, overrides).await {
            Ok(outcome) => {
                tracing::info!(
                    repo = repo.mirror.name(),
                    base = %outcome.base,
                    bumps = outcome.report.bumps.len(),
                    actions = outcome.actions.len(),
                    failures = outcome.failures.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "reconciled"
                );
                return Ok(outcome);
            }
            Err(e) if attempt < MAX_ATTEMPTS && is_push_rejection(&e) => {
                tracing::warn!(repo = repo.mirror.name(), attempt, error = %e, "push rejected; fetching and rebuilding");
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_push_rejection(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| matches!(c.downcast_ref::<PushError>(), Some(PushError::Rejected(_))))
}

async fn run_once(
    repo: &Repo,
    guard: &crate::lock::RepoGuard,
    overrides: &Overrides,
) -> anyhow::Result<Outcome> {
    let settings = &repo.settings;
    if let Some(forge) = &repo.forge {
        // Installation tokens live an hour: take the current one each run.
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
    let base = repo
        .mirror
        .branch_head(&settings.branch)?
        .with_context(|| format!("the repository has no branch `{}`", settings.branch))?;
    let mut outcome = Outcome {
        base: base.clone(),
        ..Outcome::default()
    };

    let text = repo.mirror.read_file(&base, CONFIG_FILE)?;
    let config = match text
        .as_deref()
        .map(|t| policy::parse_config(CONFIG_FILE, t))
    {
        Some(Ok(c)) => c,
        Some(Err(errors)) => {
            let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            outcome.actions = feedback::report_config_problem(repo, &lines).await?;
            outcome.problems = lines;
            return Ok(outcome);
        }
        None => {
            let line = format!("{CONFIG_FILE} is missing on branch `{}`", settings.branch);
            tracing::warn!(repo = repo.mirror.name(), "{line}");
            outcome.problems.push(line);
            return Ok(outcome);
        }
    };
    outcome.images = config.policies.iter().map(|p| p.image.clone()).collect();
    let (files, read_problems) = repo
        .mirror
        .read_files(&base, &config.files, &config.exclude)?;
    let client = repo.registry.client();
    let registry = CachedSource::new(&client, repo.tag_cache.as_ref());

    let open = match &repo.forge {
        Some(f) => {
            let prefix = config.pull_requests.branch_prefix.clone();
            crate::forge::retry("list open MRs", &repo.retry, || f.open_mrs(&prefix)).await?
        }
        None => Vec::new(),
    };

    // Plan; then drop versions people refused (closed MRs, `ignore`) and
    // plan again. A bump of an ignored update type drops its target tag
    // too, so that an allowed older tag (a minor under a major) is found.
    let mut report = plan::plan(&config, &files, &registry).await;
    let mut ignored = ignored_versions(repo, &config, &report).await?;
    for (policy, versions) in &overrides.ignored.versions {
        if let Some(p) = config.policy(policy) {
            ignored
                .entry(p.image.clone())
                .or_default()
                .extend(versions.iter().cloned());
        }
    }
    let mut filtered = false;
    for _ in 0..MAX_REPLANS {
        let dropped = drop_ignored_types(&config, &report, overrides, &mut ignored);
        if ignored.is_empty() || (filtered && !dropped) {
            break;
        }
        filtered = true;
        let source = Ignoring {
            inner: &registry,
            ignored: &ignored,
        };
        report = plan::plan(&config, &files, &source).await;
    }
    report.bumps.retain(|b| !overrides.drops(b));
    report.errors.splice(0..0, read_problems);
    let changes = change::group(&report, &config);
    for e in &report.errors {
        tracing::warn!(repo = repo.mirror.name(), file = %e.file, line = e.line, "{}", e.message);
        outcome
            .problems
            .push(format!("{}:{}: {}", e.file, e.line, e.message));
    }

    let ctx = deliver::Ctx {
        repo,
        guard,
        config: &config,
        base: &base,
        files: &files,
    };
    let mut actions = Vec::new();
    match (&repo.forge, settings.direct) {
        (None, DirectTarget::Base) => {
            if !changes.is_empty() {
                actions.extend(deliver::commit_to_base(&ctx, &report).await?);
            }
        }
        (None, DirectTarget::Branch) => {
            for c in &changes {
                actions.extend(deliver::push_branch(&ctx, c).await?);
            }
        }
        (Some(forge), _) => {
            let forge = forge.as_ref();
            let held = held_branches(&open, &overrides.holds);
            let wanted: HashSet<&str> = changes.iter().map(|c| c.branch.as_str()).collect();
            // One change's failure is that change's: recorded, and the run
            // goes on with the others and with closing. Only a rejected
            // push (something moved) starts the whole run over.
            for c in changes.iter().filter(|c| !held.contains(c.branch.as_str())) {
                let existing = open.iter().find(|m| m.head_branch == c.branch);
                let done = actions.len();
                let result = deliver::merge_request(&ctx, forge, c, existing, &mut actions).await;
                if let Err(e) = result {
                    if is_push_rejection(&e) {
                        return Err(e);
                    }
                    let number = existing
                        .map(|m| m.number)
                        .or_else(|| opened_in(&actions[done..]));
                    let failure =
                        feedback::delivery_failed(repo, Some(forge), &c.branch, number, &e).await;
                    outcome.failures.push(failure);
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
                    match deliver::close_unneeded(&ctx, forge, mr).await {
                        Ok(done) => actions.extend(done),
                        Err(e) if is_push_rejection(&e) => return Err(e),
                        Err(e) => {
                            let failure = feedback::delivery_failed(
                                repo,
                                Some(forge),
                                &mr.head_branch,
                                Some(mr.number),
                                &e,
                            )
                            .await;
                            outcome.failures.push(failure);
                        }
                    }
                }
            }
        }
    }
    outcome.report = report;
    outcome.actions = actions;
    Ok(outcome)
}

/// The MR a change's delivery opened, among the actions it added.
fn opened_in(actions: &[Action]) -> Option<u64> {
    actions.iter().find_map(|a| match a {
        Action::Opened { number, .. } => Some(*number),
        _ => None,
    })
}

/// Re-plans at most this often to get past ignored update types.
const MAX_REPLANS: usize = 8;

/// Adds the target tags of bumps whose update type is ignored for their
/// policy to `ignored`; true when any was new.
fn drop_ignored_types(
    config: &policy::RepoConfig,
    report: &Report,
    overrides: &Overrides,
    ignored: &mut HashMap<ImageRepo, HashSet<String>>,
) -> bool {
    let mut added = false;
    for b in &report.bumps {
        let refused = overrides
            .ignored
            .update_types
            .get(&b.policy)
            .is_some_and(|t| t.contains(b.update.as_str()));
        if refused && let Some(p) = config.policy(&b.policy) {
            added |= ignored
                .entry(p.image.clone())
                .or_default()
                .insert(b.to.tag.clone());
        }
    }
    added
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

/// Versions that people refused: the (policy, tag) pairs of the bot's MRs
/// that were closed without merging, on the branches this plan would use.
async fn ignored_versions(
    repo: &Repo,
    config: &policy::RepoConfig,
    report: &Report,
) -> anyhow::Result<HashMap<ImageRepo, HashSet<String>>> {
    let mut ignored: HashMap<ImageRepo, HashSet<String>> = HashMap::new();
    let Some(forge) = &repo.forge else {
        return Ok(ignored);
    };
    for c in change::group(report, config) {
        let closed = crate::forge::retry("list closed MRs", &repo.retry, || {
            forge.closed_mrs(&c.branch)
        })
        .await?;
        for mr in closed.iter().filter(|m| m.state == MrState::Closed) {
            if let Some(marker) = decode_marker(&mr.body) {
                for b in marker.bumps {
                    if let Some(p) = config.policy(&b.policy) {
                        ignored.entry(p.image.clone()).or_default().insert(b.to);
                    }
                }
            }
        }
    }
    Ok(ignored)
}

/// A tag source without the versions people refused (also used by
/// `explain`).
pub struct Ignoring<'a, S> {
    pub inner: &'a S,
    /// Refused tags per image.
    pub ignored: &'a HashMap<ImageRepo, HashSet<String>>,
}

impl<S: TagSource> TagSource for Ignoring<'_, S> {
    async fn tags(&self, repos: &[ImageRepo]) -> HashMap<ImageRepo, Result<TagList, String>> {
        let lists = self.inner.tags(repos).await;
        lists
            .into_iter()
            .map(|(repo, r)| match self.ignored.get(&repo) {
                Some(refused) => {
                    let r = r.map(|tags| {
                        tags.iter()
                            .filter(|t| !refused.contains(*t))
                            .cloned()
                            .collect::<Vec<_>>()
                            .into()
                    });
                    (repo, r)
                }
                None => (repo, r),
            })
            .collect()
    }

    async fn digest(&self, repo: &ImageRepo, tag: &str) -> Result<Digest, String> {
        self.inner.digest(repo, tag).await
    }

    async fn platforms(&self, repo: &ImageRepo, tag: &str) -> Result<Vec<String>, String> {
        self.inner.platforms(repo, tag).await
    }
}
