use super::{bump, tag_rule, tags};
use crate::policy::choose::key::Decimal;
use crate::policy::{Decision, Order, UpdateType, choose};

const TS: &str = r"^main-(?P<ts>\d+)-[0-9a-f]+$";

#[test]
fn numerical_named_extract_orders_timestamps() {
    let p = tag_rule(Some(TS), Some("$ts"), Order::Numerical);
    let t = tags(&[
        "main-20240102030405-abc123",
        "main-20240102030406-def456",
        "main-9-fff",
        "feature-20250101000000-aaa",
    ]);
    assert_eq!(
        choose(&p, "main-20240102030405-abc123", &t, false),
        bump("main-20240102030406-def456", UpdateType::Other)
    );
}

#[test]
fn numerical_longer_than_u128_does_not_overflow() {
    let p = tag_rule(Some(r"^b(\d+)$"), Some("$1"), Order::Numerical);
    let big = format!("b{}", "9".repeat(60));
    let bigger = format!("b1{}", "0".repeat(60));
    let t = vec![big.clone(), bigger.clone(), "b5".to_string()];
    assert_eq!(
        choose(&p, &big, &t, false),
        bump(&bigger, UpdateType::Other)
    );
}

#[test]
fn numerical_is_not_alphabetical() {
    let p = tag_rule(Some(r"^build-(\d+)$"), Some("${1}"), Order::Numerical);
    let t = tags(&["build-9", "build-10", "build-100"]);
    assert_eq!(
        choose(&p, "build-9", &t, false),
        bump("build-100", UpdateType::Other)
    );
}

#[test]
fn numerical_decimals_compare_as_numbers() {
    let p = tag_rule(None, None, Order::Numerical);
    let t = tags(&["1.5", "1.45", "1.10", "0.9"]);
    assert_eq!(
        choose(&p, "1.45", &t, false),
        bump("1.5", UpdateType::Other)
    );
    assert_eq!(choose(&p, "1.5", &t, false), Decision::Current);
}

#[test]
fn numerical_leading_zeros_are_equal_values() {
    let p = tag_rule(None, None, Order::Numerical);
    assert_eq!(
        choose(&p, "7", &tags(&["007", "07"]), false),
        Decision::Current
    );
    assert_eq!(
        choose(&p, "6", &tags(&["007", "07"]), false),
        bump("007", UpdateType::Other)
    );
}

#[test]
fn decimal_parse_rules() {
    assert!(Decimal::parse("20240102030405").is_some());
    assert!(Decimal::parse("1.5").is_some());
    for bad in [
        "", "-1", "+1", "1.", ".5", "1e5", "1.2.3", "abc", " 1", "1_000",
    ] {
        assert!(Decimal::parse(bad).is_none(), "{bad:?}");
    }
    assert_eq!(Decimal::parse("1.50"), Decimal::parse("01.5"));
    assert!(Decimal::parse("10") > Decimal::parse("9.99"));
    assert!(Decimal::parse("0.5") > Decimal::parse("0.45"));
}

#[test]
fn numerical_extract_non_number_is_not_candidate() {
    let p = tag_rule(Some(r"^rel-(?P<n>.+)$"), Some("$n"), Order::Numerical);
    let t = tags(&["rel-5", "rel-abc", "rel-6x", "rel-4"]);
    assert_eq!(
        choose(&p, "rel-4", &t, false),
        bump("rel-5", UpdateType::Other)
    );
}

#[test]
fn numerical_current_not_number_is_skipped() {
    let p = tag_rule(Some(r"^rel-(?P<n>.+)$"), Some("$n"), Order::Numerical);
    let Decision::Skip(reason) = choose(&p, "rel-abc", &tags(&["rel-5"]), false) else {
        panic!("not skipped");
    };
    assert!(reason.contains("`rel-abc`"), "{reason}");
    assert!(reason.contains("not a number"), "{reason}");
    assert!(reason.contains("numerical"), "{reason}");
}

#[test]
fn numerical_current_not_number_with_marker_is_bumped() {
    let p = tag_rule(Some(r"^rel-(?P<n>.+)$"), Some("$n"), Order::Numerical);
    assert_eq!(
        choose(&p, "rel-abc", &tags(&["rel-5", "rel-6", "rel-x"]), true),
        bump("rel-6", UpdateType::Other)
    );
}

#[test]
fn pattern_mismatch_current_is_skipped() {
    let p = tag_rule(Some(TS), Some("$ts"), Order::Numerical);
    let Decision::Skip(reason) = choose(&p, "latest", &tags(&["main-1-a"]), false) else {
        panic!("not skipped");
    };
    assert!(reason.contains("`latest`"), "{reason}");
    assert!(reason.contains("does not match the pattern"), "{reason}");
    assert!(reason.contains(TS), "{reason}");
}

#[test]
fn pattern_is_not_anchored_by_imagebump() {
    // Unanchored: "x-5-y" contains the match, so it is a candidate.
    let p = tag_rule(Some(r"(\d+)"), Some("$1"), Order::Numerical);
    assert_eq!(
        choose(&p, "x-4-y", &tags(&["x-5-y", "plain"]), false),
        bump("x-5-y", UpdateType::Other)
    );
    // Anchored by the user: only whole-tag matches.
    let p = tag_rule(Some(r"^(\d+)$"), Some("$1"), Order::Numerical);
    assert_eq!(
        choose(&p, "4", &tags(&["x-5-y", "3"]), false),
        Decision::Current
    );
}

#[test]
fn no_extract_uses_whole_tag() {
    let p = tag_rule(Some(r"^\d+$"), None, Order::Numerical);
    assert_eq!(
        choose(&p, "10", &tags(&["9", "11", "a12"]), false),
        bump("11", UpdateType::Other)
    );
}

#[test]
fn no_pattern_every_tag_is_candidate() {
    let p = tag_rule(None, None, Order::Alphabetical);
    assert_eq!(
        choose(&p, "alpha", &tags(&["beta", "gamma", "Zulu"]), false),
        bump("gamma", UpdateType::Other)
    );
}

#[test]
fn alphabetical_is_byte_order() {
    let p = tag_rule(
        Some(r"^rel-(?P<name>[a-zA-Z]+)$"),
        Some("${name}"),
        Order::Alphabetical,
    );
    // Uppercase sorts before lowercase in bytes.
    let t = tags(&["rel-Zeta", "rel-beta", "rel-alpha"]);
    assert_eq!(
        choose(&p, "rel-alpha", &t, false),
        bump("rel-beta", UpdateType::Other)
    );
    assert_eq!(choose(&p, "rel-beta", &t, false), Decision::Current);
}

#[test]
fn extract_template_can_combine_groups() {
    let p = tag_rule(
        Some(r"^(\d{4})-(\d{2})$"),
        Some("$1$2"),
        Order::Alphabetical,
    );
    // `$1$2` expands both groups ("202401" etc.).
    let t = tags(&["2024-01", "2024-12", "2023-12"]);
    assert_eq!(
        choose(&p, "2024-01", &t, false),
        bump("2024-12", UpdateType::Other)
    );
}

#[test]
fn tags_semver_order_classifies_like_semver() {
    let p = tag_rule(Some(r"^app-(?P<v>.+)$"), Some("$v"), Order::Semver);
    let t = tags(&[
        "app-1.2.3",
        "app-1.3.0",
        "app-2.0.0",
        "app-latest",
        "other-9.0.0",
    ]);
    assert_eq!(
        choose(&p, "app-1.2.3", &t, false),
        bump("app-2.0.0", UpdateType::Major)
    );
}

#[test]
fn tags_semver_order_respects_prerelease_flag() {
    let p = tag_rule(Some(r"^app-(?P<v>.+)$"), Some("$v"), Order::Semver);
    let t = tags(&["app-1.2.3", "app-1.3.0-rc.1"]);
    assert_eq!(choose(&p, "app-1.2.3", &t, false), Decision::Current);
    let mut p = p;
    p.prerelease = true;
    assert_eq!(
        choose(&p, "app-1.2.3", &t, false),
        bump("app-1.3.0-rc.1", UpdateType::Minor)
    );
}

#[test]
fn tags_semver_order_keeps_variant() {
    let p = tag_rule(None, None, Order::Semver);
    let t = tags(&["1.3.0", "1.2.9-alpine", "1.2.8-alpine"]);
    assert_eq!(
        choose(&p, "1.2.8-alpine", &t, false),
        bump("1.2.9-alpine", UpdateType::Patch)
    );
}

#[test]
fn tags_semver_order_non_version_current_is_skipped() {
    let p = tag_rule(Some(r"^app-(?P<v>.+)$"), Some("$v"), Order::Semver);
    let Decision::Skip(reason) = choose(&p, "app-latest", &tags(&["app-1.0.0"]), false) else {
        panic!("not skipped");
    };
    assert!(reason.contains("`app-latest`"), "{reason}");
    assert!(reason.contains("not a semver version"), "{reason}");
}

#[test]
fn tags_rule_never_downgrades() {
    let p = tag_rule(Some(TS), Some("$ts"), Order::Numerical);
    let t = tags(&["main-1-a", "main-2-b"]);
    assert_eq!(choose(&p, "main-3-c", &t, false), Decision::Current);
}

#[test]
fn pattern_mismatch_current_with_marker_is_bumped() {
    let p = tag_rule(Some(TS), Some("$ts"), Order::Numerical);
    let t = tags(&["main-1-a", "main-3-c", "main-2-b", "latest"]);
    assert_eq!(
        choose(&p, "latest", &t, true),
        bump("main-3-c", UpdateType::Other)
    );
}

#[test]
fn unmatched_optional_group_extracts_empty_and_is_not_a_number() {
    let p = tag_rule(Some(r"^r(\d+)?-x$"), Some("$1"), Order::Numerical);
    assert_eq!(
        choose(&p, "r1-x", &tags(&["r-x", "r2-x"]), false),
        bump("r2-x", UpdateType::Other)
    );
}
