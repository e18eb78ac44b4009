//! The production GitLab client (`imagebump::forge::gitlab::GitLab`)
//! against the fake GitLab of `support::gitlab`, whose project content is a
//! real bare repository made with the `git` CLI.
//!
//! Default world: project `group/env`; `main` has `env/web.yaml` with
//! `image: acme/web:1.4.2`; branch `imagebump/web` has one more commit
//! bumping it to `1.4.3`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use imagebump::forge::gitlab::GitLab;
use imagebump::forge::{
    AutoMerge, Checks, Forge, ForgeError, Merge, MergeRequest, MrDraft, MrState, RetryPolicy, retry,
};
use support::gitlab::{FakeGitLab, MergeSemantics};
use tempfile::TempDir;

const PROJECT: &str = "group/env";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct World {
    _dir: TempDir,
    work: PathBuf,
    bare: PathBuf,
    fake: FakeGitLab,
    gitlab: GitLab,
}

impl World {
    async fn new() -> World {
        let dir = TempDir::new().expect("tempdir");
        let bare = dir.path().join("env.git");
        let work = dir.path().join("work");
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", "env.git"],
        );
        git(dir.path(), &["init", "-q", "-b", "main", "work"]);
        std::fs::create_dir_all(work.join("env")).expect("mkdir");
        std::fs::write(work.join("env/web.yaml"), "image: acme/web:1.4.2\n").expect("write");
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "initial"]);
        git(
            &work,
            &[
                "remote",
                "add",
                "origin",
                bare.to_str().expect("utf-8 path"),
            ],
        );
        git(&work, &["push", "-q", "origin", "main"]);
        let world_fake = FakeGitLab::start(PROJECT, &bare).await;
        let gitlab = GitLab::new(&world_fake.url(), PROJECT, &world_fake.token())
            .await
            .expect("connect to the fake");
        let world = World {
            _dir: dir,
            work,
            bare,
            fake: world_fake,
            gitlab,
        };
        world.branch("imagebump/web", "1.4.3");
        world
    }

    /// Pushes branch `name` = main + one commit setting the web tag.
    fn branch(&self, name: &str, tag: &str) -> String {
        git(&self.work, &["checkout", "-q", "-B", name, "main"]);
        std::fs::write(
            self.work.join("env/web.yaml"),
            format!("image: acme/web:{tag}\n"),
        )
        .expect("write");
        git(&self.work, &["commit", "-q", "-am", &format!("web {tag}")]);
        git(&self.work, &["push", "-q", "-f", "origin", name]);
        git(&self.work, &["checkout", "-q", "main"]);
        git(&self.work, &["rev-parse", name])
    }

    fn main_file(&self) -> String {
        git(&self.bare, &["show", "main:env/web.yaml"])
    }

    async fn open(&self, branch: &str) -> MergeRequest {
        self.gitlab
            .create_mr(&draft(branch, &[], &[]))
            .await
            .expect("create_mr")
            .mr
    }
}

fn draft(branch: &str, labels: &[&str], reviewers: &[&str]) -> MrDraft {
    MrDraft {
        head_branch: branch.to_string(),
        base_branch: "main".to_string(),
        title: format!("Bump {branch}"),
        body: "<!-- imagebump: {} -->\nBumps web.".to_string(),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        reviewers: reviewers.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test]
async fn a_bad_token_is_a_clear_unauthorized_error() {
    let w = World::new().await;
    let err = GitLab::new(&w.fake.url(), PROJECT, "glpat-wrong")
        .await
        .expect_err("bad token");
    let text = format!("{err:#}");
    assert!(text.contains("token"), "{text}");
    assert!(!text.contains("glpat-wrong"), "the token leaks: {text}");
    match err.downcast_ref::<ForgeError>() {
        Some(ForgeError::Unauthorized {
            status: 401,
            message,
            ..
        }) => assert_eq!(message, "401 Unauthorized"),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

#[tokio::test]
async fn nothing_listening_is_a_transport_error() {
    let port = support::free_port();
    let err = GitLab::new(&format!("http://127.0.0.1:{port}"), PROJECT, "t")
        .await
        .expect_err("no server");
    assert!(
        matches!(
            err.downcast_ref::<ForgeError>(),
            Some(ForgeError::Transport { .. })
        ),
        "{err:#}"
    );
}

#[tokio::test]
async fn an_unknown_project_is_not_found() {
    let w = World::new().await;
    let err = GitLab::new(&w.fake.url(), "group/other", &w.fake.token())
        .await
        .expect_err("unknown project");
    match err.downcast_ref::<ForgeError>() {
        Some(ForgeError::NotFound { what, .. }) => {
            assert!(what.contains("404 Project Not Found"), "{what}")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn create_mr_sets_labels_and_known_reviewers() {
    let w = World::new().await;
    let head = git(&w.bare, &["rev-parse", "imagebump/web"]);
    let mr = w
        .gitlab
        .create_mr(&draft(
            "imagebump/web",
            &["imagebump", "patch"],
            &["alice", "nobody"],
        ))
        .await
        .expect("create_mr")
        .mr;
    assert_eq!(mr.number, 1);
    assert_eq!(mr.state, MrState::Open);
    assert_eq!(mr.head_sha, head);
    assert_eq!(mr.head_branch, "imagebump/web");
    assert_eq!(mr.base_branch, "main");
    assert!(
        mr.web_url.ends_with("/group/env/-/merge_requests/1"),
        "{}",
        mr.web_url
    );
    let fake = w.fake.mr_by_branch("imagebump/web").expect("fake MR");
    assert_eq!(fake.labels, ["imagebump", "patch"]);
    assert_eq!(fake.reviewers, ["alice"]);
    assert!(fake.remove_source_branch);
    assert_eq!(fake.description, "<!-- imagebump: {} -->\nBumps web.");
}

#[tokio::test]
async fn a_second_mr_for_the_branch_is_rejected_with_gitlabs_message() {
    let w = World::new().await;
    w.open("imagebump/web").await;
    let err = w
        .gitlab
        .create_mr(&draft("imagebump/web", &[], &[]))
        .await
        .expect_err("duplicate");
    match err {
        ForgeError::Rejected {
            status: 409,
            message,
            ..
        } => assert_eq!(
            message,
            "Another open merge request already exists for this source branch: !1"
        ),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

/// GitLab serves at most 100 per page: 150 open MRs take two pages.
#[tokio::test]
async fn open_mrs_reads_every_page_and_filters_by_prefix() {
    let w = World::new().await;
    for (i, name) in ["imagebump/a", "imagebump/b", "other/c", "imagebump/d"]
        .iter()
        .enumerate()
    {
        w.branch(name, &format!("2.0.{i}"));
        w.open(name).await;
    }
    w.open("imagebump/web").await;
    w.fake.close_as_human(1);
    w.fake.seed_open_mrs("other/seed-", 146);
    let mut branches: Vec<String> = w
        .gitlab
        .open_mrs("imagebump/")
        .await
        .expect("open_mrs")
        .into_iter()
        .map(|mr| mr.head_branch)
        .collect();
    branches.sort();
    assert_eq!(branches, ["imagebump/b", "imagebump/d", "imagebump/web"]);
    let pages = w
        .fake
        .requests()
        .iter()
        .filter(|(m, p)| m == "GET" && p.contains("/merge_requests?"))
        .count();
    assert_eq!(
        pages,
        2,
        "150 open MRs at 100 per page: {:?}",
        w.fake.requests()
    );
}

#[tokio::test]
async fn closed_mrs_tell_closed_from_merged_newest_first() {
    let w = World::new().await;
    let first = w.open("imagebump/web").await;
    w.fake.close_as_human(first.number);
    let second = w.open("imagebump/web").await;
    w.fake.merge_as_human(second.number);
    w.branch("imagebump/web", "1.4.4");
    w.open("imagebump/web").await;
    let closed = w
        .gitlab
        .closed_mrs("imagebump/web")
        .await
        .expect("closed_mrs");
    let seen: Vec<(u64, MrState)> = closed.iter().map(|mr| (mr.number, mr.state)).collect();
    assert_eq!(seen, [(2, MrState::Merged), (1, MrState::Closed)]);
}

#[tokio::test]
async fn update_close_and_comments() {
    let w = World::new().await;
    let mr = w
        .gitlab
        .create_mr(&draft("imagebump/web", &[], &["bob"]))
        .await
        .expect("create_mr")
        .mr;
    w.gitlab
        .update_mr(mr.number, "Bump web to 1.4.3", "new body")
        .await
        .expect("update_mr");
    w.gitlab.comment(mr.number, "first").await.expect("comment");
    w.gitlab
        .comment(mr.number, "second")
        .await
        .expect("comment");
    w.gitlab.close_mr(mr.number).await.expect("close_mr");
    let fake = w.fake.mr_by_branch("imagebump/web").expect("fake MR");
    assert_eq!(fake.title, "Bump web to 1.4.3");
    assert_eq!(fake.description, "new body");
    assert_eq!(fake.state, "closed");
    assert_eq!(
        w.fake.system_notes(mr.number),
        ["requested review from @bob", "closed"]
    );
    let comments = w.gitlab.comments(mr.number).await.expect("comments");
    assert_eq!(comments, ["first", "second"]);
    assert_eq!(w.fake.notes(mr.number), ["first", "second"]);
    let closed = w
        .gitlab
        .closed_mrs("imagebump/web")
        .await
        .expect("closed_mrs");
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].title, "Bump web to 1.4.3");
    assert_eq!(closed[0].body, "new body");
}

#[tokio::test]
async fn checks_follow_the_head_pipeline() {
    let w = World::new().await;
    let mr = w.open("imagebump/web").await;
    assert_eq!(w.gitlab.checks(&mr).await.expect("checks"), Checks::None);
    for (status, want) in [
        ("running", Checks::Pending),
        ("success", Checks::Success),
        ("failed", Checks::Failure),
    ] {
        w.fake.set_pipeline(&mr.head_sha, status);
        assert_eq!(
            w.gitlab.checks(&mr).await.expect("checks"),
            want,
            "{status}"
        );
    }
}

#[tokio::test]
async fn checks_fall_back_to_commit_statuses() {
    let w = World::new().await;
    let mr = w.open("imagebump/web").await;
    w.fake.set_commit_status(&mr.head_sha, "lint", "success");
    w.fake.set_commit_status(&mr.head_sha, "e2e", "running");
    assert_eq!(w.gitlab.checks(&mr).await.expect("checks"), Checks::Pending);
    w.fake.set_commit_status(&mr.head_sha, "e2e", "success");
    assert_eq!(w.gitlab.checks(&mr).await.expect("checks"), Checks::Success);
}

/// A merged-results pipeline runs on a merge commit no branch has, so a
/// search of pipelines by the head's SHA misses it; `head_pipeline` has it.
#[tokio::test]
async fn a_merged_results_pipeline_counts_for_the_head() {
    let w = World::new().await;
    let mr = w.open("imagebump/web").await;
    w.fake.add_merged_results_pipeline(mr.number, "running");
    assert_eq!(w.gitlab.checks(&mr).await.expect("checks"), Checks::Pending);
    assert_eq!(
        w.gitlab.enable_auto_merge(&mr).await.expect("auto-merge"),
        AutoMerge::Enabled
    );
    w.fake.add_merged_results_pipeline(mr.number, "success");
    assert_eq!(w.fake.mrs()[0].state, "merged");
    assert!(
        !w.fake
            .requests()
            .iter()
            .any(|(_, p)| p.contains("/pipelines")),
        "pipelines are read from head_pipeline: {:?}",
        w.fake.requests()
    );
}

fn puts_to_merge(w: &World) -> usize {
    w.fake
        .requests()
        .iter()
        .filter(|(m, p)| m == "PUT" && p.ends_with("/merge"))
        .count()
}

/// Under either GitLab's semantics: no pipeline yet → not asked, not
/// merged; a running pipeline → auto-merge set; passed → merged.
#[tokio::test]
async fn no_pipeline_yet_is_not_merged_and_a_green_pipeline_is() {
    for semantics in [MergeSemantics::PipelineSucceeds, MergeSemantics::ChecksPass] {
        let w = World::new().await;
        w.fake.set_merge_semantics(semantics);
        let mr = w.open("imagebump/web").await;
        let answer = w.gitlab.enable_auto_merge(&mr).await.expect("auto-merge");
        assert!(
            matches!(answer, AutoMerge::NotYet(_)),
            "{semantics:?}: {answer:?}"
        );
        assert_eq!(puts_to_merge(&w), 0, "{semantics:?}: never asked");
        w.fake.set_pipeline_creating(&mr.head_sha);
        let answer = w.gitlab.enable_auto_merge(&mr).await.expect("auto-merge");
        assert!(
            matches!(answer, AutoMerge::NotYet(_)),
            "{semantics:?}: {answer:?}"
        );
        assert_eq!(
            puts_to_merge(&w),
            0,
            "{semantics:?}: not while it is created"
        );
        assert_eq!(w.fake.mrs()[0].state, "opened");
        assert_eq!(w.main_file(), "image: acme/web:1.4.2");

        w.fake.set_pipeline(&mr.head_sha, "running");
        let answer = w.gitlab.enable_auto_merge(&mr).await.expect("auto-merge");
        assert_eq!(answer, AutoMerge::Enabled, "{semantics:?}");
        assert!(w.gitlab.open_mrs("imagebump/").await.expect("open")[0].auto_merge);
        assert_eq!(w.main_file(), "image: acme/web:1.4.2", "{semantics:?}");
        w.fake.set_pipeline(&mr.head_sha, "success");
        assert_eq!(w.fake.mrs()[0].state, "merged", "{semantics:?}");
        assert_eq!(w.main_file(), "image: acme/web:1.4.3");
        let parents = git(&w.bare, &["rev-list", "--parents", "-n", "1", "main"]);
        assert_eq!(
            parents.split(' ').count(),
            2,
            "a squash commit has one parent"
        );
        let closed = w.gitlab.closed_mrs("imagebump/web").await.expect("closed");
        assert_eq!(closed[0].state, MrState::Merged);
    }
}

/// A finished pipeline is never sent as auto-merge (17.11+ would merge a
/// passed one at once, 17.10 answers 405): the caller merges a passed one
/// itself, and a failed one waits.
#[tokio::test]
async fn a_finished_pipeline_is_not_sent_as_auto_merge() {
    for status in ["success", "failed"] {
        let w = World::new().await;
        let mr = w.open("imagebump/web").await;
        w.fake.set_pipeline(&mr.head_sha, status);
        let answer = w.gitlab.enable_auto_merge(&mr).await.expect("auto-merge");
        assert!(
            matches!(answer, AutoMerge::NotYet(_)),
            "{status}: {answer:?}"
        );
        assert_eq!(puts_to_merge(&w), 0, "{status}");
    }
}

/// The unfriendly answers the fake models, sent as a naive client would:
/// 17.11+ merges an untested MR at once when asked for auto-merge with no
/// pipeline; 17.10 and a pipeline being created answer 405.
#[tokio::test]
async fn the_fake_models_gitlabs_merge_semantics() {
    let put = |w: &World, iid: u64| {
        let url = format!(
            "{}/api/v4/projects/{}/merge_requests/{iid}/merge",
            w.fake.url(),
            PROJECT.replace('/', "%2F")
        );
        let token = w.fake.token();
        async move {
            let rsp = reqwest::Client::new()
                .put(url)
                .header("PRIVATE-TOKEN", token)
                .json(&serde_json::json!({ "auto_merge": true }))
                .send()
                .await
                .expect("send");
            let status = rsp.status().as_u16();
            (status, rsp.json::<serde_json::Value>().await.expect("json"))
        }
    };
    let w = World::new().await;
    w.fake.set_merge_semantics(MergeSemantics::PipelineSucceeds);
    let mr = w.open("imagebump/web").await;
    assert_eq!(put(&w, mr.number).await.0, 405, "17.10: no active pipeline");
    w.fake.set_merge_semantics(MergeSemantics::ChecksPass);
    w.fake.set_pipeline_creating(&mr.head_sha);
    assert_eq!(
        put(&w, mr.number).await.0,
        405,
        "17.11+: pipeline being created"
    );
    let w2 = World::new().await;
    let mr2 = w2.open("imagebump/web").await;
    let (status, body) = put(&w2, mr2.number).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("merged")));
    assert_eq!(w2.main_file(), "image: acme/web:1.4.3", "merged untested");
}

#[tokio::test]
async fn merge_refusals_are_answers_not_errors() {
    let w = World::new().await;
    let mut mr = w.open("imagebump/web").await;
    let stale = mr.head_sha.clone();
    mr.head_sha = w.branch("imagebump/web", "1.4.4");
    let mut old = mr.clone();
    old.head_sha = stale;
    match w.gitlab.merge(&old).await.expect("merge") {
        Merge::Refused(why) => assert!(
            why.contains("(409)") && why.contains("SHA does not match HEAD of source branch"),
            "{why}"
        ),
        other => panic!("a stale head: {other:?}"),
    }
    w.fake.set_bot_can_merge(false);
    match w.gitlab.merge(&mr).await.expect("merge") {
        Merge::Refused(why) => assert!(why.contains("does not let the bot merge"), "{why}"),
        other => panic!("401: {other:?}"),
    }
    w.fake.set_bot_can_merge(true);
    assert_eq!(w.gitlab.merge(&mr).await.expect("merge"), Merge::Merged);
    assert_eq!(w.main_file(), "image: acme/web:1.4.4");
    match w.gitlab.merge(&mr).await.expect("merge") {
        Merge::Refused(why) => assert!(why.contains("(405)"), "{why}"),
        other => panic!("merging twice: {other:?}"),
    }
}

/// Conflicts: 406 before the 406→422 change, 422 since.
#[tokio::test]
async fn a_conflict_is_refused_under_either_semantics() {
    for (semantics, status) in [
        (MergeSemantics::PipelineSucceeds, "(406)"),
        (MergeSemantics::ChecksPass, "(422)"),
    ] {
        let w = World::new().await;
        w.fake.set_merge_semantics(semantics);
        let mr = w.open("imagebump/web").await;
        std::fs::write(w.work.join("env/web.yaml"), "image: acme/web:9.9.9\n").expect("write");
        git(&w.work, &["commit", "-q", "-am", "conflicting"]);
        git(&w.work, &["push", "-q", "origin", "main"]);
        match w.gitlab.merge(&mr).await.expect("merge") {
            Merge::Refused(why) => assert!(why.contains(status), "{semantics:?}: {why}"),
            other => panic!("{semantics:?}: {other:?}"),
        }
    }
}

/// An MR from a fork is never the bot's, whatever its branch is called:
/// not listed as open, and when closed it refuses no version.
#[tokio::test]
async fn fork_mrs_are_not_ours() {
    let w = World::new().await;
    let fork = w.fake.open_fork_mr(
        "imagebump/web",
        "Bump web to 9.9.9",
        "<!-- imagebump: {} -->",
    );
    assert!(
        w.gitlab
            .open_mrs("imagebump/")
            .await
            .expect("open")
            .is_empty()
    );
    w.fake.close_as_human(fork);
    assert!(
        w.gitlab
            .closed_mrs("imagebump/web")
            .await
            .expect("closed")
            .is_empty()
    );
    let ours = w.open("imagebump/web").await;
    let open = w.gitlab.open_mrs("imagebump/").await.expect("open");
    assert_eq!(
        open.iter().map(|m| m.number).collect::<Vec<_>>(),
        [ours.number]
    );
}

#[tokio::test]
async fn unknown_reviewers_are_reported_and_the_mr_opened() {
    let w = World::new().await;
    let opened = w
        .gitlab
        .create_mr(&draft("imagebump/web", &[], &["bob", "nobody"]))
        .await
        .expect("create");
    assert_eq!(opened.problems.len(), 1, "{:?}", opened.problems);
    assert!(
        opened.problems[0].contains("`nobody`"),
        "{:?}",
        opened.problems
    );
    assert_eq!(w.fake.mrs()[0].reviewers, ["bob"]);
}

#[tokio::test]
async fn a_502_is_retried_by_forge_retry() {
    let w = World::new().await;
    w.fake
        .fail_next("GET", "/projects/:id/merge_requests", 502, 1);
    let policy = RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(1),
        max_wait: Duration::from_millis(10),
    };
    let first = w.gitlab.open_mrs("imagebump/").await;
    assert!(
        matches!(first, Err(ForgeError::Server { status: 502, .. })),
        "{first:?}"
    );
    w.fake
        .fail_next("GET", "/projects/:id/merge_requests", 502, 1);
    let mrs = retry("open_mrs", &policy, || w.gitlab.open_mrs("imagebump/"))
        .await
        .expect("second try");
    assert!(mrs.is_empty());
    let calls = w
        .fake
        .requests()
        .iter()
        .filter(|(_, p)| p.contains("/merge_requests?"))
        .count();
    assert_eq!(calls, 3);
}

#[tokio::test]
async fn a_429_carries_retry_after() {
    let w = World::new().await;
    w.fake
        .rate_limit_next("POST", "/projects/:id/merge_requests", 7);
    match w.gitlab.create_mr(&draft("imagebump/web", &[], &[])).await {
        Err(ForgeError::RateLimited { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(w.fake.mrs().is_empty());
}

#[tokio::test]
async fn report_issue_opens_once_then_comments() {
    let w = World::new().await;
    let title = "imagebump: problems";
    let first = w
        .gitlab
        .report_issue(title, "registry down")
        .await
        .expect("report");
    let second = w
        .gitlab
        .report_issue(title, "still down")
        .await
        .expect("report");
    w.gitlab
        .report_issue("imagebump: problems 2", "other")
        .await
        .expect("report");
    assert_eq!(first, second);
    assert_eq!(
        w.fake.issues(),
        [
            (title.to_string(), vec!["still down".to_string()]),
            ("imagebump: problems 2".to_string(), vec![]),
        ]
    );
}

#[tokio::test]
async fn the_project_may_be_given_by_numeric_id_and_reads_dont_write() {
    let w = World::new().await;
    let by_id = GitLab::new(&w.fake.url(), "42", &w.fake.token())
        .await
        .expect("numeric id");
    w.open("imagebump/web").await;
    let writes = w.fake.write_calls();
    assert_eq!(by_id.open_mrs("").await.expect("open_mrs").len(), 1);
    assert_eq!(w.fake.write_calls(), writes);
    assert_eq!(by_id.git_token(), w.fake.token());
}

#[tokio::test]
async fn a_delayed_answer_still_arrives() {
    let w = World::new().await;
    w.open("imagebump/web").await;
    w.fake.delay_next(
        "GET",
        "/projects/:id/merge_requests",
        Duration::from_millis(300),
        1,
    );
    let started = std::time::Instant::now();
    let mrs = w.gitlab.open_mrs("imagebump/").await.expect("open_mrs");
    assert_eq!(mrs.len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn debug_output_does_not_show_the_token() {
    let w = World::new().await;
    let text = format!("{:?}", w.gitlab);
    assert!(!text.contains(&w.fake.token()), "{text}");
}
