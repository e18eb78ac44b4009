//! Stories of comment commands (`/imagebump …` on the bot's MRs), carried
//! out by the workers through the store's inbox, against fake GitHub and
//! GitLab servers, a real registry and real git: every story runs once per
//! platform.

mod support;

use imagebump::reconcile::decode_marker;
use support::world::{Kind, World};

stories!(
    ignore_from_a_writer_closes_the_mr_and_a_newer_version_gets_one,
    ignore_from_a_reader_is_refused_once_and_changes_nothing,
    hold_keeps_the_mr_and_unhold_updates_it,
    held_mr_is_not_closed_when_no_longer_needed,
    ignore_major_proposes_the_minor_instead,
    rebase_after_the_base_moved_rebuilds_the_branch_on_it,
    recreate_opens_a_fresh_mr_for_the_same_versions,
    unknown_command_gets_help,
);

/// A world with an open MR bumping web 1.4.2 → 1.5.0 (minor: no
/// auto-merge) and `ops` allowed to write.
async fn with_mr(kind: Kind) -> (World, u64) {
    let w = World::new(kind).await;
    w.grant("ops", true);
    w.push_tag("1.5.0").await;
    w.reconcile_with_store().await;
    let mr = w.only_open_mr();
    assert_eq!(mr.title, "Bump web to 1.5.0");
    (w, mr.number)
}

async fn ignore_from_a_writer_closes_the_mr_and_a_newer_version_gets_one(kind: Kind) {
    let (w, number) = with_mr(kind).await;
    w.comment_as("ops", number, "/imagebump ignore").await;
    let ignored = w
        .store
        .ignored(w.repo.mirror.name())
        .await
        .expect("ignored");
    assert!(ignored.versions["web"].contains("1.5.0"), "{ignored:?}");
    assert!(w.open_mrs().is_empty(), "{:#?}", w.mrs());
    w.reconcile_with_store().await;
    assert!(w.open_mrs().is_empty(), "1.5.0 is not proposed again");

    w.push_tag("1.6.0").await;
    w.reconcile_with_store().await;
    let mr = w.only_open_mr();
    assert_ne!(mr.number, number);
    assert_eq!(mr.title, "Bump web to 1.6.0");
}

async fn ignore_from_a_reader_is_refused_once_and_changes_nothing(kind: Kind) {
    let (w, number) = with_mr(kind).await;
    w.grant("reader", false);
    let before = w.only_open_mr();
    w.comment_as("reader", number, "/imagebump ignore").await;
    w.comment_as("reader", number, "/imagebump ignore").await;
    w.comment_as("stranger", number, "/imagebump hold").await;
    let comments = w.comments(number);
    let refusals: Vec<&String> = comments
        .iter()
        .filter(|c| c.contains("did not run this command"))
        .collect();
    assert_eq!(refusals.len(), 2, "one per comment text: {comments:#?}");
    assert!(refusals[0].contains("@reader"), "{}", refusals[0]);
    assert!(refusals[1].contains("@stranger"), "{}", refusals[1]);
    let ignored = w
        .store
        .ignored(w.repo.mirror.name())
        .await
        .expect("ignored");
    assert!(ignored.versions.is_empty(), "{ignored:?}");
    let holds = w.store.holds(w.repo.mirror.name()).await.expect("holds");
    assert!(holds.is_empty());
    let after = w.only_open_mr();
    assert_eq!(
        (after.number, after.title, after.head_sha),
        (before.number, before.title, before.head_sha)
    );
}

async fn hold_keeps_the_mr_and_unhold_updates_it(kind: Kind) {
    let (w, number) = with_mr(kind).await;
    w.comment_as("ops", number, "/imagebump hold").await;
    let head = w.head_of("imagebump/web");
    w.push_tag("1.6.0").await;
    let out = w.reconcile_with_store().await;
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    let mr = w.only_open_mr();
    assert_eq!(
        (mr.number, mr.title.as_str()),
        (number, "Bump web to 1.5.0")
    );
    assert_eq!(
        w.head_of("imagebump/web"),
        head,
        "the branch is not touched"
    );

    w.comment_as("ops", number, "/imagebump unhold").await;
    let mr = w.only_open_mr();
    assert_eq!(
        (mr.number, mr.title.as_str()),
        (number, "Bump web to 1.6.0")
    );
    assert!(
        w.file_on("imagebump/web", "apps/web.yaml")
            .contains("web:1.6.0")
    );
}

async fn held_mr_is_not_closed_when_no_longer_needed(kind: Kind) {
    let (w, number) = with_mr(kind).await;
    w.comment_as("ops", number, "/imagebump hold").await;
    let deployed = w
        .file_on("main", "apps/web.yaml")
        .replace("web:1.4.2 #", "web:1.5.0 #");
    w.commit_on("main", "apps/web.yaml", &deployed, false);
    w.reconcile_with_store().await;
    assert_eq!(w.only_open_mr().number, number, "held: left open");

    w.comment_as("ops", number, "/imagebump unhold").await;
    assert!(w.open_mrs().is_empty(), "released: closed as unneeded");
}

async fn ignore_major_proposes_the_minor_instead(kind: Kind) {
    let w = World::new(kind).await;
    w.grant("ops", true);
    let host = w.registry.host();
    w.commit_on(
        "main",
        ".imagebump.yaml",
        &format!("policies:\n  - name: web\n    image: {host}/acme/web\n    semver: \">=1.4\"\n"),
        false,
    );
    w.push_tag("1.5.0").await;
    w.push_tag("2.0.0").await;
    w.reconcile_with_store().await;
    let mr = w.only_open_mr();
    assert_eq!(mr.title, "Bump web to 2.0.0");

    w.comment_as("ops", mr.number, "/imagebump ignore major")
        .await;
    let mr = w.only_open_mr();
    assert_eq!(mr.title, "Bump web to 1.5.0", "the minor is proposed");
    let marker = decode_marker(&mr.body).expect("marker");
    assert_eq!(marker.bumps[0].to, "1.5.0");
    // Nine and more newer majors: the minor is still the one proposed (a
    // re-plan loop that dropped one major per pass gave up after eight).
    for major in 3..=12 {
        w.push_tag(&format!("{major}.0.0")).await;
    }
    w.reconcile_with_store().await;
    assert_eq!(w.only_open_mr().title, "Bump web to 1.5.0");
}

async fn rebase_after_the_base_moved_rebuilds_the_branch_on_it(kind: Kind) {
    let (w, number) = with_mr(kind).await;
    let main = w.commit_on("main", "README.md", "env, moved\n", false);
    w.comment_as("ops", number, "/imagebump rebase").await;
    let parent = support::world::git(&w.remote, &["rev-parse", "imagebump/web^"]);
    assert_eq!(parent, main, "the branch sits on the new base");
    assert_eq!(w.only_open_mr().number, number);
}

async fn recreate_opens_a_fresh_mr_for_the_same_versions(kind: Kind) {
    let (w, number) = with_mr(kind).await;
    w.comment_as("ops", number, "/imagebump recreate").await;
    let mr = w.only_open_mr();
    assert_ne!(mr.number, number, "a new MR");
    assert_eq!(
        mr.title, "Bump web to 1.5.0",
        "its versions are not refused"
    );
    let old = w
        .mrs()
        .into_iter()
        .find(|m| m.number == number)
        .expect("old MR");
    assert_eq!(old.state, "closed");
    assert!(decode_marker(&old.body).is_none(), "{}", old.body);
}

async fn unknown_command_gets_help(kind: Kind) {
    let (w, number) = with_mr(kind).await;
    w.comment_as("ops", number, "/imagebump frobnicate").await;
    let comments = w.comments(number);
    assert!(
        comments
            .iter()
            .any(|c| c.contains("/imagebump ignore major")),
        "{comments:#?}"
    );
    assert_eq!(w.only_open_mr().number, number);
    // Not a command at all: no reply.
    w.comment_as("ops", number, "looks good").await;
    assert_eq!(w.comments(number).len(), comments.len());
}
