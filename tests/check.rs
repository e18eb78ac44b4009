//! `imagebump check`, `validate` and `schema` end to end: the real binary
//! against generated environment repositories and a real registry
//! (Debian's docker-registry on a free loopback port).

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::cli::{json, write};
use support::registry::TestRegistry;

const BIN: &str = env!("CARGO_BIN_EXE_imagebump");

fn imagebump(args: &[&str]) -> Output {
    support::cli::run(BIN, args)
}

fn check(repo: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["check", "--repo", repo.to_str().unwrap()];
    args.extend_from_slice(extra);
    imagebump(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap()
}

/// A registry with `acme/web` tags and a repo whose deployment runs 1.4.2.
async fn web_world() -> (TestRegistry, tempfile::TempDir) {
    let reg = TestRegistry::start();
    reg.push_tags(
        "acme/web",
        &["1.4.2", "1.4.3", "1.5.0-rc.1", "2.0.0", "1.4.3.sig"],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let host = reg.host();
    write(
        dir.path(),
        ".imagebump.yaml",
        &format!("policies:\n  - name: web\n    image: {host}/acme/web\n    semver: ^1.4\n"),
    );
    write(
        dir.path(),
        "apps/web.yaml",
        &format!(
            "# web\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: \"{host}/acme/web:1.4.2\"  # keep me\n        - name: admin\n          image: {host}/acme/web-admin:1.0.0\n"
        ),
    );
    (reg, dir)
}

#[tokio::test]
async fn check_prints_the_diff_and_exits_2_without_touching_files() {
    let (reg, dir) = web_world().await;
    let before = read(dir.path(), "apps/web.yaml");
    let out = check(dir.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    let host = reg.host();
    assert!(
        text.contains("--- a/apps/web.yaml\n+++ b/apps/web.yaml\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "-          image: \"{host}/acme/web:1.4.2\"  # keep me\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "+          image: \"{host}/acme/web:1.4.3\"  # keep me\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("1 bump(s) available in 1 file(s) (1 patch); 0 skipped; 0 error(s)"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour when NO_COLOR is set");
    assert_eq!(read(dir.path(), "apps/web.yaml"), before);
}

#[tokio::test]
async fn check_write_changes_only_the_tag_bytes_then_finds_nothing() {
    let (reg, dir) = web_world().await;
    let before = read(dir.path(), "apps/web.yaml");
    let out = check(dir.path(), &["--write"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let expected = before.replace(
        &format!("{}/acme/web:1.4.2", reg.host()),
        &format!("{}/acme/web:1.4.3", reg.host()),
    );
    assert_eq!(read(dir.path(), "apps/web.yaml"), expected);
    let again = check(dir.path(), &[]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert!(stdout(&again).contains("no bumps"));
}

#[tokio::test]
async fn json_output_follows_the_contract() {
    let (reg, dir) = web_world().await;
    write(
        dir.path(),
        "apps/old.yaml",
        &format!("image: {}/acme/web:latest\n", reg.host()),
    );
    let out = check(dir.path(), &["--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    let image = format!("{}/acme/web", reg.host());
    assert_eq!(
        v["bumps"],
        serde_json::json!([{"file": "apps/web.yaml", "line": 8, "image": image, "policy": "web", "update": "patch",
                            "from": {"tag": "1.4.2", "digest": null}, "to": {"tag": "1.4.3", "digest": null}}])
    );
    assert_eq!(v["skipped"][0]["file"], "apps/old.yaml");
    assert_eq!(v["skipped"][0]["line"], 1);
    assert!(
        v["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("latest")
    );
    assert_eq!(v["errors"], serde_json::json!([]));
}

#[tokio::test]
async fn digest_pin_writes_the_registry_digest_and_multi_arch_uses_the_index() {
    let reg = TestRegistry::start();
    reg.push_image("acme/api", "1.0.0").await;
    let single = reg.push_image("acme/api", "1.1.0").await;
    reg.push_image("acme/multi", "2.0.0").await;
    let index = reg.push_index("acme/multi", "2.1.0").await;
    let dir = tempfile::tempdir().unwrap();
    let host = reg.host();
    write(
        dir.path(),
        ".imagebump.yaml",
        &format!(
            "policies:\n  - name: api\n    image: {host}/acme/api\n    digest: pin\n  - name: multi\n    image: {host}/acme/multi\n    digest: pin\n"
        ),
    );
    write(
        dir.path(),
        "a.yaml",
        &format!("a:\n  image: '{host}/acme/api:1.0.0'\nb:\n  image: {host}/acme/multi:2.0.0\n"),
    );
    let out = check(dir.path(), &["--write", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let v = json(&out);
    assert_eq!(
        v["bumps"][0]["to"],
        serde_json::json!({"tag": "1.1.0", "digest": single.to_string()})
    );
    assert_eq!(
        v["bumps"][1]["to"],
        serde_json::json!({"tag": "2.1.0", "digest": index.to_string()})
    );
    assert_eq!(
        read(dir.path(), "a.yaml"),
        format!(
            "a:\n  image: '{host}/acme/api:1.1.0@{single}'\nb:\n  image: {host}/acme/multi:2.1.0@{index}\n"
        )
    );
}

#[tokio::test]
async fn kustomization_and_helm_values_are_bumped_and_still_build() {
    let reg = TestRegistry::start();
    reg.push_tags(
        "team/api",
        &[
            "main-20240101120000-abc1234",
            "main-20240301090000-def5678",
            "main-20240301090000-def5678.sig",
        ],
    )
    .await;
    reg.push_tags("bitnami/redis", &["7.2.4", "7.2.5", "7.4.0"])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let host = reg.host();
    write(
        dir.path(),
        ".imagebump.yaml",
        &format!(
            "policies:\n  - name: api\n    image: {host}/team/api\n    tags:\n      pattern: '^main-(?P<ts>\\d{{14}})-[0-9a-f]{{7}}$'\n      extract: '$ts'\n      order: numerical\n  - name: cache\n    image: {host}/bitnami/redis\n    semver: '~7.2'\n"
        ),
    );
    write(
        dir.path(),
        "k/kustomization.yaml",
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deploy.yaml]\nimages:\n  - name: api\n    newName: {host}/team/api\n    newTag: main-20240101120000-abc1234 # {{\"$imagepolicy\": \"flux-system:api:tag\"}}\n"
        ),
    );
    write(
        dir.path(),
        "k/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers:\n        - name: api\n          image: api\n",
    );
    write(
        dir.path(),
        "values.yaml",
        &format!("image:\n  registry: {host}\n  repository: bitnami/redis\n  tag: '7.2.4'\n"),
    );
    let out = check(dir.path(), &["--write"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        read(dir.path(), "values.yaml"),
        format!("image:\n  registry: {host}\n  repository: bitnami/redis\n  tag: '7.2.5'\n")
    );
    let built = Command::new("kubectl")
        .args(["kustomize", dir.path().join("k").to_str().unwrap()])
        .output()
        .expect("kubectl");
    assert!(built.status.success(), "{}", stderr(&built));
    assert!(
        stdout(&built).contains(&format!(
            "image: {host}/team/api:main-20240301090000-def5678"
        )),
        "{}",
        stdout(&built)
    );
}

#[tokio::test]
async fn basic_auth_registry_with_docker_config_and_wrong_password() {
    let reg = TestRegistry::start_with_htpasswd("bot", "s3cret");
    reg.push_tags("acme/web", &["1.0.0", "1.0.1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let host = reg.host();
    write(
        dir.path(),
        ".imagebump.yaml",
        &format!("policies:\n  - name: web\n    image: {host}/acme/web\n"),
    );
    write(
        dir.path(),
        "a.yaml",
        &format!("image: {host}/acme/web:1.0.0\n"),
    );
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        format!(
            "{{\"auths\": {{\"{host}\": {{\"username\": \"bot\", \"password\": \"s3cret\"}}}}}}"
        ),
    )
    .unwrap();
    let out = check(
        dir.path(),
        &[
            "--docker-config",
            good.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(json(&out)["bumps"][0]["to"]["tag"], "1.0.1");

    let bad = dir.path().join("bad.json");
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("bot:wrong");
    std::fs::write(
        &bad,
        format!("{{\"auths\": {{\"http://{host}\": {{\"auth\": \"{auth}\"}}}}}}"),
    )
    .unwrap();
    let out = check(dir.path(), &["--docker-config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: a.yaml:1:") && err.contains("401"),
        "{err}"
    );
    assert!(
        !err.contains("wrong") && !err.contains(&auth),
        "no secret in messages: {err}"
    );
    assert_eq!(
        read(dir.path(), "a.yaml"),
        format!("image: {host}/acme/web:1.0.0\n")
    );
}

#[tokio::test]
async fn registry_down_is_an_error_and_files_stay_intact() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let host = format!("127.0.0.1:{port}");
    write(
        dir.path(),
        ".imagebump.yaml",
        &format!("policies:\n  - name: web\n    image: {host}/acme/web\n"),
    );
    write(
        dir.path(),
        "a.yaml",
        &format!("image: {host}/acme/web:1.0.0\n"),
    );
    let out = check(dir.path(), &["--write"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: a.yaml:1:"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        read(dir.path(), "a.yaml"),
        format!("image: {host}/acme/web:1.0.0\n")
    );
}

#[tokio::test]
async fn unparsable_manifest_is_reported_and_other_files_still_bumped() {
    let (reg, dir) = web_world().await;
    write(dir.path(), "apps/broken.yaml", "a: 1\nb: [1, 2\n");
    let out = check(dir.path(), &["--write"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: apps/broken.yaml:") && err.contains("not valid YAML"),
        "{err}"
    );
    assert!(read(dir.path(), "apps/web.yaml").contains(&format!("{}/acme/web:1.4.3", reg.host())));
}

#[tokio::test]
async fn only_selected_files_are_read_and_symlinks_are_not_followed() {
    let (reg, dir) = web_world().await;
    let host = reg.host();
    let line = format!("image: {host}/acme/web:1.4.2\n");
    let config = format!(
        "files: ['apps/**/*.yaml', 'linked/*.yaml']\nexclude: ['apps/legacy/**']\npolicies:\n  - name: web\n    image: {host}/acme/web\n    semver: ^1.4\n"
    );
    write(dir.path(), ".imagebump.yaml", &config);
    write(dir.path(), "apps/legacy/old.yaml", &line);
    write(dir.path(), "other/x.yaml", &line);
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "target.yaml", &line);
    std::fs::create_dir_all(dir.path().join("linked")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("target.yaml"),
        dir.path().join("linked/link.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("apps/dirlink")).unwrap();
    let out = check(dir.path(), &["--write", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let files: Vec<_> = json(&out)["bumps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["file"].clone())
        .collect();
    assert_eq!(files, [serde_json::json!("apps/web.yaml")]);
    assert_eq!(read(dir.path(), "apps/legacy/old.yaml"), line);
    assert_eq!(read(dir.path(), "other/x.yaml"), line);
    assert_eq!(read(outside.path(), "target.yaml"), line);
}

#[test]
fn invalid_config_is_reported_by_check_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".imagebump.yaml",
        "policies:\n  - name: web\n    image: acme/web\n    semver: '^1.x.q'\n    prerelase: true\n",
    );
    let out = imagebump(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    // The column of `1.x.q`, the unclear word, inside the quotes.
    assert!(err.contains(".imagebump.yaml:4:15: "), "{err}");
    assert!(err.contains(".imagebump.yaml:5:5: unknown key `prerelase` in a policy (hint: did you mean `prerelease`?)"), "{err}");
    assert!(err.contains(".imagebump.yaml: 2 error(s)"), "{err}");
    let out = check(dir.path(), &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["errors"].as_array().unwrap().len(), 2);
    assert_eq!(v["errors"][1]["line"], 5);
}

#[test]
fn missing_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no .imagebump.yaml in"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn validate_accepts_the_example_config() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".imagebump.yaml",
        include_str!("../config/example.imagebump.yaml"),
    );
    let out = imagebump(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), ".imagebump.yaml: valid (2 policies)\n");
}

#[tokio::test]
async fn validate_and_check_know_environments() {
    let (reg, dir) = web_world().await;
    let host = reg.host();
    let policy =
        format!("policies:\n  - name: web\n    image: {host}/acme/web\n    semver: ^1.4\n");
    write(
        dir.path(),
        ".imagebump.yaml",
        &format!(
            "{policy}environments:\n  - name: prod\n    files: [prod/**]\n    promoteFrom: staging\n    require: [reviews]\n"
        ),
    );
    let out = imagebump(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            ".imagebump.yaml:8:18: `promoteFrom: staging` names no environment listed before `prod`"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            ".imagebump.yaml:9:15: unknown requirement `reviews` in `require` (hint: one of checks)"
        ),
        "{err}"
    );

    write(
        dir.path(),
        ".imagebump.yaml",
        &format!(
            "{policy}environments:\n  - name: dev\n    files: [apps/**]\n  - name: prod\n    files: [prod/**]\n    promoteFrom: dev\n    after: 1h\n"
        ),
    );
    write(
        dir.path(),
        "prod/web.yaml",
        &format!("image: {host}/acme/web:1.4.2\n"),
    );
    let out = imagebump(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // `check` bumps dev from the registry and leaves prod to promotion.
    let v = json(&check(dir.path(), &["--format", "json"]));
    let bumped: Vec<&str> = v["bumps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["file"].as_str().unwrap())
        .collect();
    assert_eq!(bumped, ["apps/web.yaml"]);
    let skipped = v["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s["file"] == "prod/web.yaml"
            && s["reason"]
                .as_str()
                .unwrap()
                .starts_with("environment `prod` is promoted from `dev`")),
        "{skipped:#?}"
    );
    // `explain` says so too, rather than what the registry offers.
    let repo = dir.path().to_str().unwrap();
    let out = imagebump(&[
        "explain",
        "--repo",
        repo,
        "prod/web.yaml:1",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let e = &json(&out)[0];
    assert_eq!(e["winner"], serde_json::Value::Null, "{e:#}");
    assert!(
        e["skipped"]
            .as_str()
            .unwrap()
            .starts_with("environment `prod` is promoted from `dev`"),
        "{e:#}"
    );
}

#[test]
fn schema_is_json_schema() {
    let out = imagebump(&["schema"]);
    assert!(out.status.success());
    let v = json(&out);
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(v["required"], serde_json::json!(["policies"]));
}

#[tokio::test]
async fn color_always_paints_the_diff() {
    let (_reg, dir) = web_world().await;
    let out = check(dir.path(), &["--color", "always"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("\x1b[31m-          image:"), "{text:?}");
    assert!(text.contains("\x1b[32m+          image:"), "{text:?}");
}

/// Writes `docker-credential-<name>` into `bin`: it records each call's
/// stdin (the registry) in `<bin>/<name>.calls` and runs `body`.
fn credential_helper(bin: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let path = bin.join(format!("docker-credential-{name}"));
    let calls = bin.join(format!("{name}.calls"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread -r server\necho \"$server\" >> '{}'\n{body}\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn check_with_path(repo: &Path, bin: &Path, config: &Path) -> Output {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::process::Command::new(BIN)
        .args([
            "check",
            "--repo",
            repo.to_str().unwrap(),
            "--format",
            "json",
        ])
        .args(["--docker-config", config.to_str().unwrap()])
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Docker credential helpers (`credHelpers` per registry, `credsStore` for
/// the rest), as ECR's `ecr-login`, GAR's `gcr` and ACR's helpers are used:
/// `docker-credential-<name> get`, the registry on stdin, JSON on stdout;
/// asked once per host and run, never logged; a failing or hanging helper
/// is reported and the registry is asked anonymously (401).
#[tokio::test]
async fn credential_helpers_supply_registry_credentials() {
    let reg = TestRegistry::start_with_htpasswd("AWS", "helper-s3cret");
    reg.push_tags("acme/web", &["1.0.0", "1.0.1"]).await;
    reg.push_tags("acme/api", &["2.0.0", "2.0.1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let host = reg.host();
    write(
        dir.path(),
        ".imagebump.yaml",
        &format!(
            "policies:\n  - name: web\n    image: {host}/acme/web\n  - name: api\n    image: {host}/acme/api\n"
        ),
    );
    write(
        dir.path(),
        "a.yaml",
        &format!("image: {host}/acme/web:1.0.0\n"),
    );
    write(
        dir.path(),
        "b.yaml",
        &format!("image: {host}/acme/api:2.0.0\n"),
    );
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    credential_helper(
        &bin,
        "fake-ecr",
        &format!(
            "echo '{{\"ServerURL\":\"{host}\",\"Username\":\"AWS\",\"Secret\":\"helper-s3cret\"}}'"
        ),
    );
    credential_helper(&bin, "broken", "echo 'no such thing' >&2; exit 1");
    credential_helper(&bin, "hangs", "sleep 30");

    for (name, config) in [
        (
            "credHelpers",
            format!("{{\"credHelpers\": {{\"{host}\": \"fake-ecr\"}}}}"),
        ),
        (
            "credsStore",
            "{\"auths\": {}, \"credsStore\": \"fake-ecr\"}".to_string(),
        ),
    ] {
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, config).unwrap();
        let _ = std::fs::remove_file(bin.join("fake-ecr.calls"));
        let out = check_with_path(dir.path(), &bin, &path);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{name}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        let bumps: Vec<String> = json(&out)["bumps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["to"]["tag"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(bumps.len(), 2, "{name}: {bumps:?}");
        let calls = std::fs::read_to_string(bin.join("fake-ecr.calls")).unwrap();
        assert_eq!(
            calls,
            format!("{host}\n"),
            "{name}: one call for two images"
        );
        assert!(!stderr(&out).contains("helper-s3cret"), "never logged");
    }

    for helper in ["broken", "hangs"] {
        let path = dir.path().join(format!("{helper}.json"));
        std::fs::write(
            &path,
            format!("{{\"credHelpers\": {{\"{host}\": \"{helper}\"}}}}"),
        )
        .unwrap();
        let out = check_with_path(dir.path(), &bin, &path);
        assert_eq!(out.status.code(), Some(1), "{helper}: {}", stderr(&out));
        let err = format!("{}{}", stdout(&out), stderr(&out));
        assert!(err.contains("401"), "{helper}: {err}");
        assert!(
            err.contains(&format!("docker-credential-{helper}")),
            "{helper}: {err}"
        );
        assert!(
            !err.contains("no such thing"),
            "its output is not shown: {err}"
        );
    }
}
