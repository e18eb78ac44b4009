//! imagebump: keeps the image tags in a GitOps environment repository up to
//! date. See docs/ARCHITECTURE.md for the shape of the system.

pub mod cli;
pub mod clock;
pub mod config;
pub mod discover;
pub mod domain;
pub mod duration;
pub mod event;
pub mod forge;
pub mod git;
pub mod lock;
pub mod manifest;
pub mod metrics;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod registry;
pub mod rollback;
pub mod server;
pub mod service;
pub mod status;
pub mod store;
pub mod texts;
pub mod timefmt;
pub mod work;
pub mod workdir;
pub mod yaml;
