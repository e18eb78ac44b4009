use super::{bump, policy, semver, semver_pre, tags};
use crate::policy::version::parse_range;
use crate::policy::{Decision, Rule, UpdateType, choose};

#[test]
fn semver_picks_highest_in_range() {
    let p = semver("^1.4");
    let t = tags(&["1.4.0", "1.9.2", "1.10.1", "2.0.0", "1.3.9"]);
    assert_eq!(
        choose(&p, "1.4.0", &t, false),
        bump("1.10.1", UpdateType::Minor)
    );
}

#[test]
fn update_type_major() {
    let p = semver("*");
    assert_eq!(
        choose(&p, "1.9.9", &tags(&["2.0.0"]), false),
        bump("2.0.0", UpdateType::Major)
    );
}

#[test]
fn update_type_minor() {
    let p = semver("^1");
    assert_eq!(
        choose(&p, "1.2.9", &tags(&["1.3.0"]), false),
        bump("1.3.0", UpdateType::Minor)
    );
}

#[test]
fn update_type_patch() {
    let p = semver("~1.2");
    assert_eq!(
        choose(&p, "1.2.3", &tags(&["1.2.4", "1.3.0"]), false),
        bump("1.2.4", UpdateType::Patch)
    );
}

#[test]
fn update_type_prerelease_between_prereleases() {
    let p = semver_pre("^1");
    assert_eq!(
        choose(&p, "1.3.0-rc.1", &tags(&["1.3.0-rc.2"]), false),
        bump("1.3.0-rc.2", UpdateType::Prerelease)
    );
}

#[test]
fn update_type_prerelease_to_its_release() {
    let p = semver("^1");
    assert_eq!(
        choose(&p, "1.3.0-rc.1", &tags(&["1.3.0", "1.3.0-rc.2"]), false),
        bump("1.3.0", UpdateType::Prerelease)
    );
}

#[test]
fn prerelease_to_next_minor_is_minor() {
    let p = semver("^1");
    assert_eq!(
        choose(&p, "1.3.0-rc.1", &tags(&["1.4.0"]), false),
        bump("1.4.0", UpdateType::Minor)
    );
}

#[test]
fn rc10_orders_after_rc9_when_choosing() {
    let p = semver_pre("^1");
    let t = tags(&["1.3.0-rc.9", "1.3.0-rc.10", "1.3.0-rc.2"]);
    assert_eq!(
        choose(&p, "1.3.0-rc.1", &t, false),
        bump("1.3.0-rc.10", UpdateType::Prerelease)
    );
}

#[test]
fn prereleases_not_candidates_by_default() {
    let p = semver("^1");
    let t = tags(&["1.2.0", "1.3.0-rc.1", "1.3.0-beta"]);
    assert_eq!(choose(&p, "1.2.0", &t, false), Decision::Current);
}

#[test]
fn prerelease_flag_opts_in() {
    let p = semver_pre("^1");
    let t = tags(&["1.2.0", "1.3.0-rc.1", "1.3.0-beta"]);
    assert_eq!(
        choose(&p, "1.2.0", &t, false),
        bump("1.3.0-rc.1", UpdateType::Minor)
    );
}

#[test]
fn range_naming_prerelease_opts_in() {
    let p = semver(">=1.3.0-rc.1");
    assert!(!p.prerelease);
    let t = tags(&["1.2.0", "1.3.0-rc.1", "1.3.0-rc.3"]);
    assert_eq!(
        choose(&p, "1.2.0", &t, false),
        bump("1.3.0-rc.3", UpdateType::Minor)
    );
}

#[test]
fn prerelease_outside_range_not_candidate() {
    let p = semver_pre("^1.4");
    let t = tags(&["1.9.0", "2.0.0-rc.1"]);
    assert_eq!(choose(&p, "1.9.0", &t, false), Decision::Current);
}

#[test]
fn variant_alpine_moves_only_to_alpine() {
    let p = semver("*");
    let t = tags(&[
        "1.27.0-alpine",
        "1.28.0",
        "1.28.0-alpine-slim",
        "1.27.1-alpine3.19",
    ]);
    assert_eq!(
        choose(&p, "1.25.3-alpine", &t, false),
        bump("1.27.0-alpine", UpdateType::Minor)
    );
}

#[test]
fn plain_never_moves_to_variant() {
    let p = semver("*");
    let t = tags(&["1.27.0-alpine", "1.26.0-slim", "1.25.4"]);
    assert_eq!(
        choose(&p, "1.25.3", &t, false),
        bump("1.25.4", UpdateType::Patch)
    );
    assert_eq!(
        choose(&p, "1.25.3", &tags(&["1.27.0-alpine"]), false),
        Decision::Current
    );
}

#[test]
fn variant_never_moves_to_plain() {
    let p = semver("*");
    let t = tags(&["1.28.0", "1.25.3-alpine"]);
    assert_eq!(choose(&p, "1.25.3-alpine", &t, false), Decision::Current);
}

#[test]
fn variant_compares_whole_suffix_text() {
    let p = semver("*");
    let t = tags(&[
        "1.26.0-slim-bookworm",
        "1.27.0-slim-bullseye",
        "1.27.0-slim",
    ]);
    assert_eq!(
        choose(&p, "1.25.0-slim-bookworm", &t, false),
        bump("1.26.0-slim-bookworm", UpdateType::Minor)
    );
}

#[test]
fn variant_respects_range() {
    let p = semver("^1.25");
    let t = tags(&["1.27.0-alpine", "2.0.0-alpine"]);
    assert_eq!(
        choose(&p, "1.25.3-alpine", &t, false),
        bump("1.27.0-alpine", UpdateType::Minor)
    );
}

#[test]
fn v_prefix_tie_follows_current_style() {
    let p = semver("*");
    let t = tags(&["v1.2.4", "1.2.4", "1.2.3"]);
    assert_eq!(
        choose(&p, "1.2.3", &t, false),
        bump("1.2.4", UpdateType::Patch)
    );
    assert_eq!(
        choose(&p, "v1.2.3", &t, false),
        bump("v1.2.4", UpdateType::Patch)
    );
}

#[test]
fn v_prefix_mixed_picks_higher_version_over_style() {
    let p = semver("*");
    let t = tags(&["v1.2.5", "1.2.4"]);
    assert_eq!(
        choose(&p, "1.2.3", &t, false),
        bump("v1.2.5", UpdateType::Patch)
    );
}

#[test]
fn same_version_other_prefix_is_current() {
    let p = semver("*");
    assert_eq!(
        choose(&p, "1.2.4", &tags(&["v1.2.4"]), false),
        Decision::Current
    );
}

#[test]
fn current_is_best_is_current() {
    let p = semver("^1");
    let t = tags(&["1.0.0", "1.1.0", "1.2.0"]);
    assert_eq!(choose(&p, "1.2.0", &t, false), Decision::Current);
}

#[test]
fn no_candidates_is_current() {
    let p = semver("^9");
    assert_eq!(
        choose(&p, "1.0.0", &tags(&["1.0.0", "2.0.0"]), false),
        Decision::Current
    );
    assert_eq!(choose(&p, "1.0.0", &[], false), Decision::Current);
}

#[test]
fn never_downgrade_from_pinned_hotfix() {
    let p = semver("^1.4");
    let t = tags(&["1.4.0", "1.9.0", "2.0.0"]);
    assert_eq!(choose(&p, "2.0.0", &t, false), Decision::Current);
    assert_eq!(choose(&p, "2.0.1", &t, false), Decision::Current);
}

#[test]
fn out_of_range_current_below_candidates_moves_up() {
    let p = semver("^1.4");
    let t = tags(&["1.4.0", "1.9.0"]);
    assert_eq!(
        choose(&p, "1.2.0", &t, false),
        bump("1.9.0", UpdateType::Minor)
    );
}

#[test]
fn never_downgrade_from_excluded_current() {
    let p = policy(
        Rule::Semver(parse_range("^1").unwrap()),
        false,
        &["^1\\.9\\."],
    );
    let t = tags(&["1.8.0", "1.9.0", "1.9.5"]);
    assert_eq!(choose(&p, "1.9.5", &t, false), Decision::Current);
}

#[test]
fn user_excludes_are_not_candidates() {
    let p = policy(
        Rule::Semver(parse_range("^1").unwrap()),
        false,
        &["^1\\.9\\."],
    );
    let t = tags(&["1.8.0", "1.9.0", "1.9.5"]);
    assert_eq!(
        choose(&p, "1.7.0", &t, false),
        bump("1.8.0", UpdateType::Minor)
    );
}

#[test]
fn cosign_sig_tags_excluded_by_default() {
    let p = policy(
        Rule::Tags(crate::policy::TagRule {
            pattern: None,
            extract: None,
            order: crate::policy::Order::Alphabetical,
        }),
        false,
        &[],
    );
    let t = tags(&[
        "sha256-aaaa.sig",
        "sha256-aaaa.att",
        "sha256-aaaa.sbom",
        "main-2",
    ]);
    assert_eq!(
        choose(&p, "main-1", &t, false),
        bump("main-2", UpdateType::Other)
    );
}

#[test]
fn latest_is_skipped_with_reason() {
    let p = semver("^1.4");
    let Decision::Skip(reason) = choose(&p, "latest", &tags(&["1.4.0", "1.5.0"]), false) else {
        panic!("not skipped");
    };
    assert!(reason.contains("`latest`"), "{reason}");
    assert!(reason.contains("not a semver version"), "{reason}");
    assert!(reason.contains("^1.4"), "{reason}");
    assert!(reason.contains("marker"), "{reason}");
    assert!(!reason.contains('\n'), "{reason}");
}

#[test]
fn two_part_current_moves_only_to_two_parts() {
    let p = semver("*");
    assert_eq!(
        choose(&p, "1.25", &tags(&["1.25.3", "1.26.1", "2"]), false),
        Decision::Current
    );
    assert_eq!(
        choose(&p, "1.25", &tags(&["1.25.3", "1.26", "2"]), false),
        bump("1.26", UpdateType::Minor)
    );
}

#[test]
fn latest_with_marker_is_bumped() {
    let p = semver("^1.4");
    let t = tags(&["1.4.0", "1.5.0", "1.6.0-alpine", "2.0.0", "latest"]);
    assert_eq!(
        choose(&p, "latest", &t, true),
        bump("1.5.0", UpdateType::Other)
    );
}

#[test]
fn marker_without_plain_candidates_is_current() {
    let p = semver("^1.4");
    let t = tags(&["1.6.0-alpine", "latest"]);
    assert_eq!(choose(&p, "latest", &t, true), Decision::Current);
}

#[test]
fn marked_version_current_follows_normal_rules() {
    let p = semver("^1.4");
    let t = tags(&["1.4.0", "1.5.0"]);
    assert_eq!(
        choose(&p, "1.4.0", &t, true),
        bump("1.5.0", UpdateType::Minor)
    );
    assert_eq!(choose(&p, "1.5.0", &t, true), Decision::Current);
}

#[test]
fn marked_latest_prefers_plain_style_on_tie() {
    let p = semver("*");
    let t = tags(&["v1.5.0", "1.5.0"]);
    assert_eq!(
        choose(&p, "latest", &t, true),
        bump("1.5.0", UpdateType::Other)
    );
}

#[test]
fn non_version_tags_ignored_as_candidates() {
    let p = semver("*");
    let t = tags(&["latest", "1.25", "1.2.3.4", "stable", "1.2.4"]);
    assert_eq!(
        choose(&p, "1.2.3", &t, false),
        bump("1.2.4", UpdateType::Patch)
    );
}

#[test]
fn refused_update_types_leave_the_best_accepted_tag_with_any_number_of_majors() {
    let mut p = semver("*");
    p.refused.update_types.insert(UpdateType::Major);
    let mut list: Vec<String> = (2..=20).map(|m| format!("{m}.0.0")).collect();
    list.extend(tags(&["1.4.2", "1.5.0", "1.3.0"]));
    assert_eq!(
        choose(&p, "1.4.0", &list, false),
        bump("1.5.0", UpdateType::Minor)
    );
    p.refused.update_types.insert(UpdateType::Minor);
    assert_eq!(
        choose(&p, "1.4.0", &list, false),
        bump("1.4.2", UpdateType::Patch)
    );
    p.refused.tags.insert("1.4.2".into());
    assert_eq!(choose(&p, "1.4.0", &list, false), Decision::Current);
    // `ranked` and `verdicts` say the same, with the reason.
    p.refused.tags.clear();
    let ranked = crate::policy::ranked(&p, "1.4.0", &list, false).unwrap();
    assert_eq!(ranked, vec![("1.4.2".to_string(), UpdateType::Patch)]);
    let verdicts = crate::policy::verdicts(&p, "1.4.0", &list, false).unwrap();
    let of = |t: &str| verdicts.iter().find(|v| v.tag == t).unwrap().detail.clone();
    assert_eq!(of("20.0.0"), "a person ignores major updates");
    assert_eq!(of("1.5.0"), "a person ignores minor updates");
    assert_eq!(of("1.3.0"), "not newer than the current tag");
}
