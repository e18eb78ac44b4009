//! Stories of `minReleaseAge` and `tags.order: newest` on GitHub and GitLab
//! (the fakes, with the service's tag cache and a clock the test moves),
//! and in direct mode (the real `serve`): a young tag is not proposed, the
//! reference stays on the previous candidate, and a timer reconciles when
//! the young tag comes of age. Build times come from the image configs'
//! `created`, fetched once per digest, ever.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use imagebump::clock::Clock;
use support::world::{Kind, World};

stories!(
    a_young_tag_waits_its_age_and_a_timer_proposes_it,
    newest_proposes_the_latest_build_and_never_asks_again,
);

const DAY: i64 = 86_400_000;
const T0: i64 = 1_900_000_000_000;

/// A clock the test moves.
fn manual(at: i64) -> (Clock, Arc<AtomicI64>) {
    let now = Arc::new(AtomicI64::new(at));
    let read = Arc::clone(&now);
    (Clock::new(move || read.load(Ordering::SeqCst)), now)
}

fn mr_title(w: &World) -> Option<String> {
    let open = w.open_mrs();
    assert!(open.len() <= 1, "{open:#?}");
    open.first().map(|m| m.title.clone())
}

async fn a_young_tag_waits_its_age_and_a_timer_proposes_it(kind: Kind) {
    let (clock, now) = manual(T0);
    let w = World::with_clock(kind, clock).await;
    let host = w.registry.host();
    w.commit_on(
        "main",
        ".imagebump.yaml",
        &format!("policies:\n  - name: web\n    image: {host}/acme/web\n    semver: ^1.4\n    minReleaseAge: 3d\n"),
        false,
    );
    w.push_tag("1.4.3").await;

    // The first listing: 1.4.3 was there then, and has no `created`: it
    // counts as released at T0, so it waits until T0 + 3d.
    let out = w.reconcile().await;
    assert!(out.report.bumps.is_empty(), "{:?}", out.report.bumps);
    assert_eq!(mr_title(&w), None);
    assert_eq!(out.report.waiting.len(), 1, "{:?}", out.report);
    assert_eq!(out.report.waiting[0].until_ms, T0 + 3 * DAY);
    assert_eq!(
        w.store.timers().await.unwrap(),
        [(
            "env".to_string(),
            T0 + 3 * DAY,
            format!("release age of {host}/acme/web:1.4.3")
        )]
    );

    // A day later 1.4.4 appears: seen at T0 + 1d, young until T0 + 4d.
    now.store(T0 + DAY, Ordering::SeqCst);
    w.push_tag("1.4.4").await;
    let out = w.reconcile().await;
    assert!(out.report.bumps.is_empty(), "{:?}", out.report.bumps);

    // At T0 + 3d the timer is due: it becomes a reconcile, which proposes
    // 1.4.3 (the previous candidate; 1.4.4 is still young).
    now.store(T0 + 3 * DAY, Ordering::SeqCst);
    assert_eq!(
        w.store.fire_due_timers(T0 + 3 * DAY).await.unwrap(),
        ["env"]
    );
    w.drain().await;
    let title = mr_title(&w).expect("an MR once 1.4.3 is of age");
    assert!(title.ends_with("1.4.3"), "{title}");
    let timers = w.store.timers().await.unwrap();
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].1, T0 + 4 * DAY, "the next young tag's time");

    // At T0 + 4d, 1.4.4 is of age: the MR is updated in place.
    now.store(T0 + 4 * DAY, Ordering::SeqCst);
    assert_eq!(
        w.store.fire_due_timers(T0 + 4 * DAY).await.unwrap(),
        ["env"]
    );
    w.drain().await;
    let title = mr_title(&w).expect("the MR");
    assert!(title.ends_with("1.4.4"), "{title}");
    assert!(w.store.timers().await.unwrap().is_empty());
}

/// Git-sha tags ordered by their image config's `created`; the second run
/// makes no per-tag request (build times are kept by digest in the store).
async fn newest_proposes_the_latest_build_and_never_asks_again(kind: Kind) {
    let per_tag = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&per_tag);
    let front: support::world::Front = Box::new(move |request, forward| {
        let path = request.path();
        if path.contains("/manifests/") || path.contains("/blobs/") {
            counted.fetch_add(1, Ordering::SeqCst);
        }
        forward()
    });
    let (clock, now) = manual(T0);
    let w = World::fronted_with_clock(kind, "max_rps_per_host = 0.0", front, clock).await;
    let host = w.proxy.as_ref().expect("proxy").host();
    for (tag, created) in [
        ("a1b2c3d", "2026-11-01T10:00:00Z"),
        ("ffff000", "2026-11-03T10:00:00Z"),
        ("0000fff", "2026-11-02T10:00:00Z"),
    ] {
        w.registry
            .push_image_created("acme/app", tag, Some(created))
            .await;
    }
    w.commit_on(
        "main",
        "apps/app.yaml",
        &format!("image: {host}/acme/app:a1b2c3d\n"),
        false,
    );
    w.commit_on(
        "main",
        ".imagebump.yaml",
        &format!("policies:\n  - name: app\n    image: {host}/acme/app\n    tags:\n      pattern: '^[0-9a-f]{{7}}$'\n      order: newest\n"),
        false,
    );
    let out = w.reconcile().await;
    assert!(out.report.errors.is_empty(), "{:?}", out.report.errors);
    let title = mr_title(&w).expect("an MR");
    // Not the highest name (ffff000 is newest here, 0000fff is not).
    assert!(title.ends_with("ffff000"), "{title}");
    let cold = per_tag.swap(0, Ordering::SeqCst);
    assert!(cold >= 6, "a manifest and a config per tag: {cold}");

    // The next run (the list listed again) asks nothing per tag.
    now.store(T0 + DAY, Ordering::SeqCst);
    let out = w.reconcile().await;
    assert!(out.report.errors.is_empty(), "{:?}", out.report.errors);
    assert!(mr_title(&w).expect("the MR").ends_with("ffff000"));
    assert_eq!(
        per_tag.load(Ordering::SeqCst),
        0,
        "warm: no per-tag request"
    );
}

/// Direct mode, the real `serve`: the first run commits the newest build
/// of a git-sha image at once, and finds web 1.1.0 young (seen by this
/// first listing) and leaves it; the release-age timer, not a poll (the
/// interval is an hour), commits it once it is of age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_mode_commits_the_newest_build_and_a_young_tag_when_its_timer_fires() {
    let registry = support::TestRegistry::start();
    registry.push_tags("acme/web", &["1.0.0", "1.1.0"]).await;
    for (tag, created) in [
        ("a1b2c3d", "2026-11-01T10:00:00Z"),
        ("ffff000", "2026-11-03T10:00:00Z"),
        ("0000fff", "2026-11-02T10:00:00Z"),
    ] {
        registry
            .push_image_created("acme/app", tag, Some(created))
            .await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let host = registry.host();
    let remote = support::world::seed_env_repo(
        dir.path(),
        &format!(
            "policies:\n  - name: web\n    image: {host}/acme/web\n    semver: ^1\n    minReleaseAge: 2s\n  - name: app\n    image: {host}/acme/app\n    tags:\n      pattern: '^[0-9a-f]{{7}}$'\n      order: newest\n"
        ),
        &format!("{host}/acme/web:1.0.0"),
    );
    let seed = dir.path().join("seed");
    std::fs::write(
        seed.join("apps/app.yaml"),
        format!("image: {host}/acme/app:a1b2c3d\n"),
    )
    .expect("write");
    support::world::commit_all_as_ops(&seed, "app");
    support::world::git(&seed, &["push", "-q", remote.to_str().unwrap(), "main"]);
    let port = support::free_port();
    let config = support::world::write_direct_config(
        dir.path(),
        &remote,
        &format!(
            "listen = \"127.0.0.1:{port}\"\npoll_interval = \"1h\"\n[git]\nname = \"imagebump\"\nemail = \"bot@imagebump.test\""
        ),
        "base",
    );
    let log_path = dir.path().join("serve.log");
    let _serving = support::cli::Serving::start_logged(
        env!("CARGO_BIN_EXE_imagebump"),
        &config,
        &log_path,
        &[("IMAGEBUMP_LOG", "imagebump=info")],
    );
    let file = || support::world::git(&remote, &["show", "main:apps/web.yaml"]);
    support::wait_for(
        "1.1.0 committed by the timer",
        Duration::from_secs(60),
        || file().ends_with(":1.1.0").then_some(()),
    );
    let app = support::world::git(&remote, &["show", "main:apps/app.yaml"]);
    assert!(app.ends_with(":ffff000"), "the newest build: {app}");
    // Two bot commits: the first run's (the app only: web 1.1.0 was young),
    // then the timer's (web).
    let log = support::world::git(
        &remote,
        &[
            "log",
            "--format=%an",
            "--name-only",
            "--reverse",
            "main",
            "-2",
        ],
    );
    let commits: Vec<&str> = log.split_whitespace().collect();
    assert_eq!(
        commits,
        ["imagebump", "apps/app.yaml", "imagebump", "apps/web.yaml"],
        "{log}"
    );
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(log.contains("waiting for release age"), "{log}");
    assert!(log.contains("timer due: reconcile enqueued"), "{log}");
}
