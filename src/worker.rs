//! The workers: claim jobs from the store's inbox with a lease and turn
//! them into reconciles (DESIGN.md §1).
//!
//! An event job only decides WHICH repositories to reconcile (and enqueues
//! those reconciles, which the store coalesces per repository); a reconcile
//! job runs `reconcile(repo)`, whose per-repo lock keeps runs of one
//! repository from overlapping. A job is completed only after its work is
//! done: a crash leaves it leased, and it is claimed again once the lease
//! expires.
//!
//! A comment command is carried out (see [`crate::commands`]) before its
//! repository's reconcile is enqueued; reconciles honour the store's
//! ignores and holds.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::domain::ImageRepo;
use crate::event::Event;
use crate::lock::RepoLocks;
use crate::reconcile::{self, Action, Repo};
use crate::server::now_ms;
use crate::store::{Job, JobKind, Store};

/// Jobs a worker claims at once.
pub const CLAIM_BATCH: usize = 64;
/// How long an idle worker sleeps when nothing wakes it.
pub const IDLE_POLL: Duration = Duration::from_millis(500);

pub struct Workers {
    pub store: Store,
    pub repos: Vec<Arc<Repo>>,
    pub locks: RepoLocks,
    pub wake: Arc<Notify>,
    /// How long a claimed job is this worker's (`job_lease`).
    pub lease: Duration,
    /// Images each repository's policies named at its last reconcile.
    images: Mutex<HashMap<String, HashSet<ImageRepo>>>,
    /// When a new image was first reported for a repository (for the
    /// detect → MR latency).
    detected: Mutex<HashMap<String, i64>>,
}

impl Workers {
    pub fn new(
        store: Store,
        repos: Vec<Arc<Repo>>,
        locks: RepoLocks,
        wake: Arc<Notify>,
        lease: Duration,
    ) -> Arc<Workers> {
        Arc::new(Workers {
            store,
            repos,
            locks,
            wake,
            lease,
            images: Mutex::default(),
            detected: Mutex::default(),
        })
    }

    /// Runs `n` workers until the process stops.
    pub async fn run(self: Arc<Self>, n: usize) {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n.max(1) {
            let me = self.clone();
            tasks.spawn(async move { me.work(&format!("worker-{i}")).await });
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn work(&self, name: &str) {
        loop {
            match self
                .store
                .claim_many(name, self.lease, now_ms(), CLAIM_BATCH)
                .await
            {
                Ok(jobs) if !jobs.is_empty() => self.process_many(jobs).await,
                Ok(_) => {
                    let _ = tokio::time::timeout(IDLE_POLL, self.wake.notified()).await;
                }
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "cannot claim a job");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
        }
    }

    /// Processes claimed jobs in order. Event jobs (cheap: they only route)
    /// are completed together at the end; a reconcile job is completed as
    /// soon as it is done.
    async fn process_many(&self, jobs: Vec<Job>) {
        let mut routed = Vec::new();
        for job in jobs {
            match &job.kind {
                JobKind::Event(event) => match self.route(event, job.enqueued_at_ms).await {
                    Ok(()) => routed.push(job.id),
                    Err(e) => self.failed(job.id, e).await,
                },
                JobKind::Reconcile { .. } => self.process(job).await,
            }
        }
        if let Err(e) = self.store.complete_many(&routed).await {
            tracing::error!(
                jobs = routed.len(),
                error = format!("{e:#}"),
                "cannot complete routed events; they are routed again after their lease"
            );
        }
    }

    /// Processes one job and completes or fails it.
    pub async fn process(&self, job: Job) {
        let result = match &job.kind {
            JobKind::Event(event) => self.route(event, job.enqueued_at_ms).await,
            JobKind::Reconcile { repo, .. } => self.reconcile(repo).await,
        };
        match result {
            Ok(()) => {
                if let Err(e) = self.store.complete(job.id).await {
                    tracing::error!(
                        job = job.id,
                        error = format!("{e:#}"),
                        "cannot complete the job; it runs again after its lease"
                    );
                }
            }
            Err(e) => self.failed(job.id, e).await,
        }
    }

    /// Records a failed attempt (retried with backoff, or dead-lettered).
    async fn failed(&self, job: i64, error: anyhow::Error) {
        let message = format!("{error:#}");
        tracing::warn!(job, error = %message, "job failed");
        if let Err(e) = self.store.fail(job, &message, now_ms()).await {
            tracing::error!(
                job,
                error = format!("{e:#}"),
                "cannot record the failure; the job runs again after its lease"
            );
        }
    }

    /// Which repositories an event concerns; enqueues their reconciles.
    async fn route(&self, event: &Event, enqueued_at_ms: i64) -> anyhow::Result<()> {
        let targets: Vec<&Arc<Repo>> = match event {
            Event::ImagePushed(e) => {
                let image = ImageRepo::parse(&format!("{}/{}", e.registry, e.repository)).ok();
                // News of a push: the next listing asks the registry.
                if let Some(image) = &image {
                    let key = reconcile::tag_cache_key(image);
                    self.store.forget_tags(&key, now_ms()).await?;
                }
                let known = self.images.lock().map(|m| m.clone()).unwrap_or_default();
                let hit: Vec<&Arc<Repo>> = self
                    .repos
                    .iter()
                    .filter(|r| match (known.get(r.mirror.name()), &image) {
                        (Some(images), Some(image)) => images.contains(image),
                        // Not reconciled yet: its policies are unknown.
                        (None, _) => true,
                        (Some(_), None) => false,
                    })
                    .collect();
                if let Ok(mut d) = self.detected.lock() {
                    for r in &hit {
                        d.entry(r.mirror.name().to_string())
                            .or_insert(enqueued_at_ms);
                    }
                }
                hit
            }
            Event::RepoPushed(e) => self
                .repos_named(&e.repo)
                .filter(|r| r.settings.branch == e.branch)
                .collect(),
            Event::ChangeRequestUpdated(e) => self
                .repos_named(&e.repo)
                .filter(|_| e.head.starts_with("imagebump/"))
                .collect(),
            Event::ChecksCompleted(e) => self.repos_named(&e.repo).collect(),
            Event::Command(e) => {
                let targets: Vec<&Arc<Repo>> = self.repos_named(&e.repo).collect();
                for r in &targets {
                    let handled = crate::commands::handle(&self.store, r, e).await?;
                    tracing::info!(repo = %e.repo, mr = e.number, user = %e.user, ?handled, "comment command");
                }
                targets
            }
        };
        for r in targets {
            self.store
                .enqueue_reconcile(r.mirror.name(), event_reason(event), now_ms())
                .await?;
        }
        self.wake.notify_waiters();
        Ok(())
    }

    fn repos_named<'a>(
        &'a self,
        platform_name: &'a str,
    ) -> impl Iterator<Item = &'a Arc<Repo>> + 'a {
        self.repos.iter().filter(move |r| {
            r.settings
                .project()
                .is_some_and(|p| p.eq_ignore_ascii_case(platform_name))
        })
    }

    async fn reconcile(&self, name: &str) -> anyhow::Result<()> {
        let Some(repo) = self.repos.iter().find(|r| r.mirror.name() == name) else {
            tracing::warn!(repo = %name, "a job names a repository that is no longer configured; dropping it");
            return Ok(());
        };
        let started = Instant::now();
        let result = match reconcile::Overrides::load(&self.store, name).await {
            Ok(overrides) => reconcile::reconcile_with(repo, &self.locks, &overrides).await,
            Err(e) => Err(e),
        };
        crate::metrics::reconcile(name, started.elapsed(), result.is_ok());
        let outcome = result?;
        for a in &outcome.actions {
            tracing::info!(repo = %name, "{a}");
        }
        if let Ok(mut m) = self.images.lock() {
            m.insert(name.to_string(), outcome.images.iter().cloned().collect());
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
            let since = self.detected.lock().ok().and_then(|mut d| d.remove(name));
            if let Some(at) = since {
                crate::metrics::detect_to_mr(Duration::from_millis((now_ms() - at).max(0) as u64));
            }
        }
        Ok(())
    }
}

fn event_reason(event: &Event) -> &'static str {
    match event {
        Event::ImagePushed(_) => "image pushed",
        Event::RepoPushed(_) => "repository pushed",
        Event::ChangeRequestUpdated(_) => "merge request updated",
        Event::ChecksCompleted(_) => "checks completed",
        Event::Command(_) => "comment command",
    }
}
