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
