//! The production GitHub client against the fake GitHub (a model behind a
//! real HTTP server, with a real bare repository for branch contents).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use imagebump::forge::github::{GitHub, GitHubAuth};
use imagebump::forge::{
    AutoMerge, Checks, Forge, ForgeError, Merge, MergeRequest, MrDraft, MrState, RetryPolicy, retry,
};
use support::github::FakeGitHub;

const REPO: &str = "acme/env";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repo (`main` with `web.yaml`, `imagebump/web` one commit ahead)
/// and a work clone to push more branches from.
struct Repo {
    _dir: tempfile::TempDir,
    bare: PathBuf,
    work: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().expect("tempdir");
        let bare = dir.path().join("env.git");
        let work = dir.path().join("work");
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", "env.git"],
        );
        git(dir.path(), &["init", "-q", "-b", "main", "work"]);
        std::fs::write(work.join("web.yaml"), "image: acme/web:1.4.2\n").expect("write");
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
        let repo = Repo {
            _dir: dir,
            bare,
            work,
        };
        repo.branch("imagebump/web", "web.yaml", "image: acme/web:1.4.3\n");
        repo
    }

    /// Pushes `branch` = main + one commit writing `file`; returns its sha.
    fn branch(&self, branch: &str, file: &str, content: &str) -> String {
        git(&self.work, &["checkout", "-q", "-B", branch, "main"]);
        std::fs::write(self.work.join(file), content).expect("write");
        git(&self.work, &["add", "."]);
        git(
            &self.work,
            &["commit", "-q", "-m", &format!("bump on {branch}")],
        );
        git(&self.work, &["push", "-q", "-f", "origin", branch]);
        git(&self.work, &["checkout", "-q", "main"]);
        self.sha(branch)
    }

    fn sha(&self, branch: &str) -> String {
        git(&self.bare, &["rev-parse", &format!("refs/heads/{branch}")])
    }

    fn show(&self, rev_path: &str) -> String {
        git(&self.bare, &["show", rev_path])
    }
}

async fn setup() -> (Repo, FakeGitHub, GitHub) {
    let repo = Repo::new();
    let fake = FakeGitHub::start(REPO, &repo.bare).await;
    let gh = GitHub::new(&fake.url(), REPO, GitHubAuth::Token(fake.token())).expect("client");
    (repo, fake, gh)
}

fn draft(branch: &str) -> MrDraft {
    MrDraft {
        head_branch: branch.to_string(),
        base_branch: "main".to_string(),
        title: format!("Bump {branch}"),
        body: "<!-- imagebump: {} -->".to_string(),
        labels: vec!["dependencies".to_string(), "imagebump".to_string()],
        reviewers: vec!["alice".to_string(), "acme/platform".to_string()],
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(10),
        max_wait: Duration::from_millis(50),
    }
}

/// Opens the MR of `imagebump/web`.
async fn open_web(gh: &GitHub) -> MergeRequest {
    gh.create_mr(&draft("imagebump/web"))
        .await
        .expect("create")
        .mr
}

/// The test App's credentials, as app `app_id`.
fn app_auth(app_id: u64) -> GitHubAuth {
    GitHubAuth::App {
        app_id,
        private_key_pem: std::fs::read_to_string("tests/data/github/app-private-key.pem")
            .expect("key"),
        installation_id: FakeGitHub::INSTALLATION_ID,
    }
}

/// An open MR whose head is `sha` (only the head matters to `checks`).
fn mr_at(sha: &str) -> MergeRequest {
    MergeRequest {
        number: 1,
        node_id: None,
        title: String::new(),
        body: String::new(),
        head_branch: "imagebump/web".to_string(),
        head_sha: sha.to_string(),
        base_branch: "main".to_string(),
        state: MrState::Open,
        web_url: String::new(),
        auto_merge: false,
    }
}

fn count(fake: &FakeGitHub, method: &str, path: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|(m, p)| m == method && p == path)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_mr_opens_pr_with_labels_and_reviewers() {
    let (repo, fake, gh) = setup().await;
    let mr = open_web(&gh).await;
    assert_eq!(mr.number, 1);
    assert_eq!(mr.node_id.as_deref(), Some("PR_1"));
    assert_eq!(mr.head_branch, "imagebump/web");
    assert_eq!(mr.head_sha, repo.sha("imagebump/web"));
    assert_eq!(mr.base_branch, "main");
    assert_eq!(mr.state, MrState::Open);
    assert!(!mr.auto_merge);
    assert!(mr.web_url.ends_with("/acme/env/pull/1"), "{}", mr.web_url);

    let pr = fake.pr_by_branch("imagebump/web").expect("pr");
    assert_eq!(pr.title, "Bump imagebump/web");
    assert_eq!(pr.labels, ["dependencies", "imagebump"]);
    assert_eq!(pr.reviewers, ["alice"]);
    assert_eq!(pr.team_reviewers, ["platform"]);
    assert_eq!(fake.write_calls(), 3, "{:?}", fake.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_pr_for_the_same_head_is_rejected_with_githubs_message() {
    let (_repo, fake, gh) = setup().await;
    gh.create_mr(&draft("imagebump/web")).await.expect("create");
    let err = gh
        .create_mr(&draft("imagebump/web"))
        .await
        .expect_err("duplicate");
    match err {
        ForgeError::Rejected {
            status: 422,
            message,
            ..
        } => assert_eq!(
            message,
            "Validation Failed: A pull request already exists for acme:imagebump/web."
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.prs().len(), 1);

    let missing = gh
        .create_mr(&draft("imagebump/nope"))
        .await
        .expect_err("no branch");
    assert!(
        matches!(missing, ForgeError::Rejected { status: 422, .. }),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_mrs_reads_every_page_and_keeps_the_prefix() {
    let (repo, fake, gh) = setup().await;
    gh.create_mr(&draft("imagebump/web")).await.expect("create");
    for name in ["api", "db", "cache", "queue"] {
        let branch = format!("imagebump/{name}");
        repo.branch(&branch, &format!("{name}.yaml"), "image: x:2\n");
        gh.create_mr(&draft(&branch)).await.expect("create");
    }
    repo.branch("feature/human", "human.txt", "hi\n");
    gh.create_mr(&draft("feature/human")).await.expect("create");
    fake.set_max_per_page(2);

    let mut open = gh.open_mrs("imagebump/").await.expect("open");
    open.sort_by_key(|m| m.number);
    let branches: Vec<&str> = open.iter().map(|m| m.head_branch.as_str()).collect();
    assert_eq!(
        branches,
        [
            "imagebump/web",
            "imagebump/api",
            "imagebump/db",
            "imagebump/cache",
            "imagebump/queue"
        ]
    );
    assert_eq!(count(&fake, "GET", "/repos/acme/env/pulls"), 3);

    fake.close_as_human(2);
    assert_eq!(gh.open_mrs("imagebump/").await.expect("open").len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_mrs_tell_closed_from_merged() {
    let (repo, fake, gh) = setup().await;
    let first = open_web(&gh).await;
    gh.close_mr(first.number).await.expect("close");
    let second = open_web(&gh).await;
    fake.merge_as_human(second.number);
    repo.branch("imagebump/api", "api.yaml", "x\n");
    let other = gh
        .create_mr(&draft("imagebump/api"))
        .await
        .expect("create")
        .mr;
    fake.close_as_human(other.number);

    let closed = gh.closed_mrs("imagebump/web").await.expect("closed");
    let states: Vec<(u64, MrState)> = closed.iter().map(|m| (m.number, m.state)).collect();
    assert_eq!(states, [(2, MrState::Merged), (1, MrState::Closed)]);
    assert!(gh.open_mrs("imagebump/").await.expect("open").is_empty());
    assert!(repo.show("main:web.yaml").contains("1.4.3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_comment_and_close() {
    let (_repo, fake, gh) = setup().await;
    let mr = open_web(&gh).await;
    gh.update_mr(mr.number, "Bump web to 1.4.4", "new body")
        .await
        .expect("update");
    gh.comment(mr.number, "first").await.expect("comment");
    gh.comment(mr.number, "second").await.expect("comment");
    assert_eq!(
        gh.comments(mr.number).await.expect("comments"),
        ["first", "second"]
    );
    assert_eq!(fake.comments(mr.number), ["first", "second"]);

    let open = gh.open_mrs("imagebump/").await.expect("open");
    assert_eq!(open[0].title, "Bump web to 1.4.4");
    assert_eq!(open[0].body, "new body");

    gh.close_mr(mr.number).await.expect("close");
    let pr = fake.pr_by_branch("imagebump/web").expect("pr");
    assert_eq!(
        (pr.state.as_str(), pr.merged_at.is_none()),
        ("closed", true)
    );

    fake.set_max_per_page(1);
    assert_eq!(
        gh.comments(mr.number).await.expect("comments"),
        ["first", "second"]
    );
    let missing = gh.comments(99).await.expect_err("no such PR");
    assert!(
        matches!(missing, ForgeError::NotFound { .. }),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_combine_statuses_and_check_runs() {
    let (repo, fake, gh) = setup().await;
    let sha = mr_at(&repo.sha("imagebump/web"));
    assert_eq!(gh.checks(&sha).await.expect("checks"), Checks::None);

    fake.set_status(&sha.head_sha, "pending");
    assert_eq!(gh.checks(&sha).await.expect("checks"), Checks::Pending);
    fake.set_status(&sha.head_sha, "success");
    assert_eq!(gh.checks(&sha).await.expect("checks"), Checks::Success);

    fake.add_check_run(&sha.head_sha, "in_progress", None);
    assert_eq!(gh.checks(&sha).await.expect("checks"), Checks::Pending);

    let other = mr_at(&repo.branch("imagebump/api", "api.yaml", "x\n"));
    fake.add_check_run(&other.head_sha, "completed", Some("success"));
    fake.add_check_run(&other.head_sha, "completed", Some("skipped"));
    fake.add_check_run(&other.head_sha, "completed", Some("neutral"));
    fake.set_max_per_page(1);
    assert_eq!(gh.checks(&other).await.expect("checks"), Checks::Success);
    fake.add_check_run(&other.head_sha, "completed", Some("timed_out"));
    assert_eq!(gh.checks(&other).await.expect("checks"), Checks::Failure);

    fake.set_status(&sha.head_sha, "failure");
    assert_eq!(gh.checks(&sha).await.expect("checks"), Checks::Failure);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_merge_enabled_then_merged_by_github_when_checks_pass() {
    let (repo, fake, gh) = setup().await;
    let mr = open_web(&gh).await;
    fake.set_status(&mr.head_sha, "pending");
    assert_eq!(
        gh.enable_auto_merge(&mr).await.expect("auto-merge"),
        AutoMerge::Enabled
    );
    let open = gh.open_mrs("imagebump/").await.expect("open");
    assert!(open[0].auto_merge);
    assert!(repo.show("main:web.yaml").contains("1.4.2"));

    fake.set_status(&mr.head_sha, "success");
    let pr = fake.pr_by_branch("imagebump/web").expect("pr");
    assert!(pr.merged_at.is_some(), "{pr:?}");
    assert!(repo.show("main:web.yaml").contains("1.4.3"));
    assert_eq!(
        git(&repo.bare, &["log", "-1", "--format=%s", "main"]),
        "Bump imagebump/web (#1)",
        "one squashed commit"
    );
    let closed = gh.closed_mrs("imagebump/web").await.expect("closed");
    assert_eq!(closed[0].state, MrState::Merged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_merge_unavailable_when_the_repo_disallows_it_or_the_pr_is_clean() {
    let (_repo, fake, gh) = setup().await;
    let mr = open_web(&gh).await;
    fake.set_allow_auto_merge(false);
    match gh.enable_auto_merge(&mr).await.expect("answer") {
        AutoMerge::Unavailable(m) => assert!(m.contains("Auto merge is not allowed"), "{m}"),
        other => panic!("{other:?}"),
    }
    fake.set_allow_auto_merge(true);
    fake.set_status(&mr.head_sha, "success");
    match gh.enable_auto_merge(&mr).await.expect("answer") {
        AutoMerge::Unavailable(m) => assert!(m.contains("clean status"), "{m}"),
        other => panic!("{other:?}"),
    }
    let pr = fake.pr_by_branch("imagebump/web").expect("pr");
    assert_eq!((pr.state.as_str(), pr.auto_merge), ("open", None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_checks_the_head_sha() {
    let (repo, fake, gh) = setup().await;
    let mr = open_web(&gh).await;
    repo.branch("imagebump/web", "web.yaml", "image: acme/web:1.4.4\n");
    fake.set_status(&repo.sha("imagebump/web"), "success");
    match gh.merge(&mr).await.expect("stale sha") {
        Merge::Refused(why) => {
            assert!(
                why.contains("(409)") && why.contains("Head branch was modified"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    let fresh = gh.open_mrs("imagebump/").await.expect("open").remove(0);
    assert_eq!(fresh.head_sha, repo.sha("imagebump/web"));
    assert_eq!(gh.merge(&fresh).await.expect("merge"), Merge::Merged);
    assert!(repo.show("main:web.yaml").contains("1.4.4"));
    assert!(
        fake.pr_by_branch("imagebump/web")
            .expect("pr")
            .merged_at
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_conflict_is_refused() {
    let (repo, fake, gh) = setup().await;
    fake.set_required_checks(false);
    let mr = open_web(&gh).await;
    git(&repo.work, &["checkout", "-q", "main"]);
    std::fs::write(repo.work.join("web.yaml"), "image: acme/web:9.9.9\n").expect("write");
    git(&repo.work, &["commit", "-q", "-am", "human edit"]);
    git(&repo.work, &["push", "-q", "origin", "main"]);
    match gh.merge(&mr).await.expect("conflict") {
        Merge::Refused(why) => assert!(why.contains("(405)"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_502_is_retried_by_forge_retry() {
    let (_repo, fake, gh) = setup().await;
    gh.create_mr(&draft("imagebump/web")).await.expect("create");
    fake.fail_next("GET", "/repos/acme/env/pulls", 502, 1);
    let open = retry("open_mrs", &fast_retry(), || gh.open_mrs("imagebump/"))
        .await
        .expect("second attempt");
    assert_eq!(open.len(), 1);
    assert_eq!(count(&fake, "GET", "/repos/acme/env/pulls"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_unauthorized_and_not_retried() {
    let repo = Repo::new();
    let fake = FakeGitHub::start(REPO, &repo.bare).await;
    let gh = GitHub::new(&fake.url(), REPO, GitHubAuth::Token("ghp_wrong".into())).expect("client");
    let err = retry("open_mrs", &fast_retry(), || gh.open_mrs("imagebump/"))
        .await
        .expect_err("401");
    match err {
        ForgeError::Unauthorized {
            status: 401,
            message,
            ..
        } => assert_eq!(message, "Bad credentials"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_rate_limit_is_rate_limited_with_the_reset() {
    let (_repo, fake, gh) = setup().await;
    fake.exhaust_rate_limit("GET", "/repos/", 1, Duration::from_secs(120));
    match gh.open_mrs("imagebump/").await.expect_err("403") {
        ForgeError::RateLimited {
            retry_after: Some(wait),
            ..
        } => assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        ),
        other => panic!("{other:?}"),
    }
    fake.fail_next_with(
        "GET",
        "/repos/",
        429,
        1,
        vec![("retry-after".into(), "7".into())],
        serde_json::json!({"message": "You have exceeded a secondary rate limit."}),
    );
    match gh.open_mrs("imagebump/").await.expect_err("429") {
        ForgeError::RateLimited { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("{other:?}"),
    }
    fake.fail_next("GET", "/repos/", 403, 1);
    let forbidden = gh.open_mrs("imagebump/").await.expect_err("403");
    assert!(
        matches!(forbidden, ForgeError::Unauthorized { status: 403, .. }),
        "{forbidden:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_a_transport_error() {
    let (_repo, fake, gh) = setup().await;
    let gh = gh.with_timeout(Duration::from_millis(300));
    fake.delay_next("GET", "/repos/", 1, Duration::from_secs(2));
    let err = gh.open_mrs("imagebump/").await.expect_err("timeout");
    assert!(matches!(err, ForgeError::Transport { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(gh.open_mrs("imagebump/").await.is_ok());

    let closed_port = support::free_port();
    let nowhere = GitHub::new(
        &format!("http://127.0.0.1:{closed_port}"),
        REPO,
        GitHubAuth::Token("t".into()),
    )
    .expect("client");
    let err = nowhere.open_mrs("imagebump/").await.expect_err("refused");
    assert!(matches!(err, ForgeError::Transport { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_auth_mints_an_installation_token_and_uses_it() {
    let repo = Repo::new();
    let fake = FakeGitHub::start(REPO, &repo.bare).await;
    let auth = app_auth(FakeGitHub::APP_ID);
    let gh = GitHub::new(&fake.url(), REPO, auth).expect("client");
    let mr = open_web(&gh).await;
    assert_eq!(mr.number, 1);
    assert_eq!(fake.token_mints(), 1);
    assert_eq!(fake.write_calls(), 3, "a token mint is not a write");
    let token = gh.git_token().await.expect("git token");
    assert!(token.starts_with("ghs_"), "{token}");
    assert!(fake.valid_tokens().contains(&token));
    assert_eq!(fake.token_mints(), 1, "the cached token is reused");
    assert_eq!(
        count(
            &fake,
            "POST",
            &format!(
                "/app/installations/{}/access_tokens",
                FakeGitHub::INSTALLATION_ID
            )
        ),
        1
    );

    let wrong = app_auth(1);
    let gh = GitHub::new(&fake.url(), REPO, wrong).expect("client");
    let err = gh.git_token().await.expect_err("wrong app id");
    assert!(
        matches!(err, ForgeError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
}

/// Also runs on the default current-thread runtime.
#[tokio::test]
async fn token_auth_git_token_is_the_token() {
    let (_repo, fake, gh) = setup().await;
    assert_eq!(gh.git_token().await.expect("token"), fake.token());
    assert!(GitHub::new(&fake.url(), "no-slash", GitHubAuth::Token("t".into())).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_issue_opens_once_then_comments() {
    let (_repo, fake, gh) = setup().await;
    gh.create_mr(&draft("imagebump/web")).await.expect("create");
    let title = "imagebump: cannot resolve acme/web";
    let n = gh
        .report_issue(title, "first failure")
        .await
        .expect("report");
    assert_eq!(n, 2, "issues and PRs share numbers");
    let again = gh
        .report_issue(title, "still failing")
        .await
        .expect("report");
    assert_eq!(again, n);
    let issues = fake.issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].body, "first failure");
    assert_eq!(fake.comments(n), ["still failing"]);

    let pr_title = "Bump imagebump/web";
    let other = gh.report_issue(pr_title, "x").await.expect("report");
    assert_ne!(other, 1, "a PR with that title is not the issue");
}

/// Without branch protection, GitHub refuses native auto-merge while
/// checks that are not required run ("unstable status"), and its REST merge
/// would merge with checks pending: merging once green is the bot's rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unprotected_branch_refuses_auto_merge_as_unstable_and_rest_merges_anyway() {
    let (repo, fake, gh) = setup().await;
    fake.set_required_checks(false);
    let mr = open_web(&gh).await;
    fake.set_status(&mr.head_sha, "pending");
    match gh.enable_auto_merge(&mr).await.expect("answer") {
        AutoMerge::Unavailable(m) => assert!(m.contains("unstable status"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(gh.checks(&mr).await.expect("checks"), Checks::Pending);
    assert_eq!(gh.merge(&mr).await.expect("merge"), Merge::Merged);
    assert!(
        repo.show("main:web.yaml").contains("1.4.3"),
        "merged while pending"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_405_on_merge_is_a_refusal_with_githubs_reason() {
    let (_repo, fake, gh) = setup().await;
    let mr = open_web(&gh).await;
    fake.set_status(&mr.head_sha, "success");
    fake.set_required_review(true);
    match gh.merge(&mr).await.expect("answer") {
        Merge::Refused(why) => {
            assert!(
                why.contains("(405)") && why.contains("approving review"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    let pr = fake.pr_by_branch("imagebump/web").expect("pr");
    assert!(pr.merged_at.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_rate_limited_is_retried_like_a_429() {
    let (_repo, fake, gh) = setup().await;
    let mr = open_web(&gh).await;
    fake.set_status(&mr.head_sha, "pending");
    fake.rate_limit_graphql_next(1);
    let first = gh.enable_auto_merge(&mr).await;
    assert!(
        matches!(first, Err(ForgeError::RateLimited { .. })),
        "{first:?}"
    );
    fake.rate_limit_graphql_next(1);
    let answer = retry("auto-merge", &fast_retry(), || gh.enable_auto_merge(&mr))
        .await
        .expect("retried");
    assert_eq!(answer, AutoMerge::Enabled);
    assert_eq!(count(&fake, "POST", "/graphql"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_merge_sends_the_expected_head() {
    let (repo, fake, gh) = setup().await;
    let mr = open_web(&gh).await;
    repo.branch("imagebump/web", "web.yaml", "image: acme/web:1.4.4\n");
    fake.set_status(&repo.sha("imagebump/web"), "pending");
    let err = gh.enable_auto_merge(&mr).await.expect_err("stale head");
    assert!(matches!(err, ForgeError::Rejected { .. }), "{err:?}");
    assert!(
        fake.pr_by_branch("imagebump/web")
            .expect("pr")
            .auto_merge
            .is_none()
    );
}

/// GHES: REST and the token mint under /api/v3, GraphQL at /api/graphql.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ghes_app_auth_mints_under_api_v3_for_rest_and_graphql() {
    let repo = Repo::new();
    let fake = FakeGitHub::start_ghes(REPO, &repo.bare).await;
    assert!(fake.url().ends_with("/api/v3"), "{}", fake.url());
    let auth = app_auth(FakeGitHub::APP_ID);
    let gh = GitHub::new(&fake.url(), REPO, auth).expect("client");
    let mr = open_web(&gh).await;
    fake.set_status(&mr.head_sha, "pending");
    assert_eq!(
        gh.enable_auto_merge(&mr).await.expect("auto-merge"),
        AutoMerge::Enabled
    );
    let mint = format!(
        "/api/v3/app/installations/{}/access_tokens",
        FakeGitHub::INSTALLATION_ID
    );
    assert_eq!(count(&fake, "POST", &mint), 1, "{:?}", fake.requests());
    assert_eq!(count(&fake, "POST", "/api/graphql"), 1);
    assert!(
        fake.requests()
            .iter()
            .all(|(_, p)| p.starts_with("/api/v3/") || p == "/api/graphql"),
        "{:?}",
        fake.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_prs_are_not_ours() {
    let (_repo, fake, gh) = setup().await;
    let fork = fake.open_fork_pr(
        "outsider",
        "imagebump/web",
        "Bump web",
        "<!-- imagebump: {} -->",
    );
    assert!(gh.open_mrs("imagebump/").await.expect("open").is_empty());
    fake.close_as_human(fork);
    assert!(
        gh.closed_mrs("imagebump/web")
            .await
            .expect("closed")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_who_is_not_a_collaborator_is_named_and_the_others_requested() {
    let (_repo, fake, gh) = setup().await;
    let mut d = draft("imagebump/web");
    d.reviewers = vec!["alice".into(), "mallory".into()];
    let opened = gh.create_mr(&d).await.expect("create");
    assert_eq!(opened.problems.len(), 1, "{:?}", opened.problems);
    assert!(
        opened.problems[0].starts_with("`mallory`: ")
            && opened.problems[0].contains("not a collaborator"),
        "{:?}",
        opened.problems
    );
    let pr = fake.pr_by_branch("imagebump/web").expect("pr");
    assert_eq!(
        (pr.state.as_str(), pr.reviewers.as_slice()),
        ("open", &["alice".to_string()][..])
    );
}
