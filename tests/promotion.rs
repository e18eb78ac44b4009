//! Stories of promotion between environments (README, "Promotion between
//! environments"): dev follows the registry; staging gets what dev ran
//! for an hour with green checks; prod gets what staging ran for a day.
//! Time moves through the repository's clock (`World::advance`), never by
//! sleeping; the commits keep their real times.

mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use imagebump::config::ServiceConfig;
use imagebump::lock::RepoLocks;
use imagebump::reconcile;
use imagebump::store::Store;
use support::registry::TestRegistry;
use support::world::{Kind, World, ahead_clock, git, seed_env_repo, write_direct_config};

stories!(
    a_merged_dev_bump_is_promoted_to_staging_after_the_soak_and_prod_waits_for_staging,
    a_failing_check_in_dev_promotes_nothing,
    a_promotion_mr_is_updated_in_place_and_one_people_closed_stays_closed,
);

/// Dev (an `image:`), staging (a kustomize overlay) and prod (Helm
/// values), all at 1.4.2.
fn environments(host: &str, require: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            ".imagebump.yaml",
            format!(
                "files: [\"clusters/**\"]\npolicies:\n  - name: web\n    image: {host}/acme/web\n    semver: ^1.4\nenvironments:\n  - name: dev\n    files: [\"clusters/dev/**\"]\n  - name: staging\n    files: [\"clusters/staging/**\"]\n    promoteFrom: dev\n    after: 1h\n{require}  - name: prod\n    files: [\"clusters/prod/**\"]\n    promoteFrom: staging\n    after: 24h\n"
            ),
        ),
        (
            "clusters/dev/web.yaml",
            format!("spec:\n  containers:\n    - name: web\n      image: {host}/acme/web:1.4.2\n"),
        ),
        (
            "clusters/staging/kustomization.yaml",
            format!(
                "resources: [../base]\nimages:\n  - name: {host}/acme/web\n    newTag: 1.4.2\n"
            ),
        ),
        (
            "clusters/prod/values.yaml",
            format!("image:\n  repository: {host}/acme/web\n  tag: 1.4.2\n"),
        ),
    ]
}

fn open_mr_of(w: &World, branch: &str) -> Option<support::world::Mr> {
    w.open_mrs().into_iter().find(|m| m.branch == branch)
}

fn assert_no_open_mr(w: &World, branch: &str) {
    assert!(open_mr_of(w, branch).is_none(), "{branch}: {:#?}", w.mrs());
}

/// Some reference was skipped for a reason that `says`.
fn assert_skipped(o: &reconcile::Outcome, says: impl Fn(&str) -> bool) {
    let reasons = skipped_reasons(o);
    assert!(reasons.iter().any(|r| says(r)), "{reasons:#?}");
}

fn skipped_reasons(o: &reconcile::Outcome) -> Vec<String> {
    o.report
        .skipped
        .iter()
        .map(|s| format!("{}: {}", s.file, s.reason))
        .collect()
}

/// 1.4.3 is pushed; dev's MR is merged by a human, at commit returned.
async fn dev_bump_merged(w: &World) -> String {
    w.push_tag("1.4.3").await;
    let o = w.reconcile().await;
    let dev = open_mr_of(w, "imagebump/dev-web").unwrap_or_else(|| panic!("dev MR: {o:#?}"));
    assert_eq!(
        w.open_mrs().len(),
        1,
        "only dev follows the registry: {:#?}",
        w.mrs()
    );
    w.merge_as_human(dev.number);
    w.head_of("main").expect("main")
}

async fn a_merged_dev_bump_is_promoted_to_staging_after_the_soak_and_prod_waits_for_staging(
    kind: Kind,
) {
    let w = World::new(kind).await;
    let host = w.registry.host();
    w.commit_files_on("main", &environments(&host, "    require: [checks]\n"));
    let merged = dev_bump_merged(&w).await;
    w.set_checks(&merged, true);

    // Dev has run 1.4.3 for less than an hour: nothing for staging yet,
    // and the run says when it is due.
    let o = w.reconcile().await;
    assert_no_open_mr(&w, "imagebump/staging-web");
    assert_skipped(&o, |r| {
        r.starts_with(
            "clusters/staging/kustomization.yaml: not promoted from dev: dev has run 1.4.3 for",
        ) && r.contains(&merged[..12])
    });
    let due = o.next_due_ms.expect("a due time");
    assert!(due > imagebump::clock::now_ms(), "due in the future");

    // An hour and a bit later: one MR for staging, with its evidence.
    w.advance(Duration::from_secs(3700));
    let o = w.reconcile().await;
    let staging = open_mr_of(&w, "imagebump/staging-web").unwrap_or_else(|| panic!("{o:#?}"));
    assert_eq!(staging.title, "Promote web 1.4.3 to staging");
    for evidence in [
        format!("| `{host}/acme/web` | `1.4.3` | dev | `{merged}` |"),
        "| passed | not pinned in the source".to_string(),
    ] {
        assert!(
            staging.body.contains(&evidence),
            "{evidence} in {}",
            staging.body
        );
    }
    assert_eq!(
        w.file_on(
            "imagebump/staging-web",
            "clusters/staging/kustomization.yaml"
        ),
        format!("resources: [../base]\nimages:\n  - name: {host}/acme/web\n    newTag: 1.4.3")
    );
    // Prod follows staging, which still runs 1.4.2.
    assert_no_open_mr(&w, "imagebump/prod-web");
    // Idempotent: the same world, the same MR, no new one.
    let before = w.mrs().len();
    w.reconcile().await;
    assert_eq!(w.mrs().len(), before);

    // Staging merged: prod waits a day for it, then gets it.
    w.merge_as_human(staging.number);
    let staged = w.head_of("main").expect("main");
    let o = w.reconcile().await;
    assert_no_open_mr(&w, "imagebump/prod-web");
    assert_skipped(&o, |r| {
        r.contains("not promoted from staging: staging has run 1.4.3 for")
    });
    w.advance(Duration::from_secs(25 * 3600));
    w.reconcile().await;
    let prod = open_mr_of(&w, "imagebump/prod-web").expect("prod MR");
    assert_eq!(prod.title, "Promote web 1.4.3 to prod");
    assert!(
        prod.body.contains(&format!("| staging | `{staged}` |")),
        "{}",
        prod.body
    );
    assert!(prod.body.contains("| not required |"), "{}", prod.body);
    assert_eq!(
        w.file_on("imagebump/prod-web", "clusters/prod/values.yaml"),
        format!("image:\n  repository: {host}/acme/web\n  tag: 1.4.3")
    );
}

async fn a_promotion_mr_is_updated_in_place_and_one_people_closed_stays_closed(kind: Kind) {
    let w = World::new(kind).await;
    let host = w.registry.host();
    w.commit_files_on("main", &environments(&host, ""));
    dev_bump_merged(&w).await;
    w.advance(Duration::from_secs(3700));
    w.reconcile().await;
    let first = open_mr_of(&w, "imagebump/staging-web").expect("staging MR");
    assert_eq!(first.title, "Promote web 1.4.3 to staging");

    // Dev moves on to 1.4.4 (merged an hour ago, as this clock sees it):
    // the same MR now promotes 1.4.4.
    w.push_tag("1.4.4").await;
    w.reconcile().await;
    let dev = open_mr_of(&w, "imagebump/dev-web").expect("dev MR");
    w.merge_as_human(dev.number);
    w.advance(Duration::from_secs(3700));
    w.reconcile().await;
    let updated = open_mr_of(&w, "imagebump/staging-web").expect("staging MR");
    assert_eq!(updated.number, first.number, "updated in place");
    assert_eq!(updated.title, "Promote web 1.4.4 to staging");

    // People close it: 1.4.4 is not promoted to staging again.
    w.close_as_human(updated.number);
    let o = w.reconcile().await;
    assert_no_open_mr(&w, "imagebump/staging-web");
    assert_skipped(&o, |r| {
        r.ends_with("people closed the MR that promoted 1.4.4 to staging")
    });
}

/// `/imagebump hold` of a policy holds its promotions too; released, they go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_policy_is_not_promoted() {
    let w = World::new(Kind::GitLab).await;
    let host = w.registry.host();
    w.commit_files_on("main", &environments(&host, ""));
    dev_bump_merged(&w).await;
    w.advance(Duration::from_secs(3700));
    w.store.set_hold("env", "web", true).await.expect("hold");
    w.reconcile_with_store().await;
    assert_no_open_mr(&w, "imagebump/staging-web");
    w.store
        .set_hold("env", "web", false)
        .await
        .expect("release");
    w.reconcile_with_store().await;
    assert!(
        open_mr_of(&w, "imagebump/staging-web").is_some(),
        "{:#?}",
        w.mrs()
    );
}

/// A promotion waiting for its soak asks for a reconcile when it is due
/// (the store's timer, fired by the service's duties), not the next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_promotion_sets_a_timer_for_when_it_is_due() {
    let ahead = Arc::new(AtomicI64::new(0));
    let w = World::with_clock(Kind::GitHub, ahead_clock(&ahead)).await;
    let host = w.registry.host();
    w.commit_files_on("main", &environments(&host, ""));
    dev_bump_merged(&w).await;
    let now = imagebump::clock::now_ms();
    let o = w.reconcile().await;
    let due = o.next_due_ms.expect("a due time");
    assert_eq!(
        w.store.timers().await.expect("timers"),
        [("env".to_string(), due, "promotion soak".to_string())]
    );
    assert!(
        (now + 3_500_000..now + 3_700_000).contains(&due),
        "{due} vs {now}"
    );
    // Not yet due: nothing fires. Due: one reconcile, which promotes.
    assert!(
        w.store
            .fire_due_timers(due - 1)
            .await
            .expect("fire")
            .is_empty()
    );
    assert_eq!(w.store.fire_due_timers(due).await.expect("fire"), ["env"]);
    let job = w
        .store
        .claim("test", LEASE, due)
        .await
        .expect("claim")
        .expect("the timer's run");
    assert!(
        matches!(&job.kind, imagebump::store::JobKind::Reconcile { reason, .. } if reason == "promotion soak"),
        "{job:?}"
    );
    ahead.fetch_add(3_700_000, std::sync::atomic::Ordering::SeqCst);
    w.workers.process(job).await;
    assert!(
        open_mr_of(&w, "imagebump/staging-web").is_some(),
        "{:#?}",
        w.mrs()
    );
    assert!(
        w.store.timers().await.expect("timers").is_empty(),
        "nothing waits any more"
    );
}

const LEASE: Duration = Duration::from_secs(60);

async fn a_failing_check_in_dev_promotes_nothing(kind: Kind) {
    let w = World::new(kind).await;
    let host = w.registry.host();
    w.commit_files_on("main", &environments(&host, "    require: [checks]\n"));
    let merged = dev_bump_merged(&w).await;
    w.fail_checks(&merged);
    w.advance(Duration::from_secs(2 * 3600));
    let o = w.reconcile().await;
    assert_no_open_mr(&w, "imagebump/staging-web");
    let failed = format!(
        "not promoted from dev: the checks of dev's commit {} failed",
        &merged[..12]
    );
    assert_skipped(&o, |r| r.ends_with(&failed));
    // Once green, it goes.
    w.set_checks(&merged, true);
    w.reconcile().await;
    assert!(
        open_mr_of(&w, "imagebump/staging-web").is_some(),
        "{:#?}",
        w.mrs()
    );
}

/// A direct-mode environment repository (`direct = "base"`) holding
/// `files`, with a clock that can run ahead.
struct Direct {
    registry: TestRegistry,
    _dir: tempfile::TempDir,
    remote: std::path::PathBuf,
    repo: reconcile::Repo,
    locks: RepoLocks,
    ahead: Arc<AtomicI64>,
}

impl Direct {
    async fn new(files: impl Fn(&str) -> Vec<(&'static str, String)>) -> Direct {
        let registry = TestRegistry::start();
        registry.push_tags("acme/web", &["1.4.2"]).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let remote = seed_env_repo(dir.path(), "policies: []\n", "unused:1");
        let seed = dir.path().join("seed");
        std::fs::remove_file(seed.join("apps/web.yaml")).expect("rm");
        for (path, text) in files(&registry.host()) {
            let at = seed.join(path);
            std::fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
            std::fs::write(at, text).expect("write");
        }
        support::world::commit_all_as_ops(&seed, "environments");
        git(
            &seed,
            &["push", "-q", remote.to_str().expect("utf-8"), "main"],
        );
        let path = write_direct_config(dir.path(), &remote, "", "base");
        let config = ServiceConfig::load_from(Some(&path), Vec::new()).expect("config");
        let ahead = Arc::new(AtomicI64::new(0));
        let repo = imagebump::service::build_repo(
            &config,
            &config.repos[0],
            None,
            &imagebump::service::registry(&config.registry).expect("registry"),
            &ahead_clock(&ahead),
        )
        .await
        .expect("repo");
        let store = Store::open("sqlite::memory:").await.expect("store");
        let locks = RepoLocks::for_store(&store);
        Direct {
            registry,
            _dir: dir,
            remote,
            repo,
            locks,
            ahead,
        }
    }

    async fn run(&self) -> reconcile::Outcome {
        reconcile::reconcile(&self.repo, &self.locks)
            .await
            .expect("reconcile")
    }

    fn advance(&self, secs: i64) {
        self.ahead
            .fetch_add(secs * 1000, std::sync::atomic::Ordering::SeqCst);
    }

    fn subjects(&self) -> Vec<String> {
        git(&self.remote, &["log", "--format=%s", "main"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn file(&self, path: &str) -> String {
        git(&self.remote, &["show", &format!("main:{path}")])
    }
}

/// Direct mode: the bot commits the dev bump, then, after the soak, the
/// staging promotion, then, after staging's, prod's, on the base branch in
/// that order. There is no platform: only `after` applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_mode_commits_the_promotions_in_order() {
    let d = Direct::new(|host| environments(host, "    require: [checks]\n")).await;
    let host = d.registry.host();
    d.registry.push_tags("acme/web", &["1.4.3"]).await;
    d.run().await;
    assert_eq!(d.subjects()[0], "Bump web to 1.4.3");
    // Half an hour: staging waits (no checks in direct mode: `after` only).
    d.advance(1800);
    let o = d.run().await;
    assert!(o.actions.is_empty(), "{:#?}", o.actions);
    assert!(o.next_due_ms.is_some());
    d.advance(1900);
    d.run().await;
    assert_eq!(d.subjects()[0], "Promote web 1.4.3 to staging");
    let message = git(&d.remote, &["log", "-1", "--format=%B", "main"]);
    assert!(
        message.contains("Imagebump-Promoted-From: dev "),
        "{message}"
    );
    // Prod: a day after staging's commit, not before.
    let o = d.run().await;
    assert!(o.actions.is_empty(), "{:#?}", o.actions);
    d.advance(25 * 3600);
    d.run().await;
    assert_eq!(
        d.subjects()[..4],
        [
            "Promote web 1.4.3 to prod",
            "Promote web 1.4.3 to staging",
            "Bump web to 1.4.3",
            "environments"
        ]
    );
    assert_eq!(
        d.file("clusters/prod/values.yaml"),
        format!("image:\n  repository: {host}/acme/web\n  tag: 1.4.3")
    );
    // Settled: nothing more to do.
    let o = d.run().await;
    assert!(o.actions.is_empty() && o.next_due_ms.is_none(), "{o:#?}");
}

/// The same bits: dev pins digests (`digest: pin`), and staging gets dev's
/// digest. When the tag moves to other bits, dev is re-pinned, and staging
/// keeps the bits it has until the new ones have soaked in dev.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_digest_is_promoted_as_it_is() {
    let d = Direct::new(|host| {
        vec![
            (
                ".imagebump.yaml",
                format!("policies:\n  - name: web\n    image: {host}/acme/web\n    semver: ^1.4\n    digest: pin\nenvironments:\n  - name: dev\n    files: [dev/**]\n  - name: staging\n    files: [staging/**]\n    promoteFrom: dev\n    after: 1h\n"),
            ),
            ("dev/web.yaml", format!("image: {host}/acme/web:1.4.2\n")),
            ("staging/web.yaml", format!("image: {host}/acme/web:1.4.2\n")),
        ]
    })
    .await;
    d.registry.push_tags("acme/web", &["1.4.3"]).await;
    d.run().await;
    let first = d.file("dev/web.yaml");
    assert!(first.contains(":1.4.3@sha256:"), "{first}");
    d.advance(3700);
    d.run().await;
    assert_eq!(d.subjects()[0], "Promote web 1.4.3 to staging");
    assert_eq!(d.file("staging/web.yaml"), first);

    let moved = d.registry.push_index("acme/web", "1.4.3").await;
    d.run().await;
    let second = d.file("dev/web.yaml");
    assert!(second.ends_with(&format!(":1.4.3@{moved}")), "{second}");
    // Back to the system's time: dev's re-pin is minutes old.
    d.advance(-3700);
    let o = d.run().await;
    assert!(o.actions.is_empty() && o.next_due_ms.is_some(), "{o:#?}");
    assert_eq!(
        d.file("staging/web.yaml"),
        first,
        "the new bits soak in dev first"
    );
    d.advance(3700);
    d.run().await;
    assert_eq!(d.file("staging/web.yaml"), second);
}
