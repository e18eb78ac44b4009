//! Stories of `reconcile` against fake GitHub and GitLab servers, a real
//! registry and real git: every story runs once per platform.

mod support;

use std::time::Duration;

use imagebump::reconcile::{Action, decode_marker};
use support::world::{Kind, World, default_config};

stories!(
    new_tag_opens_exactly_one_mr_with_the_diff,
    second_reconcile_on_an_unchanged_world_writes_nothing,
    newer_tag_updates_the_same_mr,
    merged_mr_is_not_reopened,
    closed_mr_ignores_that_version_and_a_newer_one_gets_an_mr,
    base_moved_rebuilds_the_branch,
    human_commit_on_the_bot_branch_is_kept_with_one_comment,
    patch_is_automerged_when_checks_pass_and_minor_waits,
    forge_5xx_on_create_is_retried_without_a_duplicate_mr,
    rejected_push_is_retried_after_a_fetch,
    two_reconciles_at_once_open_one_mr,
    broken_config_changes_no_mr_and_is_reported_then_valid_config_resumes,
    mr_no_longer_needed_is_closed_with_a_comment,
);

async fn new_tag_opens_exactly_one_mr_with_the_diff(kind: Kind) {
    let w = World::new(kind).await;
    assert!(
        w.reconcile().await.actions.is_empty(),
        "nothing to do before a new tag"
    );
    assert!(w.mrs().is_empty());

    w.push_tag("1.4.3").await;
    let out = w.reconcile().await;
    assert!(
        out.actions
            .iter()
            .any(|a| matches!(a, Action::Opened { .. })),
        "{:?}",
        out.actions
    );
    let mr = w.only_open_mr();
    assert_eq!(mr.branch, "imagebump/web");
    assert_eq!(mr.title, "Bump web to 1.4.3");
    assert!(
        mr.body.contains("| 1.4.2") || mr.body.contains("`1.4.2`"),
        "{}",
        mr.body
    );
    let marker = decode_marker(&mr.body).expect("marker");
    assert_eq!(
        (marker.bumps[0].from.as_str(), marker.bumps[0].to.as_str()),
        ("1.4.2", "1.4.3")
    );
    let host = w.registry.host();
    let expected = w
        .file_on("main", "apps/web.yaml")
        .replace("web:1.4.2 #", "web:1.4.3 #");
    assert_eq!(w.file_on("imagebump/web", "apps/web.yaml"), expected);
    assert!(expected.contains(&format!("{host}/acme/web:1.4.3 # pinned by ops")));
    // The commit: one on top of main, by the bot, with trailers.
    let log = support::world::git(
        &w.remote,
        &["log", "--format=%an <%ae>|%P|%B", "-1", "imagebump/web"],
    );
    let main = w.head_of("main").expect("main");
    assert!(
        log.starts_with(&format!(
            "imagebump <bot@imagebump.test>|{main}|Bump web to 1.4.3"
        )),
        "{log}"
    );
    assert!(
        log.contains("Imagebump-Policy: web\nImagebump-From: 1.4.2\nImagebump-To: 1.4.3"),
        "{log}"
    );
}

async fn second_reconcile_on_an_unchanged_world_writes_nothing(kind: Kind) {
    let w = World::new(kind).await;
    w.push_tag("1.5.0").await; // minor: no automerge
    w.reconcile().await;
    let head = w.head_of("imagebump/web");
    let writes = w.write_calls();
    let out = w.reconcile().await;
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    assert_eq!(
        w.write_calls(),
        writes,
        "an idempotent run calls no write API"
    );
    assert_eq!(w.head_of("imagebump/web"), head, "and pushes nothing");
}

async fn newer_tag_updates_the_same_mr(kind: Kind) {
    let w = World::new(kind).await;
    w.push_tag("1.5.0").await;
    w.reconcile().await;
    let first = w.only_open_mr();
    w.push_tag("1.6.0").await;
    let out = w.reconcile().await;
    assert!(
        out.actions
            .iter()
            .any(|a| matches!(a, Action::Updated { .. })),
        "{:?}",
        out.actions
    );
    let mr = w.only_open_mr();
    assert_eq!(mr.number, first.number, "the same MR, not a second one");
    assert_eq!(mr.title, "Bump web to 1.6.0");
    assert!(
        w.file_on("imagebump/web", "apps/web.yaml")
            .contains("web:1.6.0")
    );
    assert_eq!(w.mrs().len(), 1);
}

async fn merged_mr_is_not_reopened(kind: Kind) {
    let w = World::new(kind).await;
    w.push_tag("1.5.0").await;
    w.reconcile().await;
    let mr = w.only_open_mr();
    w.merge_as_human(mr.number);
    assert!(w.file_on("main", "apps/web.yaml").contains("web:1.5.0"));
    let out = w.reconcile().await;
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    assert!(w.open_mrs().is_empty());
    assert_eq!(w.mrs().len(), 1);
}

async fn closed_mr_ignores_that_version_and_a_newer_one_gets_an_mr(kind: Kind) {
    let w = World::new(kind).await;
    w.push_tag("1.5.0").await;
    w.reconcile().await;
    let refused = w.only_open_mr();
    w.close_as_human(refused.number);
    let out = w.reconcile().await;
    assert!(
        out.actions.is_empty(),
        "a refused version gets no new MR: {:?}",
        out.actions
    );
    assert!(w.open_mrs().is_empty());

    w.push_tag("1.5.1").await;
    w.reconcile().await;
    let mr = w.only_open_mr();
    assert_ne!(mr.number, refused.number);
    assert_eq!(mr.title, "Bump web to 1.5.1");
}

async fn base_moved_rebuilds_the_branch(kind: Kind) {
    let w = World::new(kind).await;
    w.push_tag("1.5.0").await;
    w.reconcile().await;
    let before = w.head_of("imagebump/web").expect("branch");
    let main = w.commit_on("main", "README.md", "env, updated\n", false);
    let out = w.reconcile().await;
    assert!(
        out.actions
            .iter()
            .any(|a| matches!(a, Action::PushedBranch { .. })),
        "{:?}",
        out.actions
    );
    let after = w.head_of("imagebump/web").expect("branch");
    assert_ne!(before, after);
    let parent = support::world::git(&w.remote, &["rev-parse", &format!("{after}^")]);
    assert_eq!(parent, main, "rebuilt on the new base");
    assert_eq!(w.file_on("imagebump/web", "README.md"), "env, updated");
    assert!(
        w.file_on("imagebump/web", "apps/web.yaml")
            .contains("web:1.5.0")
    );
    assert_eq!(w.open_mrs().len(), 1);
}

async fn human_commit_on_the_bot_branch_is_kept_with_one_comment(kind: Kind) {
    let w = World::new(kind).await;
    w.push_tag("1.5.0").await;
    w.reconcile().await;
    let mr = w.only_open_mr();
    let human = w.commit_on("imagebump/web", "README.md", "a human fix\n", false);
    w.push_tag("1.6.0").await;
    for _ in 0..2 {
        let out = w.reconcile().await;
        assert!(
            out.actions
                .iter()
                .any(|a| matches!(a, Action::LeftAlone { .. })),
            "{:?}",
            out.actions
        );
    }
    assert_eq!(
        w.head_of("imagebump/web").as_deref(),
        Some(human.as_str()),
        "not overwritten"
    );
    let notes: Vec<String> = w
        .comments(mr.number)
        .into_iter()
        .filter(|c| c.contains("someone else pushed"))
        .collect();
    assert_eq!(notes.len(), 1, "one comment, not one per run: {notes:?}");
}

async fn patch_is_automerged_when_checks_pass_and_minor_waits(kind: Kind) {
    let w = World::new(kind).await;
    // Minor: waits for a human even with green checks.
    w.push_tag("1.5.0").await;
    w.reconcile().await;
    let minor = w.only_open_mr();
    w.set_checks(&minor.head_sha, true);
    w.reconcile().await;
    assert_eq!(w.only_open_mr().state, "open");
    w.merge_as_human(minor.number);

    // Patch with `automerge: [patch]`: merged once checks pass.
    w.push_tag("1.5.1").await;
    w.reconcile().await;
    let patch = w.only_open_mr();
    assert!(patch.title.ends_with("1.5.1"));
    w.set_checks(&patch.head_sha, false);
    w.reconcile().await;
    assert_eq!(
        w.mrs()
            .iter()
            .find(|m| m.number == patch.number)
            .map(|m| m.state.clone())
            .as_deref(),
        Some("open"),
        "not while checks run"
    );
    w.set_checks(&patch.head_sha, true);
    w.reconcile().await;
    let state = w
        .mrs()
        .into_iter()
        .find(|m| m.number == patch.number)
        .map(|m| m.state);
    assert_eq!(state.as_deref(), Some("merged"));
    assert!(w.file_on("main", "apps/web.yaml").contains("web:1.5.1"));
}

async fn forge_5xx_on_create_is_retried_without_a_duplicate_mr(kind: Kind) {
    let w = World::new(kind).await;
    w.push_tag("1.5.0").await;
    w.fail_next_create(502, 1);
    let out = w.reconcile().await;
    assert!(
        out.actions
            .iter()
            .any(|a| matches!(a, Action::Opened { .. })),
        "{:?}",
        out.actions
    );
    assert_eq!(w.mrs().len(), 1);
    w.reconcile().await;
    assert_eq!(w.mrs().len(), 1);
}

async fn rejected_push_is_retried_after_a_fetch(kind: Kind) {
    let w = World::new(kind).await;
    w.push_tag("1.5.0").await;
    // While reconcile waits for the MR list (after its fetch), another
    // writer (the bot elsewhere) pushes the branch: the lease breaks.
    w.delay_next_list(Duration::from_millis(1500));
    let run = w.reconcile();
    let interfere = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !w
            .requests()
            .iter()
            .any(|(m, p)| m == "GET" && (p.ends_with("/pulls") || p.contains("merge_requests")))
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "reconcile never listed MRs"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let scratch = w.commit_on("main", "README.md", "moved\n", false);
        support::world::git(&w.remote, &["branch", "imagebump/web", &scratch]);
        w.commit_on("imagebump/web", "apps/web.yaml", "stale: true\n", true)
    };
    let (out, stale) = tokio::join!(run, interfere);
    assert!(
        out.actions
            .iter()
            .any(|a| matches!(a, Action::Opened { .. })),
        "{:?}",
        out.actions
    );
    let lists = w
        .requests()
        .iter()
        .map(|(m, p)| {
            (
                m.clone(),
                p.split('?').next().unwrap_or_default().to_string(),
            )
        })
        .filter(|(m, p)| m == "GET" && (p.ends_with("/pulls") || p.ends_with("/merge_requests")))
        .count();
    assert!(
        lists >= 2,
        "the run started over after the rejected push ({lists} MR listings)"
    );
    let head = w.head_of("imagebump/web").expect("branch");
    assert_ne!(head, stale, "rebuilt over the other writer's commit");
    assert!(
        w.file_on("imagebump/web", "apps/web.yaml")
            .contains("web:1.5.0")
    );
    assert_eq!(
        w.file_on("imagebump/web", "README.md"),
        "moved",
        "on the moved base"
    );
    assert_eq!(w.mrs().len(), 1);
}

async fn two_reconciles_at_once_open_one_mr(kind: Kind) {
    let w = World::new(kind).await;
    w.push_tag("1.5.0").await;
    let (a, b) = tokio::join!(w.reconcile(), w.reconcile());
    let opened = a
        .actions
        .iter()
        .chain(&b.actions)
        .filter(|x| matches!(x, Action::Opened { .. }))
        .count();
    assert_eq!(opened, 1);
    assert_eq!(w.mrs().len(), 1);
}

async fn broken_config_changes_no_mr_and_is_reported_then_valid_config_resumes(kind: Kind) {
    let w = World::new(kind).await;
    w.push_tag("1.5.0").await;
    w.reconcile().await;
    let mr = w.only_open_mr();
    w.commit_on(
        "main",
        ".imagebump.yaml",
        "policies:\n  - name: web\n    image: x/web\n    semvr: ^1\n",
        false,
    );
    w.push_tag("1.6.0").await;
    let writes = w.write_calls();
    let out = w.reconcile().await;
    assert!(
        out.problems
            .iter()
            .any(|p| p.contains("unknown key `semvr`")),
        "{:?}",
        out.problems
    );
    let notes: Vec<String> = w
        .comments(mr.number)
        .into_iter()
        .filter(|c| c.contains("cannot use `.imagebump.yaml`"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains(".imagebump.yaml:4:5: unknown key `semvr`"),
        "{}",
        notes[0]
    );
    assert_eq!(w.write_calls(), writes + 1, "the comment is the only write");
    assert_eq!(
        w.only_open_mr().title,
        "Bump web to 1.5.0",
        "the MR is unchanged"
    );
    w.reconcile().await;
    assert_eq!(
        w.comments(mr.number)
            .iter()
            .filter(|c| c.contains("cannot use"))
            .count(),
        1,
        "reported once"
    );

    w.commit_on(
        "main",
        ".imagebump.yaml",
        &default_config(&w.registry.host()),
        false,
    );
    w.reconcile().await;
    assert_eq!(
        w.only_open_mr().title,
        "Bump web to 1.6.0",
        "a valid config resumes"
    );
}

async fn mr_no_longer_needed_is_closed_with_a_comment(kind: Kind) {
    let w = World::new(kind).await;
    w.push_tag("1.5.0").await;
    w.reconcile().await;
    let mr = w.only_open_mr();
    // Someone bumps main by hand past the MR's target.
    let host = w.registry.host();
    let file = w
        .file_on("main", "apps/web.yaml")
        .replace("web:1.4.2", "web:1.5.0");
    w.commit_on("main", "apps/web.yaml", &format!("{file}\n"), false);
    let out = w.reconcile().await;
    assert!(
        out.actions
            .iter()
            .any(|a| matches!(a, Action::Closed { .. })),
        "{:?} ({host})",
        out.actions
    );
    assert!(w.open_mrs().is_empty());
    assert!(
        w.comments(mr.number)
            .iter()
            .any(|c| c.contains("imagebump is closing this MR"))
    );
    assert_eq!(w.head_of("imagebump/web"), None, "its branch is deleted");
}
