use super::*;
use crate::plan::Version;
use crate::policy::parse_config;

fn bump(policy: &str, file: &str, from: &str, to: &str, update: UpdateType) -> Bump {
    Bump {
        file: file.into(),
        line: 3,
        image: format!("ghcr.io/acme/{policy}"),
        policy: policy.into(),
        update,
        from: Version {
            tag: from.into(),
            digest: None,
        },
        to: Version {
            tag: to.into(),
            digest: None,
        },
        passed_over: Vec::new(),
        environment: None,
        promotion: None,
        edits: Vec::new(),
    }
}

fn config(group: &str) -> RepoConfig {
    parse_config(
        ".imagebump.yaml",
        &format!(
            "policies:\n  - name: web\n    image: ghcr.io/acme/web\n    automerge: [patch]\n  - name: api\n    image: ghcr.io/acme/api\n    automerge: [patch, minor]\npullRequests:\n  group: {group}\n"
        ),
    )
    .unwrap()
}

fn report() -> Report {
    Report {
        bumps: vec![
            bump("web", "apps/web.yaml", "1.4.2", "1.4.3", UpdateType::Patch),
            bump(
                "web",
                "apps/other.yaml",
                "1.4.2",
                "1.4.3",
                UpdateType::Patch,
            ),
            bump("api", "apps/web.yaml", "2.0.0", "2.1.0", UpdateType::Minor),
        ],
        ..Report::default()
    }
}

fn branches(changes: &[Change]) -> Vec<(&str, usize)> {
    changes
        .iter()
        .map(|c| (c.branch.as_str(), c.bumps.len()))
        .collect()
}

#[test]
fn per_policy_is_the_default_grouping() {
    let changes = group(&report(), &config("per-policy"));
    assert_eq!(
        branches(&changes),
        [("imagebump/api", 1), ("imagebump/web", 2)]
    );
    assert_eq!(changes[1].title(), "Bump web to 1.4.3");
}

#[test]
fn per_file_groups_by_path() {
    let changes = group(&report(), &config("per-file"));
    assert_eq!(
        branches(&changes),
        [
            ("imagebump/apps-other.yaml", 1),
            ("imagebump/apps-web.yaml", 2)
        ]
    );
    assert_eq!(changes[1].title(), "Bump web to 1.4.3 and api to 2.1.0");
}

#[test]
fn all_is_one_change() {
    let mut r = report();
    r.bumps
        .push(bump("db", "x.yaml", "1", "2", UpdateType::Major));
    let changes = group(&r, &config("all"));
    assert_eq!(branches(&changes), [("imagebump/all", 4)]);
    assert_eq!(changes[0].title(), "Bump 3 images");
}

#[test]
fn automerge_needs_every_bump_allowed() {
    let c = config("all");
    let changes = group(&report(), &c);
    assert!(
        changes[0].automerge_allowed(&c),
        "web patch and api minor are both allowed"
    );
    let mut r = report();
    r.bumps
        .push(bump("web", "y.yaml", "1.4.2", "1.5.0", UpdateType::Minor));
    assert!(
        !group(&r, &c)[0].automerge_allowed(&c),
        "a web minor is not"
    );
}

#[test]
fn marker_round_trips_through_the_body() {
    let changes = group(&report(), &config("per-policy"));
    let body = changes[1].body();
    assert!(
        body.contains("| `apps/web.yaml:3` | `ghcr.io/acme/web` | `1.4.2` | `1.4.3` | patch |"),
        "{body}"
    );
    let m = decode_marker(&body).expect("marker");
    assert_eq!(m, changes[1].marker());
    assert_eq!(m.bumps[0].to, "1.4.3");
    assert_eq!(decode_marker("a human wrote this"), None);
    assert_eq!(decode_marker("<!-- imagebump: {not json} -->"), None);
}

#[test]
fn commit_message_has_one_trailer_set_per_distinct_bump() {
    let changes = group(&report(), &config("all"));
    assert_eq!(
        changes[0].commit_message(),
        "Bump web to 1.4.3 and api to 2.1.0\n\nImagebump-Policy: web\nImagebump-From: 1.4.2\nImagebump-To: 1.4.3\nImagebump-Policy: api\nImagebump-From: 2.0.0\nImagebump-To: 2.1.0\n"
    );
}

fn promoted(mut b: Bump, env: &str, from: &str, digest: Option<&str>) -> Bump {
    b.to.digest = digest.map(str::to_string);
    b.environment = Some(env.into());
    b.promotion = Some(crate::plan::promote::Promotion {
        environment: env.into(),
        from: from.into(),
        commit: "0123456789abcdef".into(),
        since_ms: 0,
        checks: crate::plan::promote::CheckResult::Passed,
        digest_pinned: digest.is_some(),
    });
    b
}

fn env_config(group: &str) -> RepoConfig {
    parse_config(
        ".imagebump.yaml",
        &format!(
            "policies:\n  - name: web\n    image: ghcr.io/acme/web\n    automerge: [patch]\npullRequests:\n  group: {group}\nenvironments:\n  - name: dev\n    files: [dev/**]\n  - name: staging\n    files: [staging/**]\n    promoteFrom: dev\n  - name: prod\n    files: [prod/**]\n    promoteFrom: staging\n    automerge: true\n"
        ),
    )
    .unwrap()
}

#[test]
fn environments_get_branches_of_their_own_and_promotions_say_where_from() {
    let mut dev = bump("web", "dev/web.yaml", "1.4.2", "1.4.3", UpdateType::Patch);
    dev.environment = Some("dev".into());
    let outside = bump("web", "apps/web.yaml", "1.4.2", "1.4.3", UpdateType::Patch);
    let staging = promoted(
        bump(
            "web",
            "staging/web.yaml",
            "1.4.2",
            "1.4.3",
            UpdateType::Patch,
        ),
        "staging",
        "dev",
        None,
    );
    let d = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let prod = promoted(
        bump("web", "prod/web.yaml", "1.4.1", "1.4.3", UpdateType::Patch),
        "prod",
        "staging",
        Some(d),
    );
    for how in ["per-policy", "per-file", "all"] {
        let c = env_config(how);
        let r = Report {
            bumps: vec![dev.clone(), outside.clone(), staging.clone(), prod.clone()],
            ..Report::default()
        };
        let changes = group(&r, &c);
        assert_eq!(changes.len(), 4, "{how}: one change per environment");
        let branches: HashSet<&str> = changes.iter().map(|c| c.branch.as_str()).collect();
        assert_eq!(branches.len(), 4, "{how}");
    }
    let c = env_config("per-policy");
    let r = Report {
        bumps: vec![dev, outside, staging, prod],
        ..Report::default()
    };
    let changes = group(&r, &c);
    let by = |b: &str| changes.iter().find(|c| c.branch == b).unwrap();
    assert_eq!(by("imagebump/dev-web").title(), "Bump web to 1.4.3");
    assert_eq!(by("imagebump/web").title(), "Bump web to 1.4.3");
    let s = by("imagebump/staging-web");
    assert_eq!(s.title(), "Promote web 1.4.3 to staging");
    let body = s.body();
    assert!(body.contains("| `ghcr.io/acme/web` | `1.4.3` | dev | `0123456789abcdef` | 1970-01-01T00:00:00Z | passed | not pinned in the source"), "{body}");
    assert!(
        s.commit_message()
            .contains("Imagebump-Promoted-From: dev 0123456789abcdef\n")
    );
    let marker = decode_marker(&body).unwrap();
    assert_eq!(marker.bumps[0].promoted_from.as_deref(), Some("dev"));
    assert_eq!(marker.bumps[0].environment.as_deref(), Some("staging"));
    let p = by("imagebump/prod-web");
    assert!(
        p.body().contains(&format!("| passed | `{d}` |")),
        "{}",
        p.body()
    );
    // A promotion merges as its environment says, not as its policy does.
    assert!(!s.automerge_allowed(&c));
    assert!(p.automerge_allowed(&c));
    assert!(by("imagebump/dev-web").automerge_allowed(&c));
}

#[test]
fn a_marker_without_environments_still_decodes() {
    let old = format!(
        "{MARKER_START}{{\"version\":1,\"branch\":\"imagebump/web\",\"bumps\":[{{\"policy\":\"web\",\"image\":\"a/web\",\"file\":\"a.yaml\",\"from\":\"1\",\"to\":\"2\",\"update\":\"major\"}}]}}{MARKER_END}"
    );
    let m = decode_marker(&old).unwrap();
    assert_eq!(m.bumps[0].environment, None);
    assert_eq!(m.bumps[0].promoted_from, None);
}
