use super::*;

const FILE: &str = ".imagebump.yaml";

fn ok(text: &str) -> RepoConfig {
    match parse_config(FILE, text) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got {e:#?}"),
    }
}

/// The single error a config produces, as `line:column: message (hint)`.
fn one_err(text: &str) -> ConfigError {
    let errs = parse_config(FILE, text).expect_err("expected an error");
    assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
    errs.into_iter().next().unwrap()
}

#[test]
fn full_example_from_the_design_parses() {
    let c = ok(include_str!("../../../config/example.imagebump.yaml"));
    assert_eq!(c.files, ["clusters/**/*.yaml", "apps/**/values.yaml"]);
    assert_eq!(c.exclude, ["clusters/legacy/**"]);
    assert_eq!(c.policies.len(), 2);
    let web = c.policy("web").unwrap();
    assert_eq!(web.image.to_string(), "ghcr.io/acme/web");
    assert!(matches!(web.rule, Rule::Semver(ref r) if r.source == "^1.4"));
    assert_eq!(web.automerge, [UpdateType::Patch, UpdateType::Minor]);
    let api = c.policy("api").unwrap();
    assert_eq!(api.digest, DigestMode::Pin);
    let Rule::Tags(rule) = &api.rule else {
        panic!("tags rule")
    };
    assert_eq!(rule.order, Order::Numerical);
    assert_eq!(rule.extract.as_deref(), Some("$ts"));
    // Three default exclusions plus the user's one.
    assert_eq!(api.exclude.len(), DEFAULT_TAG_EXCLUDES.len() + 1);
    assert_eq!(c.pull_requests.labels, ["dependencies"]);
    assert_eq!(c.pull_requests.group, Group::PerPolicy);
    assert_eq!(
        web.min_release_age,
        std::time::Duration::from_secs(3 * 86_400)
    );
    assert_eq!(api.min_release_age, std::time::Duration::from_secs(86_400));
}

#[test]
fn defaults_apply_when_keys_are_absent() {
    let c = ok("policies:\n  - name: web\n    image: nginx\n");
    assert_eq!(c.files, ["**/*.yaml", "**/*.yml"]);
    assert!(c.exclude.is_empty());
    let p = &c.policies[0];
    assert_eq!(p.image.to_string(), "docker.io/library/nginx");
    assert!(matches!(p.rule, Rule::Semver(ref r) if r.source == "*"));
    assert!(!p.prerelease);
    assert_eq!(p.digest, DigestMode::Off);
    assert_eq!(p.exclude.len(), DEFAULT_TAG_EXCLUDES.len());
    assert_eq!(c.pull_requests, PullRequests::default());
}

#[test]
fn unknown_top_level_key_names_line_column_and_suggests() {
    let e = one_err("policies: []\npolicys: []\n");
    assert_eq!((e.line, e.column), (2, 1));
    assert_eq!(e.message, "unknown key `policys` in the config");
    assert_eq!(e.hint.as_deref(), Some("did you mean `policies`?"));
    assert_eq!(
        e.to_string(),
        ".imagebump.yaml:2:1: unknown key `policys` in the config (hint: did you mean `policies`?)"
    );
}

#[test]
fn unknown_policy_key_lists_allowed_keys_when_nothing_is_close() {
    let e = one_err("policies:\n  - name: web\n    image: nginx\n    colour: blue\n");
    assert_eq!((e.line, e.column), (4, 5));
    assert!(e.hint.unwrap().starts_with("allowed keys: name, image"));
}

#[test]
fn misspelt_policy_key_is_suggested() {
    let e = one_err("policies:\n  - name: web\n    image: nginx\n    semvar: ^1\n");
    assert_eq!(e.hint.as_deref(), Some("did you mean `semver`?"));
}

#[test]
fn bad_regex_names_the_value() {
    let e = one_err(
        "policies:\n  - name: api\n    image: acme/api\n    tags:\n      pattern: '^main-(\\d+'\n      order: numerical\n",
    );
    assert_eq!((e.line, e.column), (5, 16));
    assert!(
        e.message
            .starts_with("`pattern` is not a valid regular expression"),
        "{e}"
    );
    assert!(!e.message.contains('\n'));
}

#[test]
fn bad_exclude_regex_is_reported() {
    let e = one_err(
        "policies:\n  - name: api\n    image: acme/api\n    tags:\n      order: alphabetical\n      exclude: ['(']\n",
    );
    assert_eq!(e.line, 6);
    assert!(e.message.contains("not a valid regular expression"));
}

#[test]
fn duplicate_policy_names_are_rejected() {
    let e =
        one_err("policies:\n  - name: web\n    image: a/web\n  - name: web\n    image: b/web\n");
    assert_eq!((e.line, e.column), (4, 11));
    assert_eq!(e.message, "duplicate policy name `web`");
}

#[test]
fn duplicate_keys_are_rejected() {
    let e = one_err("policies:\n  - name: web\n    image: a/web\n    name: other\n");
    assert_eq!(e.message, "duplicate key `name` in a policy");
}

#[test]
fn image_with_a_tag_is_rejected_with_a_hint() {
    let e = one_err("policies:\n  - name: web\n    image: ghcr.io/acme/web:1.0\n");
    assert_eq!((e.line, e.column), (3, 12));
    assert!(e.message.contains("without tag"), "{e}");
}

#[test]
fn invalid_image_repository_is_rejected() {
    let e = one_err("policies:\n  - name: web\n    image: ghcr.io/Acme/Web\n");
    assert!(e.message.contains("is not an image repository"), "{e}");
}

#[test]
fn semver_and_tags_together_are_rejected() {
    let e = one_err(
        "policies:\n  - name: web\n    image: a/web\n    semver: ^1\n    tags:\n      order: numerical\n",
    );
    assert_eq!(
        e.message,
        "a policy takes either `semver` or `tags`, not both"
    );
}

#[test]
fn missing_name_and_image_are_both_reported() {
    let errs = parse_config(FILE, "policies:\n  - semver: ^1\n").unwrap_err();
    let msgs: Vec<_> = errs.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        msgs,
        ["a policy needs a `name`", "a policy needs an `image`"]
    );
}

#[test]
fn tags_without_order_is_rejected() {
    let e = one_err("policies:\n  - name: a\n    image: a/b\n    tags:\n      pattern: '^x'\n");
    assert_eq!(e.message, "`tags` needs an `order`");
}

#[test]
fn extract_must_name_a_group_of_the_pattern() {
    let e = one_err(
        "policies:\n  - name: a\n    image: a/b\n    tags:\n      pattern: '^main-(?P<ts>\\d+)$'\n      extract: '$when'\n      order: numerical\n",
    );
    assert_eq!(
        e.message,
        "`extract` refers to group `when`, which `pattern` does not have"
    );
    ok(
        "policies:\n  - name: a\n    image: a/b\n    tags:\n      pattern: '^main-(\\d+)$'\n      extract: '${1}'\n      order: numerical\n",
    );
}

#[test]
fn wrong_types_are_named() {
    let e = one_err("policies:\n  - name: web\n    image: a/web\n    prerelease: yes\n");
    assert_eq!(e.message, "`prerelease` must be true or false, found `yes`");
    let e = one_err("policies: {name: web}\n");
    assert_eq!(e.message, "`policies` must be a list, found a mapping");
    let e = one_err("files: '**/*.yaml'\npolicies: []\n");
    assert_eq!(e.message, "`files` must be a list, found `**/*.yaml`");
}

#[test]
fn bad_enum_values_are_named() {
    let e = one_err("policies:\n  - name: web\n    image: a/web\n    digest: always\n");
    assert_eq!(e.message, "`digest` must be pin or off, found `always`");
    let e = one_err("policies:\n  - name: web\n    image: a/web\n    automerge: [patch, tiny]\n");
    assert_eq!(e.message, "unknown update type `tiny` in `automerge`");
    let e = one_err("policies: []\npullRequests:\n  group: per-team\n");
    assert_eq!(
        e.message,
        "`group` must be per-policy, per-file or all, found `per-team`"
    );
}

#[test]
fn bad_glob_is_rejected() {
    let e = one_err("files: ['apps/[a-']\npolicies: []\n");
    assert!(
        e.message.starts_with("`apps/[a-` is not a valid glob"),
        "{e}"
    );
}

#[test]
fn bad_branch_prefix_is_rejected() {
    let e = one_err("policies: []\npullRequests:\n  branchPrefix: 'bot..x/'\n");
    assert!(e.message.contains("not usable in a branch name"));
}

#[test]
fn policy_name_must_be_branch_safe() {
    let e = one_err("policies:\n  - name: 'my web'\n    image: a/web\n");
    assert!(e.message.contains("may only use letters"));
}

#[test]
fn invalid_yaml_names_line() {
    let e = one_err("policies:\n  - name: web\n    image: [a\n");
    assert!(e.message.starts_with("not valid YAML"), "{e}");
    assert!(e.line >= 3);
}

#[test]
fn empty_and_non_mapping_configs_are_rejected() {
    assert_eq!(one_err("").message, "the config is empty");
    assert_eq!(one_err("# nothing\n").message, "the config is empty");
    assert_eq!(
        one_err("- a\n").message,
        "the config must be a mapping, found a list"
    );
    assert_eq!(
        one_err("files: []\n").message,
        "the config has no `policies`"
    );
    assert_eq!(
        one_err("policies: []\n---\npolicies: []\n").message,
        "the config must be a single YAML document"
    );
}

#[test]
fn several_errors_are_reported_together() {
    let errs = parse_config(
        FILE,
        "policies:\n  - name: web\n    image: a/web\n    digest: x\n  - name: api\n    image: A\n",
    )
    .unwrap_err();
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[0].line, 4);
    assert_eq!(errs[1].line, 6);
}

#[test]
fn schema_lists_exactly_the_keys_the_parser_accepts() {
    let s = crate::policy::schema::schema();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    let sorted = |a: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(keys(&s), sorted(TOP_KEYS));
    let policy = &s["properties"]["policies"]["items"];
    assert_eq!(keys(policy), sorted(POLICY_KEYS));
    assert_eq!(keys(&policy["properties"]["tags"]), sorted(TAGS_KEYS));
    assert_eq!(keys(&s["properties"]["pullRequests"]), sorted(PR_KEYS));
    let env = &s["properties"]["environments"]["items"];
    assert_eq!(keys(env), sorted(environments::ENV_KEYS));
    assert_eq!(
        env["properties"]["require"]["items"]["enum"],
        serde_json::json!(environments::REQUIREMENTS)
    );
}

#[test]
fn bad_semver_range_names_the_value() {
    let e = one_err("policies:\n  - name: web\n    image: a/web\n    semver: '^1.x.q'\n");
    // The column of `1.x.q` inside the quotes: the word that is unclear.
    assert_eq!((e.line, e.column), (4, 15));
    assert!(
        e.message.starts_with("`^1.x.q` is not a semver range"),
        "{e}"
    );
    assert!(!e.message.contains('\n'));
}

#[test]
fn npm_style_and_alternative_ranges_are_accepted() {
    for r in [
        ">=1.0.0 <2.0.0",
        "^1.4 || ^2.0",
        ">=1.0.0, <2.0.0",
        "1.*",
        "*",
        "~1.4.2",
    ] {
        ok(&format!(
            "policies:\n  - name: web\n    image: a/web\n    semver: '{r}'\n"
        ));
    }
}

#[test]
fn min_release_age_takes_durations_and_a_default_under_pull_requests() {
    let c = ok(
        "pullRequests:\n  minReleaseAge: 12h\npolicies:\n  - name: web\n    image: a/web\n    minReleaseAge: 3d\n  - name: api\n    image: a/api\n  - name: now\n    image: a/now\n    minReleaseAge: 0s\n",
    );
    let age = |name: &str| c.policy(name).unwrap().min_release_age;
    assert_eq!(age("web"), std::time::Duration::from_secs(3 * 86_400));
    assert_eq!(age("api"), std::time::Duration::from_secs(12 * 3600));
    assert_eq!(age("now"), std::time::Duration::ZERO);
    let none = ok("policies:\n  - name: web\n    image: a/web\n");
    assert_eq!(none.policies[0].min_release_age, std::time::Duration::ZERO);
}

#[test]
fn a_bad_min_release_age_names_its_value_and_the_units() {
    let e = one_err("policies:\n  - name: web\n    image: a/web\n    minReleaseAge: 3 days\n");
    assert_eq!((e.line, e.column), (4, 20));
    assert!(
        e.message
            .contains("`minReleaseAge` must be a duration, found `3 days`"),
        "{e}"
    );
    assert!(e.to_string().contains("3d"), "{e}");
    let e = one_err(
        "pullRequests:\n  minReleaseAge: 400d\npolicies:\n  - name: web\n    image: a/web\n",
    );
    assert!(e.message.contains("at most 366 days"), "{e}");
}
