use crate::policy::version::{Suffix, is_prerelease_text, parse_range, parse_tag};

fn order(a: &str, b: &str) -> std::cmp::Ordering {
    parse_tag(a).unwrap().cmp_precedence(&parse_tag(b).unwrap())
}

fn in_range(range: &str, tag: &str) -> bool {
    parse_range(range)
        .unwrap()
        .matches(&parse_tag(tag).unwrap().version)
}

#[test]
fn three_part_version_is_version() {
    let v = parse_tag("1.25.3").unwrap();
    assert_eq!(v.version, semver::Version::new(1, 25, 3));
    assert!(!v.v_prefix);
    assert_eq!(v.suffix, Suffix::None);
    assert_eq!(v.build, None);
}

#[test]
fn v_prefix_is_recorded() {
    let v = parse_tag("v1.2.3").unwrap();
    assert!(v.v_prefix);
    assert_eq!(v.version, semver::Version::new(1, 2, 3));
}

#[test]
fn non_versions_are_rejected() {
    for tag in [
        "1.25", "1", "latest", "stable", "1.2.3.4", "", "v", "V1.2.3", "vv1.2.3", "1.2.3-",
        "1.2.3+", "1.2.x", "mainline",
    ] {
        assert!(parse_tag(tag).is_none(), "{tag} parsed as a version");
    }
}

#[test]
fn leading_zeros_are_not_versions() {
    for tag in ["01.2.3", "1.02.3", "1.2.03", "1.2.3-rc.01", "v01.0.0"] {
        assert!(parse_tag(tag).is_none(), "{tag} parsed as a version");
    }
}

#[test]
fn numeric_overflow_is_not_a_version() {
    assert!(parse_tag("99999999999999999999.0.0").is_none());
}

#[test]
fn prerelease_words_are_prereleases() {
    for tag in [
        "1.0.0-alpha",
        "1.0.0-beta.2",
        "1.0.0-rc1",
        "1.0.0-RC.1",
        "1.0.0-beta2",
        "1.0.0-pre",
        "1.0.0-preview3",
        "1.0.0-dev",
        "1.0.0-snapshot",
        "1.0.0-SNAPSHOT",
        "1.0.0-canary.4",
        "1.0.0-nightly.20240101",
        "1.0.0-next.7",
    ] {
        let v = parse_tag(tag).unwrap();
        assert!(v.is_prerelease(), "{tag} is not a prerelease");
        assert_eq!(v.variant(), None);
    }
}

#[test]
fn numeric_first_identifier_is_prerelease() {
    assert!(parse_tag("1.0.0-1").unwrap().is_prerelease());
    assert!(parse_tag("1.0.0-0.3.7").unwrap().is_prerelease());
    assert!(parse_tag("1.0.0-2.alpine").unwrap().is_prerelease());
}

#[test]
fn other_suffixes_are_variants() {
    for (tag, variant) in [
        ("1.25.3-alpine", "alpine"),
        ("1.25.3-alpine3.19", "alpine3.19"),
        ("1.25.3-slim-bookworm", "slim-bookworm"),
        ("5.36.0-perl", "perl"),
        ("1.0.0-rcx", "rcx"),
        ("1.0.0-development", "development"),
        ("1.0.0-rc1-alpine", "rc1-alpine"),
    ] {
        let v = parse_tag(tag).unwrap();
        assert_eq!(v.variant(), Some(variant), "{tag}");
        assert!(!v.is_prerelease(), "{tag}");
        assert!(v.version.pre.is_empty(), "{tag}: variant kept in pre");
    }
}

#[test]
fn prerelease_word_must_be_followed_only_by_digits() {
    assert!(is_prerelease_text("rc"));
    assert!(is_prerelease_text("rc12.3"));
    assert!(!is_prerelease_text("rc-1"));
    assert!(!is_prerelease_text("rcx1"));
    assert!(!is_prerelease_text("alpine"));
}

#[test]
fn rc10_orders_after_rc9() {
    assert!(order("1.3.0-rc.9", "1.3.0-rc.10").is_lt());
    assert!(order("1.3.0-rc.10", "1.3.0").is_lt());
}

#[test]
fn prerelease_orders_before_release() {
    assert!(order("1.3.0-alpha", "1.3.0-beta").is_lt());
    assert!(order("1.3.0-beta", "1.3.0").is_lt());
    assert!(order("1.2.9", "1.3.0-alpha").is_lt());
}

#[test]
fn build_metadata_ignored_for_order() {
    assert!(order("1.2.3+build.1", "1.2.3+build.2").is_eq());
    assert!(order("1.2.3+build.9", "1.2.3").is_eq());
    assert_eq!(
        parse_tag("1.2.3+b.7").unwrap().build.as_deref(),
        Some("b.7")
    );
}

#[test]
fn v_prefix_ignored_for_order() {
    assert!(order("v1.2.3", "1.2.3").is_eq());
    assert!(order("v1.2.3", "1.2.4").is_lt());
}

#[test]
fn numeric_parts_order_numerically() {
    assert!(order("1.9.0", "1.10.0").is_lt());
    assert!(order("1.2.10", "1.2.9").is_gt());
}

#[test]
fn caret_range_matches() {
    assert!(in_range("^1.4", "1.4.0"));
    assert!(in_range("^1.4", "1.9.9"));
    assert!(!in_range("^1.4", "1.3.9"));
    assert!(!in_range("^1.4", "2.0.0"));
}

#[test]
fn tilde_range_matches() {
    assert!(in_range("~1.4.2", "1.4.9"));
    assert!(!in_range("~1.4.2", "1.5.0"));
    assert!(!in_range("~1.4.2", "1.4.1"));
}

#[test]
fn comma_range_matches() {
    assert!(in_range(">=1.0.0, <2.0.0", "1.5.0"));
    assert!(!in_range(">=1.0.0, <2.0.0", "2.0.0"));
}

#[test]
fn npm_space_range_accepted() {
    let r = parse_range(">=1.0.0 <2.0.0").unwrap();
    assert_eq!(r.source, ">=1.0.0 <2.0.0");
    assert_eq!(r.alternatives().len(), 1);
    assert_eq!(r.alternatives()[0].comparators.len(), 2);
    assert!(in_range(">=1.0.0 <2.0.0", "1.99.0"));
    assert!(!in_range(">=1.0.0 <2.0.0", "2.0.0"));
    assert!(!in_range(">=1.0.0 <2.0.0", "0.9.0"));
}

#[test]
fn npm_operator_separated_from_version_accepted() {
    assert!(in_range(">= 1.0.0 < 2.0.0", "1.5.0"));
    assert!(!in_range(">= 1.0.0 < 2.0.0", "2.5.0"));
}

#[test]
fn npm_hyphen_range_accepted() {
    assert!(in_range("1.2.3 - 2.3.4", "1.2.3"));
    assert!(in_range("1.2.3 - 2.3.4", "2.3.4"));
    assert!(!in_range("1.2.3 - 2.3.4", "2.3.5"));
    assert!(!in_range("1.2.3 - 2.3.4", "1.2.2"));
}

#[test]
fn or_alternatives_accepted() {
    assert!(in_range("^1.4 || ^3.0", "1.5.0"));
    assert!(in_range("^1.4 || ^3.0", "3.1.0"));
    assert!(!in_range("^1.4 || ^3.0", "2.0.0"));
    assert_eq!(parse_range("^1.4 || ^3.0").unwrap().alternatives().len(), 2);
}

#[test]
fn wildcard_ranges_accepted() {
    assert!(in_range("1.*", "1.99.3"));
    assert!(!in_range("1.*", "2.0.0"));
    assert!(in_range("*", "0.0.1"));
    assert!(in_range("*", "99.0.0"));
}

#[test]
fn v_before_range_version_accepted() {
    assert!(in_range(">=v1.2.0", "1.2.0"));
    assert!(in_range("^v2", "2.5.0"));
}

#[test]
fn bare_version_range_is_caret() {
    assert!(in_range("1.4", "1.9.0"));
    assert!(!in_range("1.4", "2.0.0"));
}

#[test]
fn prerelease_in_range_when_its_release_is() {
    assert!(in_range("^1.2", "1.3.0-rc.1"));
    assert!(!in_range("<2.0.0", "2.0.0-rc.1"));
    assert!(!in_range("^1.4", "2.0.0-beta.1"));
}

#[test]
fn build_metadata_ignored_for_range() {
    assert!(in_range("=1.2.3", "1.2.3+build.5"));
}

#[test]
fn range_naming_prerelease_is_detected() {
    assert!(parse_range(">=1.3.0-rc.1").unwrap().names_prerelease());
    assert!(
        parse_range("^1.0 || >=2.0.0-beta")
            .unwrap()
            .names_prerelease()
    );
    assert!(!parse_range("^1.3").unwrap().names_prerelease());
    assert!(!parse_range(">=1.0.0 <2.0.0").unwrap().names_prerelease());
}

#[test]
fn range_source_is_kept() {
    let r = parse_range("  ^1.4 ").unwrap();
    assert_eq!(r.source, "  ^1.4 ");
    assert_eq!(r.to_string(), "  ^1.4 ");
}

#[test]
fn bad_range_error_is_one_line() {
    let err = parse_range("^1.x.q").unwrap_err();
    assert!(!err.contains('\n'), "{err}");
    assert!(err.starts_with("`^1.x.q` is not a semver range: "), "{err}");
    assert!(
        err.contains("examples: ^1.4, ~1.4.2, >=1.0.0 <2.0.0"),
        "{err}"
    );
}

#[test]
fn bad_ranges_are_rejected_with_one_line() {
    for bad in [
        "",
        "   ",
        "latest",
        "^1 ||",
        "|| ^1",
        ">=",
        ">= <2",
        "1.2.3 -",
        "- 1.2.3",
        ">=1.0.0 - 2.0.0",
        "^1.x\n.q",
        "1.2.3.4",
        "~>1.2",
    ] {
        let err = parse_range(bad).unwrap_err();
        assert!(!err.contains('\n'), "{bad:?}: {err}");
        assert!(err.contains("is not a semver range"), "{bad:?}: {err}");
    }
}
