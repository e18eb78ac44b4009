//! The workers: claim jobs from the store's queue with a lease and turn
//! them into reconciles (docs/ARCHITECTURE.md, "Flow" and "Queue").
//!
//! Each claim is one job, so each worker holds one reconcile at a time and
//! the repositories with work spread over the workers; the store never
//! hands out a reconcile of a repository another lease holds, and what is
//! asked for a repository while it runs waits as its one follow-up.
//!
//! The inbox stored each event as the jobs it asks for (routed once, see
//! [`crate::work::router`]), so a job says what to do: a reconcile job runs
//! `reconcile(repo)`, whose per-repo lock keeps runs of one repository
//! from overlapping across replicas too; a command job carries out a
//! comment command (see [`crate::work::commands`]) and then enqueues its
//! repository's reconcile, which honours the store's ignores and holds. A
//! job is completed only after its work is done: a crash leaves it leased,
//! and it is claimed again once the lease expires.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument as _;

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::event::Command;
use crate::lock::RepoLocks;
use crate::reconcile::{self, Action, Repo};
use crate::store::{Job, JobKind, Store, Trigger};
use crate::work::detect::DetectClock;
use crate::work::router::{Router, Target};

/// How long an idle worker sleeps when nothing wakes it.
pub const IDLE_POLL: Duration = Duration::from_millis(500);

pub struct Workers {
    pub store: Store,
    /// The managed repositories; discovery adds to them while serving.
    repos: std::sync::RwLock<Vec<Arc<Repo>>>,
    pub locks: RepoLocks,
    pub wake: Arc<Notify>,
    /// How long a claimed job is this worker's (`job_lease`).
    pub lease: Duration,
    /// Which repositories an event concerns; learns from reconciles.
    router: Arc<Router>,
    /// Started by the inbox, taken by the reconciles.
    detect: Arc<DetectClock>,
    /// Set when the service stops: no more claims.
    stopping: tokio::sync::watch::Sender<bool>,
    /// The time jobs are claimed, completed and failed at.
    clock: Clock,
    /// Jobs claimed and not yet completed or failed.
    unfinished: std::sync::Mutex<std::collections::HashSet<i64>>,
}

impl Workers {
    pub fn new(
        store: Store,
        repos: Vec<Arc<Repo>>,
        locks: RepoLocks,
        wake: Arc<Notify>,
        lease: Duration,
        clock: Clock,
    ) -> Arc<Workers> {
        let targets = repos.iter().map(|r| target_of(r)).collect();
        Arc::new(Workers {
            store,
            repos: std::sync::RwLock::new(repos),
            locks,
            wake,
            lease,
            router: Arc::new(Router::new(targets)),
            detect: Arc::default(),
            stopping: tokio::sync::watch::Sender::new(false),
            clock,
            unfinished: Default::default(),
        })
    }

    /// The routing table these workers keep up to date; give it to the
    /// inbox ([`crate::server::Inbox::new`]).
    pub fn router(&self) -> Arc<Router> {
        self.router.clone()
    }

    /// The clock these workers read; give it to the inbox and the poller.
    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// The detect → MR clock these workers stop; give it to the inbox.
    pub fn detect_clock(&self) -> Arc<DetectClock> {
        self.detect.clone()
    }

    /// Stops claiming: each worker returns once its current job is done,
    /// and jobs it claimed but has not started are left unfinished.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    fn stopped(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Jobs claimed and neither completed nor failed (give their leases
    /// back with [`Store::release`] when the service stops).
    pub fn unfinished(&self) -> Vec<i64> {
        self.unfinished
            .lock()
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    fn finished(&self, ids: &[i64]) {
        if let Ok(mut s) = self.unfinished.lock() {
            for id in ids {
                s.remove(id);
            }
        }
    }

    /// Runs `n` workers until [`Workers::stop`].
    pub async fn run(self: Arc<Self>, n: usize) {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n.max(1) {
            let me = self.clone();
            tasks.spawn(async move { me.work(&format!("worker-{i}")).await });
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn work(&self, name: &str) {
        let mut stopping = self.stopping.subscribe();
        while !self.stopped() {
            match self
                .store
                .claim(name, self.lease, self.clock.now_ms())
                .await
            {
                Ok(Some(job)) => {
                    if let Ok(mut s) = self.unfinished.lock() {
                        s.insert(job.id);
                    }
                    if self.stopped() {
                        // Not started: its lease is given back on stop.
                        break;
                    }
                    self.process(job).await;
                }
                Ok(None) => {
                    tokio::select! {
                        _ = tokio::time::timeout(IDLE_POLL, self.wake.notified()) => {}
                        _ = stopping.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "cannot claim a job");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
        }
    }

    /// Processes one job and completes or fails it, inside a `job` span
    /// (id, repo, reason, source, delivery) that every log line of it
    /// carries.
    pub async fn process(&self, job: Job) {
        let (repo, reason) = match &job.kind {
            JobKind::Reconcile { repo, reason } => (repo.as_str(), reason.as_str()),
            JobKind::Command { repo, .. } => (repo.as_str(), crate::work::router::COMMAND_REASON),
        };
        let span = tracing::info_span!(
            "job",
            id = job.id,
            repo = repo,
            reason = reason,
            source = job.source.as_deref(),
            delivery = job.delivery.as_deref(),
        );
        self.process_in_span(job).instrument(span).await;
    }

    async fn process_in_span(&self, job: Job) {
        let id = job.id;
        self.process_job(job).await;
        self.finished(&[id]);
    }

    async fn process_job(&self, job: Job) {
        let result = match &job.kind {
            JobKind::Command { repo, command } => self.command(repo, command).await,
            JobKind::Reconcile { repo, .. } => self.reconcile(repo).await,
        };
        match result {
            Ok(()) => {
                if let Err(e) = self.store.complete(&job, self.clock.now_ms()).await {
                    tracing::error!(
                        job = job.id,
                        error = format!("{e:#}"),
                        "cannot complete the job; it runs again after its lease"
                    );
                }
            }
            Err(e) => self.failed(&job, e).await,
        }
    }

    /// Records a failed attempt (retried with backoff, or dead-lettered).
    async fn failed(&self, job: &Job, error: anyhow::Error) {
        let message = format!("{error:#}");
        tracing::warn!(job = job.id, error = %message, "job failed");
        if let Err(e) = self.store.fail(job, &message, self.clock.now_ms()).await {
            tracing::error!(
                job = job.id,
                error = format!("{e:#}"),
                "cannot record the failure; the job runs again after its lease"
            );
        }
    }

    /// Carries out a comment command on `name`, then enqueues its
    /// reconcile.
    async fn command(&self, name: &str, command: &Command) -> anyhow::Result<()> {
        let Some(repo) = self.repo(name) else {
            tracing::warn!(repo = %name, "a command names a repository that is no longer configured; dropping it");
            return Ok(());
        };
        let handled = crate::work::commands::handle(&self.store, &repo, command).await?;
        tracing::info!(mr = command.number, user = %command.user, ?handled, "comment command");
        self.store
            .enqueue_reconcile(
                name,
                crate::work::router::COMMAND_REASON,
                Trigger::Event,
                self.clock.now_ms(),
            )
            .await?;
        self.wake.notify_waiters();
        Ok(())
    }

    fn repo(&self, name: &str) -> Option<Arc<Repo>> {
        let repos = self.repos.read().unwrap_or_else(|p| p.into_inner());
        repos.iter().find(|r| r.mirror.name() == name).cloned()
    }

    /// Whether a repository of that name is managed.
    pub fn manages(&self, name: &str) -> bool {
        self.repo(name).is_some()
    }

    /// Manages `repo` from now on (found by discovery): its jobs run and
    /// its webhooks are routed to it.
    pub fn add_repo(&self, repo: Arc<Repo>) {
        self.router.add(target_of(&repo));
        self.repos
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(repo);
    }

    async fn reconcile(&self, name: &str) -> anyhow::Result<()> {
        let Some(repo) = self.repo(name) else {
            tracing::warn!(repo = %name, "a job names a repository that is no longer configured; dropping it");
            return Ok(());
        };
        // Pushes reported before this run starts are this run's to deliver
        // (it lists the registry after them); a run that delivers nothing
        // new does not leave them to time a later, unrelated MR.
        let detected_at = self.detect.take(name);
        let started = Instant::now();
        let result = match reconcile::Overrides::load(&self.store, name).await {
            Ok(overrides) => reconcile::reconcile_with(&repo, &self.locks, &overrides).await,
            Err(e) => Err(e),
        };
        let ok = result
            .as_ref()
            .is_ok_and(|o| o.failures.is_empty() && o.unlisted.is_empty());
        crate::metrics::reconcile(name, started.elapsed(), ok);
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => {
                if let Some(at) = detected_at {
                    // The retry delivers them.
                    self.detect.restore(name, at);
                }
                return Err(e);
            }
        };
        for a in &outcome.actions {
            tracing::info!(repo = %name, "{a}");
        }
        self.router
            .learned(name, outcome.images.iter().cloned().collect());
        if let Some(prefix) = &outcome.branch_prefix {
            self.router.learned_prefix(name, prefix);
        }
        let delivered = outcome.actions.iter().any(|a| {
            matches!(
                a,
                Action::Opened { .. }
                    | Action::Updated { .. }
                    | Action::CommittedToBase { .. }
                    | Action::PushedBranch { .. }
            )
        });
        let merged = outcome
            .actions
            .iter()
            .filter(|a| matches!(a, Action::Merged { .. }))
            .count();
        if merged > 0 {
            crate::metrics::bumps_merged(name, merged);
        }
        if delivered {
            crate::metrics::bumps_proposed(name, outcome.report.bumps.len());
            if let Some(at) = detected_at {
                crate::metrics::detect_to_mr(Duration::from_millis(
                    (self.clock.now_ms() - at).max(0) as u64,
                ));
            }
        } else if let Some(at) = detected_at
            && !(outcome.failures.is_empty() && outcome.unlisted.is_empty())
        {
            self.detect.restore(name, at);
        }
        if !outcome.failures.is_empty() {
            // What was done stays done; the retry (with backoff) takes up
            // the changes that failed.
            anyhow::bail!(
                "{} change(s) could not be delivered: {}",
                outcome.failures.len(),
                outcome.failures.join("; ")
            );
        }
        if !outcome.unlisted.is_empty() {
            // A registry outage or rate limit: the run is retried with
            // backoff, not left to the next poll.
            anyhow::bail!(
                "{} image(s) could not be listed; retrying: {}",
                outcome.unlisted.len(),
                outcome.unlisted.join("; ")
            );
        }
        Ok(())
    }
}

/// What the router needs to know of a repository.
fn target_of(repo: &Repo) -> Target {
    Target {
        name: repo.mirror.name().to_string(),
        project: repo.settings.project(),
        branch: repo.settings.branch.clone(),
    }
}
