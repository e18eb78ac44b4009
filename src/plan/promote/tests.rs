use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::policy::parse_config;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn config() -> RepoConfig {
    parse_config(
        ".imagebump.yaml",
        "policies:\n  - name: web\n    image: ghcr.io/acme/web\n    semver: ^1.4\nenvironments:\n  - name: dev\n    files: [\"clusters/dev/**\"]\n  - name: staging\n    files: [\"clusters/staging/**\"]\n    promoteFrom: dev\n    after: 1h\n  - name: all\n    files: [\"clusters/**\"]\n",
    )
    .expect("valid")
}

fn file(path: &str, text: &str) -> SourceFile {
    SourceFile {
        path: path.into(),
        text: text.into(),
    }
}

fn v(tag: &str, digest: Option<&str>) -> Version {
    Version {
        tag: tag.into(),
        digest: digest.map(str::to_string),
    }
}

fn reference(text: &str) -> Reference {
    manifest::scan(text).expect("yaml").remove(0)
}

fn sources(version: &Version) -> BTreeMap<String, Result<Version, String>> {
    BTreeMap::from([("web".to_string(), Ok(version.clone()))])
}

fn passed(version: Version) -> BTreeMap<String, Result<Passed, String>> {
    BTreeMap::from([(
        "web".to_string(),
        Ok(Passed {
            version,
            commit: "abc123".into(),
            since_ms: 1_000,
            checks: CheckResult::Passed,
        }),
    )])
}

#[test]
fn a_file_belongs_to_the_first_environment_that_matches() {
    let c = config();
    let envs = Environments::new(&c).unwrap();
    assert_eq!(envs.of("clusters/dev/web.yaml").unwrap().name, "dev");
    assert_eq!(
        envs.of("clusters/staging/a/b.yaml").unwrap().name,
        "staging"
    );
    assert_eq!(envs.of("clusters/prod.yaml").unwrap().name, "all");
    assert!(envs.of("apps/web.yaml").is_none());
}

#[test]
fn promoted_files_do_not_follow_the_registry() {
    let c = config();
    let files = [
        file("clusters/dev/a.yaml", "image: ghcr.io/acme/web:1.4.2\n"),
        file(
            "clusters/staging/a.yaml",
            "x: 1\nimage: ghcr.io/acme/web:1.4.2\n",
        ),
        file("clusters/other.yaml", "image: ghcr.io/acme/web:1.4.2\n"),
    ];
    let (kept, skipped) = followed(&c, &files).unwrap();
    let kept: Vec<&str> = kept.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(kept, ["clusters/dev/a.yaml", "clusters/other.yaml"]);
    assert_eq!(skipped.len(), 1);
    assert_eq!(
        (skipped[0].file.as_str(), skipped[0].line),
        ("clusters/staging/a.yaml", 2)
    );
    assert!(
        skipped[0]
            .reason
            .starts_with("environment `staging` is promoted from `dev`")
    );
}

#[test]
fn versions_are_per_policy_and_two_different_ones_are_an_error() {
    let c = config();
    let a = file("clusters/dev/a.yaml", "image: ghcr.io/acme/web:1.4.3\n");
    let same = file("clusters/dev/b.yaml", "image: ghcr.io/acme/web:1.4.3\n");
    let got = versions(&c, &[&a, &same]);
    assert_eq!(got["web"], Ok(v("1.4.3", None)));
    let other = file(
        "clusters/dev/c.yaml",
        &format!("image: ghcr.io/acme/web:1.4.3@{D1}\n"),
    );
    let got = versions(&c, &[&a, &other]);
    let why = got["web"].clone().unwrap_err();
    assert!(
        why.contains("two versions of `web`: 1.4.3 and 1.4.3@sha256:1111111111"),
        "{why}"
    );
}

#[test]
fn the_introducing_commit_is_the_newest_whose_parent_differs() {
    let line: Vec<LineCommit> = (0..4)
        .map(|i| LineCommit {
            sha: format!("c{i}"),
            parent: (i < 3).then(|| format!("c{}", i + 1)),
            committed_ms: 100 - i,
        })
        .collect();
    // c0 (HEAD) and c1 have 1.4.3; c2 has 1.4.2: c1 introduced it.
    let at = |sha: &str| -> anyhow::Result<Option<Version>> {
        Ok(Some(v(if sha == "c1" { "1.4.3" } else { "1.4.2" }, None)))
    };
    let found = introduced(&line, &v("1.4.3", None), at).unwrap().unwrap();
    assert_eq!(found.sha, "c1");
    // Unchanged since the root: the root.
    let always = |_: &str| -> anyhow::Result<Option<Version>> { Ok(Some(v("1.4.3", None))) };
    assert_eq!(
        introduced(&line, &v("1.4.3", None), always)
            .unwrap()
            .unwrap()
            .sha,
        "c3"
    );
    // A line cut short: its oldest commit (never a shorter soak).
    let short = &line[..2];
    assert_eq!(
        introduced(short, &v("1.4.3", None), always)
            .unwrap()
            .unwrap()
            .sha,
        "c1"
    );
    // Absent in the parent counts as different.
    let absent = |_: &str| -> anyhow::Result<Option<Version>> { Ok(None) };
    assert_eq!(
        introduced(&line, &v("1.4.3", None), absent)
            .unwrap()
            .unwrap()
            .sha,
        "c0"
    );
}

#[test]
fn due_is_checked() {
    assert_eq!(due_ms(1_000, Duration::from_secs(3600)), Some(3_601_000));
    assert_eq!(due_ms(i64::MAX - 5, Duration::from_secs(1)), None);
    assert_eq!(due_ms(0, Duration::MAX), None);
}

#[test]
fn the_target_is_the_source_version_never_a_downgrade() {
    let c = config();
    let p = c.policy("web").unwrap();
    let r = reference("image: ghcr.io/acme/web:1.4.2\n");
    let (update, from, to) = target(p, &r, &v("1.4.3", None)).unwrap().unwrap();
    assert_eq!(
        (update, from, to),
        (UpdateType::Patch, v("1.4.2", None), v("1.4.3", None))
    );
    assert_eq!(target(p, &r, &v("1.4.2", None)), Ok(None));
    let why = target(p, &r, &v("1.4.1", None)).unwrap_err();
    assert!(why.contains("`1.4.1` is not newer than `1.4.2`"), "{why}");
    // Outside the policy's range: not promoted either.
    assert!(target(p, &r, &v("2.0.0", None)).is_err());
}

#[test]
fn a_pinned_source_gives_its_digest() {
    let c = config();
    let p = c.policy("web").unwrap();
    let r = reference("image: ghcr.io/acme/web:1.4.2\n");
    let (_, _, to) = target(p, &r, &v("1.4.3", Some(D1))).unwrap().unwrap();
    assert_eq!(to, v("1.4.3", Some(D1)));
    // Same tag, the digest moved: a digest update.
    let pinned = reference(&format!("image: ghcr.io/acme/web:1.4.3@{D1}\n"));
    let (update, _, to) = target(p, &pinned, &v("1.4.3", Some(D2))).unwrap().unwrap();
    assert_eq!((update, to), (UpdateType::Digest, v("1.4.3", Some(D2))));
    // A pinned reference is not unpinned by an unpinned source.
    let why = target(p, &pinned, &v("1.4.4", None)).unwrap_err();
    assert!(why.contains("pin `1.4.4` there first"), "{why}");
    // A Helm `tag:` field has no room for a digest.
    let helm = reference("image:\n  repository: ghcr.io/acme/web\n  tag: 1.4.2\n");
    let why = target(p, &helm, &v("1.4.3", Some(D1))).unwrap_err();
    assert!(why.contains("no room for one"), "{why}");
}

#[test]
fn promote_makes_bumps_with_their_evidence_and_skips_with_reasons() {
    let c = config();
    let env = c.environment("staging").unwrap();
    let f = file(
        "clusters/staging/web.yaml",
        "spec:\n  image: ghcr.io/acme/web:1.4.2\n",
    );
    let source = v("1.4.3", Some(D1));
    let report = promote(&c, env, &[&f], &sources(&source), &passed(source.clone()));
    assert_eq!(report.bumps.len(), 1, "{report:?}");
    let b = &report.bumps[0];
    assert_eq!((b.line, b.to.clone()), (2, v("1.4.3", Some(D1))));
    assert_eq!(b.environment.as_deref(), Some("staging"));
    let p = b.promotion.as_ref().unwrap();
    assert_eq!(
        (p.from.as_str(), p.commit.as_str(), p.since_ms),
        ("dev", "abc123", 1_000)
    );
    assert!(p.digest_pinned);
    let applied = manifest::apply(&f.text, &b.edits);
    assert_eq!(
        applied,
        format!("spec:\n  image: ghcr.io/acme/web:1.4.3@{D1}\n")
    );

    let waiting = BTreeMap::from([("web".to_string(), Err("soaking".to_string()))]);
    let report = promote(&c, env, &[&f], &sources(&source), &waiting);
    assert!(report.bumps.is_empty());
    assert_eq!(report.skipped[0].reason, "not promoted from dev: soaking");
    let report = promote(&c, env, &[&f], &BTreeMap::new(), &BTreeMap::new());
    assert!(
        report.skipped[0]
            .reason
            .contains("`dev` has no reference of `web`")
    );
    // A reference that has the source's version needs no gate, and says nothing.
    let report = promote(
        &c,
        env,
        &[&f],
        &sources(&v("1.4.2", None)),
        &BTreeMap::new(),
    );
    assert!(
        report.bumps.is_empty() && report.skipped.is_empty(),
        "{report:?}"
    );
}

#[test]
fn times_and_spans_are_shown_without_panics() {
    assert_eq!(utc(0), "1970-01-01T00:00:00Z");
    assert_eq!(utc(-1), "1969-12-31T23:59:59Z");
    assert!(utc(i64::MAX).ends_with("ms after the epoch"));
    assert_eq!(span(40_000), "40s");
    assert_eq!(span(65 * 60_000), "1h 5m");
    assert_eq!(span(27 * 3_600_000), "1d 3h");
    assert_eq!(span(-5), "0s");
}
