//! `imagebump reconcile` and `imagebump serve` as processes, in `direct`
//! mode against a real bare repository and a real registry.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use imagebump::config::ServiceConfig;
use support::cli::Serving;
use support::ssh;
use support::world::{git, web_env, write_direct_config};
use support::{TestRegistry, http_get, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_imagebump");

struct Env {
    registry: TestRegistry,
    dir: tempfile::TempDir,
    remote: PathBuf,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (registry, remote) = web_env(dir.path(), "").await;
    Env {
        registry,
        dir,
        remote,
    }
}

impl Env {
    fn config(&self, extra: &str, direct: &str) -> PathBuf {
        write_direct_config(self.dir.path(), &self.remote, extra, direct)
    }

    fn main_file(&self) -> String {
        git(&self.remote, &["show", "refs/heads/main:apps/web.yaml"])
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DOCKER_CONFIG", "/nonexistent-imagebump-test")
        .output()
        .unwrap()
}

/// `imagebump reconcile --config CONFIG --repo env`.
fn reconcile_env(config: &std::path::Path) -> std::process::Output {
    run(&[
        "reconcile",
        "--config",
        config.to_str().unwrap(),
        "--repo",
        "env",
    ])
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn reconcile_commits_to_the_base_branch_in_direct_mode_once() {
    let e = env().await;
    let config = e.config("", "base");
    let out = reconcile_env(&config);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("committed ") && stdout.contains(" to main: Bump web to 1.4.3"),
        "{stdout}"
    );
    assert_eq!(
        e.main_file(),
        format!("image: {}/acme/web:1.4.3", e.registry.host())
    );
    let log = git(&e.remote, &["log", "--format=%an|%s", "main"]);
    assert_eq!(log, "imagebump|Bump web to 1.4.3\nOps|init");

    let again = reconcile_env(&config);
    assert!(again.status.success());
    assert!(
        text(&again.stdout).contains("nothing to do"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(
        git(&e.remote, &["rev-list", "--count", "main"]),
        "2",
        "one commit, not two"
    );
}

/// A run by hand looks for rollbacks in the service's store as `serve`
/// does (src/rollback/): it does not commit the rolled-back version again,
/// and says which reference is held.
#[tokio::test]
async fn reconcile_by_hand_honours_and_lists_a_rollback_hold() {
    let e = env().await;
    let config = e.config("", "base");
    assert!(reconcile_env(&config).status.success());
    assert!(e.main_file().ends_with("web:1.4.3"));
    let scratch = e.dir.path().join("person");
    git(
        e.dir.path(),
        &["clone", "-q", e.remote.to_str().unwrap(), "person"],
    );
    let file = scratch.join("apps/web.yaml");
    let deployed = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, deployed.replace("web:1.4.3", "web:1.4.2")).unwrap();
    support::world::commit_all_as_ops(&scratch, "web: back to 1.4.2");
    git(&scratch, &["push", "-q", "origin", "HEAD:main"]);
    let rollback = git(&scratch, &["rev-parse", "HEAD"]);

    let out = reconcile_env(&config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "  held: `web` in `apps/web.yaml` rolled back from 1.4.3 to 1.4.2 by ops@example.com in {}",
            &rollback[..12]
        )),
        "{stdout}"
    );
    assert!(stdout.contains("nothing to do"), "{stdout}");
    assert_eq!(git(&e.remote, &["rev-parse", "main"]), rollback);
}

#[tokio::test]
async fn direct_branch_mode_pushes_the_bot_branch_and_leaves_main() {
    let e = env().await;
    let config = e.config("", "branch");
    let out = reconcile_env(&config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("pushed "),
        "{}",
        text(&out.stdout)
    );
    assert!(e.main_file().ends_with("web:1.4.2"));
    let branch = git(
        &e.remote,
        &["show", "refs/heads/imagebump/web:apps/web.yaml"],
    );
    assert!(branch.ends_with("web:1.4.3"), "{branch}");
}

#[tokio::test]
async fn unknown_repo_and_invalid_config_are_clear_errors() {
    let e = env().await;
    let config = e.config("", "base");
    let out = run(&[
        "reconcile",
        "--config",
        config.to_str().unwrap(),
        "--repo",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no repository `nope` in the config (repositories: env)"),
        "{}",
        text(&out.stderr)
    );

    let bad = e.config("poll_interval = \"often\"", "base");
    let out = run(&["serve", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("poll_interval") && err.contains("`often` is not a duration"),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_repo_config_is_reported_and_nothing_is_committed() {
    let e = env().await;
    let scratch = e.dir.path().join("w");
    git(
        e.dir.path(),
        &["clone", "-q", e.remote.to_str().unwrap(), "w"],
    );
    std::fs::write(scratch.join(".imagebump.yaml"), "policies: [\n").unwrap();
    git(
        &scratch,
        &[
            "-c",
            "user.name=Ops",
            "-c",
            "user.email=ops@example.com",
            "commit",
            "-qam",
            "break",
        ],
    );
    git(&scratch, &["push", "-q", "origin", "main"]);
    let config = e.config("", "base");
    let out = reconcile_env(&config);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("problem: .imagebump.yaml:"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("not valid YAML"),
        "logged: {}",
        text(&out.stderr)
    );
    assert_eq!(
        git(&e.remote, &["log", "-1", "--format=%s", "main"]),
        "break"
    );
}

/// A `kill -9` in the middle of a fetch leaves a ref's lock file in the
/// mirror (the crash trials, tests/crash.rs, met it): the next process
/// removes it and reconciles, instead of failing every run until someone
/// deletes the file by hand.
#[tokio::test]
async fn lock_files_a_killed_fetch_left_in_the_mirror_do_not_stop_the_next_run() {
    let e = env().await;
    let config = e.config("", "base");
    let first = reconcile_env(&config);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let mirror = e.dir.path().join("data/repos/env.git");
    for lock in ["refs/heads/main.lock", "packed-refs.lock"] {
        std::fs::write(mirror.join(lock), "").unwrap();
    }
    // main moves on the remote (a human's empty commit), so the next fetch
    // must update the mirror's main.
    let head = git(
        &e.remote,
        &["commit-tree", "main^{tree}", "-p", "main", "-m", "touch"],
    );
    git(&e.remote, &["update-ref", "refs/heads/main", &head]);
    e.registry.push_image("acme/web", "1.5.0").await;

    let out = reconcile_env(&config);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        e.main_file(),
        format!("image: {}/acme/web:1.5.0", e.registry.host())
    );
    for lock in ["refs/heads/main.lock", "packed-refs.lock"] {
        assert!(!mirror.join(lock).exists(), "{lock} is still there");
    }
}

/// The `[git]` section of a service config whose bot signs with `key`.
fn signing_git_section(key: &std::path::Path) -> String {
    format!(
        "[git]\nname = \"imagebump\"\nemail = \"bot@imagebump.test\"\nsigning_key_file = \"{}\"",
        key.display()
    )
}

#[tokio::test]
async fn direct_mode_commits_are_signed_and_verify_with_git() {
    let e = env().await;
    let key = ssh::ed25519(e.dir.path(), "bot-key");
    let config = e.config(&signing_git_section(&key), "base");
    let out = reconcile_env(&config);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        e.main_file(),
        format!("image: {}/acme/web:1.4.3", e.registry.host())
    );
    let head = git(&e.remote, &["rev-parse", "refs/heads/main"]);
    assert_eq!(
        git(&e.remote, &["log", "-1", "--format=%ae|%ce|%s", &head]),
        "bot@imagebump.test|bot@imagebump.test|Bump web to 1.4.3"
    );
    let (ok, said) = ssh::verify_commit(
        &e.remote,
        &head,
        "bot@imagebump.test",
        &ssh::public_key(&key),
    );
    assert!(ok, "{said}");
    assert!(
        said.contains("Good \"git\" signature for bot@imagebump.test with ED25519 key"),
        "{said}"
    );
    // The human's commit below it is untouched (and unsigned).
    let (ok, _) = ssh::verify_commit(
        &e.remote,
        &format!("{head}~1"),
        "bot@imagebump.test",
        &ssh::public_key(&key),
    );
    assert!(!ok);
    git(&e.remote, &["fsck", "--strict", "--no-progress"]);

    // Nothing of the private key is printed or logged.
    let private = std::fs::read_to_string(&key).unwrap();
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    for line in private.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!said.contains(line), "the private key was shown: {said}");
    }
}

#[tokio::test]
async fn a_signing_key_that_cannot_be_read_stops_start_up_naming_the_file() {
    let e = env().await;
    let missing = e.dir.path().join("no-such-key");
    let config = e.config(&signing_git_section(&missing), "base");

    let loaded = ServiceConfig::load_from(Some(&config), Vec::new()).unwrap();
    let err = imagebump::service::build_repo(
        &loaded,
        &loaded.repos[0],
        None,
        &imagebump::service::registry(&loaded.registry).unwrap(),
        &Default::default(),
    )
    .await
    .err()
    .expect("build_repo accepted a missing signing key");
    let err = format!("{err:#}");
    assert!(
        err.contains("git.signing_key_file") && err.contains(&missing.display().to_string()),
        "{err}"
    );

    // The command stops with it too (as `serve` does: both build every
    // repository before they do anything else), and commits nothing.
    let out = reconcile_env(&config);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&missing.display().to_string()) && !err.contains("panicked"),
        "{err}"
    );
    assert_eq!(
        git(&e.remote, &["log", "-1", "--format=%s", "main"]),
        "init"
    );
}

#[tokio::test]
async fn serve_answers_healthz_and_bumps_a_newly_pushed_tag() {
    let e = env().await;
    let port = support::free_port();
    // Polls reuse the store's tag list, but never for longer than one poll
    // interval (the default `tag_cache_ttl` is a minute): the pushed tag,
    // which no webhook reports, shows within two polls.
    let config = e.config(
        &format!("listen = \"127.0.0.1:{port}\"\npoll_interval = \"1s\""),
        "base",
    );
    let _serving = Serving::start(BIN, &config);
    let health = wait_for("/healthz", Duration::from_secs(20), || {
        http_get(port, "/healthz")
    });
    assert_eq!(health, "ok\n");
    wait_for("the bump on main", Duration::from_secs(30), || {
        e.main_file().ends_with("web:1.4.3").then_some(())
    });
    e.registry.push_image("acme/web", "1.5.0").await;
    wait_for("the bump on main", Duration::from_secs(30), || {
        e.main_file().ends_with("web:1.5.0").then_some(())
    });
    assert_eq!(
        git(&e.remote, &["log", "-1", "--format=%s", "main"]),
        "Bump web to 1.5.0"
    );
}

/// A failing run counts in `imagebump_reconcile_errors_total{repo}` (the
/// alerting counter), beside the duration histogram's `result="error"`.
#[tokio::test]
async fn a_failing_reconcile_is_counted_for_alerts() {
    let e = env().await;
    let port = support::free_port();
    let config = e.config(
        &format!("listen = \"127.0.0.1:{port}\"\npoll_interval = \"1s\""),
        "base",
    );
    let _serving = Serving::start(BIN, &config);
    wait_for("/healthz", Duration::from_secs(20), || {
        http_get(port, "/healthz")
    });
    // The remote goes away: every fetch fails from now on.
    std::fs::rename(&e.remote, e.dir.path().join("gone.git")).unwrap();
    let metrics = wait_for("the error counter", Duration::from_secs(30), || {
        http_get(port, "/metrics").filter(|m| m.contains("imagebump_reconcile_errors_total"))
    });
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("imagebump_reconcile_errors_total{repo=\"env\"}")),
        "{metrics}"
    );
}

/// `log_format = "json"` (or `IMAGEBUMP_LOG_FORMAT=json`): every line is
/// one JSON object, carrying the current span's fields.
#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_span_fields() {
    let e = env().await;
    for (extra, env_format) in [("log_format = \"json\"", None), ("", Some("json"))] {
        let config = e.config(extra, "base");
        let mut cmd = Command::new(BIN);
        cmd.args([
            "reconcile",
            "--config",
            config.to_str().unwrap(),
            "--repo",
            "env",
        ])
        .env("DOCKER_CONFIG", "/nonexistent-imagebump-test")
        .env("IMAGEBUMP_LOG", "info");
        if let Some(f) = env_format {
            cmd.env("IMAGEBUMP_LOG_FORMAT", f);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let lines: Vec<serde_json::Value> = text(&out.stderr)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let reconciled = lines
            .iter()
            .find(|l| l["fields"]["message"] == "reconciled")
            .unwrap_or_else(|| panic!("no `reconciled` line: {lines:?}"));
        assert_eq!(reconciled["span"]["name"], "reconcile");
        assert_eq!(reconciled["span"]["repo"], "env");
        assert_eq!(reconciled["level"], "INFO");
        if env_format.is_some() {
            continue; // the first run committed: this one has nothing to do
        }
        // A line inside a reconcile step names the step, and (in `spans`)
        // the reconcile's repo.
        let committed = lines
            .iter()
            .find(|l| l["fields"]["message"] == "committed to the base branch")
            .unwrap_or_else(|| panic!("no `committed` line: {lines:?}"));
        assert_eq!(committed["span"]["name"], "step");
        assert_eq!(committed["span"]["step"], "deliver");
        let spans = committed["spans"].as_array().unwrap();
        assert_eq!(spans[0]["name"], "reconcile");
        assert_eq!(spans[0]["repo"], "env");
    }
}

/// `IMAGEBUMP_CONFIG` names the config file as `--config` does (the
/// variable is not read as a config key).
#[tokio::test]
async fn imagebump_config_names_the_config_file() {
    let e = env().await;
    let config = e.config("", "base");
    let out = Command::new(BIN)
        .args(["reconcile", "--repo", "env"])
        .env("IMAGEBUMP_CONFIG", &config)
        .env("DOCKER_CONFIG", "/nonexistent-imagebump-test")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        e.main_file(),
        format!("image: {}/acme/web:1.4.3", e.registry.host())
    );
}

/// Start-up does not wait for clones: a second repository whose remote
/// accepts the connection and never answers (its clone hangs) neither
/// keeps `/healthz` silent nor holds up the first repository's bump. Each
/// mirror is cloned by its repository's first reconcile, on a worker.
#[tokio::test]
async fn serve_listens_at_once_and_one_hanging_clone_holds_up_nothing() {
    let e = env().await;
    let port = support::free_port();
    // Accepts and never answers; kept open for the whole test.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let config = e.config(
        &format!("listen = \"127.0.0.1:{port}\"\npoll_interval = \"1s\"\nconcurrency = 2"),
        "base",
    );
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[[repos]]\nname = \"stuck\"\nurl = \"http://127.0.0.1:{silent_port}/stuck.git\"\n\
         forge = \"direct\"\ndirect = \"base\"\n"
    ));
    std::fs::write(&config, text).unwrap();
    let _serving = Serving::start(BIN, &config);
    let health = wait_for("/healthz", Duration::from_secs(20), || {
        http_get(port, "/healthz")
    });
    assert_eq!(health, "ok\n");
    wait_for("the bump on main", Duration::from_secs(30), || {
        e.main_file().ends_with("web:1.4.3").then_some(())
    });
    drop(silent);
}
