use std::time::Duration;

use crate::policy::{ConfigError, Environment, RepoConfig, parse_config};

const POLICY: &str = "policies:\n  - name: web\n    image: a/web\n";

fn parse(envs: &str) -> Result<RepoConfig, Vec<ConfigError>> {
    parse_config(".imagebump.yaml", &format!("{POLICY}environments:\n{envs}"))
}

fn errors(envs: &str) -> Vec<String> {
    parse(envs)
        .expect_err("expected errors")
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn the_readme_example_parses() {
    let c = parse(
        "  - name: dev\n    files: [\"clusters/dev/**\"]\n  - name: staging\n    files: [\"clusters/staging/**\"]\n    promoteFrom: dev\n    after: 1h\n    require: [checks]\n    automerge: true\n  - name: prod\n    files: [\"clusters/prod/**\"]\n    promoteFrom: staging\n    after: 24h\n",
    )
    .expect("valid");
    assert_eq!(
        c.environments,
        [
            Environment {
                name: "dev".into(),
                files: vec!["clusters/dev/**".into()],
                promote_from: None,
                after: Duration::ZERO,
                require_checks: false,
                automerge: false,
            },
            Environment {
                name: "staging".into(),
                files: vec!["clusters/staging/**".into()],
                promote_from: Some("dev".into()),
                after: Duration::from_secs(3600),
                require_checks: true,
                automerge: true,
            },
            Environment {
                name: "prod".into(),
                files: vec!["clusters/prod/**".into()],
                promote_from: Some("staging".into()),
                after: Duration::from_secs(86_400),
                require_checks: false,
                automerge: false,
            },
        ]
    );
    assert_eq!(
        c.environment("prod").map(|e| e.after.as_secs()),
        Some(86_400)
    );
}

#[test]
fn names_are_unique() {
    let e = errors("  - name: dev\n    files: [a/**]\n  - name: dev\n    files: [b/**]\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains(":7:11: duplicate environment name `dev`"),
        "{e:?}"
    );
}

#[test]
fn promote_from_names_an_earlier_environment() {
    // A later one (which would also allow a cycle), an unknown one, itself.
    let e = errors(
        "  - name: staging\n    files: [s/**]\n    promoteFrom: dev\n  - name: dev\n    files: [d/**]\n  - name: prod\n    files: [p/**]\n    promoteFrom: qa\n  - name: loop\n    files: [l/**]\n    promoteFrom: loop\n",
    );
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(
        e[0].contains(":7:18: `promoteFrom: dev` names no environment listed before `staging`"),
        "{e:?}"
    );
    assert!(
        e[1].contains("`promoteFrom: qa`") && e[1].contains("one of staging, dev"),
        "{e:?}"
    );
    assert!(
        e[2].contains("`loop` cannot be promoted from itself"),
        "{e:?}"
    );
}

#[test]
fn require_takes_only_checks() {
    let e = errors(
        "  - name: dev\n    files: [d/**]\n  - name: qa\n    files: [q/**]\n    promoteFrom: dev\n    require: [checks, reviews]\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("unknown requirement `reviews`"), "{e:?}");
    assert!(e[0].contains("hint: one of checks"), "{e:?}");
}

#[test]
fn globs_names_and_durations_are_checked() {
    let e = errors(
        "  - name: 'dev env'\n    files: ['a/[']\n  - name: qa\n    files: []\n    promoteFrom: dev\n    after: soon\n",
    );
    assert!(
        e.iter()
            .any(|m| m.contains("environment name `dev env` may only use")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m.contains("`a/[` is not a valid glob")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("`files` of an environment may not be empty")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("`after` must be a duration, found `soon`")),
        "{e:?}"
    );
}

#[test]
fn promotion_keys_need_promote_from_and_files_and_name_are_required() {
    let e = errors(
        "  - name: dev\n    files: [d/**]\n    after: 1h\n  - files: [x/**]\n  - name: qa\n    automerge: yes\n",
    );
    assert!(
        e.iter()
            .any(|m| m.contains("`after` applies only to an environment with `promoteFrom`")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("an environment needs a `name`")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m.contains("an environment needs `files`")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("`automerge` must be true or false")),
        "{e:?}"
    );
}

#[test]
fn environments_must_be_a_list_of_mappings() {
    let e = errors("  dev: [a/**]\n");
    assert!(e[0].contains("`environments` must be a list"), "{e:?}");
    let e = errors("  - dev\n");
    assert!(e[0].contains("an environment must be a mapping"), "{e:?}");
}

#[test]
fn one_problem_does_not_hide_another() {
    // An invalid environment still counts as listed, and its own
    // `promoteFrom` is still checked.
    let e = errors(
        "  - name: dev\n    files: ['a/[']\n  - name: qa\n    files: [q/**]\n    promoteFrom: dev\n  - name: prod\n    files: [p/**]\n    promoteFrom: staging\n    require: [reviews]\n",
    );
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].contains("is not a valid glob"), "{e:?}");
    assert!(
        e[1].contains("`promoteFrom: staging` names no environment listed before `prod`"),
        "{e:?}"
    );
    assert!(e[1].contains("one of dev, qa"), "{e:?}");
    assert!(e[2].contains("unknown requirement `reviews`"), "{e:?}");
}
