//! `reconcile(repo)` for one environment repository (docs/ARCHITECTURE.md,
//! "Reconcile"; the steps are in `run.rs`) — fetch the mirror, read `.imagebump.yaml` and the manifests
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
mod promote;
mod run;
mod tags;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument as _;

use crate::config::RepoSettings;
use crate::domain::ImageRepo;
use crate::forge::{Forge, RetryPolicy};
use crate::git::{Mirror, PushError, Signature};
use crate::lock::RepoLocks;
use crate::plan::{self, Report};
use crate::policy;
use crate::registry;
use crate::store::{Ignored, Store};

pub use action::{Action, Memo};
pub use change::{Change, Marker, decode_marker};
pub use feedback::comment_once;
pub use tags::{CachedSource, TagCache, appeared, tag_cache_key};

/// Attempts of a run whose push was rejected because something moved.
pub const MAX_ATTEMPTS: u32 = 3;

pub use crate::texts::CONFIG_ISSUE_TITLE;

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
    /// The store's rollback holds (`serve`, and `imagebump reconcile`
    /// with the service's store); `None`: no rollback is looked for.
    pub rollbacks: Option<crate::rollback::Book>,
    pub retry: RetryPolicy,
    /// What earlier runs learnt that the platform does not show.
    pub memo: Memo,
    /// The time now, for promotion's soak (`after`); `serve`'s one clock.
    pub clock: crate::clock::Clock,
}

impl Repo {
    /// The platform, its calls retried under [`Repo::retry`]; `None` in
    /// `direct` mode.
    pub fn platform(&self) -> Option<crate::forge::Retrying<'_>> {
        self.forge.as_deref().map(|inner| crate::forge::Retrying {
            inner,
            policy: &self.retry,
        })
    }
}

/// What one run found and did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub base: String,
    /// The images the repository's policies name (empty when its config
    /// could not be read).
    pub images: Vec<ImageRepo>,
    /// The config's `pullRequests.branchPrefix` (`None` when it could not
    /// be read).
    pub branch_prefix: Option<String>,
    pub report: Report,
    pub actions: Vec<Action>,
    /// Problems shown to people (invalid config, registry errors, …).
    pub problems: Vec<String>,
    /// Changes whose delivery failed (`branch: error`), each recorded on
    /// its own while the run went on with the others. A run with failures
    /// has failed: the service retries it with backoff.
    pub failures: Vec<String>,
    /// Registry listings that failed for a passing reason (an outage, a
    /// rate limit): what they would have proposed waits for the retry,
    /// which the service makes with backoff, as for `failures`.
    pub unlisted: Vec<String>,
    /// When a promotion waiting for its soak (`after`) becomes due, in ms
    /// since the Unix epoch: the service asks for a reconcile then.
    pub next_due_ms: Option<i64>,
    /// The references held after a rollback (src/rollback/), described.
    pub held: Vec<String>,
}

/// What people asked for through comment commands (the store's ignores
/// and holds of one repository). Empty for `imagebump reconcile`, a run
/// by hand that uses the store only for the repository's lock and its
/// rollback holds.
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

    /// A bump of a held policy is not delivered.
    fn drops(&self, bump: &plan::Bump) -> bool {
        self.holds.contains(&bump.policy)
    }
}

/// The store's ignores as what each policy refuses ([`policy::Refusals`]),
/// by policy name.
pub fn refusals(ignored: &Ignored) -> HashMap<String, policy::Refusals> {
    let mut out: HashMap<String, policy::Refusals> = HashMap::new();
    for (name, versions) in &ignored.versions {
        out.entry(name.clone())
            .or_default()
            .tags
            .extend(versions.iter().cloned());
    }
    for (name, types) in &ignored.update_types {
        out.entry(name.clone()).or_default().update_types.extend(
            policy::UpdateType::ALL
                .into_iter()
                .filter(|u| types.contains(u.as_str())),
        );
    }
    out
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
        match run::run_once(repo, &guard, overrides).await {
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
