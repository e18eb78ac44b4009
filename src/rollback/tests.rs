use std::collections::BTreeMap;

use super::*;
use crate::policy::{UpdateType, parse_config};

const CONFIG: &str = "policies:\n  - name: web\n    image: r.test/acme/web\n    semver: ^1\n  - name: api\n    image: r.test/acme/api\n    semver: ^2\n";

fn config() -> RepoConfig {
    parse_config(".imagebump.yaml", CONFIG).expect("config")
}

fn file(path: &str, text: &str) -> SourceFile {
    SourceFile {
        path: path.into(),
        text: text.into(),
    }
}

fn v(tag: &str) -> Version {
    Version {
        tag: tag.into(),
        digest: None,
    }
}

fn key(policy: &str, file: &str, place: u32) -> RefKey {
    RefKey {
        policy: policy.into(),
        file: file.into(),
        place,
    }
}

fn web(tags: &[&str]) -> SourceFile {
    let mut text = String::new();
    for t in tags {
        text.push_str(&format!(
            "- image: r.test/acme/web:{t}\n- image: r.test/acme/api:2.0.0\n"
        ));
    }
    file("apps/web.yaml", &text)
}

fn moved(before: &[&str], after: &[&str], revert: bool) -> Vec<Moved> {
    let c = config();
    let b = managed(&c, &web(before)).unwrap();
    let a = managed(&c, &web(after)).unwrap();
    moves(&c, &b, &a, revert)
}

const MADE: Made<'static> = Made {
    commit: "c0ffee",
    author: "ops@example.com",
    at_ms: 7,
};

fn hold(place: u32, from: &str, to: &str) -> RollbackHold {
    RollbackHold {
        key: key("web", "apps/web.yaml", place),
        from: v(from),
        to: v(to),
        commit: MADE.commit.into(),
        author: MADE.author.into(),
        at_ms: MADE.at_ms,
    }
}

#[test]
fn references_are_placed_per_policy_in_file_order() {
    let m = managed(&config(), &web(&["1.4.9", "1.5.0"])).unwrap();
    let keys: Vec<(String, u32, usize, String)> = m
        .iter()
        .map(|m| {
            (
                m.key.policy.clone(),
                m.key.place,
                m.line,
                m.version.tag.clone(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            ("web".into(), 1, 1, "1.4.9".into()),
            ("api".into(), 1, 2, "2.0.0".into()),
            ("web".into(), 2, 3, "1.5.0".into()),
            ("api".into(), 2, 4, "2.0.0".into()),
        ]
    );
    assert_eq!(managed(&config(), &file("x.yaml", "a: [")), None);
    assert_eq!(
        managed(&config(), &file(".imagebump.yaml", CONFIG)),
        Some(Vec::new())
    );
}

#[test]
fn lowering_is_a_rollback_raising_is_not() {
    assert_eq!(
        moved(&["1.5.0"], &["1.4.9"], false),
        vec![Moved::Lowered {
            key: key("web", "apps/web.yaml", 1),
            from: v("1.5.0"),
            to: v("1.4.9"),
        }]
    );
    assert_eq!(
        moved(&["1.4.9"], &["1.5.0"], false),
        vec![Moved::Raised {
            key: key("web", "apps/web.yaml", 1)
        }]
    );
    assert_eq!(moved(&["1.5.0"], &["1.5.0"], false), vec![]);
    // Only the second reference moved.
    assert_eq!(
        moved(&["1.5.0", "1.5.0"], &["1.5.0", "1.4.0"], false),
        vec![Moved::Lowered {
            key: key("web", "apps/web.yaml", 2),
            from: v("1.5.0"),
            to: v("1.4.0"),
        }]
    );
}

#[test]
fn unclear_changes_are_rollbacks_only_in_a_revert_of_the_bot() {
    // `latest` is not a semver version: no order can be told.
    assert_eq!(moved(&["1.5.0"], &["latest"], false), vec![]);
    let lowered = Moved::Lowered {
        key: key("web", "apps/web.yaml", 1),
        from: v("1.5.0"),
        to: v("latest"),
    };
    assert_eq!(moved(&["1.5.0"], &["latest"], true), vec![lowered]);
    // A revert that raises is still a raise.
    assert_eq!(
        moved(&["1.4.0"], &["1.5.0"], true),
        vec![Moved::Raised {
            key: key("web", "apps/web.yaml", 1)
        }]
    );
}

#[test]
fn an_added_or_removed_reference_shifts_places_and_is_not_compared() {
    assert_eq!(moved(&["1.5.0", "1.5.0"], &["1.4.0"], false), vec![]);
    assert_eq!(moved(&["1.5.0"], &["1.4.0", "1.5.0"], false), vec![]);
}

#[test]
fn a_second_rollback_keeps_the_higher_from_version_and_a_raise_releases() {
    let c = config();
    let mut holds = BTreeMap::new();
    let k = key("web", "apps/web.yaml", 1);
    let lower = |from: &str, to: &str| Moved::Lowered {
        key: k.clone(),
        from: v(from),
        to: v(to),
    };
    take(&mut holds, &c, &[lower("1.5.0", "1.4.9")], MADE);
    assert_eq!(holds[&k], hold(1, "1.5.0", "1.4.9"));
    let later = Made {
        commit: "beef",
        ..MADE
    };
    take(&mut holds, &c, &[lower("1.4.9", "1.4.8")], later);
    assert_eq!(holds[&k].from, v("1.5.0"), "still holds what it held");
    assert_eq!(
        (holds[&k].to.clone(), holds[&k].commit.as_str()),
        (v("1.4.8"), "beef")
    );
    take(&mut holds, &c, &[Moved::Raised { key: k.clone() }], MADE);
    assert!(holds.is_empty());
}

#[test]
fn holds_the_base_no_longer_bears_are_superseded() {
    let c = config();
    let mut holds: BTreeMap<RefKey, RollbackHold> = [
        hold(1, "1.5.0", "1.4.9"),
        hold(2, "1.5.0", "1.4.9"),
        hold(3, "1.5.0", "1.4.9"),
    ]
    .into_iter()
    .map(|h| (h.key.clone(), h))
    .collect();
    let mut other = hold(1, "1.5.0", "1.4.9");
    other.key.file = "apps/gone.yaml".into();
    holds.insert(other.key.clone(), other);
    // Place 1 is above 1.5.0 now, place 2 still at 1.4.9, place 3 is gone.
    let files = [web(&["1.5.1", "1.4.9"])];
    let gone = superseded(&mut holds, &c, &files, &[]);
    let why: Vec<(String, u32, &str)> = gone
        .iter()
        .map(|(h, why)| (h.key.file.clone(), h.key.place, *why))
        .collect();
    assert_eq!(
        why,
        vec![
            ("apps/gone.yaml".into(), 1, "its file is gone"),
            (
                "apps/web.yaml".into(),
                1,
                "it is above the rolled-back-from version now"
            ),
            ("apps/web.yaml".into(), 3, "the reference is gone"),
        ]
    );
    assert_eq!(holds.keys().map(|k| k.place).collect::<Vec<_>>(), vec![2]);
    // A file that does not parse now tells nothing: the hold stays.
    let broken = [file("apps/web.yaml", "a: [")];
    assert!(superseded(&mut holds, &c, &broken, &[]).is_empty());
    // Nor does one that could not be read (too large, not UTF-8).
    assert!(superseded(&mut holds, &c, &[], &["apps/web.yaml"]).is_empty());
    assert_eq!(holds.len(), 1);
}

fn bump(line: usize, from: &str, to: &str) -> Bump {
    Bump {
        file: "apps/web.yaml".into(),
        line,
        image: "r.test/acme/web".into(),
        policy: "web".into(),
        update: UpdateType::Patch,
        from: v(from),
        to: v(to),
        passed_over: Vec::new(),
        edits: Vec::new(),
        environment: None,
        promotion: None,
    }
}

#[test]
fn held_versions_are_withheld_and_newer_ones_are_not_auto_merged() {
    let c = config();
    let files = [web(&["1.4.9", "1.4.9"])];
    let holds = [hold(1, "1.5.0", "1.4.9")];
    // Line 1 is held; line 3 (place 2) is not.
    let mut bumps = vec![bump(1, "1.4.9", "1.5.0"), bump(3, "1.4.9", "1.5.0")];
    let r = restrain(&c, &holds, &files, &mut bumps, true);
    assert_eq!(bumps.iter().map(|b| b.line).collect::<Vec<_>>(), vec![3]);
    assert_eq!(r.withheld.len(), 1);
    assert!(r.unmerged.is_empty());

    let mut bumps = vec![bump(1, "1.4.9", "1.5.1"), bump(3, "1.4.9", "1.5.1")];
    let r = restrain(&c, &holds, &files, &mut bumps, true);
    assert_eq!(bumps.len(), 2);
    assert_eq!(
        r.unmerged,
        vec![("apps/web.yaml".into(), 1, holds[0].clone())]
    );
    assert_eq!(r.holds_of(&bumps), vec![&holds[0]]);
    assert!(r.holds_of(&bumps[1..]).is_empty());

    // Direct mode: not even a newer fix.
    let mut bumps = vec![bump(1, "1.4.9", "1.5.1")];
    let r = restrain(&c, &holds, &files, &mut bumps, false);
    assert!(bumps.is_empty());
    assert_eq!(r.withheld.len(), 1);
}

#[test]
fn reverted_commits_are_read_from_the_message() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(
        reverted(&format!(
            "Revert \"Bump web to 1.5.0\"\n\nThis reverts commit {sha}.\n"
        )),
        Some(sha)
    );
    assert_eq!(reverted("This reverts commit abc."), None, "too short");
    assert_eq!(reverted("web: back to 1.4.9"), None);
}
