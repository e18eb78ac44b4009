//! Rollback holds (src/rollback/) as stories: on GitHub and GitLab through
//! their fakes, and in direct mode against a bare remote, each with a real
//! registry, real git and the store the service keeps the holds in.
//!
//! A person rolls `web` back on main: the bot does not bump it again; a
//! newer fix gets an MR that is never auto-merged (direct mode: nothing is
//! committed); `/imagebump unhold` or a person raising the tag makes it
//! normal again.

mod support;

use std::path::Path;
use std::sync::Arc;

use imagebump::config::ServiceConfig;
use imagebump::lock::RepoLocks;
use imagebump::reconcile::{self, Action, Overrides, Repo};
use imagebump::store::Store;
use support::registry::TestRegistry;
use support::world::{Kind, Mr, World, commit_all_as_ops, git, web_env, write_direct_config};

stories!(
    a_rollback_is_not_bumped_again_a_newer_fix_waits_for_a_person_and_unhold_frees_it,
    a_person_raising_the_tag_releases_the_hold,
    auto_merge_switched_on_before_a_rollback_is_switched_off,
);

/// `web` at 1.4.3 on main, through the bot's MR, merged once checks pass.
async fn bumped_to_1_4_3(w: &World) {
    w.push_tag("1.4.3").await;
    w.reconcile_with_store().await;
    let mr = w.only_open_mr();
    w.set_checks(&mr.head_sha, true);
    w.reconcile_with_store().await;
    assert_eq!(state(w, mr.number), "merged");
    assert!(w.file_on("main", "apps/web.yaml").contains("web:1.4.3"));
}

/// A person writes `to` over `from` in apps/web.yaml on main.
fn person_sets(w: &World, from: &str, to: &str) -> String {
    let file = w.file_on("main", "apps/web.yaml");
    assert!(file.contains(from), "{file}");
    let changed = format!("{}\n", file.replace(from, to));
    w.commit_on("main", "apps/web.yaml", &changed, false)
}

fn state(w: &World, number: u64) -> String {
    w.mrs()
        .into_iter()
        .find(|m| m.number == number)
        .map(|m| m.state)
        .unwrap_or_default()
}

fn opened(actions: &[Action]) -> bool {
    actions.iter().any(|a| matches!(a, Action::Opened { .. }))
}

async fn a_rollback_is_not_bumped_again_a_newer_fix_waits_for_a_person_and_unhold_frees_it(
    kind: Kind,
) {
    let w = World::tracking_rollbacks(kind).await;
    bumped_to_1_4_3(&w).await;

    let rollback = person_sets(&w, "web:1.4.3", "web:1.4.2");
    let out = w.reconcile_with_store().await;
    assert!(!opened(&out.actions), "{:?}", out.actions);
    assert!(w.open_mrs().is_empty(), "1.4.3 is not proposed again");
    let holds = w.store.rollback_holds("env").await.unwrap();
    assert_eq!(holds.len(), 1, "{holds:?}");
    assert_eq!(holds[0].key.policy, "web");
    assert_eq!(holds[0].key.file, "apps/web.yaml");
    assert_eq!(holds[0].from.tag, "1.4.3");
    assert_eq!(holds[0].to.tag, "1.4.2");
    assert_eq!(holds[0].commit, rollback);
    assert_eq!(holds[0].author, "ops@example.com");
    let again = w.reconcile_with_store().await;
    assert!(again.actions.is_empty(), "{:?}", again.actions);

    // A newer fix: proposed, saying why it is not auto-merged, and left
    // for a person even with green checks.
    w.push_tag("1.4.4").await;
    w.reconcile_with_store().await;
    let mr: Mr = w.only_open_mr();
    assert!(mr.title.ends_with("1.4.4"), "{}", mr.title);
    assert!(mr.body.contains("Auto-merge is off"), "{}", mr.body);
    assert!(mr.body.contains(&rollback[..12]), "{}", mr.body);
    assert!(mr.body.contains("from 1.4.3 to 1.4.2"), "{}", mr.body);
    w.set_checks(&mr.head_sha, true);
    w.reconcile_with_store().await;
    let mr = w.only_open_mr();
    assert_eq!(mr.state, "open");
    assert!(!mr.auto_merge, "no auto-merge while the hold stands");

    // `/imagebump unhold` on that MR: the hold goes, and the MR merges as
    // any patch does.
    w.grant("ops", true);
    w.comment_as("ops", mr.number, "/imagebump unhold").await;
    assert!(w.store.rollback_holds("env").await.unwrap().is_empty());
    if state(&w, mr.number) != "merged" {
        w.reconcile_with_store().await;
    }
    assert_eq!(state(&w, mr.number), "merged");
    assert!(w.file_on("main", "apps/web.yaml").contains("web:1.4.4"));
}

async fn a_person_raising_the_tag_releases_the_hold(kind: Kind) {
    let w = World::tracking_rollbacks(kind).await;
    bumped_to_1_4_3(&w).await;
    person_sets(&w, "web:1.4.3", "web:1.4.2");
    w.reconcile_with_store().await;
    assert_eq!(w.store.rollback_holds("env").await.unwrap().len(), 1);

    person_sets(&w, "web:1.4.2", "web:1.4.3");
    let out = w.reconcile_with_store().await;
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    assert!(w.store.rollback_holds("env").await.unwrap().is_empty());

    // Normal again: the next patch merges on green checks.
    w.push_tag("1.4.4").await;
    w.reconcile_with_store().await;
    let mr = w.only_open_mr();
    assert!(!mr.body.contains("Auto-merge is off"), "{}", mr.body);
    w.set_checks(&mr.head_sha, true);
    w.reconcile_with_store().await;
    assert_eq!(state(&w, mr.number), "merged");
}

async fn auto_merge_switched_on_before_a_rollback_is_switched_off(kind: Kind) {
    let w = World::tracking_rollbacks(kind).await;
    w.push_tag("1.4.3").await;
    w.reconcile_with_store().await;
    if kind == Kind::GitLab {
        // GitLab takes auto-merge once a pipeline runs.
        w.set_checks(&w.only_open_mr().head_sha, false);
        w.reconcile_with_store().await;
    }
    let mr = w.only_open_mr();
    assert!(mr.auto_merge, "auto-merge on, waiting for checks");

    // Someone rolls main back below the MR's base version.
    let rollback = person_sets(&w, "web:1.4.2", "web:1.4.1");
    let out = w.reconcile_with_store().await;
    assert!(
        out.actions
            .contains(&Action::AutoMergeDisabled { number: mr.number }),
        "{:?}",
        out.actions
    );
    let held = w.only_open_mr();
    assert_eq!(held.number, mr.number);
    assert!(!held.auto_merge);
    assert!(held.body.contains(&rollback[..12]), "{}", held.body);
    w.set_checks(&held.head_sha, true);
    let out = w.reconcile_with_store().await;
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    assert_eq!(state(&w, mr.number), "open", "waits for a person");
}

/// A direct-mode repository (`direct = "base"`) deploying `web:1.4.2`
/// with 1.4.3 in the registry, `web`'s policy ending in `policy`, built as
/// `serve` builds it, with its store.
struct Direct {
    registry: TestRegistry,
    dir: tempfile::TempDir,
    remote: std::path::PathBuf,
    repo: Arc<Repo>,
    store: Store,
    locks: RepoLocks,
}

impl Direct {
    async fn new(policy: &str) -> Direct {
        let dir = tempfile::tempdir().unwrap();
        let (registry, remote) = web_env(dir.path(), policy).await;
        let identity = "[git]\nname = \"imagebump\"\nemail = \"bot@imagebump.test\"";
        let path = write_direct_config(dir.path(), &remote, identity, "base");
        let config = ServiceConfig::load_from(Some(&path), Vec::new()).unwrap();
        let store = Store::open("sqlite::memory:").await.unwrap();
        let registries = imagebump::service::registry(&config.registry).unwrap();
        let mut repo = imagebump::service::build_repo(
            &config,
            &config.repos[0],
            Some(&store),
            &registries,
            &Default::default(),
        )
        .await
        .unwrap();
        // Tags are listed afresh on every run (no webhook reports pushes here).
        repo.tag_cache = None;
        Direct {
            registry,
            dir,
            remote,
            repo: Arc::new(repo),
            locks: RepoLocks::for_store(&store),
            store,
        }
    }

    async fn reconcile(&self) -> reconcile::Outcome {
        let overrides = Overrides::load(&self.store, "env").await.unwrap();
        reconcile::reconcile_with(&self.repo, &self.locks, &overrides)
            .await
            .unwrap()
    }

    fn main_file(&self) -> String {
        git(&self.remote, &["show", "refs/heads/main:apps/web.yaml"])
    }

    fn main_head(&self) -> String {
        git(&self.remote, &["rev-parse", "refs/heads/main"])
    }

    /// A person writes `to` over `from` on main.
    fn person_sets(&self, from: &str, to: &str) -> String {
        let work = self.person();
        edit(&work.join("apps/web.yaml"), from, to);
        commit_all_as_ops(&work, &format!("web: {to}"));
        git(&work, &["push", "-q", "origin", "HEAD:main"]);
        git(&work, &["rev-parse", "HEAD"])
    }

    /// A person's clone of the remote, up to date with main.
    fn person(&self) -> std::path::PathBuf {
        let work = self.dir.path().join("person");
        if !work.exists() {
            git(
                self.dir.path(),
                &["clone", "-q", self.remote.to_str().unwrap(), "person"],
            );
        }
        git(&work, &["pull", "-q", "--ff-only", "origin", "main"]);
        work
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{text}");
    std::fs::write(path, text.replace(from, to)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_mode_commits_nothing_for_a_rolled_back_reference_until_a_person_raises_it() {
    let metrics = imagebump::metrics::install().expect("metrics recorder");
    let d = Direct::new("    semver: ^1.4\n").await;
    d.reconcile().await;
    assert!(d.main_file().ends_with("web:1.4.3"), "{}", d.main_file());

    let rollback = d.person_sets("web:1.4.3", "web:1.4.2");
    let out = d.reconcile().await;
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    assert_eq!(
        d.main_head(),
        rollback,
        "nothing committed after the rollback"
    );
    let holds = d.store.rollback_holds("env").await.unwrap();
    assert_eq!(holds.len(), 1);
    assert_eq!(
        (holds[0].from.tag.as_str(), holds[0].commit.as_str()),
        ("1.4.3", rollback.as_str())
    );
    assert!(
        metrics
            .render()
            .contains("imagebump_rollback_holds{repo=\"env\"} 1"),
        "{}",
        metrics.render()
    );

    // A newer fix is not committed either: every direct commit is merged.
    d.registry.push_image("acme/web", "1.4.4").await;
    let out = d.reconcile().await;
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    assert_eq!(d.main_head(), rollback);

    // A person raising the tag releases the hold: the bot bumps again.
    d.person_sets("web:1.4.2", "web:1.4.3");
    let out = d.reconcile().await;
    assert!(
        out.actions
            .iter()
            .any(|a| matches!(a, Action::CommittedToBase { .. })),
        "{:?}",
        out.actions
    );
    assert!(d.main_file().ends_with("web:1.4.4"), "{}", d.main_file());
    assert!(d.store.rollback_holds("env").await.unwrap().is_empty());
    assert!(
        metrics
            .render()
            .contains("imagebump_rollback_holds{repo=\"env\"} 0"),
        "{}",
        metrics.render()
    );
}

/// Only the digest changes when the bot re-pins a moved tag, so no order
/// says a revert of that commit lowers anything: as a revert of a bot
/// commit it is a rollback all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverting_a_bot_repin_holds_the_reference_though_only_the_digest_changed() {
    let d = Direct::new("    semver: ^1.4\n    digest: pin\n").await;
    d.reconcile().await;
    let first = d.main_file();
    assert!(first.contains("web:1.4.3@sha256:"), "{first}");
    // 1.4.3 moves to a new image: the bot re-pins it.
    let moved = d.registry.push_index("acme/web", "1.4.3").await.to_string();
    d.reconcile().await;
    assert!(d.main_file().ends_with(&moved), "{}", d.main_file());
    let repin = d.main_head();

    let work = d.person();
    git(
        &work,
        &[
            "-c",
            "user.name=Ops",
            "-c",
            "user.email=ops@example.com",
            "revert",
            "--no-edit",
            &repin,
        ],
    );
    git(&work, &["push", "-q", "origin", "HEAD:main"]);
    let revert = git(&work, &["rev-parse", "HEAD"]);
    assert_eq!(d.main_file(), first);

    let out = d.reconcile().await;
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    assert_eq!(d.main_head(), revert, "the re-pin is not made again");
    let holds = d.store.rollback_holds("env").await.unwrap();
    assert_eq!(holds.len(), 1, "{holds:?}");
    assert_eq!(holds[0].commit, revert);
    assert_eq!(holds[0].from.tag, "1.4.3");
    assert_eq!(holds[0].from.digest.as_deref(), Some(moved.as_str()));
}
