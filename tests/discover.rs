//! `[[discover]]` against the fake GitHub and GitLab: the repositories a
//! GitHub App installation (or a token's organisation) and a GitLab group
//! with its subgroups hold are listed; those whose default branch has
//! `.imagebump.yaml`, that are not archived and that match the globs are
//! managed, as `[[repos]]` entries named by their path.

mod support;

use imagebump::config::{DiscoverSettings, ForgeKind, GitHubApp};
use imagebump::discover::discover;
use support::github::FakeGitHub;
use support::gitlab::FakeGitLab;
use support::world::seed_env_repo;

fn settings(forge: ForgeKind, api: &str) -> DiscoverSettings {
    DiscoverSettings {
        forge,
        api_url: Some(api.to_string()),
        owner: None,
        group: None,
        token: None,
        token_file: None,
        github_app: None,
        include: Vec::new(),
        exclude: Vec::new(),
        commit: Default::default(),
    }
}

fn names(found: &[imagebump::config::RepoSettings]) -> Vec<String> {
    let mut n: Vec<String> = found.iter().map(|r| r.name.clone()).collect();
    n.sort();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_app_installations_repositories_with_a_config_are_managed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = seed_env_repo(dir.path(), "policies: []\n", "acme/web:1.0.0");
    let fake = FakeGitHub::start("acme/env", &bare).await;
    fake.add_other_repo("api", true, false);
    fake.add_other_repo("docs", false, false);
    fake.add_other_repo("old", true, true);
    let mut d = settings(ForgeKind::Github, &fake.url());
    d.github_app = Some(GitHubApp {
        app_id: FakeGitHub::APP_ID,
        installation_id: FakeGitHub::INSTALLATION_ID,
        private_key_file: std::path::absolute("tests/data/github/app-private-key.pem")
            .expect("key"),
    });
    let found = discover(&d).await.expect("discover");
    assert_eq!(
        names(&found),
        ["acme/api", "acme/env"],
        "no config, archived: left out"
    );
    let env = found.iter().find(|r| r.name == "acme/env").expect("env");
    assert_eq!(env.project.as_deref(), Some("acme/env"));
    assert_eq!(env.branch, "main");
    assert!(env.url.starts_with("file://"), "{}", env.url);
    assert_eq!(env.forge, ForgeKind::Github);
    assert!(env.github_app.is_some(), "signs in like the entry");

    d.exclude = vec!["acme/api".to_string()];
    assert_eq!(names(&discover(&d).await.expect("discover")), ["acme/env"]);
    d.exclude.clear();
    d.include = vec!["acme/a*".to_string()];
    assert_eq!(names(&discover(&d).await.expect("discover")), ["acme/api"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_token_lists_its_organisation_and_a_bad_owner_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = seed_env_repo(dir.path(), "policies: []\n", "acme/web:1.0.0");
    let fake = FakeGitHub::start("acme/env", &bare).await;
    fake.add_other_repo("api", true, false);
    let mut d = settings(ForgeKind::Github, &fake.url());
    d.token = Some(imagebump::config::Secret::new(fake.token()));
    d.owner = Some("acme".to_string());
    assert_eq!(
        names(&discover(&d).await.expect("discover")),
        ["acme/api", "acme/env"]
    );
    d.owner = Some("nobody".to_string());
    let err = discover(&d).await.expect_err("no such owner");
    assert!(format!("{err:#}").contains("not found"), "{err:#}");
    d.owner = None;
    assert!(discover(&d).await.is_err(), "a token needs an owner");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_groups_projects_with_subgroups_are_managed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = seed_env_repo(dir.path(), "policies: []\n", "acme/web:1.0.0");
    let fake = FakeGitLab::start("group/env", &bare).await;
    fake.add_other_project("group/sub/api", true, false);
    fake.add_other_project("group/sub/docs", false, false);
    fake.add_other_project("group/old", true, true);
    let mut d = settings(ForgeKind::Gitlab, &fake.url());
    d.token = Some(imagebump::config::Secret::new(fake.token()));
    d.group = Some("group".to_string());
    let found = discover(&d).await.expect("discover");
    assert_eq!(names(&found), ["group/env", "group/sub/api"]);
    let env = found.iter().find(|r| r.name == "group/env").expect("env");
    assert!(env.url.starts_with("file://"), "{}", env.url);
    assert_eq!(env.forge, ForgeKind::Gitlab);
    d.group = Some("elsewhere".to_string());
    assert!(discover(&d).await.is_err());
}

/// `serve` with only `[[discover]]`: a project that gets `.imagebump.yaml`
/// while the service runs is found on the next round, cloned, polled and
/// bumped through an MR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_manages_a_repository_discovered_while_it_runs() {
    use std::process::{Command, Stdio};
    use std::time::Duration;
    use support::world::{commit_all_as_ops, git};

    let registry = support::TestRegistry::start();
    registry.push_tags("acme/web", &["1.4.2", "1.4.3"]).await;
    let host = registry.host();
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = format!("policies:\n  - name: web\n    image: {host}/acme/web\n");
    let bare = seed_env_repo(dir.path(), &policy, &format!("{host}/acme/web:1.4.2"));
    // No config on main yet: not managed.
    let seed = dir.path().join("seed");
    git(&seed, &["rm", "-q", ".imagebump.yaml"]);
    commit_all_as_ops(&seed, "no config yet");
    git(
        &seed,
        &["push", "-q", bare.to_str().expect("utf-8"), "main"],
    );
    let fake = FakeGitLab::start("group/env", &bare).await;

    let port = support::free_port();
    let config = dir.path().join("imagebump.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\npoll_interval = \"1s\"\ndiscover_interval = \"1s\"\n[git]\nname = \"imagebump\"\nemail = \"bot@imagebump.test\"\n[[discover]]\nforge = \"gitlab\"\napi_url = \"{}\"\ntoken = \"{}\"\ngroup = \"group\"\n",
            dir.path().join("data").display(),
            fake.url(),
            fake.token()
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_imagebump"))
        .args(["serve", "--config", config.to_str().expect("utf-8")])
        .env("DOCKER_CONFIG", "/nonexistent-imagebump-test")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _kill = Kill(&mut child);
    support::wait_for("/healthz", Duration::from_secs(20), || {
        support::http_get(port, "/healthz")
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(fake.mrs().is_empty(), "not managed without a config");

    std::fs::write(seed.join(".imagebump.yaml"), &policy).expect("write");
    commit_all_as_ops(&seed, "manage it");
    git(
        &seed,
        &["push", "-q", bare.to_str().expect("utf-8"), "main"],
    );
    let mr = support::wait_for(
        "the MR of the discovered repo",
        Duration::from_secs(30),
        || fake.mr_by_branch("imagebump/web"),
    );
    assert_eq!(mr.title, "Bump web to 1.4.3");
}
