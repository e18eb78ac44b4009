//! `order: newest` and the release-age rule: build and release times are a
//! pure input.

use std::collections::HashMap;
use std::time::Duration;

use super::*;
use crate::policy::{
    Reason, Ripeness, TagTimes, choose_with, needs_times, ranked_with, release_wait, verdicts_with,
};

const DAY: i64 = 86_400_000;

fn times(created: &[(&str, i64)], seen: &[(&str, i64)]) -> TagTimes {
    let map = |v: &[(&str, i64)]| -> HashMap<String, i64> {
        v.iter().map(|(t, ms)| (t.to_string(), *ms)).collect()
    };
    TagTimes {
        created: map(created),
        first_seen: map(seen),
        listed_since: None,
    }
}

fn newest() -> Policy {
    tag_rule(Some("^[0-9a-f]{7}$"), None, Order::Newest)
}

#[test]
fn newest_orders_git_sha_tags_by_created_not_by_name() {
    let p = newest();
    let list = tags(&["aaaaaaa", "fffffff", "1234567", "main"]);
    let t = times(
        &[("aaaaaaa", 3 * DAY), ("fffffff", DAY), ("1234567", 2 * DAY)],
        &[
            ("aaaaaaa", 10 * DAY),
            ("fffffff", 10 * DAY),
            ("1234567", 10 * DAY),
        ],
    );
    assert_eq!(
        choose_with(&p, "fffffff", &list, false, &t),
        bump("aaaaaaa", UpdateType::Other)
    );
    // Already at the newest build: nothing to do, never a move sideways.
    assert_eq!(
        choose_with(&p, "aaaaaaa", &list, false, &t),
        Decision::Current
    );
    let ranked = ranked_with(&p, "fffffff", &list, false, &t).unwrap();
    let order: Vec<&str> = ranked.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(order, ["aaaaaaa", "1234567"]);
}

#[test]
fn a_zero_or_missing_created_falls_back_to_first_seen_which_also_breaks_ties() {
    let p = newest();
    let list = tags(&["aaaaaaa", "bbbbbbb", "ccccccc"]);
    // Reproducible builds write created = 0 (the epoch): first seen counts.
    let t = times(
        &[("aaaaaaa", 0), ("bbbbbbb", 5 * DAY), ("ccccccc", 5 * DAY)],
        &[
            ("aaaaaaa", 9 * DAY),
            ("bbbbbbb", 6 * DAY),
            ("ccccccc", 7 * DAY),
        ],
    );
    let ranked = ranked_with(&p, "0000000", &list, true, &t).unwrap();
    let order: Vec<&str> = ranked.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(order, ["aaaaaaa", "ccccccc", "bbbbbbb"]);
}

#[test]
fn a_tag_with_no_known_build_time_is_never_the_newest_and_says_why() {
    let p = newest();
    let list = tags(&["aaaaaaa", "bbbbbbb"]);
    let t = times(&[("aaaaaaa", DAY)], &[("aaaaaaa", DAY)]);
    let v = verdicts_with(&p, "aaaaaaa", &list, false, &t).unwrap();
    let b = v.iter().find(|v| v.tag == "bbbbbbb").unwrap();
    assert_eq!(b.rule, Some(Reason::Pattern));
    assert!(
        b.detail.contains("build time of `bbbbbbb` is not known"),
        "{b:?}"
    );
    // A current tag whose time is unknown (gone from the registry) is skipped
    // with the reason, not guessed.
    let t = times(&[("bbbbbbb", DAY)], &[]);
    assert!(matches!(
        choose_with(&p, "aaaaaaa", &list, false, &t),
        Decision::Skip(why) if why.contains("build time of `aaaaaaa`")
    ));
}

#[test]
fn only_tags_of_the_rules_shape_need_build_times() {
    let mut p = newest();
    p.exclude.push(Regex::new("^deadbee").unwrap());
    let list = tags(&["aaaaaaa", "main", "deadbee", "x.sig", "1234567"]);
    assert_eq!(needs_times(&p, &list), tags(&["aaaaaaa", "1234567"]));
    assert!(needs_times(&semver("^1"), &list).is_empty());
    let alpha = tag_rule(None, None, Order::Alphabetical);
    assert!(needs_times(&alpha, &list).is_empty());
}

#[test]
fn release_age_counts_from_first_seen_then_created() {
    let mut p = semver("^1");
    assert_eq!(
        release_wait(&p, None, 0),
        Ripeness::Ripe,
        "no minReleaseAge"
    );
    p.min_release_age = Duration::from_secs(3 * 86_400);
    let now = 10 * DAY;
    assert_eq!(release_wait(&p, Some(7 * DAY), now), Ripeness::Ripe);
    assert_eq!(
        release_wait(&p, Some(8 * DAY), now),
        Ripeness::Until(11 * DAY)
    );
    assert_eq!(release_wait(&p, None, now), Ripeness::Unknown);
    assert_eq!(
        release_wait(&p, Some(i64::MAX), now),
        Ripeness::Until(i64::MAX),
        "no overflow"
    );
    let mut t = times(&[("1.1.0", DAY), ("1.2.0", 0)], &[("1.1.0", 9 * DAY)]);
    assert_eq!(t.released("1.1.0"), Some(9 * DAY), "first seen wins");
    assert_eq!(t.released("1.2.0"), None, "created 0 is no time");
    assert_eq!(t.released("1.3.0"), None);
    // Tags there at the first listing are at least that old, older if
    // their config says so.
    t.listed_since = Some(5 * DAY);
    t.created.insert("1.0.0".into(), 2 * DAY);
    t.created.insert("0.9.0".into(), 6 * DAY);
    assert_eq!(t.released("1.0.0"), Some(2 * DAY));
    assert_eq!(t.released("0.9.0"), Some(5 * DAY));
    assert_eq!(t.released("1.2.0"), Some(5 * DAY));
    assert_eq!(
        t.released("1.1.0"),
        Some(9 * DAY),
        "appeared later: as seen"
    );
    assert!(t.seen_appearing("1.1.0") && !t.seen_appearing("1.0.0"));
}
