//! A scenario world for reconcile stories: a real registry, a real bare
//! "remote" repository with an environment repo in it, a fake forge
//! (GitHub or GitLab) over that bare repo, and the production `Repo` built
//! from a service config pointing at all three.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use imagebump::config::ServiceConfig;
use imagebump::forge::RetryPolicy;
use imagebump::lock::RepoLocks;
use imagebump::reconcile::{self, Outcome, Overrides, Repo};
use imagebump::store::Store;
use imagebump::work::workers::Workers;

use super::fake_http::{Reply, Request};
use super::github::FakeGitHub;
use super::gitlab::FakeGitLab;
use super::proxy::RegistryProxy;
use super::registry::TestRegistry;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    GitHub,
    GitLab,
}

/// An MR as a test sees it, whatever the platform.
#[derive(Clone, Debug)]
pub struct Mr {
    pub number: u64,
    pub branch: String,
    pub title: String,
    pub body: String,
    /// `open`, `closed` or `merged`.
    pub state: String,
    pub head_sha: String,
    pub auto_merge: bool,
}

pub enum Fake {
    GitHub(FakeGitHub),
    GitLab(FakeGitLab),
}

pub struct World {
    pub kind: Kind,
    pub registry: TestRegistry,
    pub dir: tempfile::TempDir,
    pub remote: PathBuf,
    pub fake: Fake,
    pub repo: Arc<Repo>,
    pub locks: RepoLocks,
    /// An in-memory store, for comment commands and what they record.
    pub store: Store,
    /// Workers over `store` and `repo` (never started: tests drive them).
    pub workers: Arc<Workers>,
    /// The time the workers (and, in a [`World::with_clock`] world, the
    /// runs) read.
    pub clock: imagebump::clock::Clock,
    /// The proxy images are named by, in a [`World::fronted`] world.
    pub proxy: Option<RegistryProxy>,
    deliveries: AtomicU64,
    /// How far the repository's clock runs ahead of the system's.
    ahead_ms: Arc<AtomicI64>,
}

/// What a fault proxy in front of the registry answers: given the request
/// and a function that forwards it, as [`RegistryProxy::start`] takes.
pub type Front = Box<dyn Fn(&Request, &dyn Fn() -> Reply) -> Reply + Send + Sync>;

/// The environment repository's default `.imagebump.yaml`.
pub fn default_config(host: &str) -> String {
    format!(
        "policies:\n  - name: web\n    image: {host}/acme/web\n    semver: ^1.4\n    automerge: [patch]\npullRequests:\n  labels: [dependencies]\n"
    )
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Stages everything in the work tree `dir` and commits it as the human
/// `Ops <ops@example.com>` with `message`.
pub fn commit_all_as_ops(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    commit_as(dir, "Ops", message);
}

/// Seeds an environment repository in `dir`: a work tree `dir/seed` on
/// `main` with `policy` as its `.imagebump.yaml` and `apps/web.yaml`
/// deploying `image` (`image: <image>`), committed by Ops as `init`, and
/// its bare clone `dir/remote.git`, whose path is returned (the remote the
/// service is pointed at).
pub fn seed_env_repo(dir: &Path, policy: &str, image: &str) -> PathBuf {
    let seed = dir.join("seed");
    std::fs::create_dir_all(seed.join("apps")).expect("mkdir");
    std::fs::write(seed.join(".imagebump.yaml"), policy).expect("write");
    std::fs::write(seed.join("apps/web.yaml"), format!("image: {image}\n")).expect("write");
    git(dir, &["init", "-q", "-b", "main", "seed"]);
    commit_all_as_ops(&seed, "init");
    git(dir, &["clone", "-q", "--bare", "seed", "remote.git"]);
    dir.join("remote.git")
}

/// A registry with `acme/web` 1.4.2 and 1.4.3, and an environment
/// repository in `dir` ([`seed_env_repo`]) deploying 1.4.2 under policy
/// `web` for that image, with the YAML lines `policy` after its `image`;
/// returns the registry and the remote.
pub async fn web_env(dir: &Path, policy: &str) -> (TestRegistry, PathBuf) {
    let registry = TestRegistry::start();
    registry.push_tags("acme/web", &["1.4.2", "1.4.3"]).await;
    let host = registry.host();
    let remote = seed_env_repo(
        dir,
        &format!("policies:\n  - name: web\n    image: {host}/acme/web\n{policy}"),
        &format!("{host}/acme/web:1.4.2"),
    );
    (registry, remote)
}

/// Writes `dir/imagebump.toml`, a service config with `data_dir` =
/// `dir/data`, the TOML `extra` after it, and one repo `env` at `remote` in
/// `direct` mode `direct` (`base` or `branch`); returns its path.
pub fn write_direct_config(dir: &Path, remote: &Path, extra: &str, direct: &str) -> PathBuf {
    let path = dir.join("imagebump.toml");
    let text = format!(
        "data_dir = \"{}\"\n{extra}\n[[repos]]\nname = \"env\"\nurl = \"file://{}\"\nforge = \"direct\"\ndirect = \"{direct}\"\n",
        dir.join("data").display(),
        remote.display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

impl World {
    /// acme/web has 1.4.2 in the registry; the repo deploys 1.4.2.
    pub async fn new(kind: Kind) -> World {
        Self::build(kind, false, false, None, None).await
    }

    /// A world whose runs keep the store's tag cache (first-seen times,
    /// build times, release-age timers) and read time from `clock`, as the
    /// service's runs do.
    pub async fn with_clock(kind: Kind, clock: imagebump::clock::Clock) -> World {
        Self::build(kind, false, false, None, Some(clock)).await
    }

    /// A world whose images are named by a proxy in front of the registry
    /// that answers as `front` says, with `registry` (TOML keys of the
    /// service's `[registry]` table) configured.
    pub async fn fronted(kind: Kind, registry: &str, front: Front) -> World {
        Self::build(
            kind,
            false,
            false,
            Some((registry.to_string(), front)),
            None,
        )
        .await
    }

    /// [`World::fronted`] and [`World::with_clock`] at once.
    pub async fn fronted_with_clock(
        kind: Kind,
        registry: &str,
        front: Front,
        clock: imagebump::clock::Clock,
    ) -> World {
        let front = Some((registry.to_string(), front));
        Self::build(kind, false, false, front, Some(clock)).await
    }

    /// A GitHub world laid out as GitHub Enterprise Server (REST under
    /// `/api/v3`, GraphQL at `/api/graphql`), the bot a GitHub App.
    pub async fn new_ghes_app() -> World {
        Self::build(Kind::GitHub, true, false, None, None).await
    }

    /// `commit = "api"`: the platform makes the bot's commits (on GitHub
    /// the bot is a GitHub App).
    pub async fn new_api_commits(kind: Kind) -> World {
        Self::build(kind, false, true, None, None).await
    }

    /// A world whose reconciles look for rollbacks and keep their holds in
    /// the world's store, as `serve`'s do (src/rollback/).
    pub async fn tracking_rollbacks(kind: Kind) -> World {
        let mut w = Self::build(kind, false, false, None, None).await;
        let mut repo = imagebump::service::build_repo(
            &w.service_config(),
            &w.service_config().repos[0],
            Some(&w.store),
            &imagebump::service::registry(&w.service_config().registry).unwrap(),
            &w.clock,
        )
        .await
        .expect("build repo");
        repo.retry = w.repo.retry.clone();
        // Only the rollback holds: tags are listed afresh, as in the other worlds.
        repo.tag_cache = None;
        w.repo = Arc::new(repo);
        w.workers = Workers::new(
            w.store.clone(),
            vec![w.repo.clone()],
            w.locks.clone(),
            Arc::default(),
            Duration::from_secs(60),
            w.clock.clone(),
        );
        w
    }

    /// The service config the world's repository was built from.
    fn service_config(&self) -> ServiceConfig {
        ServiceConfig::load_from(Some(&self.dir.path().join("imagebump.toml")), Vec::new())
            .expect("service config")
    }

    async fn build(
        kind: Kind,
        ghes: bool,
        api_commits: bool,
        front: Option<(String, Front)>,
        clock: Option<imagebump::clock::Clock>,
    ) -> World {
        let app = ghes || (api_commits && kind == Kind::GitHub);
        let registry = TestRegistry::start();
        registry.push_tags("acme/web", &["1.4.2"]).await;
        let (proxy, registry_toml) = match front {
            Some((toml, front)) => (
                Some(RegistryProxy::start(registry.host(), front)),
                format!("[registry]\n{toml}\n"),
            ),
            None => (None, String::new()),
        };
        let host = proxy.as_ref().map_or_else(|| registry.host(), |p| p.host());
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().join("seed");
        std::fs::create_dir_all(work.join("apps")).expect("mkdir");
        std::fs::write(work.join(".imagebump.yaml"), default_config(&host)).expect("write");
        std::fs::write(
            work.join("apps/web.yaml"),
            format!("kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {host}/acme/web:1.4.2 # pinned by ops\n"),
        )
        .expect("write");
        std::fs::write(work.join("README.md"), "env\n").expect("write");
        git(dir.path(), &["init", "-q", "-b", "main", "seed"]);
        git(&work, &["add", "-A"]);
        human_commit(&work, "initial");
        let remote = dir.path().join("remote.git");
        git(dir.path(), &["clone", "-q", "--bare", "seed", "remote.git"]);

        let (fake, forge, api, project, token) = match kind {
            Kind::GitHub if ghes => {
                let f = FakeGitHub::start_ghes("acme/env", &remote).await;
                let (url, token) = (f.url(), f.token());
                (Fake::GitHub(f), "github", url, "acme/env", token)
            }
            Kind::GitHub => {
                let f = FakeGitHub::start("acme/env", &remote).await;
                let (url, token) = (f.url(), f.token());
                (Fake::GitHub(f), "github", url, "acme/env", token)
            }
            Kind::GitLab => {
                let f = FakeGitLab::start("group/env", &remote).await;
                let (url, token) = (f.url(), f.token());
                (Fake::GitLab(f), "gitlab", url, "group/env", token)
            }
        };
        let auth = if app {
            let key =
                std::path::absolute("tests/data/github/app-private-key.pem").expect("key path");
            format!(
                "[repos.github_app]\napp_id = {}\ninstallation_id = {}\nprivate_key_file = \"{}\"\n",
                FakeGitHub::APP_ID,
                FakeGitHub::INSTALLATION_ID,
                key.display()
            )
        } else {
            format!("token = \"{token}\"\n")
        };
        let auth = if api_commits {
            format!("commit = \"api\"\n{auth}")
        } else {
            auth
        };
        let toml = format!(
            "data_dir = \"{data}\"\n{registry_toml}[git]\nname = \"imagebump\"\nemail = \"bot@imagebump.test\"\n[[repos]]\nname = \"env\"\nurl = \"file://{remote}\"\nforge = \"{forge}\"\napi_url = \"{api}\"\nproject = \"{project}\"\n{auth}",
            data = dir.path().join("data").display(),
            remote = remote.display(),
        );
        let path = dir.path().join("imagebump.toml");
        std::fs::write(&path, toml).expect("write config");
        let config = ServiceConfig::load_from(Some(&path), Vec::new()).expect("service config");
        let store = Store::open("sqlite::memory:").await.expect("store");
        let cached = clock.is_some();
        let ahead_ms = Arc::new(AtomicI64::new(0));
        let clock = clock.unwrap_or_else(|| ahead_clock(&ahead_ms));
        let mut repo = imagebump::service::build_repo(
            &config,
            &config.repos[0],
            cached.then_some(&store),
            &imagebump::service::registry(&config.registry).unwrap(),
            &clock,
        )
        .await
        .expect("build repo");
        repo.retry = RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(20),
            max_wait: Duration::from_millis(200),
        };
        let repo = Arc::new(repo);
        let locks = RepoLocks::for_store(&store);
        let workers = Workers::new(
            store.clone(),
            vec![repo.clone()],
            locks.clone(),
            Arc::default(),
            Duration::from_secs(60),
            clock.clone(),
        );
        World {
            clock,
            kind,
            registry,
            dir,
            remote,
            fake,
            repo,
            locks,
            store,
            workers,
            proxy,
            deliveries: AtomicU64::new(0),
            ahead_ms,
        }
    }

    /// Moves the clock of a world made without one (`World::new`) `by`
    /// ahead (the system clock and the commits' times stay as they are).
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).expect("ms");
        self.ahead_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Commits `files` (path, content) on `branch` of the remote as a
    /// human, through a scratch clone; returns the commit.
    pub fn commit_files_on(&self, branch: &str, files: &[(&str, String)]) -> String {
        let scratch = tempfile::tempdir().expect("tempdir");
        let w = scratch.path().join("w");
        let remote = self.remote.to_str().expect("utf-8");
        git(scratch.path(), &["clone", "-q", "-b", branch, remote, "w"]);
        for (path, content) in files {
            let at = w.join(path);
            std::fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
            std::fs::write(at, content).expect("write");
        }
        git(&w, &["add", "-A"]);
        human_commit(&w, "human work");
        git(
            &w,
            &["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")],
        );
        git(&w, &["rev-parse", "HEAD"])
    }

    /// The platform's name of the env repo (as webhooks say it).
    pub fn project(&self) -> &'static str {
        match self.kind {
            Kind::GitHub => "acme/env",
            Kind::GitLab => "group/env",
        }
    }

    /// A reconcile as the service runs it: honouring the store's ignores
    /// and holds.
    pub async fn reconcile_with_store(&self) -> Outcome {
        let overrides = Overrides::load(&self.store, self.repo.mirror.name())
            .await
            .expect("overrides");
        reconcile::reconcile_with(&self.repo, &self.locks, &overrides)
            .await
            .expect("reconcile")
    }

    /// `user` comments `text` on MR `number`: the event goes through the
    /// store's inbox and the workers, until the queue is empty (the
    /// command, then the reconcile it enqueues).
    pub async fn comment_as(&self, user: &str, number: u64, text: &str) {
        let event = imagebump::event::Event::Command(imagebump::event::Command {
            repo: self.project().to_string(),
            number,
            user: user.to_string(),
            text: text.to_string(),
        });
        let delivery = self.deliveries.fetch_add(1, Ordering::SeqCst).to_string();
        let inbox = imagebump::server::Inbox::new(
            self.store.clone(),
            self.workers.router(),
            self.workers.detect_clock(),
            Default::default(),
            Default::default(),
        );
        inbox
            .accept("test", &delivery, vec![event])
            .await
            .expect("accept");
        self.drain().await;
    }

    /// Processes every due job.
    pub async fn drain(&self) {
        for _ in 0..20 {
            let job = self
                .store
                .claim("test", Duration::from_secs(60), self.clock.now_ms())
                .await
                .expect("claim");
            let Some(job) = job else {
                // A failed job is scheduled for later: it still counts.
                let stats = self
                    .store
                    .queue_stats(self.clock.now_ms())
                    .await
                    .expect("stats");
                assert_eq!(stats.depth, 0, "a job failed (see the log)");
                return;
            };
            self.workers.process(job).await;
        }
        panic!("the queue did not drain");
    }

    /// Lets `user` write to the repository (GitHub `write`, GitLab
    /// Developer) or only read it (`read`, Reporter).
    pub fn grant(&self, user: &str, write: bool) {
        match &self.fake {
            Fake::GitHub(f) => f.set_permission(user, if write { "write" } else { "read" }),
            Fake::GitLab(f) => f.set_access_level(user, if write { 30 } else { 20 }),
        }
    }

    pub async fn reconcile(&self) -> Outcome {
        reconcile::reconcile(&self.repo, &self.locks)
            .await
            .expect("reconcile")
    }

    pub async fn push_tag(&self, tag: &str) {
        self.registry.push_image("acme/web", tag).await;
    }

    /// A file's content on a branch of the remote.
    pub fn file_on(&self, branch: &str, path: &str) -> String {
        git(
            &self.remote,
            &["show", &format!("refs/heads/{branch}:{path}")],
        )
    }

    pub fn head_of(&self, branch: &str) -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.remote)
            .args([
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}"),
            ])
            .output()
            .expect("git");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Commits `content` to `path` on `branch` of the remote as a human (or
    /// as the bot when `as_bot`), through a scratch clone.
    pub fn commit_on(&self, branch: &str, path: &str, content: &str, as_bot: bool) -> String {
        let scratch = tempfile::tempdir().expect("tempdir");
        let w = scratch.path().join("w");
        git(
            scratch.path(),
            &[
                "clone",
                "-q",
                "-b",
                branch,
                self.remote.to_str().expect("utf-8"),
                "w",
            ],
        );
        std::fs::write(w.join(path), content).expect("write");
        git(&w, &["add", "-A"]);
        if as_bot {
            git(
                &w,
                &[
                    "-c",
                    "user.name=imagebump",
                    "-c",
                    "user.email=bot@imagebump.test",
                    "commit",
                    "-q",
                    "-m",
                    "bot work",
                ],
            );
        } else {
            human_commit(&w, "human work");
        }
        git(
            &w,
            &["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")],
        );
        git(&w, &["rev-parse", "HEAD"])
    }

    pub fn mrs(&self) -> Vec<Mr> {
        match &self.fake {
            Fake::GitHub(f) => f
                .prs()
                .into_iter()
                .map(|p| Mr {
                    number: p.number,
                    branch: p.head,
                    title: p.title,
                    body: p.body,
                    state: if p.merged_at.is_some() {
                        "merged".into()
                    } else {
                        p.state
                    },
                    head_sha: p.head_sha,
                    auto_merge: p.auto_merge.is_some(),
                })
                .collect(),
            Fake::GitLab(f) => f
                .mrs()
                .into_iter()
                .map(|m| Mr {
                    number: m.iid,
                    branch: m.source_branch,
                    title: m.title,
                    body: m.description,
                    state: if m.state == "opened" {
                        "open".into()
                    } else {
                        m.state
                    },
                    head_sha: m.sha,
                    auto_merge: m.auto_merge,
                })
                .collect(),
        }
    }

    pub fn open_mrs(&self) -> Vec<Mr> {
        self.mrs()
            .into_iter()
            .filter(|m| m.state == "open")
            .collect()
    }

    pub fn only_open_mr(&self) -> Mr {
        let open = self.open_mrs();
        assert_eq!(open.len(), 1, "expected exactly one open MR: {open:#?}");
        open.into_iter().next().expect("one")
    }

    pub fn comments(&self, number: u64) -> Vec<String> {
        match &self.fake {
            Fake::GitHub(f) => f.comments(number),
            Fake::GitLab(f) => f.notes(number),
        }
    }

    pub fn merge_as_human(&self, number: u64) {
        match &self.fake {
            Fake::GitHub(f) => {
                f.merge_as_human(number);
            }
            Fake::GitLab(f) => f.merge_as_human(number),
        }
    }

    pub fn close_as_human(&self, number: u64) {
        match &self.fake {
            Fake::GitHub(f) => f.close_as_human(number),
            Fake::GitLab(f) => f.close_as_human(number),
        }
    }

    /// Marks the checks (status / pipeline) of `sha` as passed or running.
    pub fn set_checks(&self, sha: &str, passed: bool) {
        match &self.fake {
            Fake::GitHub(f) => f.set_status(sha, if passed { "success" } else { "pending" }),
            Fake::GitLab(f) => f.set_pipeline(sha, if passed { "success" } else { "running" }),
        }
    }

    /// Marks the checks (status / pipeline) of `sha` as failed.
    pub fn fail_checks(&self, sha: &str) {
        match &self.fake {
            Fake::GitHub(f) => f.set_status(sha, "failure"),
            Fake::GitLab(f) => f.set_pipeline(sha, "failed"),
        }
    }

    pub fn github(&self) -> &FakeGitHub {
        match &self.fake {
            Fake::GitHub(f) => f,
            Fake::GitLab(_) => panic!("a GitHub world"),
        }
    }

    pub fn gitlab(&self) -> &FakeGitLab {
        match &self.fake {
            Fake::GitLab(f) => f,
            Fake::GitHub(_) => panic!("a GitLab world"),
        }
    }

    /// An outsider opens an MR from a fork whose branch is `branch`.
    pub fn open_fork_mr(&self, branch: &str, title: &str, body: &str) -> u64 {
        match &self.fake {
            Fake::GitHub(f) => f.open_fork_pr("outsider", branch, title, body),
            Fake::GitLab(f) => f.open_fork_mr(branch, title, body),
        }
    }

    /// The platform refuses the bot's merges: GitHub's protection wants an
    /// approving review (405), GitLab lets only maintainers merge (401).
    pub fn forbid_merging(&self) {
        match &self.fake {
            Fake::GitHub(f) => f.set_required_review(true),
            Fake::GitLab(f) => f.set_bot_can_merge(false),
        }
    }

    /// Users review was requested from on MR `number`.
    pub fn reviewers(&self, number: u64) -> Vec<String> {
        match &self.fake {
            Fake::GitHub(f) => f
                .prs()
                .into_iter()
                .find(|p| p.number == number)
                .map(|p| p.reviewers)
                .unwrap_or_default(),
            Fake::GitLab(f) => f
                .mrs()
                .into_iter()
                .find(|m| m.iid == number)
                .map(|m| m.reviewers)
                .unwrap_or_default(),
        }
    }

    /// The next update of MR `number`'s title or body fails with `status`.
    pub fn fail_next_update(&self, number: u64, status: u16) {
        match &self.fake {
            Fake::GitHub(f) => f.fail_next(
                "PATCH",
                &format!("/repos/acme/env/pulls/{number}"),
                status,
                1,
            ),
            Fake::GitLab(f) => f.fail_next(
                "PUT",
                &format!("/projects/:id/merge_requests/{number}"),
                status,
                1,
            ),
        }
    }

    /// The next `count` requests that open an MR fail with `status`.
    pub fn fail_next_create(&self, status: u16, count: usize) {
        match &self.fake {
            Fake::GitHub(f) => f.fail_next("POST", "/repos/acme/env/pulls", status, count),
            Fake::GitLab(f) => f.fail_next("POST", "/projects/:id/merge_requests", status, count),
        }
    }

    /// The next listing of MRs answers only after `delay`.
    pub fn delay_next_list(&self, delay: Duration) {
        match &self.fake {
            Fake::GitHub(f) => f.delay_next("GET", "/repos/acme/env/pulls", 1, delay),
            Fake::GitLab(f) => f.delay_next("GET", "/projects/:id/merge_requests", delay, 1),
        }
    }

    /// Requests (method, path) the fake received.
    pub fn requests(&self) -> Vec<(String, String)> {
        match &self.fake {
            Fake::GitHub(f) => f.requests(),
            Fake::GitLab(f) => f.requests(),
        }
    }

    pub fn write_calls(&self) -> usize {
        match &self.fake {
            Fake::GitHub(f) => f.write_calls(),
            Fake::GitLab(f) => f.write_calls(),
        }
    }

    pub fn issues(&self) -> Vec<(String, Vec<String>)> {
        match &self.fake {
            Fake::GitHub(f) => f
                .issues()
                .into_iter()
                .map(|i| (i.title.clone(), f.comments(i.number)))
                .collect(),
            Fake::GitLab(f) => f.issues(),
        }
    }
}

/// A clock `ahead_ms` ahead of the system's.
pub fn ahead_clock(ahead_ms: &Arc<AtomicI64>) -> imagebump::clock::Clock {
    let ahead_ms = ahead_ms.clone();
    imagebump::clock::Clock::new(move || {
        imagebump::clock::now_ms() + ahead_ms.load(Ordering::SeqCst)
    })
}

fn human_commit(dir: &Path, message: &str) {
    commit_as(dir, "Ops Human", message);
}

/// Commits what is staged in `dir` as `name <ops@example.com>`.
fn commit_as(dir: &Path, name: &str, message: &str) {
    let user = format!("user.name={name}");
    git(
        dir,
        &[
            "-c",
            &user,
            "-c",
            "user.email=ops@example.com",
            "commit",
            "-q",
            "-m",
            message,
        ],
    );
}
