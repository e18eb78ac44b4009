//! `semver:` ranges, each form as Flux, npm and Argo CD users write it.

use crate::policy::version::{parse_range, parse_tag};

fn in_range(range: &str, tag: &str) -> bool {
    let r = parse_range(range).unwrap_or_else(|e| panic!("{range}: {e}"));
    r.matches(&parse_tag(tag).unwrap_or_else(|| panic!("{tag}")))
}

fn check(range: &str, yes: &[&str], no: &[&str]) {
    for t in yes {
        assert!(in_range(range, t), "{t} should be in `{range}`");
    }
    for t in no {
        assert!(!in_range(range, t), "{t} should not be in `{range}`");
    }
}

#[test]
fn caret() {
    check("^1.4", &["1.4.0", "1.9.9", "1.4"], &["1.3.9", "2.0.0", "2"]);
    check("^1.2.3", &["1.2.3", "1.99.0"], &["1.2.2", "2.0.0"]);
    check("^0.2.3", &["0.2.3", "0.2.9"], &["0.3.0", "0.2.2"]);
    check("^0.0.3", &["0.0.3"], &["0.0.4"]);
    check("^0.0", &["0.0.9"], &["0.1.0"]);
    check("^0", &["0.9.9"], &["1.0.0"]);
    check("^1.x", &["1.0.0", "1.9.0"], &["2.0.0"]);
    check("^v2", &["2.5.0"], &["3.0.0"]);
}

#[test]
fn tilde() {
    check("~1.4.2", &["1.4.2", "1.4.9"], &["1.5.0", "1.4.1"]);
    check("~1.4", &["1.4.0", "1.4.9"], &["1.5.0"]);
    check("~1", &["1.0.0", "1.9.0"], &["2.0.0"]);
}

#[test]
fn comparisons() {
    check(">=1.2.0", &["1.2.0", "9.0.0"], &["1.1.9"]);
    check(">1.2.0", &["1.2.1"], &["1.2.0"]);
    check("<2.0.0", &["1.99.99"], &["2.0.0"]);
    check("<=2.0.0", &["2.0.0"], &["2.0.1"]);
    check("=1.2.3", &["1.2.3"], &["1.2.4"]);
    // Partial bounds widen as npm reads them.
    check(">1.2", &["1.3.0"], &["1.2.9"]);
    check("<=1.2", &["1.2.9"], &["1.3.0"]);
    check("<1.2", &["1.1.9"], &["1.2.0"]);
    check(">=v1.2.0", &["1.2.0"], &["1.1.0"]);
}

#[test]
fn and_by_space_or_comma() {
    check(">=1.0.0 <2.0.0", &["1.0.0", "1.99.0"], &["2.0.0", "0.9.0"]);
    check(">=1.0.0, <2.0.0", &["1.5.0"], &["2.0.0"]);
    check(">= 1.0.0 < 2.0.0", &["1.5.0"], &["2.5.0"]);
}

#[test]
fn hyphen_ranges() {
    check("1.2.3 - 2.3.4", &["1.2.3", "2.3.4"], &["2.3.5", "1.2.2"]);
    check("1.2 - 1.4", &["1.2.0", "1.4.99"], &["1.5.0", "1.1.9"]);
    check("1.2.3 - 2", &["2.99.0"], &["3.0.0"]);
}

#[test]
fn or_alternatives() {
    check("^1.4 || ^3.0", &["1.5.0", "3.1.0"], &["2.0.0"]);
    assert_eq!(parse_range("^1.4 || ^3.0").unwrap().alternatives(), 2);
}

#[test]
fn wildcards() {
    check("1.*", &["1.99.3"], &["2.0.0"]);
    check("1.x", &["1.0.0"], &["2.0.0"]);
    check("1.2.X", &["1.2.9"], &["1.3.0"]);
    check("*", &["0.0.1", "99.0.0"], &[]);
    check("x", &["1.0.0"], &[]);
}

/// The breaking change of 0.2: a bare version means what Flux means by it.
#[test]
fn bare_full_version_is_exact() {
    check("1.0.1", &["1.0.1"], &["1.0.2", "1.1.0"]);
    check("v1.0.1", &["1.0.1"], &["1.0.2"]);
}

#[test]
fn bare_partial_version_is_a_wildcard() {
    check("2.3", &["2.3.0", "2.3.9"], &["2.4.0", "2.2.9", "3.0.0"]);
    check("2", &["2.0.0", "2.9.9"], &["3.0.0", "1.9.9"]);
    let r = parse_range("2.3 || >=3.0.0").unwrap();
    assert_eq!(r.bare_versions(), &[(0, "2.3".to_string())]);
    assert!(parse_range("^2.3").unwrap().bare_versions().is_empty());
}

#[test]
fn missing_parts_compare_as_zero() {
    check(
        "^15",
        &["15", "15.6", "15.6.1", "15.6.1.2"],
        &["16", "14.9"],
    );
    check(
        ">=1.2.3.4 <1.2.4",
        &["1.2.3.4", "1.2.3.9"],
        &["1.2.3.3", "1.2.4.0"],
    );
    check("1.2.3.4", &["1.2.3.4"], &["1.2.3.5"]);
    check("~1.2.3.4", &["1.2.9.9"], &["1.3.0.0"]);
}

#[test]
fn prerelease_tested_by_its_release() {
    check("^1.2", &["1.3.0-rc.1"], &[]);
    check("<2.0.0", &[], &["2.0.0-rc.1"]);
    check("^1.4", &[], &["2.0.0-beta.1"]);
    check(
        ">=1.3.0-rc.2",
        &["1.3.0-rc.2", "1.3.0-rc.10", "1.3.0"],
        &["1.3.0-rc.1"],
    );
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
fn unclear_ranges_are_errors_at_the_word() {
    for (range, offset) in [("2.*.3", 0), ("1.x.5", 0), (">=1.0.0 <2.x.1", 9)] {
        let e = parse_range(range).unwrap_err();
        assert_eq!(e.offset, offset, "{range}");
        assert!(e.message.contains("unclear"), "{range}: {}", e.message);
        assert!(
            e.hint.contains("wildcard ends a version"),
            "{range}: {}",
            e.hint
        );
    }
}

#[test]
fn bad_ranges_are_rejected_with_one_line() {
    for (bad, offset) in [
        ("", 0),
        ("   ", 0),
        ("latest", 0),
        ("^1 ||", 5),
        ("|| ^1", 0),
        (">=", 0),
        (">= <2", 0),
        ("1.2.3 -", 0),
        ("- 1.2.3", 0),
        (">=1.0.0 - 2.0.0", 0),
        ("^1.x\n.q", 5),
        ("1.2.3.4.5", 0),
        ("~>1.2", 0),
        ("1.2-rc.1", 0),
        (">*", 0),
        ("^01.2", 1),
        ("1.2.3-alpine", 0),
        (">=1.0.0 || <=", 11),
    ] {
        let e = parse_range(bad).unwrap_err();
        assert!(!e.to_string().contains('\n'), "{bad:?}: {e}");
        assert!(!e.hint.is_empty(), "{bad:?}");
        assert_eq!(e.offset, offset, "{bad:?}: {e}");
    }
    assert!(parse_range("~>1.2").unwrap_err().hint.contains("Ruby"));
}
