use std::io::Write;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn load(text: &str, vars: &[(&str, &str)]) -> anyhow::Result<ServiceConfig> {
    let f = file(text);
    ServiceConfig::load_from(Some(f.path()), env(vars))
}

fn err(text: &str, vars: &[(&str, &str)]) -> String {
    format!("{:#}", load(text, vars).unwrap_err())
}

const GITHUB_REPO: &str = "[[repos]]\nname = \"env\"\nurl = \"https://github.com/acme/env.git\"\nforge = \"github\"\ntoken = \"ghp_secret\"\n";

#[test]
fn embedded_defaults_alone_are_valid() {
    let c = ServiceConfig::load_from(None, env(&[])).unwrap();
    assert_eq!(c.listen, "127.0.0.1:8080");
    assert_eq!(c.data_dir, PathBuf::from("data"));
    assert_eq!(c.poll_interval, Duration::from_secs(300));
    assert_eq!(c.min_run_gap, Duration::from_secs(2));
    assert_eq!(c.git.name, "imagebump");
    assert!(c.repos.is_empty());
}

#[test]
fn the_registry_budget_defaults_are_the_clients_and_can_be_set() {
    let c = ServiceConfig::load_from(None, env(&[])).unwrap();
    assert_eq!(
        c.registry.max_rps_per_host,
        crate::registry::DEFAULT_MAX_RPS_PER_HOST
    );
    assert_eq!(
        c.registry.burst_per_host,
        crate::registry::DEFAULT_BURST_PER_HOST
    );
    let c = load(
        "[registry]\nmax_rps_per_host = 2.5\nburst_per_host = 7\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        (c.registry.max_rps_per_host, c.registry.burst_per_host),
        (2.5, 7)
    );
    assert_eq!(
        (c.registry.timeout, c.registry.max_retries),
        (
            crate::registry::DEFAULT_TIMEOUT,
            crate::registry::DEFAULT_MAX_RETRIES
        )
    );
    let c = load("[registry]\ntimeout = \"2s\"\nmax_retries = 1\n", &[]).unwrap();
    assert_eq!(
        (c.registry.timeout, c.registry.max_retries),
        (Duration::from_secs(2), 1)
    );
    assert!(
        err("[registry]\ntimeout = \"10ms\"\n", &[]).contains("`registry.timeout`"),
        "a deadline too short to meet"
    );
    assert!(err("[registry]\nmax_retries = 99\n", &[]).contains("`registry.max_retries`"));
    let c = load("", &[("IMAGEBUMP_REGISTRY__BURST_PER_HOST", "3")]).unwrap();
    assert_eq!(c.registry.burst_per_host, 3);
    let e = err("[registry]\nburst_per_host = 0\n", &[]);
    assert!(
        e.contains("`registry.burst_per_host` must be at least 1"),
        "{e}"
    );
    let e = err("[registry]\nmax_rps_per_host = -1.0\n", &[]);
    assert!(e.contains("`registry.max_rps_per_host`"), "{e}");
}

#[test]
fn the_example_config_is_valid() {
    let c = ServiceConfig::load_from(
        Some(Path::new("config/imagebump.toml")),
        env(&[("IMAGEBUMP_REPOS__ENV__TOKEN", "t")]),
    )
    .unwrap();
    assert!(!c.repos.is_empty());
}

#[test]
fn file_then_environment_override_defaults() {
    let c = load(
        &format!("listen = \"0.0.0.0:9000\"\npoll_interval = \"30s\"\n{GITHUB_REPO}"),
        &[
            ("IMAGEBUMP_POLL_INTERVAL", "1h30m"),
            ("IMAGEBUMP_MIN_RUN_GAP", "500ms"),
            ("IMAGEBUMP_REGISTRY__PAGE_SIZE", "50"),
            ("IMAGEBUMP_LOG", "debug"),
        ],
    )
    .unwrap();
    assert_eq!(c.listen, "0.0.0.0:9000");
    assert_eq!(c.poll_interval, Duration::from_secs(5400));
    assert_eq!(c.min_run_gap, Duration::from_millis(500));
    assert_eq!(c.registry.page_size, Some(50));
    let repo = &c.repos[0];
    assert_eq!(repo.branch, "main");
    assert_eq!(repo.project().as_deref(), Some("acme/env"));
}

#[test]
fn repository_keys_come_from_the_environment() {
    let c = load(
        GITHUB_REPO,
        &[
            ("IMAGEBUMP_REPOS__ENV__TOKEN", "from-env"),
            ("IMAGEBUMP_REPOS__ENV__BRANCH", "prod"),
        ],
    )
    .unwrap();
    assert_eq!(c.repos[0].token().unwrap().unwrap().expose(), "from-env");
    assert_eq!(c.repos[0].branch, "prod");
    assert!(
        err(GITHUB_REPO, &[("IMAGEBUMP_REPOS__OTHER__TOKEN", "x")]).contains("names no repository")
    );
}

#[test]
fn secrets_come_from_files_and_never_print() {
    let secret = file("  tok-from-file\n");
    let text = format!(
        "[[repos]]\nname = \"env\"\nurl = \"https://gitlab.example/g/env.git\"\nforge = \"gitlab\"\ntoken_file = \"{}\"\n",
        secret.path().display()
    );
    let c = load(&text, &[]).unwrap();
    let token = c.repos[0].token().unwrap().unwrap();
    assert_eq!(token.expose(), "tok-from-file");
    assert_eq!(format!("{token} {token:?}"), "*** ***");
    let c = load(GITHUB_REPO, &[]).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("ghp_secret"), "{debug}");
}

#[test]
fn missing_secret_file_names_the_repository() {
    let c = load("[[repos]]\nname = \"env\"\nurl = \"https://gitlab.example/g/env.git\"\nforge = \"gitlab\"\ntoken_file = \"/nonexistent/tok\"\n", &[]).unwrap();
    let e = format!("{:#}", c.repos[0].token().unwrap_err());
    assert!(
        e.contains("repository `env`") && e.contains("/nonexistent/tok"),
        "{e}"
    );
}

#[test]
fn invalid_values_name_the_key() {
    assert!(err("poll_interval = \"soon\"\n", &[]).contains("`soon` is not a duration"));
    assert!(err("poll_interval = \"soon\"\n", &[]).contains("poll_interval"));
    assert!(err("concurrency = \"many\"\n", &[]).contains("concurrency"));
    assert!(err("listen = \"localhost\"\n", &[]).contains("`listen`"));
    assert!(err("colour = 1\n", &[]).contains("colour"));
    assert!(
        err(
            "[[repos]]\nname = \"env\"\nurl = \"x\"\nforge = \"bitbucket\"\n",
            &[]
        )
        .contains("bitbucket")
    );
    assert!(
        err(
            "[[repos]]\nname = \"env\"\nurl = \"https://h/a/b\"\nforge = \"github\"\n",
            &[]
        )
        .contains("`repos[0]` (github) needs `token`")
    );
    assert!(
        err(&format!("{GITHUB_REPO}{GITHUB_REPO}"), &[])
            .contains("duplicate repository name `env`")
    );
    assert!(
        err(
            "[[repos]]\nname = \"env\"\nurl = \"https://h/x\"\nforge = \"gitlab\"\ntoken = \"t\"\n",
            &[]
        )
        .contains("`repos[0].project` is needed")
    );
    assert!(
        err("", &[("IMAGEBUMP_CONCURRENCY", "0")]).contains("`concurrency` must be at least 1")
    );
}

#[test]
fn the_signing_key_file_is_optional_and_comes_from_file_or_environment() {
    assert_eq!(load("", &[]).unwrap().git.signing_key_file, None);
    let c = load("[git]\nsigning_key_file = \"/etc/imagebump/key\"\n", &[]).unwrap();
    assert_eq!(
        c.git.signing_key_file.as_deref(),
        Some(Path::new("/etc/imagebump/key"))
    );
    assert_eq!(c.git.name, "imagebump", "the defaults' name stays");
    let c = load("", &[("IMAGEBUMP_GIT__SIGNING_KEY_FILE", "/run/key")]).unwrap();
    assert_eq!(
        c.git.signing_key_file.as_deref(),
        Some(Path::new("/run/key"))
    );
    let e = err("[git]\nsigning_key = \"x\"\n", &[]);
    assert!(e.contains("signing_key"), "{e}");
}

#[test]
fn tag_cache_ttl_defaults_to_a_minute_and_zero_turns_reuse_off() {
    let c = ServiceConfig::load_from(None, env(&[])).unwrap();
    assert_eq!(c.registry.tag_cache_ttl, Duration::from_secs(60));
    let c = load("[registry]\ntag_cache_ttl = \"0s\"\n", &[]).unwrap();
    assert_eq!(c.registry.tag_cache_ttl, Duration::ZERO);
    let c = load(
        "[registry]\ntag_cache_ttl = \"0s\"\n",
        &[("IMAGEBUMP_REGISTRY__TAG_CACHE_TTL", "2m30s")],
    )
    .unwrap();
    assert_eq!(c.registry.tag_cache_ttl, Duration::from_secs(150));
    let e = err("[registry]\ntag_cache_ttl = \"soon\"\n", &[]);
    assert!(
        e.contains("tag_cache_ttl") && e.contains("`soon` is not a duration"),
        "{e}"
    );
}

#[test]
fn a_cached_tag_list_never_outlives_one_poll() {
    use crate::service::tag_cache_ttl;
    let c = ServiceConfig::load_from(None, env(&[])).unwrap();
    assert_eq!(tag_cache_ttl(&c), Duration::from_secs(60), "5m polls");
    let c = load("poll_interval = \"2s\"\n", &[]).unwrap();
    assert_eq!(tag_cache_ttl(&c), Duration::from_secs(2));
    let c = load(
        "poll_interval = \"2s\"\n[registry]\ntag_cache_ttl = \"0s\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(tag_cache_ttl(&c), Duration::ZERO);
}

#[test]
fn webhook_sources_are_configured_per_name() {
    let c = load(
        "[hooks.github]\nsecrets = [\"a\", \"b\"]\n[hooks.gar]\naudience = \"https://bot.example/hooks/gar\"\njwks_url = \"https://www.googleapis.com/oauth2/v3/certs\"\nservice_accounts = [\"push@proj.iam.gserviceaccount.com\"]\n[hooks.nexus]\nsecrets = [\"n\"]\nregistry = \"nexus.example:8443\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.hooks["github"].all_secrets("github").unwrap().len(), 2);
    assert_eq!(
        c.hooks["gar"].service_accounts,
        ["push@proj.iam.gserviceaccount.com"]
    );
    assert_eq!(
        c.hooks["nexus"].registry.as_deref(),
        Some("nexus.example:8443")
    );
    assert_eq!(c.hook_body_limit, 1 << 20);
    let empty = load("[hooks.github]\nsecrets = [\"\"]\n", &[]).unwrap();
    let e = format!(
        "{:#}",
        empty.hooks["github"].all_secrets("github").unwrap_err()
    );
    assert!(
        e.contains("`hooks.github.secrets` has an empty secret"),
        "{e}"
    );
    assert!(
        err("[hooks.github]\nsecret = \"x\"\n", &[]).contains("secret"),
        "unknown key named"
    );
}
