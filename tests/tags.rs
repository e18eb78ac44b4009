//! Real-world tags end to end: the `imagebump` binary against a real
//! registry (Debian's docker-registry on a free loopback port) holding tag
//! families shaped like Docker official, bitnami, Java, Python, Microsoft
//! and `v`-prefixed vendor images; multi-arch platforms; `explain`.

mod support;

use std::process::Output;

use support::cli::{json, write};
use support::registry::TestRegistry;

const BIN: &str = env!("CARGO_BIN_EXE_imagebump");

fn imagebump(args: &[&str]) -> Output {
    support::cli::run(BIN, args)
}

/// The rule that excluded `tag` in one explained reference (`null` for a
/// candidate).
fn rule_of(explained: &serde_json::Value, tag: &str) -> serde_json::Value {
    let tags = explained["tags"].as_array().expect("tags");
    let verdict = tags.iter().find(|t| t["tag"] == tag);
    verdict.unwrap_or_else(|| panic!("no verdict for {tag}"))["rule"].clone()
}

/// `(repository, semver range, current tag, tags in the registry, expected)`.
const FAMILIES: &[(&str, &str, &str, &[&str], &str)] = &[
    (
        "library/postgres",
        "*",
        "15.6",
        &[
            "15.6",
            "15.7",
            "15.7.1",
            "16",
            "16.4",
            "16.4-alpine",
            "latest",
        ],
        "16.4",
    ),
    (
        "library/redis",
        "~7.0",
        "7.0-alpine",
        &[
            "7.0-alpine",
            "7.0.15-alpine",
            "7.2-alpine",
            "7.0-alpine3.20",
        ],
        "7.0-alpine",
    ),
    (
        "library/node",
        "^18",
        "18.19.1-alpine3.19",
        &[
            "18.19.1-alpine3.19",
            "18.20.4-alpine3.19",
            "18.20.4-alpine3.20",
            "20.15.0-alpine3.19",
        ],
        "18.20.4-alpine3.19",
    ),
    (
        "library/python",
        "~3.11",
        "3.11.8-slim-bookworm",
        &[
            "3.11.8-slim-bookworm",
            "3.11.9-slim-bookworm",
            "3.11.9-slim-bullseye",
            "3.13.0rc1-slim-bookworm",
        ],
        "3.11.9-slim-bookworm",
    ),
    (
        "bitnami/redis",
        "7.0",
        "7.0.15-debian-12-r3",
        &[
            "7.0.15-debian-12-r3",
            "7.0.15-debian-12-r10",
            "7.0.15-debian-12-r4",
            "7.2.5-debian-12-r0",
            "7.0.15-debian-11-r20",
        ],
        "7.0.15-debian-12-r10",
    ),
    (
        "library/eclipse-temurin",
        "^17",
        "17.0.10_7-jre-jammy",
        &[
            "17.0.10_7-jre-jammy",
            "17.0.11_9-jre-jammy",
            "17.0.11_9-jdk-jammy",
            "21.0.4_7-jre-jammy",
        ],
        "17.0.11_9-jre-jammy",
    ),
    (
        "dotnet/aspnet",
        "*",
        "6.0",
        &["6.0", "6.0.31", "8.0", "8.0.7", "8.0-jammy-chiseled"],
        "8.0",
    ),
    (
        "library/traefik",
        "^2",
        "v2.11",
        &["v2.10", "v2.11", "v2.12", "v3.1", "v2.12.1"],
        "v2.12",
    ),
    (
        "library/ubuntu",
        "*",
        "22.04",
        &["22.04", "24.04", "noble-20240801", "jammy"],
        "24.04",
    ),
];

#[tokio::test]
async fn check_bumps_real_tag_families_as_users_expect() {
    let reg = TestRegistry::start();
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from("policies:\n");
    let mut manifest =
        String::from("kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n");
    for (i, (repo, range, current, tags, _)) in FAMILIES.iter().enumerate() {
        reg.push_tags(repo, tags).await;
        config.push_str(&format!(
            "  - name: p{i}\n    image: {host}/{repo}\n    semver: '{range}'\n"
        ));
        manifest.push_str(&format!(
            "        - name: c{i}\n          image: {host}/{repo}:{current}\n"
        ));
    }
    write(dir.path(), ".imagebump.yaml", &config);
    write(dir.path(), "apps/all.yaml", &manifest);
    let out = imagebump(&[
        "check",
        "--repo",
        dir.path().to_str().unwrap(),
        "--write",
        "--format",
        "json",
    ]);
    let report = json(&out);
    assert_eq!(report["errors"], serde_json::json!([]), "{report:#}");
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let written = std::fs::read_to_string(dir.path().join("apps/all.yaml")).unwrap();
    for (i, (repo, _, current, _, expected)) in FAMILIES.iter().enumerate() {
        let line = format!("        - name: c{i}\n          image: {host}/{repo}:{expected}\n");
        assert!(
            written.contains(&line),
            "{repo}:{current} should become {expected}:\n{written}"
        );
    }
    // Nothing left to do afterwards.
    let again = imagebump(&[
        "check",
        "--repo",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[tokio::test]
async fn a_tag_without_every_platform_is_passed_over_and_explain_says_why() {
    let reg = TestRegistry::start();
    let host = reg.host();
    // 1.1.0 is multi-arch; 1.2.0, the newest, was pushed for amd64 only.
    reg.push_image("acme/web", "1.0.0").await;
    reg.push_index("acme/web", "1.1.0").await;
    reg.push_image("acme/web", "1.2.0").await;
    reg.push_image("acme/web", "2.0.0").await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".imagebump.yaml",
        &format!(
            "policies:\n  - name: web\n    image: {host}/acme/web\n    semver: '^1'\n    platforms: [linux/amd64, linux/arm64]\n"
        ),
    );
    write(
        dir.path(),
        "apps/web.yaml",
        &format!("image: {host}/acme/web:1.0.0\n"),
    );
    let repo = dir.path().to_str().unwrap();

    let out = imagebump(&["check", "--repo", repo, "--format", "json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(2), "{report:#}");
    let bump = &report["bumps"][0];
    assert_eq!(bump["to"]["tag"], "1.1.0", "{report:#}");
    assert_eq!(bump["passed_over"][0]["tag"], "1.2.0");
    assert_eq!(bump["passed_over"][0]["rule"], "platform");
    assert!(
        bump["passed_over"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("lacks linux/arm64")
    );

    let out = imagebump(&[
        "explain",
        "--repo",
        repo,
        "apps/web.yaml:1",
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = &json(&out)[0];
    assert_eq!(e["policy"], "web");
    assert_eq!(e["winner"]["tag"], "1.1.0");
    assert_eq!(e["current"]["release"], serde_json::json!([1, 0, 0]));
    assert_eq!(rule_of(e, "1.2.0"), "platform");
    assert_eq!(rule_of(e, "2.0.0"), "range");
    assert_eq!(rule_of(e, "1.0.0"), "older");
    assert_eq!(rule_of(e, "1.1.0"), serde_json::Value::Null);

    let out = imagebump(&["explain", "--repo", repo, &format!("{host}/acme/web")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("winner   1.1.0 (minor)"), "{text}");
    assert!(text.contains("2.0.0  range: outside `^1`"), "{text}");
    assert!(
        text.contains("1.2.0  platform: lacks linux/arm64"),
        "{text}"
    );
}

#[tokio::test]
async fn explain_tells_held_back_from_nothing_to_do() {
    let reg = TestRegistry::start();
    let host = reg.host();
    reg.push_tags(
        "library/postgres",
        &[
            "15.6",
            "15.6-alpine3.19",
            "15.7-alpine3.20",
            "15.7.1",
            "16.0.1",
            "latest",
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".imagebump.yaml",
        &format!("policies:\n  - name: pg\n    image: {host}/library/postgres\n"),
    );
    write(
        dir.path(),
        "db.yaml",
        &format!("image: {host}/library/postgres:15.6-alpine3.19\n"),
    );
    let out = imagebump(&[
        "explain",
        "--repo",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    let e = &json(&out)[0];
    assert_eq!(e["winner"], serde_json::Value::Null);
    assert_eq!(rule_of(e, "15.7-alpine3.20"), "variant");
    assert_eq!(rule_of(e, "15.7.1"), "precision");
    assert_eq!(rule_of(e, "16.0.1"), "precision");
    assert_eq!(rule_of(e, "latest"), "pattern");
    assert_eq!(rule_of(e, "15.6"), "variant");
    assert_eq!(e["current"]["variant"], "alpine3.19");

    // An image at a tag is an image, not FILE:LINE.
    let by_tag = format!("{host}/library/postgres:15.6-alpine3.19");
    let out = imagebump(&["explain", "--repo", dir.path().to_str().unwrap(), &by_tag]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("policy   pg"));
    let none = imagebump(&[
        "explain",
        "--repo",
        dir.path().to_str().unwrap(),
        "db.yaml:9",
    ]);
    assert_eq!(none.status.code(), Some(2));
}

#[test]
fn validate_notes_the_new_meaning_of_a_bare_version() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".imagebump.yaml",
        "policies:\n  - name: web\n    image: acme/web\n    semver: '2.3'\n",
    );
    let out = imagebump(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("note: .imagebump.yaml:4:14: `2.3` in `semver` means 2.3.x"),
        "{err}"
    );
    assert!(err.contains("write `^2.3` to keep that"), "{err}");
}

/// A work tree deploying `acme/web:1.0.0` with `tags` in the registry, and
/// a service config (repository `env`, direct mode) with its store open.
struct Served {
    reg: TestRegistry,
    dir: tempfile::TempDir,
    data: tempfile::TempDir,
    service: std::path::PathBuf,
    store: imagebump::store::Store,
}

async fn served(tags: &[&str]) -> Served {
    let reg = TestRegistry::start();
    let host = reg.host();
    reg.push_tags("acme/web", tags).await;
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".imagebump.yaml",
        &format!("policies:\n  - name: web\n    image: {host}/acme/web\n"),
    );
    write(
        dir.path(),
        "web.yaml",
        &format!("image: {host}/acme/web:1.0.0\n"),
    );
    let service = data.path().join("imagebump.toml");
    std::fs::write(
        &service,
        format!(
            "data_dir = \"{}\"\n[[repos]]\nname = \"env\"\nurl = \"file:///nonexistent\"\nforge = \"direct\"\n",
            data.path().display()
        ),
    )
    .unwrap();
    let config = imagebump::config::ServiceConfig::load(Some(&service)).unwrap();
    let store = imagebump::store::Store::open(&config.store_url())
        .await
        .unwrap();
    Served {
        reg,
        dir,
        data,
        service,
        store,
    }
}

#[tokio::test]
async fn explain_reads_what_people_ignored_from_the_service_store() {
    let Served {
        reg: _reg,
        dir,
        data: _data,
        service,
        store,
    } = served(&["1.0.0", "1.1.0", "1.2.0", "2.0.0"]).await;
    store.ignore_version("env", "web", "1.2.0").await.unwrap();
    store
        .ignore_update_type("env", "web", "major")
        .await
        .unwrap();
    store.close().await;

    let repo = dir.path().to_str().unwrap();
    let args = [
        "explain",
        "--repo",
        repo,
        "--format",
        "json",
        "--service-config",
        service.to_str().unwrap(),
        "--name",
        "env",
    ];
    let out = imagebump(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = &json(&out)[0];
    assert_eq!(e["winner"]["tag"], "1.1.0", "{e:#}");
    assert_eq!(rule_of(e, "1.2.0"), "ignored");
    assert_eq!(rule_of(e, "2.0.0"), "ignored");

    // Without the store, the same reference would go to 2.0.0.
    let out = imagebump(&["explain", "--repo", repo, "--format", "json"]);
    assert_eq!(json(&out)[0]["winner"]["tag"], "2.0.0");
}

#[tokio::test]
async fn explain_says_a_reference_is_held_after_a_rollback() {
    use imagebump::plan::Version;
    use imagebump::rollback::{RefKey, RollbackHold};
    let Served {
        reg,
        dir,
        data: _data,
        service,
        store,
    } = served(&["1.0.0", "1.1.0"]).await;
    let version = |tag: &str| Version {
        tag: tag.into(),
        digest: None,
    };
    let hold = RollbackHold {
        key: RefKey {
            policy: "web".into(),
            file: "web.yaml".into(),
            place: 1,
        },
        from: version("1.1.0"),
        to: version("1.0.0"),
        commit: "0123456789abcdef0123".into(),
        author: "ops@example.com".into(),
        at_ms: 0,
    };
    store.save_rollback_hold("env", &hold).await.unwrap();
    store.close().await;

    let repo = dir.path().to_str().unwrap();
    let explain = |format: &'static str| {
        imagebump(&[
            "explain",
            "--repo",
            repo,
            "--format",
            format,
            "--service-config",
            service.to_str().unwrap(),
            "--name",
            "env",
        ])
    };
    let e = &json(&explain("json"))[0];
    assert!(e["winner"].is_null(), "{e:#}");
    assert_eq!(
        e["skipped"],
        "held after a rollback: 1.1.0 is not above 1.1.0, the rolled-back-from version"
    );
    assert_eq!(
        e["held"],
        "`web` in `web.yaml` rolled back from 1.1.0 to 1.0.0 by ops@example.com in 0123456789ab"
    );

    // A newer version is the winner, still held (no auto-merge).
    reg.push_tags("acme/web", &["1.2.0"]).await;
    let e = &json(&explain("json"))[0];
    assert_eq!(e["winner"]["tag"], "1.2.0", "{e:#}");
    let text = String::from_utf8_lossy(&explain("text").stdout).into_owned();
    assert!(
        text.contains("  held     `web` in `web.yaml` rolled back from 1.1.0 to 1.0.0"),
        "{text}"
    );
    assert!(text.contains("without auto-merge"), "{text}");
}

/// `check` has no store: the release age comes from the image configs'
/// `created`, fetched best candidate first. `explain` says what waits and
/// until when.
#[tokio::test]
async fn check_and_explain_hold_back_a_tag_younger_than_min_release_age() {
    let reg = TestRegistry::start();
    let host = reg.host();
    let ago = |hours: i64| {
        let at = chrono::Utc::now() - chrono::Duration::hours(hours);
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    reg.push_image_created("acme/web", "1.0.0", Some(&ago(24 * 30)))
        .await;
    reg.push_image_created("acme/web", "1.1.0", Some(&ago(24 * 10)))
        .await;
    reg.push_image_created("acme/web", "1.2.0", Some(&ago(1)))
        .await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".imagebump.yaml",
        &format!(
            "policies:\n  - name: web\n    image: {host}/acme/web\n    semver: '^1'\n    minReleaseAge: 3d\n"
        ),
    );
    write(
        dir.path(),
        "apps/web.yaml",
        &format!("image: {host}/acme/web:1.0.0\n"),
    );
    let repo = dir.path().to_str().unwrap();

    let out = imagebump(&["check", "--repo", repo, "--format", "json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(2), "{report:#}");
    assert_eq!(report["bumps"][0]["to"]["tag"], "1.1.0", "{report:#}");
    assert_eq!(report["bumps"][0]["passed_over"][0]["rule"], "age");
    assert_eq!(report["waiting"][0]["tag"], "1.2.0");
    let text = imagebump(&["check", "--repo", repo]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("waiting apps/web.yaml:1") && text.contains("1.2.0 for release age until"),
        "{text}"
    );

    let out = imagebump(&["explain", "--repo", repo, "apps/web.yaml:1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("waiting  waiting for release age of 1.2.0 until"),
        "{text}"
    );
    assert!(
        text.contains("1.2.0  age: waiting for release age until"),
        "{text}"
    );
}
