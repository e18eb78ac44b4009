//! imagebump: keeps the image tags in a GitOps environment repository up to
//! date. See docs/ARCHITECTURE.md for the shape of the system.

pub mod cli;
pub mod commands;
pub mod config;
pub mod detect;
pub mod discover;
pub mod domain;
pub mod duties;
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
pub mod router;
pub mod server;
pub mod service;
pub mod store;
pub mod texts;
pub mod workdir;
pub mod worker;
pub mod yaml;
