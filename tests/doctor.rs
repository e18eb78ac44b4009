//! `imagebump doctor` through the real binary: a service config that is
//! all right (exit 0), then one thing wrong at a time, each reported on one
//! `FAIL` line (exit 1) while the rest stay `ok`. Real parts: a registry
//! with htpasswd, a bare git remote, SQLite, and Postgres's address with
//! nothing listening for the unreachable store.

mod support;

use std::path::Path;

use support::cli::run;
use support::registry::TestRegistry;
use support::world::seed_env_repo;

const BIN: &str = env!("CARGO_BIN_EXE_imagebump");

#[derive(Clone, Copy, PartialEq)]
enum Wrong {
    Nothing,
    RegistryPassword,
    WebhookSecret,
    StoreUrl,
    GitRemote,
}

/// A service config in `dir` for `host`'s registry and the remote, with
/// `wrong` wrong.
fn config(dir: &Path, host: &str, remote: &Path, wrong: Wrong) -> std::path::PathBuf {
    let store = if wrong == Wrong::StoreUrl {
        // A port nothing listens on.
        "postgres://imagebump@127.0.0.1:9/imagebump".to_string()
    } else {
        format!("sqlite://{}/data/imagebump.db", dir.display())
    };
    let password = if wrong == Wrong::RegistryPassword {
        "not-it"
    } else {
        "s3cret"
    };
    let secrets = if wrong == Wrong::WebhookSecret {
        ""
    } else {
        "secrets = [\"hook-s3cret\"]\n"
    };
    let url = if wrong == Wrong::GitRemote {
        format!("file://{}/missing.git", dir.display())
    } else {
        format!("file://{}", remote.display())
    };
    let text = format!(
        "data_dir = \"{}/data\"\nstore = \"{store}\"\n\
         [registry.hosts.\"{host}\"]\nusername = \"bot\"\npassword = \"{password}\"\n\
         [hooks.github]\n{secrets}\
         [[repos]]\nname = \"env\"\nurl = \"{url}\"\nforge = \"direct\"\n",
        dir.display()
    );
    let path = dir.join("imagebump.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn doctor_reports_each_wrong_thing_on_its_own_line() {
    let registry = TestRegistry::start_with_htpasswd("bot", "s3cret");
    registry.push_tags("acme/web", &["1.4.2"]).await;
    let host = registry.host();
    let seed = tempfile::tempdir().unwrap();
    let remote = seed_env_repo(
        seed.path(),
        &format!("policies:\n  - name: web\n    image: {host}/acme/web\n"),
        &format!("{host}/acme/web:1.4.2"),
    );
    for (wrong, thing) in [
        (Wrong::Nothing, ""),
        (
            Wrong::RegistryPassword,
            &format!("FAIL registry {host} (tags of {host}/acme/web): ") as &str,
        ),
        (Wrong::WebhookSecret, "FAIL webhook source `github`: "),
        (Wrong::StoreUrl, "FAIL store: "),
        (Wrong::GitRemote, "FAIL git remote of `env`: "),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), &host, &remote, wrong);
        let out = run(BIN, &["doctor", "--config", cfg.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let fails: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
        if wrong == Wrong::Nothing {
            assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
            assert!(fails.is_empty(), "{stdout}");
            for thing in [
                "ok   store (reachable, migrated)",
                "ok   webhook source `github`",
                "ok   git remote of `env`",
                "ok   .imagebump.yaml of `env`",
                &format!("ok   registry {host} (tags of {host}/acme/web)"),
            ] {
                assert!(stdout.lines().any(|l| l == thing), "{thing}:\n{stdout}");
            }
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        assert_eq!(fails.len(), 1, "{stdout}");
        assert!(fails[0].starts_with(thing), "{thing}:\n{stdout}");
        // What is wrong, then how to fix it.
        assert!(fails[0].contains("; "), "{stdout}");
        // The others are still checked.
        assert!(
            stdout.lines().filter(|l| l.starts_with("ok   ")).count() >= 2,
            "{stdout}"
        );
    }
}
