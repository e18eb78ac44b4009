//! `minReleaseAge` and `order: newest` in a plan: times come from the
//! source (the store's first-seen times, image config `created` times).

use super::*;
use crate::policy::{Reason, TagTimes};

const DAY: i64 = 86_400_000;
const NOW: i64 = 1_000 * DAY;
const AGED: &str = "policies:\n  - name: web\n    image: ghcr.io/acme/web\n    semver: ^1\n    minReleaseAge: 3d\n";
const WEB_FILE: &str = "image: ghcr.io/acme/web:1.0.0\n";

fn seen(tags: Tags, first_listed: i64, appeared: &[(&str, i64)]) -> Tags {
    let mut tags = tags;
    tags.seen.insert(
        "ghcr.io/acme/web".into(),
        TagTimes {
            first_seen: appeared
                .iter()
                .map(|(t, ms)| (t.to_string(), *ms))
                .collect(),
            listed_since: Some(first_listed),
            ..TagTimes::default()
        },
    );
    tags
}

fn created(mut tags: Tags, tag: &str, ms: Option<i64>) -> Tags {
    tags.created
        .insert(("ghcr.io/acme/web".into(), tag.into()), ms);
    tags
}

async fn plan_at(config: &str, tags: &Tags, now: i64) -> Report {
    let config = parse_config(".imagebump.yaml", config).unwrap();
    plan(&config, &files(&[("a.yaml", WEB_FILE)]), tags, now).await
}

#[tokio::test]
async fn a_young_best_tag_leaves_the_reference_on_the_previous_candidate() {
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.0.0", "1.1.0", "1.2.0"]);
    // 1.1.0 appeared 5 days ago, 1.2.0 one day ago.
    let tags = seen(tags, 0, &[("1.1.0", NOW - 5 * DAY), ("1.2.0", NOW - DAY)]);
    let report = plan_at(AGED, &tags, NOW).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let b = &report.bumps[0];
    assert_eq!(b.to.tag, "1.1.0");
    assert_eq!(b.passed_over[0].tag, "1.2.0");
    assert_eq!(b.passed_over[0].rule, Reason::Age);
    let until = NOW + 2 * DAY;
    assert_eq!(
        b.passed_over[0].detail,
        format!("waiting for release age until {}", rfc3339(until))
    );
    assert_eq!(report.waiting.len(), 1);
    let w = &report.waiting[0];
    assert_eq!((w.tag.as_str(), w.until_ms), ("1.2.0", until));
    assert_eq!(report.next_due_ms().map(|w| w.until_ms), Some(until));
    // First-seen times are the store's: no image config was fetched.
    assert!(tags.built.lock().unwrap().is_empty());
    // Once of age, 1.2.0 is the target and nothing waits.
    let report = plan_at(AGED, &tags, until).await;
    assert_eq!(report.bumps[0].to.tag, "1.2.0");
    assert!(report.waiting.is_empty());
}

#[tokio::test]
async fn when_every_newer_tag_is_young_nothing_moves_and_the_wait_is_reported() {
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.0.0", "1.1.0"]);
    let tags = seen(tags, 0, &[("1.1.0", NOW - DAY)]);
    let report = plan_at(AGED, &tags, NOW).await;
    assert!(report.bumps.is_empty(), "{:?}", report.bumps);
    assert_eq!(report.waiting[0].until_ms, NOW + 2 * DAY);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["waiting"][0]["tag"], "1.1.0");
    assert_eq!(json["waiting"][0]["until"], rfc3339(NOW + 2 * DAY));
}

/// Without first-seen times (`check`), the image config's `created` is
/// fetched for the best candidates in order, stopping at the first old
/// enough.
#[tokio::test]
async fn without_a_store_created_is_fetched_best_first_until_one_is_old_enough() {
    let tags = Tags::default().with(
        "ghcr.io/acme/web",
        &["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"],
    );
    let tags = created(tags, "1.4.0", Some(NOW - DAY));
    let tags = created(tags, "1.3.0", None); // no created: unknown age
    let tags = created(tags, "1.2.0", Some(NOW - 10 * DAY));
    let tags = created(tags, "1.1.0", Some(NOW - 20 * DAY));
    let report = plan_at(AGED, &tags, NOW).await;
    let b = &report.bumps[0];
    assert_eq!(b.to.tag, "1.2.0");
    assert_eq!(*tags.built.lock().unwrap(), ["1.4.0", "1.3.0", "1.2.0"]);
    let rules: Vec<(&str, &str)> = b
        .passed_over
        .iter()
        .map(|p| (p.tag.as_str(), p.detail.as_str()))
        .collect();
    assert!(
        rules[0].1.starts_with("waiting for release age until"),
        "{rules:?}"
    );
    assert!(rules[1].1.starts_with("release time unknown"), "{rules:?}");
}

/// A tag there at the first listing is at least that old; its config can
/// prove it older.
#[tokio::test]
async fn tags_present_at_the_first_listing_count_from_it_or_from_an_older_build() {
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.0.0", "1.1.0", "1.2.0"]);
    // Listed a day ago; 1.2.0 was built a year ago, 1.1.0 has no created.
    let tags = seen(tags, NOW - DAY, &[]);
    let tags = created(tags, "1.2.0", Some(NOW - 365 * DAY));
    let report = plan_at(AGED, &tags, NOW).await;
    assert_eq!(report.bumps.len(), 1, "{report:?}");
    assert_eq!(report.bumps[0].to.tag, "1.2.0");
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.0.0", "1.1.0"]);
    let tags = created(seen(tags, NOW - DAY, &[]), "1.1.0", None);
    let report = plan_at(AGED, &tags, NOW).await;
    assert!(report.bumps.is_empty());
    assert_eq!(
        report.waiting[0].until_ms,
        NOW + 2 * DAY,
        "listed a day ago"
    );
}

#[tokio::test]
async fn newest_follows_build_times_the_source_gives() {
    const SHA: &str = "policies:\n  - name: web\n    image: ghcr.io/acme/web\n    tags:\n      pattern: '^[0-9a-f]{7}$'\n      order: newest\n";
    let tags = Tags::default().with(
        "ghcr.io/acme/web",
        &["aaaaaaa", "bbbbbbb", "ccccccc", "main"],
    );
    let tags = created(tags, "aaaaaaa", Some(3 * DAY));
    let tags = created(tags, "bbbbbbb", Some(9 * DAY));
    let tags = created(tags, "ccccccc", Some(5 * DAY));
    let config = parse_config(".imagebump.yaml", SHA).unwrap();
    let f = files(&[("a.yaml", "image: ghcr.io/acme/web:aaaaaaa\n")]);
    let report = plan(&config, &f, &tags, NOW).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.bumps[0].to.tag, "bbbbbbb");
    // Only tags of the rule's shape were asked for, each once.
    let mut asked = tags.built.lock().unwrap().clone();
    asked.sort();
    assert_eq!(asked, ["aaaaaaa", "bbbbbbb", "ccccccc"]);
}
