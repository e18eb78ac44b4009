//! The worker side of the flow (docs/ARCHITECTURE.md, "Flow"): what turns
//! stored news into reconciles.
//!
//! - [`router`]: which repositories an event concerns, and the jobs it asks
//!   for; the inbox routes each event once, with it.
//! - [`poll`]: the poller, which enqueues each repository's reconcile on
//!   its interval.
//! - [`workers`]: claim one job at a time and run it: a reconcile, or a
//!   comment command ([`commands`]) and then its repository's reconcile.
//! - [`duties`]: what `serve` does in the background besides (key refresh,
//!   delivery purge).
//! - [`detect`]: the detect → MR clock, started by the inbox and stopped
//!   by the workers.

pub mod commands;
pub mod detect;
pub mod duties;
pub mod poll;
pub mod router;
pub mod workers;
