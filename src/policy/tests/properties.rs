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
        prop::collection::vec(0u64..4, 1..=4),
        prop::sample::select(vec![
            "",
            "",
            "-rc.1",
            "-rc.2",
            "-rc.10",
            "rc1",
            "-beta",
            "-alpine",
            "-slim",
            "_7",
            "-r3",
            "-debian-12-r1",
            "-rc.1-alpine",
        ]),
    )
        .prop_map(|(v, parts, suffix)| {
            let release: Vec<String> = parts.iter().map(u64::to_string).collect();
            format!("{}{}{suffix}", if v { "v" } else { "" }, release.join("."))
        })
}

/// Tags that often tie in order: `1.0.x` with or without `v`, and `1.0`.
fn tie_tag() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        0u64..2,
        prop::sample::select(vec!["", ".0", "-rc1", "-rc.1"]),
    )
        .prop_map(|(v, c, tail)| format!("{}1.{c}{tail}", if v { "v" } else { "" }))
}

fn any_tag() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => version_tag(),
        1 => prop::sample::select(vec!["latest", "stable", "bookworm", "20240801", "main"])
            .prop_map(str::to_string),
        1 => version_tag().prop_map(|t| format!("{t}.sig")),
    ]
}

/// Strings from the characters tags are made of, shaped loosely like tags.
fn tag_like() -> impl Strategy<Value = String> {
    "v?[0-9]{1,3}(\\.[0-9]{1,2}){0,4}([-_.a-zA-Z0-9]{0,12})"
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
    let current = parse_tag(&c.current);
    c.tags
        .iter()
        .filter(|t| !c.policy.exclude.iter().any(|re| re.is_match(t)))
        .filter_map(|t| parse_tag(t).map(|v| (t.clone(), v)))
        .filter(|(_, v)| match &current {
            Some(cur) => v.shape() == cur.shape(),
            None => v.variant.is_none() && v.counter.is_none(),
        })
        .filter(|(_, v)| allow_pre || !v.is_prerelease())
        .filter(|(_, v)| range.matches(v))
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
            prop_assert!(range.matches(&target));
            if let Some(cur) = parse_tag(&c.current) {
                prop_assert_eq!(target.shape(), cur.shape());
            }
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
    fn version_order_ignores_prefix(a in 0u64..5, b in 0u64..5, c in 0u64..5) {
        let plain = parse_tag(&format!("{a}.{b}.{c}")).unwrap();
        let fancy = parse_tag(&format!("v{a}.{b}.{c}")).unwrap();
        prop_assert!(plain.cmp_precedence(&fancy).is_eq());
    }

    #[test]
    fn parse_range_error_is_one_line(s in "\\PC{0,20}") {
        if let Err(e) = parse_range(&s) {
            let text = e.to_string();
            prop_assert!(!text.contains('\n') && !text.contains('\r'), "{}", text);
            prop_assert!(e.offset <= s.len());
        }
    }

    /// Whatever the text, parsing never panics, and a version prints back
    /// as the very tag it was read from.
    #[test]
    fn parse_print_round_trip(s in prop_oneof![tag_like(), version_tag(), "\\PC{0,24}"]) {
        if let Some(v) = parse_tag(&s) {
            prop_assert_eq!(v.to_string(), s.clone());
            prop_assert_eq!(parse_tag(&v.to_string()), Some(v));
        }
    }

    /// `Ord` on versions is a total order: antisymmetric, transitive, and
    /// equal exactly when the tags are the same text.
    #[test]
    fn version_order_is_total(a in version_tag(), b in version_tag(), c in version_tag()) {
        let (va, vb, vc) = (parse_tag(&a).unwrap(), parse_tag(&b).unwrap(), parse_tag(&c).unwrap());
        prop_assert_eq!(va.cmp(&vb), vb.cmp(&va).reverse());
        prop_assert_eq!(va.cmp(&vb).is_eq(), a == b);
        if va <= vb && vb <= vc {
            prop_assert!(va <= vc);
        }
        let (pa, pb, pc) = (&va, &vb, &vc);
        if pa.cmp_precedence(pb).is_le() && pb.cmp_precedence(pc).is_le() {
            prop_assert!(pa.cmp_precedence(pc).is_le());
        }
    }

    /// "Same shape" is an equivalence: reflexive, symmetric, transitive.
    #[test]
    fn compatibility_is_an_equivalence(a in version_tag(), b in version_tag(), c in version_tag()) {
        let (va, vb, vc) = (parse_tag(&a).unwrap(), parse_tag(&b).unwrap(), parse_tag(&c).unwrap());
        prop_assert!(va.same_shape(&va));
        prop_assert_eq!(va.same_shape(&vb), vb.same_shape(&va));
        if va.same_shape(&vb) && vb.same_shape(&vc) {
            prop_assert!(va.same_shape(&vc));
        }
        prop_assert_eq!(va.same_shape(&vb), va.shape() == vb.shape());
    }

    /// A bump always keeps the current tag's shape, whatever the list.
    #[test]
    fn bumps_keep_the_shape(current in version_tag(), tags in prop::collection::vec(version_tag(), 0..24)) {
        let p = policy(Rule::Semver(parse_range("*").unwrap()), true, &[]);
        if let Decision::Bump { to, .. } = choose(&p, &current, &tags, false) {
            prop_assert!(parse_tag(&to).unwrap().same_shape(&parse_tag(&current).unwrap()));
        }
    }

    /// `choose` is the head of `ranked`.
    #[test]
    fn choose_is_first_of_ranked(c in case()) {
        let decision = choose(&c.policy, &c.current, &c.tags, c.marked);
        let ranked = crate::policy::ranked(&c.policy, &c.current, &c.tags, c.marked);
        match (decision, ranked) {
            (Decision::Skip(a), Err(b)) => prop_assert_eq!(a, b),
            (Decision::Current, Ok(list)) => prop_assert!(list.is_empty()),
            (Decision::Bump { to, update }, Ok(list)) => {
                prop_assert_eq!(list.first(), Some(&(to, update)));
            }
            (d, r) => prop_assert!(false, "{:?} vs {:?}", d, r),
        }
    }
}
