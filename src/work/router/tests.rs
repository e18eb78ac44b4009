use std::collections::HashSet;

use super::*;
use crate::event::{ChangeRequestUpdated, ChecksCompleted, Command, ImagePushed, RepoPushed};

fn router() -> Router {
    Router::new(vec![
        Target {
            name: "prod".into(),
            project: Some("acme/env".into()),
            branch: "main".into(),
        },
        Target {
            name: "staging".into(),
            project: Some("acme/staging".into()),
            branch: "develop".into(),
        },
    ])
}

fn pushed(registry: &str, repository: &str) -> Event {
    Event::ImagePushed(ImagePushed {
        registry: registry.into(),
        repository: repository.into(),
        tag: Some("1.2.3".into()),
        digest: None,
    })
}

fn reconcile(repo: &str, reason: &str) -> JobKind {
    JobKind::Reconcile {
        repo: repo.into(),
        reason: reason.into(),
    }
}

#[test]
fn image_push_reconciles_repos_not_reconciled_yet_then_only_those_using_it() {
    let r = router();
    let event = pushed("ghcr.io", "acme/web");
    assert_eq!(
        r.jobs(&event),
        vec![
            reconcile("prod", "image pushed"),
            reconcile("staging", "image pushed")
        ]
    );
    r.learned(
        "prod",
        HashSet::from([ImageRepo::parse("ghcr.io/acme/web").unwrap()]),
    );
    r.learned("staging", HashSet::new());
    assert_eq!(r.repos(&event), vec!["prod".to_string()]);
    assert!(r.jobs(&pushed("ghcr.io", "acme/other")).is_empty());
}

#[test]
fn docker_hub_names_match_their_canonical_form() {
    let r = router();
    r.learned("prod", HashSet::from([ImageRepo::parse("nginx").unwrap()]));
    r.learned("staging", HashSet::new());
    assert_eq!(
        r.repos(&pushed("docker.io", "library/nginx")),
        vec!["prod".to_string()]
    );
}

#[test]
fn repo_push_reconciles_only_the_watched_branch_of_that_project() {
    let r = router();
    let push = |repo: &str, branch: &str| {
        Event::RepoPushed(RepoPushed {
            repo: repo.into(),
            branch: branch.into(),
            after: "a".repeat(40),
        })
    };
    assert_eq!(
        r.jobs(&push("ACME/env", "main")),
        vec![reconcile("prod", "repository pushed")]
    );
    assert!(r.jobs(&push("acme/env", "develop")).is_empty());
    assert!(r.jobs(&push("acme/unknown", "main")).is_empty());
    assert_eq!(
        r.repos(&push("acme/staging", "develop")),
        vec!["staging".to_string()]
    );
}

#[test]
fn merge_request_events_count_only_on_the_bots_branches() {
    let r = router();
    let mr = |head: &str| {
        Event::ChangeRequestUpdated(ChangeRequestUpdated {
            repo: "acme/env".into(),
            number: 7,
            state: "closed".into(),
            head: head.into(),
            author: "ops".into(),
        })
    };
    assert_eq!(
        r.jobs(&mr("imagebump/web")),
        vec![reconcile("prod", "merge request updated")]
    );
    assert!(r.jobs(&mr("feature/x")).is_empty());
    // With `pullRequests.branchPrefix: bots/` (learned at its reconcile),
    // that repository's bot branches are `bots/…`.
    r.learned_prefix("prod", "bots/");
    assert_eq!(
        r.jobs(&mr("bots/web")),
        vec![reconcile("prod", "merge request updated")]
    );
    assert!(r.jobs(&mr("imagebump/web")).is_empty());
    let checks = Event::ChecksCompleted(ChecksCompleted {
        repo: "acme/env".into(),
        sha: "b".repeat(40),
        conclusion: "success".into(),
    });
    assert_eq!(r.jobs(&checks), vec![reconcile("prod", "checks completed")]);
}

#[test]
fn a_command_is_a_command_job_of_each_configured_repo_it_names() {
    let r = router();
    let command = |repo: &str| {
        Event::Command(Command {
            repo: repo.into(),
            number: 7,
            user: "ops".into(),
            text: "/imagebump rebase".into(),
        })
    };
    let Event::Command(known) = command("acme/env") else {
        unreachable!()
    };
    assert_eq!(
        r.jobs(&Event::Command(known.clone())),
        vec![JobKind::Command {
            repo: "prod".into(),
            command: known
        }]
    );
    assert!(r.jobs(&command("acme/unknown")).is_empty());
}

#[test]
fn no_targets_routes_nothing() {
    let r = Router::default();
    assert!(r.jobs(&pushed("ghcr.io", "acme/web")).is_empty());
}

#[test]
fn a_repository_added_while_serving_is_routed_from_then_on() {
    let r = router();
    let push = Event::RepoPushed(RepoPushed {
        repo: "acme/found".into(),
        branch: "main".into(),
        after: "b".repeat(40),
    });
    assert!(r.repos(&push).is_empty(), "unknown before");
    let found = Target {
        name: "acme/found".into(),
        project: Some("acme/found".into()),
        branch: "main".into(),
    };
    r.add(found.clone());
    r.add(found);
    assert_eq!(r.repos(&push), ["acme/found"], "once, though added twice");
}
