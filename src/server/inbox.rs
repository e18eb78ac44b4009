//! Group commit for webhook deliveries: requests hand their verified
//! deliveries to one writer task, which stores whatever is waiting in one
//! transaction and then answers each request. Every request still gets its
//! 2xx only after its own rows are committed; a burst costs one sync to
//! disk instead of one per request.
//!
//! Each event is routed here, once ([`Router::jobs`]), and stored as the
//! jobs it asks for (a reconcile per concerned repository, coalesced with
//! one already pending, or a command job), so a burst of pushes to one
//! repository costs one reconcile.
//!
//! After a batch that enqueued jobs commits, the workers are woken once.
//! A delivery that cannot be stored is answered with its own error; its
//! batch neighbours are still stored ([`Store::accept_each`]).

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::clock::Clock;
use crate::event::Event;
use crate::store::{Accepted, Delivery, JobKind, Store};
use crate::work::detect::DetectClock;
use crate::work::router::{self, Router};

/// Deliveries stored in one transaction at most.
pub const MAX_BATCH: usize = 256;
/// Deliveries waiting for the writer before requests wait to enqueue.
pub const QUEUE: usize = 4096;

struct Pending {
    delivery: Delivery,
    reply: oneshot::Sender<Result<Accepted, String>>,
}

/// The handle requests use; cheap to clone.
#[derive(Clone)]
pub struct Inbox {
    tx: mpsc::Sender<Pending>,
    router: Arc<Router>,
    detect: Arc<DetectClock>,
    clock: Clock,
}

impl Inbox {
    /// Starts the writer task on the current runtime. Events are stored
    /// as the jobs `router` says they ask for; a stored image push starts
    /// its repositories' `detect` clock; `wake` is notified when jobs were
    /// stored; deliveries are stored at `clock`'s time.
    pub fn new(
        store: Store,
        router: Arc<Router>,
        detect: Arc<DetectClock>,
        wake: Arc<Notify>,
        clock: Clock,
    ) -> Inbox {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(store, rx, wake, clock.clone()));
        Inbox {
            tx,
            router,
            detect,
            clock,
        }
    }

    /// Stores one delivery of `source` with its events; returns once it is
    /// committed (or failed).
    pub async fn accept(
        &self,
        source: &str,
        delivery: &str,
        events: Vec<Event>,
    ) -> anyhow::Result<Accepted> {
        let mut jobs = Vec::new();
        let mut pushes = Vec::new();
        // Repositories reconciled for a pushed image (detect → MR clock).
        let mut image_targets = Vec::new();
        for event in events {
            // News of a push goes to the tag cache, only when some
            // repository is reconciled for it.
            let routed = self.router.jobs(&event);
            if let Some(push) = router::pushed(&event).filter(|_| !routed.is_empty()) {
                pushes.push(push);
                image_targets.extend(routed.iter().filter_map(|job| match job {
                    JobKind::Reconcile { repo, .. } => Some(repo.clone()),
                    JobKind::Command { .. } => None,
                }));
            }
            jobs.extend(routed);
        }
        let received_ms = self.clock.now_ms();
        let delivery = Delivery {
            source: source.to_string(),
            delivery: delivery.to_string(),
            jobs,
            pushes,
        };
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { delivery, reply })
            .await
            .map_err(|_| anyhow::anyhow!("the inbox writer has stopped"))?;
        let accepted = answer
            .await
            .map_err(|_| anyhow::anyhow!("the inbox writer dropped the delivery"))?
            .map_err(|e| anyhow::anyhow!(e))?;
        if let Accepted::Stored { .. } = accepted {
            self.detect.detected(&image_targets, received_ms);
        }
        Ok(accepted)
    }
}

async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<Pending>,
    wake: Arc<Notify>,
    clock: Clock,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let (deliveries, replies): (Vec<Delivery>, Vec<_>) =
            batch.into_iter().map(|p| (p.delivery, p.reply)).unzip();
        let answers = store.accept_each(&deliveries, clock.now_ms()).await;
        if answers
            .iter()
            .any(|a| matches!(a, Ok(Accepted::Stored { jobs }) if *jobs > 0))
        {
            wake.notify_waiters();
        }
        for (reply, a) in replies.into_iter().zip(answers) {
            let _ = reply.send(a.map_err(|e| format!("{e:#}")));
        }
    }
}
