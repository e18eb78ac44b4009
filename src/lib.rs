//! imagebump: keeps the image tags in a GitOps environment repository up to
//! date. See DESIGN.md for the shape of the system.

pub mod domain;
pub mod manifest;
pub mod policy;
pub mod registry;
pub mod yaml;
pub mod plan;
pub mod workdir;
pub mod cli;
