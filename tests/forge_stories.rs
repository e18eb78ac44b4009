//! Stories of `reconcile` against fakes that answer as GitHub and GitLab
//! really do (see the citations in `support::github` and `support::gitlab`):
//! one change's failure never stalls the others, forks are never adopted,
//! refused reviewers and refused merges are shown on the MR, and
//! auto-merge never merges an untested head.

mod support;

use imagebump::reconcile::Action;
use support::gitlab::MergeSemantics;
use support::world::{Kind, World};

stories!(
    one_changes_forge_failure_leaves_the_others_delivered,
    fork_mrs_are_never_adopted_and_refuse_nothing,
    refused_reviewers_are_named_on_the_mr_once,
    a_merge_the_platform_refuses_is_shown_once_and_is_no_error,
    api_commits_hold_the_same_bytes_and_stay_the_bots,
);

fn mr(w: &World, number: u64) -> support::world::Mr {
    w.mrs()
        .into_iter()
        .find(|m| m.number == number)
        .unwrap_or_else(|| panic!("no MR {number}"))
}

fn open_mr_of(w: &World, branch: &str) -> support::world::Mr {
    w.open_mrs()
        .into_iter()
        .find(|m| m.branch == branch)
        .unwrap_or_else(|| panic!("no open MR of {branch}: {:#?}", w.mrs()))
}

/// Requests that ask the platform to merge (REST merge, GitLab's
/// `PUT …/merge` with or without auto-merge).
fn merge_requests_sent(w: &World) -> usize {
    w.requests()
        .iter()
        .filter(|(m, p)| m == "PUT" && p.split('?').next().is_some_and(|p| p.ends_with("/merge")))
        .count()
}

/// Two policies (web and api), minor updates only: two MRs.
async fn two_changes(w: &World) {
    let host = w.registry.host();
    w.commit_on(
        "main",
        "apps/api.yaml",
        &format!("image: {host}/acme/api:2.0.0\n"),
        false,
    );
    w.commit_on(
        "main",
        ".imagebump.yaml",
        &format!(
            "policies:\n  - name: web\n    image: {host}/acme/web\n    semver: ^1.4\n  - name: api\n    image: {host}/acme/api\n    semver: ^2.0\n"
        ),
        false,
    );
    w.registry.push_image("acme/api", "2.1.0").await;
    w.push_tag("1.5.0").await;
}

async fn one_changes_forge_failure_leaves_the_others_delivered(kind: Kind) {
    let w = World::new(kind).await;
    two_changes(&w).await;
    let out = w.reconcile().await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let web = open_mr_of(&w, "imagebump/web");
    let api = open_mr_of(&w, "imagebump/api");

    w.registry.push_image("acme/api", "2.2.0").await;
    w.push_tag("1.6.0").await;
    w.fail_next_update(web.number, 403);
    let out = w.reconcile().await;
    assert_eq!(out.failures.len(), 1, "{:?}", out.failures);
    assert!(
        out.failures[0].starts_with("imagebump/web: "),
        "{:?}",
        out.failures
    );
    assert!(
        out.actions
            .iter()
            .any(|a| matches!(a, Action::Updated { number, .. } if *number == api.number)),
        "the other change is delivered: {:?}",
        out.actions
    );
    assert_eq!(mr(&w, api.number).title, "Bump api to 2.2.0");
    assert_eq!(mr(&w, web.number).title, "Bump web to 1.5.0", "not yet");
    assert!(
        w.file_on("imagebump/web", "apps/web.yaml")
            .contains("web:1.6.0"),
        "the push before the failure stays done"
    );
    let failed = |w: &World| {
        w.comments(web.number)
            .into_iter()
            .filter(|c| c.contains("could not finish updating this MR"))
            .count()
    };
    assert_eq!(failed(&w), 1, "{:?}", w.comments(web.number));

    // The retry finishes it, and says nothing more.
    let out = w.reconcile().await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    assert_eq!(mr(&w, web.number).title, "Bump web to 1.6.0");
    assert_eq!(failed(&w), 1);
}

async fn fork_mrs_are_never_adopted_and_refuse_nothing(kind: Kind) {
    let w = World::new(kind).await;
    w.push_tag("1.5.0").await;
    w.reconcile().await;
    let ours = w.only_open_mr();
    // An outsider opens MRs from a fork on a branch named like the bot's,
    // with the bot's marker: one left open, one closed (which, were it
    // ours, would refuse 1.5.0 and close our MR as unneeded).
    let jam = w.open_fork_mr("imagebump/web", "jam", &ours.body);
    let closed = w.open_fork_mr("imagebump/web", "Bump web to 1.5.0", &ours.body);
    w.close_as_human(closed);
    let writes = w.write_calls();
    let out = w.reconcile().await;
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    assert_eq!(w.write_calls(), writes, "nothing written");
    let fork = mr(&w, jam);
    assert_eq!((fork.title.as_str(), fork.state.as_str()), ("jam", "open"));
    assert_eq!(mr(&w, ours.number).state, "open");
}

async fn refused_reviewers_are_named_on_the_mr_once(kind: Kind) {
    let w = World::new(kind).await;
    let host = w.registry.host();
    w.commit_on(
        "main",
        ".imagebump.yaml",
        &format!(
            "policies:\n  - name: web\n    image: {host}/acme/web\n    semver: ^1.4\npullRequests:\n  reviewers: [alice, mallory]\n"
        ),
        false,
    );
    w.push_tag("1.5.0").await;
    let out = w.reconcile().await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let opened = w.only_open_mr();
    assert!(
        out.actions.iter().any(|a| matches!(
            a,
            Action::Commented {
                about: "reviewers could not be requested",
                ..
            }
        )),
        "{:?}",
        out.actions
    );
    let notes: Vec<String> = w
        .comments(opened.number)
        .into_iter()
        .filter(|c| c.contains("could not request every review"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("`mallory`") && !notes[0].contains("`alice`"),
        "{notes:?}"
    );
    assert_eq!(w.reviewers(opened.number), ["alice"]);
    w.reconcile().await;
    assert_eq!(w.comments(opened.number).len(), 1, "said once");
}

async fn a_merge_the_platform_refuses_is_shown_once_and_is_no_error(kind: Kind) {
    let w = World::new(kind).await;
    if kind == Kind::GitHub {
        // Native auto-merge off: the bot merges itself once green.
        w.github().set_allow_auto_merge(false);
    }
    w.forbid_merging();
    w.push_tag("1.4.3").await; // a patch: automerge allowed
    w.reconcile().await;
    let patch = w.only_open_mr();
    w.set_checks(&patch.head_sha, true);
    let out = w.reconcile().await;
    assert!(
        out.failures.is_empty(),
        "a refusal is no failure: {:?}",
        out.failures
    );
    assert!(
        out.actions.iter().any(|a| matches!(
            a,
            Action::Commented {
                about: "the platform refused the merge",
                ..
            }
        )),
        "{:?}",
        out.actions
    );
    let out = w.reconcile().await;
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    assert_eq!(w.only_open_mr().state, "open");
    let notes: Vec<String> = w
        .comments(patch.number)
        .into_iter()
        .filter(|c| c.contains("the platform refused"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    let why = match kind {
        Kind::GitHub => "approving review",
        Kind::GitLab => "does not let the bot merge",
    };
    assert!(notes[0].contains(why), "{notes:?}");
}

/// GitLab, under 17.10 and 17.11+ semantics: no pipeline yet → not asked
/// and not merged (17.11+ would merge it at once); a running pipeline →
/// auto-merge, merged by GitLab once green; an MR whose pipeline already
/// passed → merged by the bot with the head's SHA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_no_pipeline_yet_is_not_merged_and_green_is() {
    for semantics in [MergeSemantics::PipelineSucceeds, MergeSemantics::ChecksPass] {
        let w = World::new(Kind::GitLab).await;
        w.gitlab().set_merge_semantics(semantics);
        w.push_tag("1.4.3").await;
        w.reconcile().await;
        w.reconcile().await;
        let patch = w.only_open_mr();
        assert_eq!(merge_requests_sent(&w), 0, "{semantics:?}: never asked");
        assert!(w.file_on("main", "apps/web.yaml").contains("web:1.4.2"));

        w.set_checks(&patch.head_sha, false); // a pipeline runs
        let out = w.reconcile().await;
        assert!(
            out.actions.contains(&Action::AutoMergeEnabled {
                number: patch.number
            }),
            "{semantics:?}: {:?}",
            out.actions
        );
        assert_eq!(mr(&w, patch.number).state, "open");
        w.set_checks(&patch.head_sha, true);
        assert_eq!(mr(&w, patch.number).state, "merged", "{semantics:?}");
        assert!(w.file_on("main", "apps/web.yaml").contains("web:1.4.3"));

        let w = World::new(Kind::GitLab).await;
        w.gitlab().set_merge_semantics(semantics);
        w.push_tag("1.4.3").await;
        w.reconcile().await;
        let patch = w.only_open_mr();
        w.set_checks(&patch.head_sha, true);
        let out = w.reconcile().await;
        assert!(
            out.actions.contains(&Action::Merged {
                number: patch.number
            }),
            "{semantics:?}: {:?}",
            out.actions
        );
        assert_eq!(mr(&w, patch.number).state, "merged");
    }
}

/// GitHub without branch protection: auto-merge is refused ("clean" with
/// no checks, "unstable" while they run) and the REST merge would merge
/// at once, so the bot waits for green and merges itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_unprotected_branch_merges_once_green_not_before() {
    let w = World::new(Kind::GitHub).await;
    w.github().set_required_checks(false);
    w.push_tag("1.4.3").await;
    let out = w.reconcile().await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let patch = w.only_open_mr();
    w.set_checks(&patch.head_sha, false);
    let out = w.reconcile().await;
    assert!(out.failures.is_empty() && out.actions.is_empty(), "{out:?}");
    assert_eq!(mr(&w, patch.number).state, "open", "not while checks run");
    w.set_checks(&patch.head_sha, true);
    let out = w.reconcile().await;
    assert!(
        out.actions.contains(&Action::Merged {
            number: patch.number
        }),
        "{:?}",
        out.actions
    );
    assert!(w.file_on("main", "apps/web.yaml").contains("web:1.4.3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_graphql_rate_limit_is_retried() {
    let w = World::new(Kind::GitHub).await;
    w.github().rate_limit_graphql_next(1);
    w.push_tag("1.4.3").await;
    let out = w.reconcile().await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let patch = w.only_open_mr();
    assert!(
        out.actions.contains(&Action::AutoMergeEnabled {
            number: patch.number
        }),
        "{:?}",
        out.actions
    );
    let graphql = w.requests().iter().filter(|(_, p)| p == "/graphql").count();
    assert_eq!(graphql, 2, "one RATE_LIMITED answer, then the retry");
}

/// GitHub Enterprise Server with App auth: the token is minted under
/// `/api/v3` and used for REST and GraphQL (`/api/graphql`) alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ghes_app_opens_and_auto_merges() {
    let w = World::new_ghes_app().await;
    w.push_tag("1.4.3").await;
    let out = w.reconcile().await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let patch = w.only_open_mr();
    assert!(
        out.actions.contains(&Action::AutoMergeEnabled {
            number: patch.number
        }),
        "{:?}",
        out.actions
    );
    w.set_checks(&patch.head_sha, true);
    assert_eq!(mr(&w, patch.number).state, "merged");
    let requests = w.requests();
    let mint = "/api/v3/app/installations/77/access_tokens";
    assert!(
        requests.iter().any(|(m, p)| m == "POST" && p == mint),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|(m, p)| m == "POST" && p == "/api/graphql")
    );
    assert!(
        requests
            .iter()
            .all(|(_, p)| p.starts_with("/api/v3/") || p == "/api/graphql"),
        "{requests:?}"
    );
}

/// `commit = "api"` on both platforms: the platform makes the bot's
/// commits (GitHub: `createCommitOnBranch`, which it signs; GitLab: the
/// commits API, authored as the configured identity) from the same bytes a
/// git commit would hold, so the next run finds the branch current and
/// writes nothing; a moved base rebuilds the branch through the API again.
async fn api_commits_hold_the_same_bytes_and_stay_the_bots(kind: Kind) {
    let w = World::new_api_commits(kind).await;
    w.push_tag("1.5.0").await;
    let out = w.reconcile().await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let opened = w.only_open_mr();
    let head = w.head_of("imagebump/web").expect("branch");
    let made = |w: &World| match kind {
        Kind::GitHub => w.github().verified_commits(),
        Kind::GitLab => w.gitlab().api_commits(),
    };
    assert_eq!(
        made(&w),
        std::slice::from_ref(&head),
        "made by the platform"
    );
    let author = support::world::git(&w.remote, &["log", "-1", "--format=%ae", &head]);
    let expected_author = match kind {
        Kind::GitHub => support::github::FakeGitHub::app_bot_email(),
        Kind::GitLab => "bot@imagebump.test".to_string(),
    };
    assert_eq!(author, expected_author);
    let main = w.head_of("main").expect("main");
    let parents = support::world::git(&w.remote, &["log", "-1", "--format=%P", &head]);
    assert_eq!(parents, main, "one commit on the base");
    assert!(
        w.file_on("imagebump/web", "apps/web.yaml")
            .contains("web:1.5.0 # pinned by ops")
    );
    let changed = support::world::git(&w.remote, &["diff", "--name-only", &main, &head]);
    assert_eq!(changed, "apps/web.yaml");

    // Same tree as the bot built: current, nothing written.
    let writes = w.write_calls();
    let out = w.reconcile().await;
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    assert_eq!(w.write_calls(), writes);

    // The base moves: rebuilt through the API on the new base, not taken
    // for someone else's push.
    w.commit_on("main", "README.md", "env, edited\n", false);
    let out = w.reconcile().await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    assert!(
        out.actions
            .iter()
            .any(|a| matches!(a, Action::PushedBranch { .. })),
        "{:?}",
        out.actions
    );
    let head2 = w.head_of("imagebump/web").expect("branch");
    assert_eq!(made(&w), [head, head2.clone()]);
    let parents = support::world::git(&w.remote, &["log", "-1", "--format=%P", &head2]);
    assert_eq!(parents, w.head_of("main").expect("main"));
    assert_eq!(w.only_open_mr().number, opened.number);
    assert!(
        !w.comments(opened.number)
            .iter()
            .any(|c| c.contains("someone else pushed")),
        "{:?}",
        w.comments(opened.number)
    );
}

/// GitHub signs only an App's API commits as the App: a token's would be
/// the token owner's, so `commit = "api"` with a token is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_api_commits_with_a_token_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = support::world::seed_env_repo(dir.path(), "policies: []\n", "acme/web:1.0.0");
    let bare = dir.path().join("remote.git");
    let fake = support::github::FakeGitHub::start("acme/env", &bare).await;
    let toml = format!(
        "data_dir = \"{}\"\n[[repos]]\nname = \"env\"\nurl = \"file://{}\"\nforge = \"github\"\napi_url = \"{}\"\nproject = \"acme/env\"\ntoken = \"{}\"\ncommit = \"api\"\n",
        dir.path().join("data").display(),
        remote.display(),
        fake.url(),
        fake.token()
    );
    let path = dir.path().join("imagebump.toml");
    std::fs::write(&path, toml).expect("write");
    let config =
        imagebump::config::ServiceConfig::load_from(Some(&path), Vec::new()).expect("config");
    let err = imagebump::service::build_repo(
        &config,
        &config.repos[0],
        None,
        &imagebump::service::registry(&config.registry).unwrap(),
        &Default::default(),
    )
    .await
    .err()
    .expect("refused");
    assert!(format!("{err:#}").contains("needs a GitHub App"), "{err:#}");
}

/// Through the queue and the workers: a run with one failed change is a
/// failed job, scheduled again with backoff; what it delivered stays
/// delivered, and the retry finishes the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_a_failed_change_is_retried_with_backoff() {
    use std::time::Duration;
    let w = World::new(Kind::GitLab).await;
    two_changes(&w).await;
    w.reconcile().await;
    let web = open_mr_of(&w, "imagebump/web");
    let api = open_mr_of(&w, "imagebump/api");
    w.registry.push_image("acme/api", "2.2.0").await;
    w.push_tag("1.6.0").await;
    w.fail_next_update(web.number, 403);

    let now = imagebump::clock::now_ms();
    let lease = Duration::from_secs(60);
    w.store
        .enqueue_reconcile("env", "test", imagebump::store::Trigger::Poll, now)
        .await
        .expect("enqueue");
    let job = w.store.claim("test", lease, now).await.expect("claim");
    w.workers.process(job.expect("a job")).await;
    assert_eq!(mr(&w, api.number).title, "Bump api to 2.2.0", "delivered");
    assert_eq!(mr(&w, web.number).title, "Bump web to 1.5.0");
    let stats = w.store.queue_stats(now).await.expect("stats");
    assert_eq!(stats.depth, 1, "the failed run is scheduled again");
    let again = w.store.claim("test", lease, now).await.expect("claim");
    assert!(again.is_none(), "not at once: with backoff");

    let later = now + 10 * 60 * 1000;
    let job = w.store.claim("test", lease, later).await.expect("claim");
    w.workers.process(job.expect("the retry")).await;
    assert_eq!(mr(&w, web.number).title, "Bump web to 1.6.0");
    let stats = w.store.queue_stats(later).await.expect("stats");
    assert_eq!(stats.depth, 0);
}
