//! Property tests of `choose` and the orders it uses.

use proptest::prelude::*;

use super::{policy, tag_rule};
use crate::policy::choose::key::Decimal;
use crate::policy::version::{TagVersion, parse_range, parse_tag};
use crate::policy::{Decision, Order, Policy, Rule, choose};

const RANGES: &[&str] = &[
    "*",
    "^1",
    "^1.2",
    "~1.2.3",
    ">=1.0.0 <2.0.0",
    "^0.3 || ^2",
    ">=1.3.0-rc.1",
    "1.2.3 - 2.1.0",
];

fn version_tag() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        0u64..4,
        0u64..4,
        0u64..4,
        prop::sample::select(vec![
            "", "-rc.1", "-rc.2", "-rc.10", "-beta", "-alpine", "-slim",
        ]),
        prop::sample::select(vec!["", "+b1", "+b2"]),
    )
        .prop_map(|(v, a, b, c, suffix, build)| {
            format!("{}{a}.{b}.{c}{suffix}{build}", if v { "v" } else { "" })
        })
}

/// Tags that often tie in order: `1.0.x` with or without `v` and build.
fn tie_tag() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        0u64..2,
        prop::sample::select(vec!["", "+b1", "+b2", "+b3"]),
    )
        .prop_map(|(v, c, build)| format!("{}1.0.{c}{build}", if v { "v" } else { "" }))
}

fn any_tag() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => version_tag(),
        1 => prop::sample::select(vec!["latest", "stable", "1.2", "1.2.3.4", "main"])
            .prop_map(str::to_string),
        1 => version_tag().prop_map(|t| format!("{t}.sig")),
    ]
}

fn semver_policy() -> impl Strategy<Value = Policy> {
    (prop::sample::select(RANGES), any::<bool>(), any::<bool>()).prop_map(
        |(range, prerelease, exclude_1_2)| {
            let extra: &[&str] = if exclude_1_2 { &[r"^v?1\.2\."] } else { &[] };
            policy(Rule::Semver(parse_range(range).unwrap()), prerelease, extra)
        },
    )
}

#[derive(Debug)]
struct Case {
    policy: Policy,
    current: String,
    tags: Vec<String>,
    shuffled: Vec<String>,
    marked: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        semver_policy(),
        any_tag(),
        prop::collection::vec(any_tag(), 0..24),
        any::<bool>(),
    )
        .prop_flat_map(|(policy, current, tags, marked)| {
            let shuffled = Just(tags.clone()).prop_shuffle();
            (
                Just(policy),
                Just(current),
                Just(tags),
                shuffled,
                Just(marked),
            )
        })
        .prop_map(|(policy, current, tags, shuffled, marked)| Case {
            policy,
            current,
            tags,
            shuffled,
            marked,
        })
}

fn range_of(p: &Policy) -> &crate::policy::VersionRange {
    match &p.rule {
        Rule::Semver(r) => r,
        Rule::Tags(_) => unreachable!(),
    }
}

/// The candidates by the rules stated in the issue, written independently.
fn candidates(c: &Case) -> Vec<(String, TagVersion)> {
    let range = range_of(&c.policy);
    let allow_pre = c.policy.prerelease || range.names_prerelease();
    let variant = parse_tag(&c.current).and_then(|v| v.variant().map(str::to_string));
    c.tags
        .iter()
        .filter(|t| !c.policy.exclude.iter().any(|re| re.is_match(t)))
        .filter_map(|t| parse_tag(t).map(|v| (t.clone(), v)))
        .filter(|(_, v)| v.variant().map(str::to_string) == variant)
        .filter(|(_, v)| allow_pre || !v.is_prerelease())
        .filter(|(_, v)| range.matches(&v.version))
        .collect()
}

proptest! {
    #[test]
    fn shuffling_tags_never_changes_decision(c in case()) {
        prop_assert_eq!(
            choose(&c.policy, &c.current, &c.tags, c.marked),
            choose(&c.policy, &c.current, &c.shuffled, c.marked)
        );
    }

    #[test]
    fn shuffling_equal_order_tags_never_changes_decision(
        (tags, shuffled) in prop::collection::vec(tie_tag(), 0..12)
            .prop_flat_map(|t| (Just(t.clone()), Just(t).prop_shuffle())),
        current in tie_tag(),
        marked in any::<bool>(),
    ) {
        let p = policy(Rule::Semver(parse_range("*").unwrap()), false, &[]);
        prop_assert_eq!(
            choose(&p, &current, &tags, marked),
            choose(&p, &current, &shuffled, marked)
        );
    }

    #[test]
    fn chosen_is_at_least_current(c in case()) {
        if let Decision::Bump { to, .. } = choose(&c.policy, &c.current, &c.tags, c.marked)
            && let Some(cur) = parse_tag(&c.current)
        {
            let target = parse_tag(&to).unwrap();
            prop_assert!(target.cmp_precedence(&cur).is_gt(), "{} -> {}", c.current, to);
        }
    }

    #[test]
    fn chosen_satisfies_range_variant_and_prerelease(c in case()) {
        if let Decision::Bump { to, .. } = choose(&c.policy, &c.current, &c.tags, c.marked) {
            let range = range_of(&c.policy);
            let target = parse_tag(&to).unwrap();
            prop_assert!(range.matches(&target.version));
            let want = parse_tag(&c.current).and_then(|v| v.variant().map(str::to_string));
            prop_assert_eq!(target.variant().map(str::to_string), want);
            prop_assert!(
                !target.is_prerelease() || c.policy.prerelease || range.names_prerelease()
            );
            prop_assert!(c.tags.contains(&to));
        }
    }

    #[test]
    fn chosen_never_matches_an_exclude(c in case()) {
        if let Decision::Bump { to, .. } = choose(&c.policy, &c.current, &c.tags, c.marked) {
            prop_assert!(!c.policy.exclude.iter().any(|re| re.is_match(&to)));
        }
    }

    #[test]
    fn chosen_is_best_candidate_and_current_means_none_better(c in case()) {
        let decision = choose(&c.policy, &c.current, &c.tags, c.marked);
        let cands = candidates(&c);
        match (&decision, parse_tag(&c.current)) {
            (Decision::Skip(_), cur) => prop_assert!(cur.is_none() && !c.marked),
            (Decision::Current, Some(cur)) => {
                prop_assert!(cands.iter().all(|(_, v)| !v.cmp_precedence(&cur).is_gt()));
            }
            (Decision::Current, None) => prop_assert!(cands.is_empty() && c.marked),
            (Decision::Bump { to, .. }, _) => {
                let target = parse_tag(to).unwrap();
                prop_assert!(cands.iter().any(|(t, _)| t == to));
                prop_assert!(cands.iter().all(|(_, v)| !v.cmp_precedence(&target).is_gt()));
            }
        }
    }

    #[test]
    fn numerical_shuffle_and_monotone(
        nums in prop::collection::vec(0u64..1000, 0..16),
        current in 0u64..1000,
    ) {
        let p = tag_rule(Some(r"^n-(\d+)$"), Some("$1"), Order::Numerical);
        let tags: Vec<String> = nums.iter().map(|n| format!("n-{n}")).collect();
        let mut reversed = tags.clone();
        reversed.reverse();
        let cur = format!("n-{current}");
        let decision = choose(&p, &cur, &tags, false);
        prop_assert_eq!(&decision, &choose(&p, &cur, &reversed, false));
        let max = nums.iter().copied().max();
        match decision {
            Decision::Bump { to, .. } => {
                prop_assert_eq!(Some(to), max.map(|m| format!("n-{m}")));
                prop_assert!(max.is_some_and(|m| m > current));
            }
            Decision::Current => prop_assert!(max.is_none_or(|m| m <= current)),
            Decision::Skip(_) => prop_assert!(false, "skipped a numeric current"),
        }
    }

    #[test]
    fn decimal_order_matches_integers(a in any::<u128>(), b in any::<u128>(), za in 0usize..3) {
        let da = Decimal::parse(&format!("{}{a}", "0".repeat(za))).unwrap();
        let db = Decimal::parse(&b.to_string()).unwrap();
        prop_assert_eq!(da.cmp(&db), a.cmp(&b));
    }

    #[test]
    fn decimal_order_matches_fractions(a in 0u32..100_000, b in 0u32..100_000) {
        // a/1000 and b/1000 written with three fraction digits.
        let fmt = |x: u32| format!("{}.{:03}", x / 1000, x % 1000);
        let da = Decimal::parse(&fmt(a)).unwrap();
        let db = Decimal::parse(&fmt(b)).unwrap();
        prop_assert_eq!(da.cmp(&db), a.cmp(&b));
    }

    #[test]
    fn version_order_ignores_prefix_and_build(
        a in 0u64..5, b in 0u64..5, c in 0u64..5, build in "[a-z0-9]{1,5}",
    ) {
        let plain = parse_tag(&format!("{a}.{b}.{c}")).unwrap();
        let fancy = parse_tag(&format!("v{a}.{b}.{c}+{build}")).unwrap();
        prop_assert!(plain.cmp_precedence(&fancy).is_eq());
    }

    #[test]
    fn parse_range_error_is_one_line(s in "\\PC{0,20}") {
        if let Err(e) = parse_range(&s) {
            prop_assert!(!e.contains('\n') && !e.contains('\r'), "{}", e);
        }
    }
}
