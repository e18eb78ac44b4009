//! Group commit for webhook deliveries: requests hand their verified
//! deliveries to one writer task, which stores whatever is waiting in one
//! transaction and then answers each request. Every request still gets its
//! 2xx only after its own rows are committed; a burst costs one sync to
//! disk instead of one per request.

use tokio::sync::{mpsc, oneshot};

use crate::store::{Accepted, Delivery, Store};

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
}

impl Inbox {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Inbox {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(store, rx));
        Inbox { tx }
    }

    /// Stores one delivery; returns once it is committed (or failed).
    pub async fn accept(&self, delivery: Delivery) -> anyhow::Result<Accepted> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { delivery, reply })
            .await
            .map_err(|_| anyhow::anyhow!("the inbox writer has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the inbox writer dropped the delivery"))?
            .map_err(|e| anyhow::anyhow!(e))
    }
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let deliveries: Vec<Delivery> = batch.iter().map(|p| p.delivery.clone()).collect();
        match store.accept_batch(&deliveries, super::now_ms()).await {
            Ok(answers) => {
                for (p, a) in batch.into_iter().zip(answers) {
                    let _ = p.reply.send(Ok(a));
                }
            }
            Err(e) => {
                let message = format!("{e:#}");
                for p in batch {
                    let _ = p.reply.send(Err(message.clone()));
                }
            }
        }
    }
}
