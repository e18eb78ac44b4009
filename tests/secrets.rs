//! No secret leaves the process: the real `serve`, at debug level, with a
//! distinct secret in every secret-bearing key of its config (forge
//! tokens, a GitHub App's private key and the installation tokens it
//! mints, a token the forge refuses, a discovery token, webhook secrets
//! and a path token, registry credentials, the store URL's password), is
//! driven through its paths, errors included: reconciles that open MRs on
//! both fake forges, a repository whose token is refused, discovery,
//! webhooks signed well and badly, a path token right and wrong, metrics
//! and health. None of the secrets is in its logs, its metrics or any
//! HTTP answer.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use support::github::FakeGitHub;
use support::gitlab::FakeGitLab;
use support::hooks::{WHSEC, fixture, hmac256_hex, standard_sig, unix_now};
use support::postgres::with_fresh_database;
use support::world::seed_env_repo;
use support::{TestRegistry, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_imagebump");

const REFUSED_TOKEN: &str = "ghp_refusedSECRETtoken3f9a";
const DISCOVER_TOKEN: &str = "ghp_discoverSECRETtoken77c1";
const HOOK_SECRET: &str = "hook-github-SECRET-5be2";
const PATH_TOKEN: &str = "pathTOKEN-dockerhub-91d0";
const REGISTRY_PASSWORD: &str = "registry-PASSWORD-0c3e";
const REGISTRY_TOKEN: &str = "registry-TOKEN-a71b";
const STORE_PASSWORD: &str = "store-PASSWORD-4d2f";
const STATUS_TOKEN: &str = "status-TOKEN-e8b0";
const ADMIN_TOKEN: &str = "admin-TOKEN-62fd";

/// An HTTP answer, whole: status line, headers and body.
async fn answer(response: reqwest::Response) -> String {
    let mut text = format!("{}\n", response.status());
    for (k, v) in response.headers() {
        text.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    text.push_str(&response.text().await.unwrap_or_default());
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_a_metric_or_an_http_answer() {
    with_fresh_database(|db| async move {
        let registry = TestRegistry::start();
        registry.push_tags("acme/web", &["1.4.2", "1.5.0"]).await;
        let host = registry.host();
        let dir = tempfile::tempdir().unwrap();
        let policy = format!("policies:\n  - name: web\n    image: {host}/acme/web\n");
        let image = format!("{host}/acme/web:1.4.2");
        let mut remotes = Vec::new();
        for name in ["gh", "gl", "refused", "app"] {
            let at = dir.path().join(name);
            std::fs::create_dir_all(&at).unwrap();
            remotes.push(seed_env_repo(&at, &policy, &image));
        }
        let github = FakeGitHub::start("acme/env", &remotes[0]).await;
        let gitlab = FakeGitLab::start("group/env", &remotes[1]).await;
        let refusing = FakeGitHub::start("acme/refused", &remotes[2]).await;
        // A GitHub App on GitHub Enterprise Server: a private key, and the
        // installation tokens minted with it.
        let app = FakeGitHub::start_ghes("acme/app", &remotes[3]).await;
        let key_file = std::path::absolute("tests/data/github/app-private-key.pem").unwrap();
        let key = std::fs::read_to_string(&key_file).unwrap();
        let store = db
            .url
            .replacen("postgres@", &format!("postgres:{STORE_PASSWORD}@"), 1);
        assert_ne!(store, db.url, "the store URL carries a password");
        let port = free_port();
        let config = dir.path().join("imagebump.toml");
        std::fs::write(
            &config,
            format!(
                r#"listen = "127.0.0.1:{port}"
data_dir = "{data}"
store = "{store}"
poll_interval = "2s"
status_page = true
status_token = "{STATUS_TOKEN}"
admin_token = "{ADMIN_TOKEN}"

[registry.hosts."{host}"]
username = "robot"
password = "{REGISTRY_PASSWORD}"

[registry.hosts."registry.invalid"]
token = "{REGISTRY_TOKEN}"

[hooks.github]
secrets = ["{HOOK_SECRET}"]

[hooks.generic]
secrets = ["{WHSEC}"]

[hooks.dockerhub]
path_token = "{PATH_TOKEN}"

[[repos]]
name = "gh"
url = "file://{gh}"
forge = "github"
api_url = "{github_url}"
project = "acme/env"
token = "{github_token}"

[[repos]]
name = "gl"
url = "file://{gl}"
forge = "gitlab"
api_url = "{gitlab_url}"
project = "group/env"
token = "{gitlab_token}"

[[repos]]
name = "refused"
url = "file://{refused}"
forge = "github"
api_url = "{refusing_url}"
project = "acme/refused"
token = "{REFUSED_TOKEN}"

[[repos]]
name = "app"
url = "file://{app_remote}"
forge = "github"
api_url = "{app_url}"
project = "acme/app"
[repos.github_app]
app_id = {app_id}
installation_id = {installation_id}
private_key_file = "{key_file}"

[[discover]]
forge = "github"
api_url = "{refusing_url}"
owner = "acme"
token = "{DISCOVER_TOKEN}"
"#,
                data = dir.path().join("data").display(),
                gh = remotes[0].display(),
                gl = remotes[1].display(),
                refused = remotes[2].display(),
                github_url = github.url(),
                github_token = github.token(),
                gitlab_url = gitlab.url(),
                gitlab_token = gitlab.token(),
                refusing_url = refusing.url(),
                app_remote = remotes[3].display(),
                app_url = app.url(),
                app_id = FakeGitHub::APP_ID,
                installation_id = FakeGitHub::INSTALLATION_ID,
                key_file = key_file.display(),
            ),
        )
        .unwrap();
        let log = dir.path().join("serve.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let mut serving = Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("DOCKER_CONFIG", "/nonexistent-imagebump-test")
            .env("IMAGEBUMP_LOG", "debug")
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        // The refusing fake knows none of these tokens: every call of the
        // `refused` repository and of discovery is answered 401.
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let tail = || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        };
        for _ in 0..300 {
            if support::http_get(port, "/healthz").is_some() {
                break;
            }
            assert!(serving.try_wait().unwrap().is_none(), "serve exited: {}", tail());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for _ in 0..600 {
            if !github.prs().is_empty() && !gitlab.mrs().is_empty() && !app.prs().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            !github.prs().is_empty() && !gitlab.mrs().is_empty() && !app.prs().is_empty(),
            "no MR on every forge: {}",
            tail()
        );

        let mut answers = Vec::new();
        // GitHub: well signed, then badly.
        let push = br#"{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"1111111111111111111111111111111111111111","repository":{"full_name":"acme/env","name":"env","owner":{"login":"acme"}},"sender":{"login":"ops"},"commits":[],"head_commit":null}"#;
        for signature in [
            format!("sha256={}", hmac256_hex(HOOK_SECRET, push)),
            format!("sha256={}", hmac256_hex("not-the-secret", push)),
        ] {
            let r = client
                .post(format!("{base}/hooks/github"))
                .header("content-type", "application/json")
                .header("x-github-event", "push")
                .header("x-github-delivery", format!("secrets-{}", answers.len()))
                .header("x-hub-signature-256", signature)
                .body(push.to_vec())
                .send()
                .await
                .unwrap();
            answers.push(answer(r).await);
        }
        // Standard Webhooks: well signed, then badly, then a malformed body.
        let event = fixture("generic", "image-pushed.json");
        let ts = u64::try_from(unix_now()).unwrap();
        for (sig_secret, body) in [
            (WHSEC, event.clone()),
            ("whsec_c2VjcmV0LWJlZm9yZS10aGUtcm90YXRpb24hIQ==", event.clone()),
            (WHSEC, b"{not json".to_vec()),
        ] {
            let id = format!("msg-{}", answers.len());
            let r = client
                .post(format!("{base}/hooks/generic"))
                .header("content-type", "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", standard_sig(sig_secret, &id, ts, &body))
                .body(body)
                .send()
                .await
                .unwrap();
            answers.push(answer(r).await);
        }
        // Docker Hub: the path token right, then wrong.
        for token in [PATH_TOKEN, "wrong-path-token"] {
            let r = client
                .post(format!("{base}/hooks/dockerhub/{token}"))
                .header("content-type", "application/json")
                .body(fixture("dockerhub", "push_user.json"))
                .send()
                .await
                .unwrap();
            answers.push(answer(r).await);
        }
        for path in ["/healthz", "/readyz", "/metrics", "/nothing-here"] {
            let r = client.get(format!("{base}{path}")).send().await.unwrap();
            answers.push(answer(r).await);
        }
        // The status page, with its token, and a requeue with a wrong CSRF
        // token and the admin token.
        let r = client
            .get(format!("{base}/"))
            .bearer_auth(STATUS_TOKEN)
            .send()
            .await
            .unwrap();
        let page = answer(r).await;
        assert!(
            page.starts_with("200") && page.contains("Repositories"),
            "{page}"
        );
        answers.push(page);
        let r = client
            .post(format!("{base}/status/dead-letters/1/requeue"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf=forged&admin_token={ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        answers.push(answer(r).await);
        // Let the refused repository and discovery fail at least once more,
        // and the webhook-triggered reconciles run.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let r = client.get(format!("{base}/metrics")).send().await.unwrap();
        let metrics = answer(r).await;
        let _ = serving.kill();
        let _ = serving.wait();
        let logs = std::fs::read_to_string(&log).unwrap();

        // The paths ran: debug lines, the refusals, both MRs.
        for expected in [
            "DEBUG",
            "registry answered",
            "webhook stored",
            "refused the credentials (401): Bad credentials",
            "discovery failed",
            "wrong path token",
            "signature mismatch",
        ] {
            assert!(logs.contains(expected), "the log has no {expected:?}");
        }
        assert!(answers.iter().any(|a| a.starts_with("401")), "{answers:?}");
        assert!(answers.iter().any(|a| a.starts_with("202")), "{answers:?}");
        assert!(metrics.contains("imagebump_"), "{metrics}");

        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("robot:{REGISTRY_PASSWORD}"));
        let minted = app.valid_tokens();
        assert!(!minted.is_empty(), "the App minted installation tokens");
        // Every line of the key's base64 body.
        let key_lines = key
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
            .map(str::to_string);
        let secrets: Vec<String> = [
            github.token(),
            gitlab.token(),
            REFUSED_TOKEN.to_string(),
            DISCOVER_TOKEN.to_string(),
            HOOK_SECRET.to_string(),
            WHSEC.to_string(),
            WHSEC.trim_start_matches("whsec_").to_string(),
            PATH_TOKEN.to_string(),
            REGISTRY_PASSWORD.to_string(),
            basic,
            REGISTRY_TOKEN.to_string(),
            STORE_PASSWORD.to_string(),
            STATUS_TOKEN.to_string(),
            ADMIN_TOKEN.to_string(),
        ]
        .into_iter()
        .chain(minted)
        .chain(key_lines)
        .collect();
        for secret in &secrets {
            for (what, text) in [
                ("the log", &logs),
                ("the metrics", &metrics),
                ("an HTTP answer", &answers.join("\n")),
            ] {
                if let Some(at) = text.find(secret.as_str()) {
                    let line = text[..at].lines().count();
                    panic!("{what} carries a secret (line {line})");
                }
            }
        }
    })
    .await;
}
