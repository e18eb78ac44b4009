//! Tags as versions and their order (`policy::version`, `policy::choose`).
//! One tag per line. Checks:
//!
//! - a tag read as a version prints exactly as it was written;
//! - `Ord` is a total order consistent with `Eq` (equal exactly when they
//!   print the same): antisymmetric and transitive, and so is
//!   `cmp_precedence`; sorting is stable under re-sorting and input order;
//! - `same_shape` agrees with `shape`;
//! - under several policies, `choose` with the first line as the current
//!   tag and the rest as the registry's list does not depend on the list's
//!   order, and agrees with `ranked` and `verdicts`.
#![no_main]

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use imagebump::policy::version::{TagVersion, parse_tag};
use imagebump::policy::{Decision, Policy, choose, parse_config, ranked, verdicts};
use libfuzzer_sys::fuzz_target;

/// Policies of every rule and order.
const CONFIG: &str = r#"
policies:
  - name: any
    image: ghcr.io/acme/any
  - name: pre
    image: ghcr.io/acme/pre
    semver: "^1.2 || >=2.0.0-rc.1 <3"
    prerelease: true
  - name: tilde
    image: ghcr.io/acme/tilde
    semver: "~1.4.2, 2.x"
  - name: alpha
    image: ghcr.io/acme/alpha
    tags:
      order: alphabetical
  - name: number
    image: ghcr.io/acme/number
    tags:
      pattern: '^(?:main|build)-(?P<n>[0-9.]+)'
      extract: '$n'
      order: numerical
  - name: semver-tags
    image: ghcr.io/acme/semver-tags
    tags:
      pattern: '^release-(.*)$'
      extract: '$1'
      order: semver
      exclude: ['-rc']
"#;

fn policies() -> &'static [Policy] {
    static POLICIES: OnceLock<Vec<Policy>> = OnceLock::new();
    POLICIES.get_or_init(|| {
        parse_config(".imagebump.yaml", CONFIG)
            .expect("the fuzz policies are valid")
            .policies
    })
}

fn check_pair(a: &TagVersion, b: &TagVersion) {
    let o = a.cmp(b);
    assert_eq!(o, b.cmp(a).reverse(), "cmp({a}, {b}) is not antisymmetric");
    assert_eq!(
        o == Ordering::Equal,
        a == b,
        "cmp({a}, {b}) disagrees with =="
    );
    assert_eq!(
        a == b,
        a.to_string() == b.to_string(),
        "{a} and {b}: equal exactly when they print the same"
    );
    assert_eq!(
        a.cmp_precedence(b),
        b.cmp_precedence(a).reverse(),
        "cmp_precedence({a}, {b}) is not antisymmetric"
    );
    assert_eq!(a.same_shape(b), a.shape() == b.shape(), "{a} / {b}: shape");
}

fn transitive(a: &TagVersion, b: &TagVersion, c: &TagVersion) {
    if a <= b && b <= c {
        assert!(a <= c, "{a} <= {b} <= {c} but not {a} <= {c}");
    }
    let p = |x: &TagVersion, y: &TagVersion| x.cmp_precedence(y).is_le();
    if p(a, b) && p(b, c) {
        assert!(p(a, c), "precedence: {a} <= {b} <= {c} but not {a} <= {c}");
    }
}

fn check_choice(policy: &Policy, current: &str, tags: &[String], marked: bool) {
    let decision = choose(policy, current, tags, marked);
    let mut reversed = tags.to_vec();
    reversed.reverse();
    assert_eq!(
        decision,
        choose(policy, current, &reversed, marked),
        "policy {}: the choice depends on the order of the tags",
        policy.name
    );
    let list = ranked(policy, current, tags, marked);
    match (&decision, &list) {
        (Decision::Skip(why), Err(e)) => assert_eq!(why, e),
        (Decision::Current, Ok(list)) => assert!(list.is_empty(), "{}: {list:?}", policy.name),
        (Decision::Bump { to, update }, Ok(list)) => {
            assert_eq!(
                list.first(),
                Some(&(to.clone(), *update)),
                "{}",
                policy.name
            )
        }
        _ => panic!(
            "policy {}: choose {decision:?}, ranked {list:?}",
            policy.name
        ),
    }
    assert_eq!(
        list,
        ranked(policy, current, &reversed, marked),
        "policy {}: the ranking depends on the order of the tags",
        policy.name
    );
    let judged = verdicts(policy, current, tags, marked);
    match (&list, &judged) {
        (Ok(list), Ok(judged)) => {
            assert_eq!(judged.len(), tags.len());
            let candidates: BTreeSet<&str> = judged
                .iter()
                .filter(|v| v.rule.is_none())
                .map(|v| v.tag.as_str())
                .collect();
            let ranked: BTreeSet<&str> = list.iter().map(|(t, _)| t.as_str()).collect();
            assert_eq!(candidates, ranked, "policy {}", policy.name);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!(
            "policy {}: ranked {list:?}, verdicts {judged:?}",
            policy.name
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines: Vec<&str> = text.lines().take(16).collect();
    let mut versions = Vec::new();
    for line in &lines {
        if let Some(v) = parse_tag(line) {
            assert_eq!(&v.to_string(), line, "a version prints as written");
            versions.push(v);
        }
    }
    for a in &versions {
        for b in &versions {
            check_pair(a, b);
        }
    }
    for a in versions.iter().take(8) {
        for b in versions.iter().take(8) {
            for c in versions.iter().take(8) {
                transitive(a, b, c);
            }
        }
    }
    let mut sorted = versions.clone();
    sorted.sort();
    let mut again = sorted.clone();
    again.sort();
    assert_eq!(sorted, again);
    let mut from_reversed: Vec<TagVersion> = versions.iter().rev().cloned().collect();
    from_reversed.sort();
    assert_eq!(sorted, from_reversed);

    if let Some((current, rest)) = lines.split_first() {
        let tags: Vec<String> = rest.iter().map(|t| t.to_string()).collect();
        for policy in policies() {
            for marked in [false, true] {
                check_choice(policy, current, &tags, marked);
            }
        }
    }
});
