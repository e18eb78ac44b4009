//! `imagebump dead-letters` and `imagebump holds` through the real binary,
//! against a real store on both backends (tests/support/backends.rs): the
//! test fills the store through its API, the binary reads and changes it.

mod support;

use std::path::PathBuf;

use imagebump::plan::Version;
use imagebump::rollback::{RefKey, RollbackHold};
use imagebump::store::{Failed, RETRY_BACKOFF_CAP, Store, Trigger};
use support::backends::Backend;
use support::cli::{json, run};

const BIN: &str = env!("CARGO_BIN_EXE_imagebump");
const T0: i64 = 1_700_000_000_000;

/// A service config in `dir` on the store at `url`, with repos `env` and
/// `other` (never fetched by these verbs).
fn config(dir: &std::path::Path, url: &str) -> PathBuf {
    let path = dir.join("imagebump.toml");
    let mut text = format!("data_dir = \"{}\"\nstore = \"{url}\"\n", dir.display());
    for name in ["env", "other"] {
        text.push_str(&format!(
            "[[repos]]\nname = \"{name}\"\nurl = \"file://{}/{name}.git\"\nforge = \"direct\"\n",
            dir.display()
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Fails `repo`'s reconcile with `error` until it is a dead letter; its id.
async fn kill(s: &Store, repo: &str, error: &str) -> i64 {
    s.enqueue_reconcile(repo, "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    let mut now = T0;
    loop {
        let job = s
            .claim("w", std::time::Duration::from_secs(60), now)
            .await
            .unwrap()
            .expect("a due job");
        if s.fail(&job, error, now).await.unwrap() == Failed::Dead {
            return job.id;
        }
        now += i64::try_from(RETRY_BACKOFF_CAP.as_millis()).unwrap();
    }
}

fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

both!(dead_letters_are_listed_requeued_and_dropped);
async fn dead_letters_are_listed_requeued_and_dropped(db: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &db.url);
    let cfg = cfg.to_str().unwrap();
    let s = &db.store;
    let a = kill(s, "env", "push rejected\nby the remote").await;
    let b = kill(s, "other", "registry said 401").await;

    let out = run(BIN, &["dead-letters", "--config", cfg, "list"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[1].starts_with(&format!("{a}\treconcile\tenv\t5\t")),
        "{stdout}"
    );
    assert!(
        lines[1].ends_with("\tpush rejected by the remote"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with(&format!("{b}\treconcile\tother\t5\t")),
        "{stdout}"
    );

    let out = run(
        BIN,
        &["dead-letters", "--config", cfg, "list", "--format", "json"],
    );
    let listed = json(&out);
    assert_eq!(listed[0]["id"], a);
    assert_eq!(listed[0]["kind"], "reconcile");
    assert_eq!(listed[0]["repo"], "env");
    assert_eq!(listed[0]["attempts"], 5);
    assert_eq!(listed[0]["last_error"], "push rejected\nby the remote");
    assert!(listed[0]["dead_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(listed[1]["repo"], "other");

    // An unknown id fails the command; the known one is requeued anyway.
    let out = run(
        BIN,
        &[
            "dead-letters",
            "--config",
            cfg,
            "requeue",
            "999999",
            &a.to_string(),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("no dead letter 999999"), "{stderr}");
    assert!(
        stdout.contains(&format!("requeued dead letter {a}")),
        "{stdout}"
    );
    let dead = s.dead_letters().await.unwrap();
    assert_eq!(dead.iter().map(|d| d.id).collect::<Vec<_>>(), vec![b]);
    assert_eq!(s.queue_stats(T0).await.unwrap().depth, 1);

    let out = run(
        BIN,
        &["dead-letters", "--config", cfg, "drop", &b.to_string()],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(s.dead_letters().await.unwrap().is_empty());
    // Dropped already: a clear error, exit 1.
    let out = run(
        BIN,
        &["dead-letters", "--config", cfg, "drop", &b.to_string()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains(&format!("no dead letter {b}")));
    let out = run(BIN, &["dead-letters", "--config", cfg, "list"]);
    assert_eq!(text(&out).0.trim(), "no dead letters");
}

fn rollback(policy: &str, file: &str) -> RollbackHold {
    RollbackHold {
        key: RefKey {
            policy: policy.into(),
            file: file.into(),
            place: 0,
        },
        from: Version {
            tag: "1.4.3".into(),
            digest: None,
        },
        to: Version {
            tag: "1.4.2".into(),
            digest: None,
        },
        commit: "0123abcd".into(),
        author: "ops@example.com".into(),
        at_ms: T0,
    }
}

both!(holds_are_listed_and_released_both_kinds);
async fn holds_are_listed_and_released_both_kinds(db: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &db.url);
    let cfg = cfg.to_str().unwrap();
    let s = &db.store;
    s.set_hold("env", "web", true).await.unwrap();
    s.set_hold("other", "api", true).await.unwrap();
    s.save_rollback_hold("env", &rollback("web", "apps/web.yaml"))
        .await
        .unwrap();
    s.save_rollback_hold("env", &rollback("web", "apps/web-canary.yaml"))
        .await
        .unwrap();

    let out = run(BIN, &["holds", "--config", cfg, "list"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0], "env\tweb\tmanual");
    assert!(
        lines[1].starts_with(
            "env\tweb\trollback from 1.4.3 to 1.4.2 in 0123abcd by ops@example.com at 2023-11-14T"
        ),
        "{stdout}"
    );
    assert!(lines[1].ends_with("(apps/web-canary.yaml)"), "{stdout}");
    assert_eq!(lines[3], "other\tapi\tmanual");

    let out = run(BIN, &["holds", "--config", cfg, "list", "--format", "json"]);
    let listed = json(&out);
    assert_eq!(listed[1]["kind"], "rollback");
    assert_eq!(listed[1]["from"], "1.4.3");
    assert_eq!(listed[1]["commit"], "0123abcd");
    assert_eq!(listed[1]["author"], "ops@example.com");

    let out = run(BIN, &["holds", "--config", cfg, "release", "env", "web"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("released 3 hold(s) of `web` in env"),
        "{stdout}"
    );
    assert!(s.holds("env").await.unwrap().is_empty());
    assert!(s.rollback_holds("env").await.unwrap().is_empty());
    // The other repository's hold stands.
    assert!(s.holds("other").await.unwrap().contains("api"));

    let out = run(BIN, &["holds", "--config", cfg, "release", "env", "web"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("`web` in env is not held"));
}
