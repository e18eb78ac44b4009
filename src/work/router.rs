//! Which environment repositories an event concerns. A webhook is a hint
//! that says which repo to reconcile now, never what to write
//! (docs/ARCHITECTURE.md, Invariants).
//!
//! The inbox routes each verified event to the jobs it asks for, once, in
//! the same transaction that records the delivery: most events become a
//! reconcile of a repository (coalesced by the store with one already
//! pending), a comment command becomes a command job of each repository
//! it concerns, because carrying it out needs the forge. An event that
//! concerns no configured repository only records its delivery id.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::domain::ImageRepo;
use crate::event::Event;
use crate::store::{JobKind, Pushed};

/// A configured repository, as events name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The configured name (names the mirror, the lock and reconcile jobs).
    pub name: String,
    /// `owner/name` or `group/project` on the platform, when known.
    pub project: Option<String>,
    /// The base branch the bot watches.
    pub branch: String,
}

/// The routing table; shared by the inbox and the workers.
#[derive(Debug, Default)]
pub struct Router {
    /// Grows while serving, as discovery finds repositories.
    targets: std::sync::RwLock<Vec<Target>>,
    /// Images each repository's policies named at its last reconcile. A
    /// repository not reconciled yet is a target of every image push.
    images: Mutex<HashMap<String, HashSet<ImageRepo>>>,
    /// Each repository's `pullRequests.branchPrefix` at its last
    /// reconcile; the default until then.
    prefixes: Mutex<HashMap<String, String>>,
}

impl Router {
    pub fn new(targets: Vec<Target>) -> Router {
        Router {
            targets: std::sync::RwLock::new(targets),
            ..Router::default()
        }
    }

    /// Routes events to `target` from now on.
    pub fn add(&self, target: Target) {
        let mut targets = self.targets.write().unwrap_or_else(|p| p.into_inner());
        if !targets.iter().any(|t| t.name == target.name) {
            targets.push(target);
        }
    }

    /// The jobs `event` asks for, one per concerned repository: a
    /// reconcile, or for a comment command the command.
    pub fn jobs(&self, event: &Event) -> Vec<JobKind> {
        self.repos(event)
            .into_iter()
            .map(|repo| match event {
                Event::Command(command) => JobKind::Command {
                    repo,
                    command: command.clone(),
                },
                _ => JobKind::Reconcile {
                    repo,
                    reason: reason(event).to_string(),
                },
            })
            .collect()
    }

    /// Names of the configured repositories `event` concerns.
    pub fn repos(&self, event: &Event) -> Vec<String> {
        let targets = self.targets.read().unwrap_or_else(|p| p.into_inner());
        let names = |platform: &str| -> Vec<&Target> {
            targets
                .iter()
                .filter(|t| {
                    t.project
                        .as_deref()
                        .is_some_and(|p| p.eq_ignore_ascii_case(platform))
                })
                .collect()
        };
        let hit: Vec<&Target> = match event {
            Event::ImagePushed(e) => {
                let image = e.image();
                let known = self.images.lock().unwrap_or_else(|p| p.into_inner());
                targets
                    .iter()
                    .filter(|t| match (known.get(&t.name), &image) {
                        (Some(images), Some(image)) => images.contains(image),
                        (None, _) => true,
                        (Some(_), None) => false,
                    })
                    .collect()
            }
            Event::RepoPushed(e) => names(&e.repo)
                .into_iter()
                .filter(|t| t.branch == e.branch)
                .collect(),
            Event::ChangeRequestUpdated(e) => {
                let prefixes = self.prefixes.lock().unwrap_or_else(|p| p.into_inner());
                let default = crate::policy::PullRequests::default().branch_prefix;
                names(&e.repo)
                    .into_iter()
                    .filter(|t| {
                        let prefix = prefixes.get(&t.name).unwrap_or(&default);
                        e.head.starts_with(prefix.as_str())
                    })
                    .collect()
            }
            Event::ChecksCompleted(e) => names(&e.repo),
            Event::Command(e) => names(&e.repo),
        };
        hit.into_iter().map(|t| t.name.clone()).collect()
    }

    /// Records the images `repo`'s policies named at its latest reconcile.
    pub fn learned(&self, repo: &str, images: HashSet<ImageRepo>) {
        let mut known = self.images.lock().unwrap_or_else(|p| p.into_inner());
        known.insert(repo.to_string(), images);
    }

    /// Records the branch prefix of `repo`'s bot branches, as its config
    /// said at the latest reconcile: MR events count only on those.
    pub fn learned_prefix(&self, repo: &str, prefix: &str) {
        let mut prefixes = self.prefixes.lock().unwrap_or_else(|p| p.into_inner());
        prefixes.insert(repo.to_string(), prefix.to_string());
    }
}

/// The push `event` reports, as the tag cache records it (the image by
/// its cache key, and the pushed tag if the event names a valid one).
pub fn pushed(event: &Event) -> Option<Pushed> {
    let Event::ImagePushed(e) = event else {
        return None;
    };
    let image = crate::reconcile::tag_cache_key(&e.image()?);
    let tag = e
        .tag
        .as_deref()
        .filter(|t| crate::domain::Tag::parse(t).is_ok())
        .map(str::to_string);
    Some(Pushed { image, tag })
}

/// Why a reconcile was enqueued, as jobs and logs say it.
pub fn reason(event: &Event) -> &'static str {
    match event {
        Event::ImagePushed(_) => "image pushed",
        Event::RepoPushed(_) => "repository pushed",
        Event::ChangeRequestUpdated(_) => "merge request updated",
        Event::ChecksCompleted(_) => "checks completed",
        Event::Command(_) => COMMAND_REASON,
    }
}

/// The reason of a command job, and of the reconcile it enqueues.
pub const COMMAND_REASON: &str = "comment command";

#[cfg(test)]
mod tests;
