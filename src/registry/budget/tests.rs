//! The reported budget as pure arithmetic over given instants, and the
//! per-host state (first contact, the token bucket) with real time.

use reqwest::header::HeaderValue;

use super::*;

const S: Duration = Duration::from_secs(1);

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn report(remaining: u64, limit: u64, window: Option<u64>, reset: Option<u64>) -> Report {
    Report {
        remaining,
        limit: Some(limit),
        window: window.map(Duration::from_secs),
        reset: reset.map(Duration::from_secs),
    }
}

/// The waits of `n` requests all made at `now`.
fn waits(budget: &mut Budget, now: Instant, n: usize) -> Vec<Result<Duration, Duration>> {
    (0..n).map(|_| budget.reserve(now)).collect()
}

#[test]
fn docker_hub_headers_are_read() {
    let hub = headers(&[
        ("ratelimit-limit", "100;w=21600"),
        ("ratelimit-remaining", "76;w=21600"),
        ("docker-ratelimit-source", "192.0.2.1"),
    ]);
    assert_eq!(parse_report(&hub), Some(report(76, 100, Some(21600), None)));
    // Docker's older docs show a space before the parameter.
    let spaced = headers(&[("ratelimit-remaining", "20 ;w=3600")]);
    assert_eq!(
        parse_report(&spaced),
        Some(Report {
            remaining: 20,
            limit: None,
            window: Some(Duration::from_secs(3600)),
            reset: None,
        })
    );
    let draft = headers(&[
        ("ratelimit-limit", "10"),
        ("ratelimit-remaining", "3"),
        ("ratelimit-reset", "7"),
    ]);
    assert_eq!(parse_report(&draft), Some(report(3, 10, None, Some(7))));
}

#[test]
fn no_or_unreadable_remaining_is_no_report() {
    assert_eq!(parse_report(&headers(&[("ratelimit-limit", "100")])), None);
    assert_eq!(
        parse_report(&headers(&[("ratelimit-remaining", "many")])),
        None
    );
    assert_eq!(parse_report(&HeaderMap::new()), None);
}

#[test]
fn without_a_report_nothing_waits() {
    let mut budget = Budget::default();
    let now = Instant::now();
    assert!(
        waits(&mut budget, now, 50)
            .iter()
            .all(|w| *w == Ok(Duration::ZERO))
    );
}

#[test]
fn above_the_reserve_requests_go_at_once() {
    let mut budget = Budget::default();
    let now = Instant::now();
    budget.observe(report(50, 100, None, Some(30)), now);
    // 50 left, reserve 10: the first 40 go without waiting.
    let w = waits(&mut budget, now, 41);
    assert!(w[..40].iter().all(|w| *w == Ok(Duration::ZERO)), "{w:?}");
    assert_eq!(
        w[40],
        Ok(Duration::ZERO),
        "the first of the reserve goes too"
    );
    assert!(
        budget.reserve(now).unwrap() > Duration::ZERO,
        "the next waits its share"
    );
}

#[test]
fn the_reserve_is_spread_until_the_reset() {
    let mut budget = Budget::default();
    let now = Instant::now();
    budget.observe(report(4, 100, None, Some(8)), now);
    let w = waits(&mut budget, now, 5);
    let expected: Vec<_> = [0, 2, 4, 6, 8].iter().map(|s| Ok(S * *s)).collect();
    assert_eq!(w, expected, "4 left over 8 s, then the reset");
}

#[test]
fn nothing_left_until_a_distant_reset_fails_at_once_and_counts_nothing() {
    let mut budget = Budget::default();
    let now = Instant::now();
    budget.observe(report(0, 100, Some(21600), None), now);
    let wait = Duration::from_secs(21600);
    assert_eq!(budget.reserve(now), Err(wait));
    assert_eq!(
        budget.reserve(now),
        Err(wait),
        "the refusal reserved nothing"
    );
    // Once the reset is near, requests wait for it instead.
    let later = now + wait - S * 30;
    assert_eq!(budget.reserve(later), Ok(S * 30));
}

#[test]
fn a_known_window_starts_afresh_after_its_reset() {
    let mut budget = Budget::default();
    let now = Instant::now();
    // None left; windows of 2 s with 5 requests; this one ends in 1 s.
    budget.observe(report(0, 5, Some(2), Some(1)), now);
    let w = waits(&mut budget, now, 6);
    let expected: Vec<_> = [1000, 1000, 1000, 1000, 1000, 3000]
        .iter()
        .map(|ms| Ok(Duration::from_millis(*ms)))
        .collect();
    assert_eq!(
        w, expected,
        "the next window's 5 go at its start (the last of them is the reserve), the 6th at the window after"
    );
    // Long after, the window rolled many times: a full budget again.
    let much_later = now + Duration::from_secs(3600);
    assert_eq!(budget.reserve(much_later), Ok(Duration::ZERO));
}

#[test]
fn a_late_answer_of_the_same_window_does_not_raise_the_count() {
    let mut budget = Budget::default();
    let now = Instant::now();
    budget.observe(report(12, 100, None, Some(60)), now);
    assert_eq!(waits(&mut budget, now, 2), [Ok(Duration::ZERO); 2]);
    // The answer to the first request (sent with 12 left) arrives last.
    budget.observe(report(11, 100, None, Some(60)), now);
    assert_eq!(budget.reserve(now), Ok(Duration::ZERO));
    assert_eq!(
        budget.reserve(now),
        Ok(S * 6),
        "10 were left (not 11): the reserve, 60 s / 10 apart"
    );
}

#[test]
fn an_answer_of_a_new_window_replaces_the_count() {
    let mut budget = Budget::default();
    let now = Instant::now();
    budget.observe(report(1, 100, None, Some(10)), now);
    let later = now + S * 11;
    budget.observe(report(90, 100, None, Some(60)), later);
    assert_eq!(waits(&mut budget, later, 3), [Ok(Duration::ZERO); 3]);
}

#[test]
fn an_answer_about_a_window_already_left_behind_is_ignored() {
    let mut budget = Budget::default();
    let now = Instant::now();
    // 1 s windows of 5; none left in this one: the next requests draw on
    // the next window (which ends 2 s from now).
    budget.observe(report(0, 5, Some(1), Some(1)), now);
    assert_eq!(budget.reserve(now), Ok(S));
    // A late answer about the window that ends in 1 s says 0 are left:
    // it must not stop the next window's requests.
    budget.observe(report(0, 5, Some(1), Some(1)), now);
    assert_eq!(waits(&mut budget, now, 3), [Ok(S); 3]);
}

#[tokio::test]
async fn before_the_first_answer_requests_to_a_host_go_one_at_a_time() {
    let hosts = Hosts::new(0.0, 1);
    let first = hosts.acquire("a.example").await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(100), hosts.acquire("a.example"));
    assert!(waiting.await.is_err(), "a second request waited");
    // Another host is not held up.
    let other = hosts.acquire("b.example").await.unwrap();
    other.answered(&HeaderMap::new());
    first.answered(&HeaderMap::new());
    // Answered once: requests go together from now on.
    let (a, b) = tokio::join!(hosts.acquire("a.example"), hosts.acquire("a.example"));
    assert!(a.is_ok() && b.is_ok());
}

#[tokio::test]
async fn the_first_answer_paces_what_was_waiting_for_it() {
    let hosts = Hosts::new(0.0, 1);
    let first = hosts.acquire("a.example").await.unwrap();
    first.answered(&headers(&[
        ("ratelimit-limit", "100"),
        ("ratelimit-remaining", "0"),
        ("ratelimit-reset", "3600"),
    ]));
    let refused = hosts.acquire("a.example").await.err();
    assert!(
        refused.is_some_and(|wait| wait > Duration::from_secs(3500)),
        "not sent: {refused:?}"
    );
}

#[tokio::test]
async fn the_token_bucket_lets_a_burst_through_then_spaces_requests() {
    let hosts = Hosts::new(20.0, 3); // 50 ms apart after 3
    hosts
        .acquire("a.example")
        .await
        .unwrap()
        .answered(&HeaderMap::new());
    let started = Instant::now();
    for _ in 0..2 {
        hosts.acquire("a.example").await.unwrap();
    }
    let burst = started.elapsed();
    for _ in 0..4 {
        hosts.acquire("a.example").await.unwrap();
    }
    let all = started.elapsed();
    assert!(
        all >= Duration::from_millis(190),
        "4 past the burst at 20/s: {all:?}"
    );
    assert!(
        burst < all / 2,
        "the burst did not wait: {burst:?} of {all:?}"
    );
    // The cap is per host.
    let other = Instant::now();
    hosts
        .acquire("b.example")
        .await
        .unwrap()
        .answered(&HeaderMap::new());
    assert!(other.elapsed() < all, "b.example has its own bucket");
}
