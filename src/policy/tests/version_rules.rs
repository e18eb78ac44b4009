//! The tag grammar: what is a version, its parts, and its order.

use crate::policy::version::{CounterKind, TagVersion, parse_tag};

fn v(tag: &str) -> TagVersion {
    parse_tag(tag).unwrap_or_else(|| panic!("{tag} is not a version"))
}

fn order(a: &str, b: &str) -> std::cmp::Ordering {
    v(a).cmp_precedence(&v(b))
}

#[test]
fn one_to_four_release_parts_are_versions() {
    assert_eq!(v("15").release(), &[15]);
    assert_eq!(v("15.6").release(), &[15, 6]);
    assert_eq!(v("1.25.3").release(), &[1, 25, 3]);
    assert_eq!(v("1.2.3.4").release(), &[1, 2, 3, 4]);
    assert_eq!(v("6.0").padded(), [6, 0, 0, 0]);
}

#[test]
fn v_prefix_is_recorded() {
    let t = v("v2.11");
    assert!(t.v_prefix);
    assert_eq!(t.release(), &[2, 11]);
    assert!(!v("2.11").v_prefix);
}

#[test]
fn non_versions_are_rejected() {
    for tag in [
        "latest",
        "stable",
        "lts",
        "mainline",
        "bookworm",
        "noble-20240801",
        "1.2.3.4.5",
        "",
        "v",
        "V1.2.3",
        "vv1.2.3",
        "1.2.3-",
        "1.2.3+",
        "1.2.3+build.1",
        "1.2.x",
        "1.2.",
        ".1.2",
        "1..2",
        "1.2.3--alpine",
        "1.2.3-alpine-",
        "1.2.3ubuntu",
        "1.2.3.alpine",
        "1.2.3-2alpine",
        "1.2.3_",
        "1.2.3_x",
        "1.2.3_07",
        "1.2.3-rc.",
        "1.2.3-rc..1",
        "1.2.3b",
        "sha256-0123abcd.sig",
    ] {
        assert!(parse_tag(tag).is_none(), "{tag:?} parsed as a version");
    }
}

#[test]
fn dates_and_timestamps_are_not_versions() {
    for tag in [
        "20240801",
        "20240801120000",
        "2024.01.15",
        "2024.01",
        "20240801.1",
    ] {
        assert!(parse_tag(tag).is_none(), "{tag} parsed as a version");
    }
    // Seven digits is still a number people count builds with.
    assert_eq!(v("1234567").release(), &[1234567]);
    assert_eq!(v("2024.1").release(), &[2024, 1]);
}

#[test]
fn leading_zeros_are_not_versions() {
    for tag in ["01.2.3", "v01.0.0", "00", "007"] {
        assert!(parse_tag(tag).is_none(), "{tag} parsed as a version");
    }
    // Ubuntu's `24.04`: later parts may be zero-padded, and print back so.
    assert_eq!(v("24.04").release(), &[24, 4]);
    assert_eq!(v("24.04").to_string(), "24.04");
    assert!(order("22.04", "24.04").is_lt());
    assert!(order("24.04", "24.10").is_lt());
    assert_eq!(v("0.0.0").release(), &[0, 0, 0]);
}

#[test]
fn numeric_overflow_is_not_a_version() {
    assert!(parse_tag("99999999999999999999.0.0").is_none());
    assert!(parse_tag("1.0.0-rc.99999999999999999999").is_none());
}

#[test]
fn prerelease_after_a_dash() {
    for (tag, text) in [
        ("1.0.0-alpha", "alpha"),
        ("1.0.0-beta.2", "beta.2"),
        ("1.0.0-rc1", "rc1"),
        ("1.0.0-rc.1", "rc.1"),
        ("1.0.0-RC.1", "RC.1"),
        ("1.0.0-pre", "pre"),
        ("1.0.0-preview3", "preview3"),
        ("1.0.0-dev", "dev"),
        ("1.0.0-SNAPSHOT", "SNAPSHOT"),
        ("1.0.0-canary.4", "canary.4"),
        ("1.0.0-nightly.20240101", "nightly.20240101"),
        ("1.0.0-next.7", "next.7"),
        ("6.0.0-M2", "M2"),
        ("22-ea", "ea"),
        ("1.0.0-0.3.7", "0.3.7"),
    ] {
        let t = v(tag);
        let pre = t
            .pre
            .as_ref()
            .unwrap_or_else(|| panic!("{tag}: no prerelease"));
        assert_eq!(pre.text, text, "{tag}");
        assert!(!pre.attached, "{tag}");
        assert_eq!(t.variant(), None, "{tag}");
        assert_eq!(t.counter, None, "{tag}");
    }
}

#[test]
fn prerelease_attached_to_the_release() {
    for (tag, text) in [
        ("3.13.0rc1", "rc1"),
        ("3.13.0b1", "b1"),
        ("3.13.0a3", "a3"),
        ("3.13.0alpha", "alpha"),
    ] {
        let t = v(tag);
        let pre = t.pre.as_ref().unwrap();
        assert_eq!(pre.text, text, "{tag}");
        assert!(pre.attached, "{tag}");
    }
    let t = v("3.13.0rc1-slim-bookworm");
    assert_eq!(t.pre.as_ref().unwrap().text, "rc1");
    assert_eq!(t.variant(), Some("slim-bookworm"));
}

#[test]
fn build_counters() {
    let java = v("17.0.10_7-jre-jammy");
    assert_eq!(java.release(), &[17, 0, 10]);
    assert_eq!(
        java.counter.map(|c| (c.kind, c.value)),
        Some((CounterKind::Underscore, 7))
    );
    assert_eq!(java.variant(), Some("jre-jammy"));

    let bitnami = v("7.0.15-debian-12-r3");
    assert_eq!(
        bitnami.counter.map(|c| (c.kind, c.value)),
        Some((CounterKind::Revision, 3))
    );
    assert_eq!(bitnami.variant(), Some("debian-12"));

    let alpine = v("1.2.3-r0");
    assert_eq!(
        alpine.counter.map(|c| (c.kind, c.value)),
        Some((CounterKind::Revision, 0))
    );
    assert_eq!(alpine.variant(), None);

    let packaging = v("3.4.1-0");
    assert_eq!(
        packaging.counter.map(|c| (c.kind, c.value)),
        Some((CounterKind::Numeric, 0))
    );
    assert!(!packaging.is_prerelease());
}

#[test]
fn malformed_counters_are_variant_text() {
    for tag in ["1.2.3-r08", "1.0.0-r99999999999999999999"] {
        let t = v(tag);
        assert_eq!(t.counter, None, "{tag}");
        assert_eq!(
            t.variant(),
            tag.strip_prefix("1.2.3-").or(tag.strip_prefix("1.0.0-"))
        );
    }
}

#[test]
fn variants() {
    for (tag, variant) in [
        ("1.25.3-alpine", "alpine"),
        ("16.4-alpine3.20", "alpine3.20"),
        ("3.11.8-slim-bookworm", "slim-bookworm"),
        ("17-jre-jammy", "jre-jammy"),
        ("3.12-management-alpine", "management-alpine"),
        ("12-debian-12", "debian-12"),
        ("5.36.0-perl", "perl"),
        ("1.0.0-rcx", "rcx"),
        ("1.0.0-development", "development"),
        ("8.0-jammy-chiseled", "jammy-chiseled"),
    ] {
        let t = v(tag);
        assert_eq!(t.variant(), Some(variant), "{tag}");
        assert!(!t.is_prerelease(), "{tag}");
        assert_eq!(t.counter, None, "{tag}");
    }
}

#[test]
fn suffixes_combine() {
    let t = v("3.12.0-rc.2-management");
    assert_eq!(t.pre.as_ref().unwrap().text, "rc.2");
    assert_eq!(t.variant(), Some("management"));
    let t = v("1.0.0-rc1-alpine");
    assert_eq!(t.pre.as_ref().unwrap().text, "rc1");
    assert_eq!(t.variant(), Some("alpine"));
    let t = v("11.0.22_7-jdk-focal");
    assert_eq!(t.counter.unwrap().value, 7);
    assert_eq!(t.variant(), Some("jdk-focal"));
}

#[test]
fn printing_gives_back_the_tag() {
    for tag in [
        "15",
        "v2.11",
        "1.2.3.4",
        "3.13.0rc1",
        "3.13.0rc1-slim",
        "17.0.10_7-jre-jammy",
        "7.0.15-debian-12-r3",
        "3.4.1-0",
        "3.12.0-rc.2-management",
        "1.0.0-RC.1",
        "1.0.0-rc.01",
        "24.04",
        "1.02.3",
        "1.2.3-r0",
    ] {
        assert_eq!(v(tag).to_string(), tag);
    }
}

#[test]
fn release_parts_order_numerically() {
    assert!(order("1.9.0", "1.10.0").is_lt());
    assert!(order("1.2.10", "1.2.9").is_gt());
    assert!(order("15.6", "15.10").is_lt());
    assert!(order("1.2.3.9", "1.2.3.10").is_lt());
}

#[test]
fn prerelease_orders_before_its_release() {
    assert!(order("1.3.0-alpha", "1.3.0-beta").is_lt());
    assert!(order("1.3.0-beta", "1.3.0").is_lt());
    assert!(order("1.2.9", "1.3.0-alpha").is_lt());
    assert!(order("3.13.0b1", "3.13.0rc1").is_lt());
    assert!(order("3.13.0a3", "3.13.0b1").is_lt());
    assert!(order("3.13.0rc1", "3.13.0").is_lt());
}

/// Departure from semver 2.0, on purpose: there `rc10` < `rc9` (compared as
/// text); no one tagging `rc10` means that.
#[test]
fn numbers_inside_prerelease_words_compare_as_numbers() {
    assert!(order("1.3.0-rc9", "1.3.0-rc10").is_lt());
    assert!(order("1.3.0-rc.9", "1.3.0-rc.10").is_lt());
    assert!(order("1.3.0-beta.2", "1.3.0-beta.11").is_lt());
    assert!(order("1.3.0-rc1", "1.3.0-rc.1").is_eq());
    assert!(order("1.3.0-rc", "1.3.0-rc.1").is_lt());
}

#[test]
fn counters_order_after_release() {
    assert!(order("7.0.15-debian-12-r3", "7.0.15-debian-12-r10").is_lt());
    assert!(order("7.0.15-debian-12-r10", "7.0.16-debian-12-r0").is_lt());
    assert!(order("17.0.10_7", "17.0.10_13").is_lt());
    assert!(order("3.4.1-0", "3.4.1-2").is_lt());
}

#[test]
fn prefix_and_variant_ignored_for_precedence() {
    assert!(order("v1.2.3", "1.2.3").is_eq());
    assert!(order("1.2.3-alpine", "1.2.3").is_eq());
    assert!(order("v1.2.3", "1.2.4").is_lt());
}

#[test]
fn shape_is_precision_variant_and_counter_kind() {
    assert_eq!(v("15.6").shape(), v("15.7").shape());
    assert_ne!(v("15.6").shape(), v("15.7.1").shape());
    assert_ne!(v("15.6-alpine3.19").shape(), v("15.7-alpine3.20").shape());
    assert_eq!(
        v("7.0.15-debian-12-r3").shape(),
        v("7.1.0-debian-12-r0").shape()
    );
    assert_ne!(
        v("7.0.15-debian-12-r3").shape(),
        v("7.0.15-debian-12").shape()
    );
    assert_eq!(v("1.0.0-rc.1").shape(), v("1.0.0").shape());
    assert_eq!(v("v1.0.0").shape(), v("1.0.0").shape());
    assert!(v("3.12.0-rc.2-management").same_shape(&v("3.12.1-management")));
}

#[test]
fn over_long_tags_do_not_panic() {
    let long = format!("1.2.3-{}", "a".repeat(10_000));
    assert_eq!(v(&long).variant().map(str::len), Some(10_000));
    let digits = "9".repeat(10_000);
    assert!(parse_tag(&digits).is_none());
}
