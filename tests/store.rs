//! The store against real databases: SQLite in a temp dir and Postgres on
//! 127.0.0.1:5432 (or `IMAGEBUMP_TEST_POSTGRES`, an admin URL). Each
//! behaviour is written once and run on both backends: `both!(name)`
//! generates `name::sqlite` and `name::postgres`. Each Postgres test uses
//! its own fresh database, dropped at the end. Postgres being unreachable
//! fails the tests; it never skips them.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use imagebump::event::Command;
use imagebump::store::{
    Accepted, CachedTags, DELIVERY_TTL, Delivery, Failed, JobKind, MAX_ATTEMPTS, Pushed,
    QueueStats, RETRY_BACKOFF_CAP, Revived, Store, Trigger, retry_backoff,
};
use support::backends::Backend;

const T0: i64 = 1_800_000_000_000;
const LEASE: Duration = Duration::from_secs(60);

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap()
}

/// The store under test (tests/support/backends.rs).
type Harness = Backend;

impl Harness {
    /// `(leased_by, repo)` of every reconcile whose lease is live at `now`.
    async fn live_leases(&self, now: i64) -> Vec<(String, String)> {
        self.rows(&format!(
            "SELECT leased_by, repo FROM jobs WHERE kind = 'reconcile' AND lease_until_ms > {now} ORDER BY id"
        ))
        .await
    }
}

/// A command job of `env`, told apart by its text.
fn command(text: &str) -> JobKind {
    JobKind::Command {
        repo: "env".into(),
        command: Command {
            repo: "acme/env".into(),
            number: 1,
            user: "ops".into(),
            text: text.into(),
        },
    }
}

/// Stores one delivery of `source` asking for `jobs`, as the inbox's
/// batches do.
async fn accept(
    s: &Store,
    source: &str,
    id: &str,
    jobs: Vec<JobKind>,
    now_ms: i64,
) -> anyhow::Result<Accepted> {
    let one = Delivery {
        source: source.into(),
        delivery: id.into(),
        jobs,
        pushes: Vec::new(),
    };
    let mut answers = s.accept_batch(&[one], now_ms).await?;
    Ok(answers.remove(0))
}

both!(accept_stores_jobs_and_dedupes_replays);
async fn accept_stores_jobs_and_dedupes_replays(h: Harness) {
    let s = &h.store;
    let events = vec![command("1.0.0"), command("abc")];
    assert_eq!(
        accept(s, "github", "d-1", events.clone(), T0)
            .await
            .unwrap(),
        Accepted::Stored { jobs: 2 }
    );
    // A replay writes nothing.
    let later = T0 + 1_000;
    assert_eq!(
        accept(s, "github", "d-1", vec![command("9.9.9")], later)
            .await
            .unwrap(),
        Accepted::Duplicate
    );
    assert_eq!(s.queue_stats(later).await.unwrap().depth, 2);
    assert_eq!(h.count("jobs").await, 2);
    assert_eq!(h.count("deliveries").await, 1);
    // The same id from another source is another delivery.
    assert_eq!(
        accept(s, "gitlab", "d-1", vec![], later).await.unwrap(),
        Accepted::Stored { jobs: 0 }
    );

    // Jobs come out in order, with their event and delivery.
    let first = s.claim("w", LEASE, later).await.unwrap().unwrap();
    assert_eq!(first.kind, command("1.0.0"));
    assert_eq!(first.source.as_deref(), Some("github"));
    assert_eq!(first.delivery.as_deref(), Some("d-1"));
    assert_eq!(first.attempts, 1);
    assert_eq!(first.enqueued_at_ms, T0);
    let second = s.claim("w", LEASE, later).await.unwrap().unwrap();
    assert_eq!(second.kind, command("abc"));

    // Still a duplicate just before the TTL; accepted again at it.
    let ttl = ms(DELIVERY_TTL);
    assert_eq!(
        accept(s, "github", "d-1", vec![command("2.0.0")], T0 + ttl - 1)
            .await
            .unwrap(),
        Accepted::Duplicate
    );
    assert_eq!(
        accept(s, "github", "d-1", vec![command("2.0.0")], T0 + ttl)
            .await
            .unwrap(),
        Accepted::Stored { jobs: 1 }
    );
    assert_eq!(h.count("jobs").await, 3);
    assert_eq!(h.count("deliveries").await, 2);

    // Purging forgets expired ids only: gitlab's (at T0 + 1s) expires at
    // T0 + 1s + TTL; github's revived one at T0 + 2 TTL.
    assert_eq!(s.purge_expired_deliveries(T0 + ttl).await.unwrap(), 0);
    assert_eq!(
        s.purge_expired_deliveries(T0 + ttl + 1_000).await.unwrap(),
        1
    );
    assert_eq!(h.count("deliveries").await, 1);
}

both!(concurrent_replays_store_once);
async fn concurrent_replays_store_once(h: Harness) {
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = h.store.clone();
        tasks.push(tokio::spawn(async move {
            accept(&s, "hub", "same", vec![command("1.0.0")], T0)
                .await
                .unwrap()
        }));
    }
    let mut stored = 0;
    for t in tasks {
        if t.await.unwrap() == (Accepted::Stored { jobs: 1 }) {
            stored += 1;
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(h.count("jobs").await, 1);
}

both!(accept_is_atomic);
async fn accept_is_atomic(h: Harness) {
    // A trigger makes the insert of the second job fail mid-transaction.
    if h.is_postgres() {
        h.raw(
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF NEW.payload LIKE '%boom%' THEN RAISE EXCEPTION 'boom'; END IF; \
               RETURN NEW; END $$; \
             CREATE TRIGGER boom BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION boom();",
        )
        .await;
    } else {
        h.raw(
            "CREATE TRIGGER boom BEFORE INSERT ON jobs WHEN NEW.payload LIKE '%boom%' \
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .await;
    }
    let events = vec![command("1.0.0"), command("boom")];
    let err = accept(&h.store, "hub", "d", events.clone(), T0)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("boom"), "{err:#}");
    assert_eq!(h.count("jobs").await, 0);
    assert_eq!(h.count("deliveries").await, 0);

    // The delivery was not recorded, so its redelivery is stored.
    h.raw(if h.is_postgres() {
        "DROP TRIGGER boom ON jobs"
    } else {
        "DROP TRIGGER boom"
    })
    .await;
    assert_eq!(
        accept(&h.store, "hub", "d", events.clone(), T0)
            .await
            .unwrap(),
        Accepted::Stored { jobs: 2 }
    );
    assert_eq!(h.count("jobs").await, 2);
}

fn delivery(id: &str, jobs: Vec<JobKind>) -> Delivery {
    Delivery {
        source: "github".into(),
        delivery: id.into(),
        jobs,
        pushes: Vec::new(),
    }
}

fn reconcile(repo: &str) -> JobKind {
    JobKind::Reconcile {
        repo: repo.into(),
        reason: "repository pushed".into(),
    }
}

both!(a_batch_stores_routed_jobs_once_and_coalesces_reconciles);
async fn a_batch_stores_routed_jobs_once_and_coalesces_reconciles(h: Harness) {
    let s = &h.store;
    let answers = s
        .accept_batch(
            &[
                delivery("1", vec![reconcile("env")]),
                delivery("2", vec![reconcile("env"), reconcile("other")]),
                delivery("1", vec![reconcile("env")]),
                delivery("3", vec![]),
                delivery("4", vec![command("1.0.0")]),
            ],
            T0,
        )
        .await
        .unwrap();
    assert_eq!(
        answers,
        [
            Accepted::Stored { jobs: 1 },
            Accepted::Stored { jobs: 2 },
            Accepted::Duplicate,
            Accepted::Stored { jobs: 0 },
            Accepted::Stored { jobs: 1 },
        ]
    );
    // One reconcile per repository, and the event job.
    assert_eq!(h.count("jobs").await, 3);
    assert_eq!(h.count("deliveries").await, 4);

    // A delivery that asked for nothing is still remembered.
    let replay = s
        .accept_batch(&[delivery("3", vec![reconcile("third")])], T0 + 1)
        .await
        .unwrap();
    assert_eq!(replay, [Accepted::Duplicate]);
    // A reconcile already pending absorbs a new delivery's.
    let more = s
        .accept_batch(&[delivery("5", vec![reconcile("env")])], T0 + 2)
        .await
        .unwrap();
    assert_eq!(more, [Accepted::Stored { jobs: 1 }]);
    assert_eq!(h.count("jobs").await, 3);
    let mut kinds = Vec::new();
    while let Some(job) = s.claim("w", LEASE, T0 + 3).await.unwrap() {
        kinds.push(job.kind);
    }
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    for kind in [reconcile("env"), reconcile("other"), command("1.0.0")] {
        assert!(kinds.contains(&kind), "{kind:?} in {kinds:?}");
    }
}

both!(a_stored_delivery_records_its_pushes_a_replay_does_not);
async fn a_stored_delivery_records_its_pushes_a_replay_does_not(h: Harness) {
    let s = &h.store;
    let image = "ghcr.io/acme/web";
    s.save_tags(image, &["1.0.0".to_string()], T0)
        .await
        .unwrap();
    let pushed = Delivery {
        pushes: vec![
            Pushed {
                image: image.to_string(),
                tag: None,
            },
            Pushed {
                image: image.to_string(),
                tag: Some("1.1.0".into()),
            },
        ],
        ..delivery("p-1", vec![reconcile("env")])
    };
    s.accept_batch(std::slice::from_ref(&pushed), T0 + 5)
        .await
        .unwrap();
    let cached = s.cached_tags(image).await.unwrap().unwrap();
    assert_eq!(cached.forgotten_at_ms, Some(T0 + 5), "the tagless push");
    assert_eq!(
        cached.pushed,
        vec![("1.1.0".into(), T0 + 5)],
        "the tagged one"
    );
    assert_eq!(cached.tags.len(), 1, "first-seen times stay");
    // A replay is not news.
    s.accept_batch(&[pushed], T0 + 9).await.unwrap();
    let cached = s.cached_tags(image).await.unwrap().unwrap();
    assert_eq!(cached.forgotten_at_ms, Some(T0 + 5));
    assert_eq!(cached.pushed, vec![("1.1.0".into(), T0 + 5)]);
}

both!(batches_larger_than_one_statement_store_everything);
async fn batches_larger_than_one_statement_store_everything(h: Harness) {
    let s = &h.store;
    let deliveries: Vec<Delivery> = (0..1_200)
        .map(|i| delivery(&format!("d-{i}"), vec![command("1.0.0")]))
        .collect();
    let answers = s.accept_batch(&deliveries, T0).await.unwrap();
    assert!(answers.iter().all(|a| *a == Accepted::Stored { jobs: 1 }));
    assert_eq!(h.count("deliveries").await, 1_200);
    assert_eq!(h.count("jobs").await, 1_200);
    // Every id is remembered: the whole batch again is all duplicates.
    let again = s.accept_batch(&deliveries, T0 + 1).await.unwrap();
    assert!(again.iter().all(|a| *a == Accepted::Duplicate));
    assert_eq!(h.count("jobs").await, 1_200);
}

both!(each_job_goes_to_exactly_one_of_20_claimers);
async fn each_job_goes_to_exactly_one_of_20_claimers(h: Harness) {
    const JOBS: usize = 60;
    let events: Vec<JobKind> = (0..JOBS).map(|i| command(&format!("1.0.{i}"))).collect();
    accept(&h.store, "hub", "many", events.clone(), T0)
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for w in 0..20 {
        let s = h.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(job) = s.claim(&format!("w{w}"), LEASE, T0).await.unwrap() {
                assert_eq!(job.attempts, 1);
                got.push(job.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), JOBS, "every job claimed once");
    assert_eq!(unique.len(), JOBS, "no job claimed twice");
    // All are leased now: nothing to claim until the leases run out.
    let before_expiry = T0 + ms(LEASE) - 1;
    assert!(
        h.store
            .claim("x", LEASE, before_expiry)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(h.store.queue_stats(T0).await.unwrap().depth, JOBS as u64);
}

both!(expired_lease_makes_the_job_claimable_again);
async fn expired_lease_makes_the_job_claimable_again(h: Harness) {
    let s = &h.store;
    s.enqueue_reconcile("acme/env", "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    let job = s.claim("w1", LEASE, T0).await.unwrap().unwrap();
    assert_eq!(job.attempts, 1);
    assert_eq!(
        job.kind,
        JobKind::Reconcile {
            repo: "acme/env".into(),
            reason: "poll".into()
        }
    );
    assert!(s.claim("w2", LEASE, T0 + 1_000).await.unwrap().is_none());
    // w1 crashed: at the end of its lease w2 gets the job, one attempt more.
    let again = s.claim("w2", LEASE, T0 + ms(LEASE)).await.unwrap().unwrap();
    assert_eq!(again.id, job.id);
    assert_eq!(again.attempts, 2);
    assert_eq!(again.enqueued_at_ms, T0);
}

both!(a_run_that_outlives_its_lease_leaves_the_job_to_the_claim_that_took_it_over);
async fn a_run_that_outlives_its_lease_leaves_the_job_to_the_claim_that_took_it_over(h: Harness) {
    let s = &h.store;
    s.enqueue_reconcile("acme/env", "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    let slow = s.claim("w1", LEASE, T0).await.unwrap().unwrap();
    // A push is reported while w1's run holds the repository: acknowledged,
    // kept as the follow-up.
    assert_eq!(
        accept(s, "github", "push-1", vec![reconcile("acme/env")], T0 + 10)
            .await
            .unwrap(),
        Accepted::Stored { jobs: 1 }
    );
    // w1's run outlives its lease: w2 takes the job over, and with it the
    // follow-up, which w1's run (started before the push) may not cover.
    let took_over = s.claim("w2", LEASE, T0 + ms(LEASE)).await.unwrap().unwrap();
    assert_eq!(took_over.id, slow.id);
    assert_eq!(
        reconcile_of(&took_over).1,
        "poll, repository pushed",
        "the follow-up joined w2's run"
    );
    // w1's run ends, then its failure or success is recorded: neither ends
    // w2's claim.
    assert!(s.fail(&slow, "late", T0 + ms(LEASE) + 5).await.is_err());
    s.complete(&slow, T0 + ms(LEASE) + 10).await.unwrap();
    assert_eq!(
        h.live_leases(T0 + ms(LEASE) + 10).await,
        vec![("w2".to_string(), "acme/env".to_string())],
        "the job is still w2's"
    );
    // w2 dies before its run ends (kill -9): the push's reconcile is still
    // queued, and runs once w2's lease is over.
    let again = s
        .claim("w3", LEASE, T0 + 2 * ms(LEASE))
        .await
        .unwrap()
        .expect("the acknowledged push's reconcile was lost");
    assert_eq!(reconcile_of(&again).1, "poll, repository pushed");
    s.complete(&again, T0 + 2 * ms(LEASE) + 10).await.unwrap();
    assert_eq!(h.count("jobs").await, 0);
}

both!(a_job_that_keeps_losing_its_lease_goes_dead);
async fn a_job_that_keeps_losing_its_lease_goes_dead(h: Harness) {
    let s = &h.store;
    accept(s, "hub", "d", vec![command("1.0.0")], T0)
        .await
        .unwrap();
    let mut now = T0;
    for attempt in 1..=MAX_ATTEMPTS {
        let job = s.claim("w", LEASE, now).await.unwrap().unwrap();
        assert_eq!(job.attempts, attempt);
        now += ms(LEASE);
    }
    assert!(s.claim("w", LEASE, now).await.unwrap().is_none());
    let dead = s.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].last_error.contains("lease expired"), "{dead:?}");
    assert_eq!(dead[0].kind, Some(command("1.0.0")));
}

both!(failures_retry_with_backoff_then_go_dead);
async fn failures_retry_with_backoff_then_go_dead(h: Harness) {
    let s = &h.store;
    s.enqueue_reconcile("acme/env", "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    let mut now = T0;
    for attempt in 1..MAX_ATTEMPTS {
        let job = s.claim("w", LEASE, now).await.unwrap().unwrap();
        assert_eq!(job.attempts, attempt);
        let failed = s
            .fail(&job, &format!("error {attempt}"), now)
            .await
            .unwrap();
        let at_ms = now + ms(retry_backoff(attempt));
        assert_eq!(failed, Failed::Retrying { at_ms });
        // Not before its time.
        assert!(s.claim("w", LEASE, at_ms - 1).await.unwrap().is_none());
        now = at_ms;
    }
    let job = s.claim("w", LEASE, now).await.unwrap().unwrap();
    assert_eq!(job.attempts, MAX_ATTEMPTS);
    assert_eq!(
        s.fail(&job, "final error", now).await.unwrap(),
        Failed::Dead
    );
    assert!(
        s.claim("w", LEASE, now + ms(RETRY_BACKOFF_CAP))
            .await
            .unwrap()
            .is_none()
    );

    let dead = s.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, job.id);
    assert_eq!(dead[0].last_error, "final error");
    assert_eq!(dead[0].attempts, MAX_ATTEMPTS);
    assert_eq!(dead[0].dead_at_ms, now);
    let stats = s.queue_stats(now).await.unwrap();
    assert_eq!((stats.depth, stats.dead), (0, 1));
    // A dead job cannot fail again.
    assert!(s.fail(&job, "again", now).await.is_err());
}

#[test]
fn backoff_doubles_and_is_capped() {
    assert_eq!(retry_backoff(1), Duration::from_secs(30));
    assert_eq!(retry_backoff(2), Duration::from_secs(60));
    assert_eq!(retry_backoff(3), Duration::from_secs(120));
    assert_eq!(retry_backoff(40), RETRY_BACKOFF_CAP);
    assert_eq!(retry_backoff(u32::MAX), RETRY_BACKOFF_CAP);
}

both!(complete_removes_the_job);
async fn complete_removes_the_job(h: Harness) {
    let s = &h.store;
    accept(s, "hub", "d", vec![command("1.0.0")], T0)
        .await
        .unwrap();
    let job = s.claim("w", LEASE, T0).await.unwrap().unwrap();
    s.complete(&job, T0).await.unwrap();
    assert_eq!(h.count("jobs").await, 0);
    assert!(s.claim("w", LEASE, T0 + ms(LEASE)).await.unwrap().is_none());
    // Completing twice is harmless.
    s.complete(&job, T0).await.unwrap();
}

both!(queue_stats_count_depth_age_and_dead);
async fn queue_stats_count_depth_age_and_dead(h: Harness) {
    let s = &h.store;
    let empty = QueueStats {
        depth: 0,
        oldest_age_ms: None,
        dead: 0,
    };
    assert_eq!(s.queue_stats(T0).await.unwrap(), empty);
    s.enqueue_reconcile("a", "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    s.enqueue_reconcile("b", "poll", Trigger::Poll, T0 + 5_000)
        .await
        .unwrap();
    s.claim("w", LEASE, T0 + 6_000).await.unwrap().unwrap(); // leased still counts
    assert_eq!(
        s.queue_stats(T0 + 10_000).await.unwrap(),
        QueueStats {
            depth: 2,
            oldest_age_ms: Some(10_000),
            dead: 0
        }
    );
}

/// `(repo, reason)` of a reconcile job.
fn reconcile_of(job: &imagebump::store::Job) -> (String, String) {
    match &job.kind {
        JobKind::Reconcile { repo, reason } => (repo.clone(), reason.clone()),
        other => panic!("not a reconcile: {other:?}"),
    }
}

both!(requests_for_a_repository_coalesce_into_one_run_and_one_follow_up);
async fn requests_for_a_repository_coalesce_into_one_run_and_one_follow_up(h: Harness) {
    let s = &h.store;
    s.enqueue_reconcile("acme/a", "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    s.enqueue_reconcile("acme/a", "comment command", Trigger::Event, T0)
        .await
        .unwrap();
    s.enqueue_reconcile("acme/a", "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    s.enqueue_reconcile("acme/b", "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    assert_eq!(h.count("jobs").await, 2, "one row per repository");
    let a = s.claim("w1", LEASE, T0).await.unwrap().unwrap();
    assert_eq!(
        reconcile_of(&a),
        ("acme/a".into(), "poll, comment command".into()),
        "each reason once"
    );

    // While acme/a is leased, a burst gathers into its one follow-up,
    // which no claim hands out while the run holds the repository.
    for i in 0..50 {
        let reason = if i % 2 == 0 {
            "image pushed"
        } else {
            "repository pushed"
        };
        s.enqueue_reconcile("acme/a", reason, Trigger::Event, T0 + 10 + i)
            .await
            .unwrap();
    }
    assert_eq!(h.count("jobs").await, 2);
    let b = s.claim("w2", LEASE, T0 + 100).await.unwrap().unwrap();
    assert_eq!(reconcile_of(&b).0, "acme/b");
    assert!(
        s.claim("w3", LEASE, T0 + 100).await.unwrap().is_none(),
        "acme/a is leased: its follow-up waits"
    );

    // The run ends: the follow-up is due (no gap on this store), with the
    // burst's reasons, its first request's time, and fresh attempts.
    s.complete(&a, T0 + 200).await.unwrap();
    let follow_up = s.claim("w3", LEASE, T0 + 200).await.unwrap().unwrap();
    assert_eq!(
        reconcile_of(&follow_up),
        ("acme/a".into(), "image pushed, repository pushed".into())
    );
    assert_eq!(follow_up.enqueued_at_ms, T0 + 10);
    assert_eq!(follow_up.attempts, 1);
    s.complete(&follow_up, T0 + 300).await.unwrap();
    s.complete(&b, T0 + 300).await.unwrap();
    assert!(s.claim("w1", LEASE, T0 + 300).await.unwrap().is_none());
    assert_eq!(h.count("jobs").await, 0, "no run beyond the one follow-up");
}

both!(min_run_gap_spaces_event_triggered_runs_and_never_delays_a_poll);
async fn min_run_gap_spaces_event_triggered_runs_and_never_delays_a_poll(h: Harness) {
    const GAP: i64 = 2_000;
    let s = &h
        .store
        .clone()
        .with_min_run_gap(Duration::from_millis(GAP as u64));
    let event = |at: i64| s.enqueue_reconcile("env", "image pushed", Trigger::Event, at);
    let claim = |at: i64| s.claim("w", LEASE, at);

    // The first event runs at once.
    event(T0).await.unwrap();
    let first = claim(T0).await.unwrap().expect("at once");
    // Events during the run: the follow-up is due GAP after the run ends.
    event(T0 + 100).await.unwrap();
    event(T0 + 200).await.unwrap();
    s.complete(&first, T0 + 500).await.unwrap();
    assert!(claim(T0 + 500 + GAP - 1).await.unwrap().is_none());
    let second = claim(T0 + 500 + GAP).await.unwrap().expect("after the gap");
    s.complete(&second, T0 + 3_000).await.unwrap();

    // An event soon after a run waits for the rest of the gap ...
    event(T0 + 3_500).await.unwrap();
    assert!(claim(T0 + 3_000 + GAP - 1).await.unwrap().is_none());
    // ... and a poll that arrives meanwhile runs it at once.
    s.enqueue_reconcile("env", "poll", Trigger::Poll, T0 + 3_600)
        .await
        .unwrap();
    let polled = claim(T0 + 3_600)
        .await
        .unwrap()
        .expect("a poll is not held back");
    assert_eq!(reconcile_of(&polled).1, "image pushed, poll");
    s.complete(&polled, T0 + 4_000).await.unwrap();

    // A poll right after a run runs at once too.
    s.enqueue_reconcile("env", "poll", Trigger::Poll, T0 + 4_001)
        .await
        .unwrap();
    let poll = claim(T0 + 4_001).await.unwrap().expect("at once");
    s.complete(&poll, T0 + 4_100).await.unwrap();

    // An event once the gap has passed runs at once.
    event(T0 + 4_100 + GAP).await.unwrap();
    assert!(claim(T0 + 4_100 + GAP).await.unwrap().is_some());

    // The gap is per repository: another one runs at once.
    s.enqueue_reconcile("other", "image pushed", Trigger::Event, T0 + 4_200)
        .await
        .unwrap();
    let other = claim(T0 + 4_200).await.unwrap().expect("at once");
    assert_eq!(reconcile_of(&other).0, "other");
}

both!(four_concurrent_claimers_spread_repositories_and_never_lease_one_twice);
async fn four_concurrent_claimers_spread_repositories_and_never_lease_one_twice(h: Harness) {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    const REPOS: usize = 12;
    const CLAIMERS: usize = 4;
    for r in 0..REPOS {
        h.store
            .enqueue_reconcile(&format!("repo-{r}"), "poll", Trigger::Poll, T0)
            .await
            .unwrap();
    }
    // Which claimer holds each repository now, and every run.
    let held: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let runs: Arc<Mutex<Vec<String>>> = Arc::default();
    let all_hold = Arc::new(tokio::sync::Barrier::new(CLAIMERS + 1));
    let go_on = Arc::new(tokio::sync::Barrier::new(CLAIMERS + 1));
    let mut tasks = Vec::new();
    for c in 0..CLAIMERS {
        let (s, held, runs) = (h.store.clone(), held.clone(), runs.clone());
        let (all_hold, go_on) = (all_hold.clone(), go_on.clone());
        let me = format!("claimer-{c}");
        tasks.push(tokio::spawn(async move {
            let mut first = true;
            while let Some(job) = s.claim(&me, LEASE, T0).await.unwrap() {
                let (repo, _) = reconcile_of(&job);
                if let Some(other) = held.lock().unwrap().insert(repo.clone(), me.clone()) {
                    panic!("{repo} leased by {me} while {other} holds it");
                }
                runs.lock().unwrap().push(repo.clone());
                if first {
                    // News of the repository while its first run holds it,
                    // three times; then every claimer holds its lease
                    // while the test looks.
                    for _ in 0..3 {
                        s.enqueue_reconcile(&repo, "image pushed", Trigger::Event, T0)
                            .await
                            .unwrap();
                    }
                    all_hold.wait().await;
                    go_on.wait().await;
                    first = false;
                }
                tokio::task::yield_now().await;
                held.lock().unwrap().remove(&repo);
                s.complete(&job, T0).await.unwrap();
            }
        }));
    }
    all_hold.wait().await;
    let leases = h.live_leases(T0).await;
    let holders: HashSet<&str> = leases.iter().map(|(w, _)| w.as_str()).collect();
    let leased: HashSet<String> = leases.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(
        (leases.len(), holders.len(), leased.len()),
        (CLAIMERS, CLAIMERS, CLAIMERS),
        "one reconcile per claimer, of distinct repositories: {leases:?}"
    );
    // A fifth claimer now gets every other repository, once each, and no
    // run (nor the follow-up news asked for) of a leased one.
    let mut probed = Vec::new();
    while let Some(job) = h.store.claim("probe", LEASE, T0).await.unwrap() {
        let (repo, _) = reconcile_of(&job);
        assert!(!leased.contains(&repo), "{repo} claimed while leased");
        probed.push((job, repo));
    }
    let repos: HashSet<&str> = probed.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        (probed.len(), repos.len()),
        (REPOS - CLAIMERS, REPOS - CLAIMERS),
        "{probed:?}"
    );
    for (job, repo) in &probed {
        runs.lock().unwrap().push(repo.clone());
        h.store.complete(job, T0).await.unwrap();
    }
    go_on.wait().await;
    for t in tasks {
        t.await.unwrap();
    }
    let mut per_repo: HashMap<String, usize> = HashMap::new();
    for repo in runs.lock().unwrap().iter() {
        *per_repo.entry(repo.clone()).or_default() += 1;
    }
    assert_eq!(per_repo.len(), REPOS, "every repository claimed");
    for (repo, n) in &per_repo {
        // A repository that got news while it ran: that run and one
        // follow-up; the others ran once.
        let expected = if leased.contains(repo) { 2 } else { 1 };
        assert_eq!(*n, expected, "{repo}: {per_repo:?}");
    }
    assert_eq!(h.store.queue_stats(T0).await.unwrap().depth, 0);
}

both!(a_follow_up_outlives_the_failure_or_death_of_its_run);
async fn a_follow_up_outlives_the_failure_or_death_of_its_run(h: Harness) {
    const GAP: i64 = 2_000;
    let s = &h
        .store
        .clone()
        .with_min_run_gap(Duration::from_millis(GAP as u64));
    s.enqueue_reconcile("env", "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    let job = s.claim("w", LEASE, T0).await.unwrap().unwrap();
    s.enqueue_reconcile("env", "image pushed", Trigger::Event, T0 + 10)
        .await
        .unwrap();
    // The retry is the follow-up: due the gap after the failure, not
    // after the backoff.
    assert_eq!(
        s.fail(&job, "boom", T0 + 100).await.unwrap(),
        Failed::Retrying {
            at_ms: T0 + 100 + GAP
        }
    );
    let retry = s.claim("w", LEASE, T0 + 100 + GAP).await.unwrap().unwrap();
    assert_eq!(reconcile_of(&retry).1, "poll, image pushed");
    assert_eq!(retry.attempts, 2);
    // Without a follow-up, the backoff as before.
    let mut now = T0 + 200 + GAP;
    assert_eq!(
        s.fail(&retry, "boom", now).await.unwrap(),
        Failed::Retrying {
            at_ms: now + ms(retry_backoff(2))
        }
    );
    // The last attempt fails while news waits: dead-lettered, and the news
    // queued afresh, the gap after that run.
    now += ms(retry_backoff(2));
    for attempt in 3..=MAX_ATTEMPTS {
        let job = s.claim("w", LEASE, now).await.unwrap().unwrap();
        assert_eq!(job.attempts, attempt);
        if attempt == MAX_ATTEMPTS {
            s.enqueue_reconcile("env", "repository pushed", Trigger::Event, now + 1)
                .await
                .unwrap();
            assert_eq!(s.fail(&job, "boom", now + 2).await.unwrap(), Failed::Dead);
        } else {
            let Failed::Retrying { at_ms } = s.fail(&job, "boom", now).await.unwrap() else {
                panic!("attempt {attempt} is not the last");
            };
            now = at_ms;
        }
    }
    assert_eq!(s.dead_letters().await.unwrap().len(), 1);
    assert!(s.claim("w", LEASE, now + 1 + GAP).await.unwrap().is_none());
    let fresh = s.claim("w", LEASE, now + 2 + GAP).await.unwrap().unwrap();
    assert_eq!(
        reconcile_of(&fresh),
        ("env".into(), "repository pushed".into())
    );
    assert_eq!(fresh.attempts, 1);

    // A run that keeps losing its lease: buried, its follow-up kept.
    let mut now = now + 2 + GAP;
    for attempt in 2..=MAX_ATTEMPTS {
        now += ms(LEASE);
        let job = s.claim("w", LEASE, now).await.unwrap().unwrap();
        assert_eq!((job.id, job.attempts), (fresh.id, attempt));
    }
    s.enqueue_reconcile("env", "checks completed", Trigger::Poll, now + 1)
        .await
        .unwrap();
    now += ms(LEASE);
    let after_burial = s.claim("w", LEASE, now).await.unwrap().unwrap();
    assert_ne!(after_burial.id, fresh.id);
    assert_eq!(reconcile_of(&after_burial).1, "checks completed");
    assert_eq!(s.dead_letters().await.unwrap().len(), 2);
}

both!(tag_cache_keeps_first_seen_and_digests);
async fn tag_cache_keeps_first_seen_and_digests(h: Harness) {
    let s = &h.store;
    let image = "ghcr.io/acme/web";
    assert_eq!(s.cached_tags(image).await.unwrap(), None);
    let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    s.save_tags(image, &tags(&["1.0.0", "1.1.0"]), T0)
        .await
        .unwrap();
    s.set_digest(image, "1.1.0", "sha256:aa").await.unwrap();
    s.set_digest(image, "unknown", "sha256:bb").await.unwrap(); // ignored
    s.save_tags(image, &tags(&["1.1.0", "1.2.0", "1.2.0"]), T0 + 1_000)
        .await
        .unwrap();
    assert_eq!(
        s.cached_tags(image).await.unwrap(),
        Some(CachedTags {
            fetched_at_ms: T0 + 1_000,
            forgotten_at_ms: None,
            first_listed_ms: Some(T0),
            tags: vec![
                ("1.1.0".into(), T0, Some("sha256:aa".into())),
                ("1.2.0".into(), T0 + 1_000, None),
            ],
            pushed: Vec::new(),
        })
    );
    // An empty list is cached as such.
    s.save_tags(image, &[], T0 + 2_000).await.unwrap();
    let cached = s.cached_tags(image).await.unwrap().unwrap();
    assert_eq!((cached.fetched_at_ms, cached.tags.len()), (T0 + 2_000, 0));

    // Lists longer than one insert batch.
    let many: Vec<String> = (0..1_234).map(|i| format!("0.{i}.0")).collect();
    s.save_tags("big", &many, T0).await.unwrap();
    let mut more = many[100..].to_vec();
    more.push("9.9.9".into());
    s.save_tags("big", &more, T0 + 1).await.unwrap();
    let cached = s.cached_tags("big").await.unwrap().unwrap();
    assert_eq!(cached.tags.len(), 1_235 - 100);
    assert_eq!(cached.tags.iter().filter(|t| t.1 == T0).count(), 1_134);
    assert_eq!(cached.tags.last().unwrap().0, "9.9.9");
}

both!(forgetting_tags_marks_the_list_stale_and_keeps_first_seen);
async fn forgetting_tags_marks_the_list_stale_and_keeps_first_seen(h: Harness) {
    let s = &h.store;
    let image = "ghcr.io/acme/web";
    let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    s.save_tags(image, &tags(&["1.0.0", "1.1.0"]), T0)
        .await
        .unwrap();
    s.set_digest(image, "1.0.0", "sha256:aa").await.unwrap();
    s.forget_tags(image, T0 + 5_000).await.unwrap();
    // An older mark (another replica's clock, a late event) does not undo it.
    s.forget_tags(image, T0 + 1_000).await.unwrap();
    let cached = s.cached_tags(image).await.unwrap().unwrap();
    assert_eq!(cached.fetched_at_ms, T0);
    assert_eq!(cached.forgotten_at_ms, Some(T0 + 5_000));
    assert_eq!(
        cached.tags,
        vec![
            ("1.0.0".into(), T0, Some("sha256:aa".into())),
            ("1.1.0".into(), T0, None),
        ]
    );
    // The next listing keeps first-seen times and digests; the mark stays
    // (the reader compares it with the listing's start).
    s.save_tags(image, &tags(&["1.0.0", "1.1.0", "1.2.0"]), T0 + 6_000)
        .await
        .unwrap();
    let cached = s.cached_tags(image).await.unwrap().unwrap();
    assert_eq!(
        (cached.fetched_at_ms, cached.forgotten_at_ms),
        (T0 + 6_000, Some(T0 + 5_000))
    );
    assert_eq!(
        cached.tags,
        vec![
            ("1.0.0".into(), T0, Some("sha256:aa".into())),
            ("1.1.0".into(), T0, None),
            ("1.2.0".into(), T0 + 6_000, None),
        ]
    );

    // Forgetting an image never listed leaves nothing to read, but a first
    // listing that started before the mark is saved as stale.
    s.forget_tags("docker.io/library/nginx", T0 + 2_000)
        .await
        .unwrap();
    assert_eq!(
        s.cached_tags("docker.io/library/nginx").await.unwrap(),
        None
    );
    s.save_tags("docker.io/library/nginx", &tags(&["1.27"]), T0 + 1_000)
        .await
        .unwrap();
    let cached = s
        .cached_tags("docker.io/library/nginx")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (cached.fetched_at_ms, cached.forgotten_at_ms),
        (T0 + 1_000, Some(T0 + 2_000))
    );
    assert_eq!(cached.tags, vec![("1.27".into(), T0 + 1_000, None)]);
}

both!(a_pushed_tag_waits_for_a_head_or_a_later_listing);
async fn a_pushed_tag_waits_for_a_head_or_a_later_listing(h: Harness) {
    let s = &h.store;
    let image = "ghcr.io/acme/web";
    let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    let push = |tag: &str| Pushed {
        image: image.into(),
        tag: Some(tag.into()),
    };
    s.save_tags(image, &tags(&["1.0.0"]), T0).await.unwrap();
    s.report_push(&push("1.1.0"), T0 + 1_000).await.unwrap();
    s.report_push(&push("1.2.0"), T0 + 2_000).await.unwrap();
    // A late duplicate of a report does not move it back.
    s.report_push(&push("1.1.0"), T0 + 500).await.unwrap();
    let cached = s.cached_tags(image).await.unwrap().unwrap();
    assert_eq!(
        cached.forgotten_at_ms, None,
        "a tagged push leaves the list fresh"
    );
    assert_eq!(
        cached.pushed,
        vec![("1.1.0".into(), T0 + 1_000), ("1.2.0".into(), T0 + 2_000)]
    );

    // Confirmed: merged, first seen when reported, with its digest.
    s.confirm_pushed_tag(image, "1.1.0", "sha256:11", T0 + 1_000)
        .await
        .unwrap();
    // Gone from the registry: dismissed, not merged.
    s.dismiss_pushed_tag(image, "1.2.0", T0 + 2_000)
        .await
        .unwrap();
    let cached = s.cached_tags(image).await.unwrap().unwrap();
    assert_eq!(cached.pushed, Vec::<(String, i64)>::new());
    assert_eq!(
        cached.tags,
        vec![
            ("1.0.0".into(), T0, None),
            ("1.1.0".into(), T0 + 1_000, Some("sha256:11".into())),
        ]
    );
    assert_eq!(cached.fetched_at_ms, T0, "no listing happened");

    // A report newer than the one confirmed stays for the next HEAD.
    s.report_push(&push("1.1.0"), T0 + 3_000).await.unwrap();
    s.confirm_pushed_tag(image, "1.1.0", "sha256:12", T0 + 1_000)
        .await
        .unwrap();
    let cached = s.cached_tags(image).await.unwrap().unwrap();
    assert_eq!(cached.pushed, vec![("1.1.0".into(), T0 + 3_000)]);

    // A listing that started after a report has seen its tag; one that
    // started before has not.
    s.report_push(&push("1.3.0"), T0 + 5_000).await.unwrap();
    s.save_tags(image, &tags(&["1.0.0", "1.1.0", "1.3.0"]), T0 + 4_000)
        .await
        .unwrap();
    let cached = s.cached_tags(image).await.unwrap().unwrap();
    assert_eq!(cached.pushed, vec![("1.3.0".into(), T0 + 5_000)]);
    assert_eq!(
        cached.tags[1],
        ("1.1.0".into(), T0 + 1_000, Some("sha256:12".into()))
    );
    s.save_tags(image, &tags(&["1.0.0", "1.1.0", "1.3.0"]), T0 + 6_000)
        .await
        .unwrap();
    assert_eq!(s.cached_tags(image).await.unwrap().unwrap().pushed, vec![]);

    // A push without a tag makes the list stale instead.
    s.report_push(
        &Pushed {
            image: image.into(),
            tag: None,
        },
        T0 + 7_000,
    )
    .await
    .unwrap();
    let cached = s.cached_tags(image).await.unwrap().unwrap();
    assert_eq!(cached.forgotten_at_ms, Some(T0 + 7_000));

    // Confirming a tag of an image never listed merges nothing.
    s.report_push(
        &Pushed {
            image: "ghcr.io/acme/new".into(),
            tag: Some("1.0".into()),
        },
        T0,
    )
    .await
    .unwrap();
    s.confirm_pushed_tag("ghcr.io/acme/new", "1.0", "sha256:aa", T0)
        .await
        .unwrap();
    assert_eq!(s.cached_tags("ghcr.io/acme/new").await.unwrap(), None);
}

both!(an_older_listing_never_replaces_a_newer_one);
async fn an_older_listing_never_replaces_a_newer_one(h: Harness) {
    let s = &h.store;
    let image = "ghcr.io/acme/web";
    let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    s.save_tags(image, &tags(&["1.0.0"]), T0).await.unwrap();
    s.save_tags(image, &tags(&["1.0.0", "1.1.0"]), T0 + 2_000)
        .await
        .unwrap();
    // A listing that started in between, and finished last.
    s.save_tags(image, &tags(&["1.0.0"]), T0 + 1_000)
        .await
        .unwrap();
    let cached = s.cached_tags(image).await.unwrap().unwrap();
    assert_eq!(cached.fetched_at_ms, T0 + 2_000);
    assert_eq!(
        cached.tags,
        vec![
            ("1.0.0".into(), T0, None),
            ("1.1.0".into(), T0 + 2_000, None)
        ]
    );
    // The same start time again is a refresh, not an older listing.
    s.save_tags(image, &tags(&["1.1.0"]), T0 + 2_000)
        .await
        .unwrap();
    let cached = s.cached_tags(image).await.unwrap().unwrap();
    assert_eq!(cached.tags, vec![("1.1.0".into(), T0 + 2_000, None)]);
}

both!(ignores_and_holds_round_trip);
async fn ignores_and_holds_round_trip(h: Harness) {
    let s = &h.store;
    s.ignore_version("acme/env", "web", "1.5.0").await.unwrap();
    s.ignore_version("acme/env", "web", "1.5.0").await.unwrap();
    s.ignore_version("acme/env", "web", "1.6.0").await.unwrap();
    s.ignore_version("other/env", "web", "2.0.0").await.unwrap();
    s.ignore_update_type("acme/env", "api", "major")
        .await
        .unwrap();
    assert!(
        s.ignore_update_type("acme/env", "api", "patch")
            .await
            .is_err()
    );
    let ignored = s.ignored("acme/env").await.unwrap();
    assert_eq!(ignored.versions.len(), 1);
    assert_eq!(
        ignored.versions["web"],
        HashSet::from(["1.5.0".to_string(), "1.6.0".to_string()])
    );
    assert_eq!(
        ignored.update_types["api"],
        HashSet::from(["major".to_string()])
    );
    assert_eq!(s.ignored("nobody").await.unwrap(), Default::default());

    s.set_hold("acme/env", "web", true).await.unwrap();
    s.set_hold("acme/env", "web", true).await.unwrap();
    s.set_hold("acme/env", "api", true).await.unwrap();
    s.set_hold("acme/env", "api", false).await.unwrap();
    assert_eq!(
        s.holds("acme/env").await.unwrap(),
        HashSet::from(["web".to_string()])
    );
    assert!(s.holds("other/env").await.unwrap().is_empty());
}

both!(rollback_holds_and_base_heads_round_trip);
async fn rollback_holds_and_base_heads_round_trip(h: Harness) {
    use imagebump::plan::Version;
    use imagebump::rollback::{RefKey, RollbackHold};
    let s = &h.store;
    let hold = |file: &str, place: u32, from: &str, digest: Option<&str>| RollbackHold {
        key: RefKey {
            policy: "web".into(),
            file: file.into(),
            place,
        },
        from: Version {
            tag: from.into(),
            digest: digest.map(str::to_string),
        },
        to: Version {
            tag: "1.4.9".into(),
            digest: None,
        },
        commit: "c0ffee".into(),
        author: "ops@example.com".into(),
        at_ms: T0,
    };
    assert!(s.rollback_holds("acme/env").await.unwrap().is_empty());
    let a = hold("apps/web.yaml", 1, "1.5.0", Some("sha256:aa"));
    let b = hold("apps/web.yaml", 2, "1.5.0", None);
    let c = hold("apps/api.yaml", 1, "1.5.0", None);
    for h in [&a, &b, &c] {
        s.save_rollback_hold("acme/env", h).await.unwrap();
    }
    s.save_rollback_hold("other/env", &a).await.unwrap();
    // A second rollback of a reference replaces its hold.
    let a2 = RollbackHold {
        commit: "beef".into(),
        at_ms: T0 + 1,
        ..hold("apps/web.yaml", 1, "1.6.0", None)
    };
    s.save_rollback_hold("acme/env", &a2).await.unwrap();
    assert_eq!(
        s.rollback_holds("acme/env").await.unwrap(),
        vec![c.clone(), a2.clone(), b.clone()]
    );
    s.release_rollback_hold("acme/env", &b.key).await.unwrap();
    assert_eq!(
        s.rollback_holds("acme/env").await.unwrap(),
        vec![c.clone(), a2]
    );
    assert_eq!(
        s.release_rollback_holds("acme/env", "web", "apps/web.yaml")
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.rollback_holds("acme/env").await.unwrap(), vec![c]);
    assert_eq!(s.rollback_holds("other/env").await.unwrap(), vec![a]);

    assert_eq!(s.base_head("acme/env").await.unwrap(), None);
    s.set_base_head("acme/env", "abc").await.unwrap();
    s.set_base_head("acme/env", "def").await.unwrap();
    assert_eq!(
        s.base_head("acme/env").await.unwrap().as_deref(),
        Some("def")
    );
    assert_eq!(s.base_head("other/env").await.unwrap(), None);
}

both!(reopened_store_keeps_its_jobs);
async fn reopened_store_keeps_its_jobs(h: Harness) {
    accept(&h.store, "hub", "d", vec![command("1.0.0")], T0)
        .await
        .unwrap();
    h.store.ping().await.unwrap();
    h.store.close().await;
    // Reopening applies no migration twice.
    let reopened = Store::open(&h.url).await.unwrap();
    let reopened = {
        drop(reopened);
        Store::open(&h.url).await.unwrap()
    };
    let migrations = std::fs::read_dir("migrations/sqlite").unwrap().count();
    assert_eq!(
        h.count("_sqlx_migrations").await,
        i64::try_from(migrations).unwrap(),
        "one row per migration"
    );
    let job = reopened.claim("w", LEASE, T0).await.unwrap().unwrap();
    assert_eq!(job.kind, command("1.0.0"));
    assert_eq!(
        accept(&reopened, "hub", "d", vec![], T0).await.unwrap(),
        Accepted::Duplicate
    );
    reopened.close().await;
}

both!(undecodable_jobs_are_dead_lettered_not_returned);
async fn undecodable_jobs_are_dead_lettered_not_returned(h: Harness) {
    h.raw(
        "INSERT INTO jobs (kind, repo, payload, attempts, enqueued_at_ms, due_at_ms) \
         VALUES ('command', 'env', '{\"kind\":\"from_the_future\"}', 0, 1, 1)",
    )
    .await;
    h.store
        .enqueue_reconcile("acme/env", "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    let job = h.store.claim("w", LEASE, T0).await.unwrap().unwrap();
    assert!(matches!(job.kind, JobKind::Reconcile { .. }));
    let dead = h.store.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].kind, None);
    assert!(
        dead[0]
            .payload
            .as_deref()
            .unwrap()
            .contains("from_the_future")
    );
    assert!(
        dead[0].last_error.contains("decoding"),
        "{}",
        dead[0].last_error
    );
}

#[tokio::test]
async fn in_memory_sqlite_works_for_tests() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    accept(&store, "hub", "d", vec![command("1.0.0")], T0)
        .await
        .unwrap();
    let job = store.claim("w", LEASE, T0).await.unwrap().unwrap();
    store.complete(&job, T0).await.unwrap();
    assert_eq!(store.queue_stats(T0).await.unwrap().depth, 0);
}

#[tokio::test]
async fn open_rejects_bad_urls_clearly() {
    let err = Store::open("mysql://user:secret@db/imagebump")
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("unsupported store URL"), "{msg}");
    assert!(!msg.contains("secret"), "password leaked: {msg}");

    // Nothing listens on port 1.
    let err = Store::open("postgres://user:secret@127.0.0.1:1/imagebump")
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("connecting to the Postgres store"), "{msg}");
    assert!(!msg.contains("secret"), "password leaked: {msg}");

    let err = Store::open("sqlite:///proc/imagebump/store.db")
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("/proc/imagebump"), "{err:#}");
}

both!(a_released_lease_is_claimable_at_once_and_the_attempt_does_not_count);
async fn a_released_lease_is_claimable_at_once_and_the_attempt_does_not_count(h: Harness) {
    let s = &h.store;
    accept(s, "hub", "d", vec![command("1.0.0")], T0)
        .await
        .unwrap();
    let job = s.claim("stopping", LEASE, T0).await.unwrap().unwrap();
    assert_eq!(job.attempts, 1);
    assert!(
        s.claim("other", LEASE, T0 + 1).await.unwrap().is_none(),
        "leased"
    );
    s.release(&[job.id]).await.unwrap();
    let again = s.claim("other", LEASE, T0 + 2).await.unwrap().unwrap();
    assert_eq!(again.id, job.id);
    assert_eq!(again.attempts, 1, "the cut-short attempt is not counted");
}

both!(the_command_jobs_migration_keeps_every_job_and_old_event_jobs_become_dead_letters);
/// `migrations/*/0005_command_jobs.sql` rebuilds SQLite's `jobs` table (a
/// CHECK cannot be altered there). Run again over a queue holding every
/// kind of row, it keeps each row as it was, and ids are never reused. An
/// `event` job an older version stored no longer decodes: the claim
/// dead-letters it with a message saying what to do, and goes on.
async fn the_command_jobs_migration_keeps_every_job_and_old_event_jobs_become_dead_letters(
    h: Harness,
) {
    let s = &h.store;
    let event = r#"{"kind":"command","repo":"acme/env","number":7,"user":"ops","text":"/imagebump rebase"}"#;
    h.raw(&format!(
        "INSERT INTO jobs (kind, payload, source, delivery, attempts, enqueued_at_ms, due_at_ms) \
         VALUES ('event', '{event}', 'github', 'old-1', 0, {T0}, {T0})"
    ))
    .await;
    s.enqueue_reconcile("env", "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    accept(s, "github", "d-1", vec![command("/imagebump hold")], T0)
        .await
        .unwrap();
    // A row deleted at the top of the sequence: its id must not come back.
    accept(s, "github", "d-2", vec![command("gone")], T0)
        .await
        .unwrap();
    h.raw("DELETE FROM jobs WHERE payload LIKE '%gone%'").await;
    let all = "SELECT id, kind, COALESCE(payload, ''), COALESCE(repo, ''), \
               COALESCE(delivery, ''), attempts FROM jobs ORDER BY id";
    type Row = (i64, String, String, String, String, i64);
    let before: Vec<Row> = h.rows(all).await;
    let max_id: Vec<(i64,)> = h.rows("SELECT MAX(id) FROM jobs").await;

    h.raw(if h.is_postgres() {
        include_str!("../migrations/postgres/0005_command_jobs.sql")
    } else {
        include_str!("../migrations/sqlite/0005_command_jobs.sql")
    })
    .await;
    let after: Vec<Row> = h.rows(all).await;
    assert_eq!(after, before, "every row kept as it was");

    accept(s, "github", "d-3", vec![command("new")], T0)
        .await
        .unwrap();
    let ids: Vec<(i64,)> = h.rows("SELECT MAX(id) FROM jobs").await;
    assert!(ids[0].0 > max_id[0].0 + 1, "the deleted id is not reused");

    let mut kinds = Vec::new();
    while let Some(job) = s.claim("w", LEASE, T0 + 1).await.unwrap() {
        kinds.push(job.kind);
    }
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    let dead = s.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].delivery.as_deref(), Some("old-1"));
    assert_eq!(dead[0].kind, None);
    assert!(
        dead[0].last_error.contains("re-send the comment command"),
        "{}",
        dead[0].last_error
    );
}

both!(build_times_are_kept_per_digest_and_the_first_answer_stays);
async fn build_times_are_kept_per_digest_and_the_first_answer_stays(h: Harness) {
    let s = &h.store;
    let a = format!("sha256:{}", "a".repeat(64));
    let b = format!("sha256:{}", "b".repeat(64));
    let c = format!("sha256:{}", "c".repeat(64));
    s.save_build_time(&a, Some(T0)).await.unwrap();
    s.save_build_time(&b, None).await.unwrap();
    // A digest's config never changes: a second answer is not taken.
    s.save_build_time(&a, Some(T0 + 1)).await.unwrap();
    let known = s
        .build_times(&[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!(known.get(&a), Some(&Some(T0)));
    assert_eq!(known.get(&b), Some(&None), "known to have no created time");
    assert_eq!(known.get(&c), None, "never saved");
    // More digests than one statement binds.
    let many: Vec<String> = (0..1_200).map(|i| format!("sha256:{i:064}")).collect();
    for d in many.iter().step_by(100) {
        s.save_build_time(d, Some(T0)).await.unwrap();
    }
    assert_eq!(s.build_times(&many).await.unwrap().len(), 12);
}

both!(a_due_timer_becomes_one_reconcile_and_is_gone);
async fn a_due_timer_becomes_one_reconcile_and_is_gone(h: Harness) {
    let s = &h.store;
    s.set_timer("env", T0 + 5_000, "release age of web 1.5.0")
        .await
        .unwrap();
    // Of two timers the earlier stands.
    s.set_timer("env", T0 + 9_000, "later").await.unwrap();
    s.set_timer("env", T0 + 3_000, "release age of api 2.0.0")
        .await
        .unwrap();
    assert_eq!(
        s.timers().await.unwrap(),
        [(
            "env".to_string(),
            T0 + 3_000,
            "release age of api 2.0.0".to_string()
        )]
    );
    assert!(s.fire_due_timers(T0 + 2_999).await.unwrap().is_empty());
    assert_eq!(h.count("jobs").await, 0);
    assert_eq!(s.fire_due_timers(T0 + 3_000).await.unwrap(), ["env"]);
    assert!(s.timers().await.unwrap().is_empty());
    assert!(
        s.fire_due_timers(T0 + 60_000).await.unwrap().is_empty(),
        "fired once"
    );
    let job = s
        .claim("w", LEASE, T0 + 3_000)
        .await
        .unwrap()
        .expect("a reconcile");
    assert!(
        matches!(&job.kind, JobKind::Reconcile { repo, reason } if repo == "env" && reason.contains("release age of api 2.0.0")),
        "{:?}",
        job.kind
    );
    // A timer of a repository whose reconcile is queued joins it.
    s.enqueue_reconcile("other", "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    s.set_timer("other", T0 + 1, "release age").await.unwrap();
    assert_eq!(s.fire_due_timers(T0 + 10).await.unwrap(), ["other"]);
    assert_eq!(
        h.rows::<(String,)>("SELECT repo FROM jobs WHERE repo = 'other'")
            .await
            .len(),
        1
    );
}

/// Kills `job` by failing it on every attempt; returns when it is dead.
async fn kill(s: &Store, mut now: i64) -> i64 {
    loop {
        let job = s.claim("w", LEASE, now).await.unwrap().expect("a job");
        match s.fail(&job, "boom", now).await.unwrap() {
            Failed::Dead => return job.id,
            Failed::Retrying { at_ms } => now = at_ms,
        }
    }
}

both!(dead_letters_are_requeued_from_their_first_attempt_or_dropped);
async fn dead_letters_are_requeued_from_their_first_attempt_or_dropped(h: Harness) {
    let s = &h.store;
    s.enqueue_reconcile("env", "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    let reconcile = kill(s, T0).await;
    accept(s, "github", "d-1", vec![command("rebase")], T0)
        .await
        .unwrap();
    let cmd = kill(s, T0).await;
    assert_eq!(s.dead_letters().await.unwrap().len(), 2);

    // A live reconcile of the repository absorbs the requeued one.
    s.enqueue_reconcile("env", "poll", Trigger::Poll, T0)
        .await
        .unwrap();
    let later = T0 + 10_000_000;
    assert_eq!(
        s.requeue_dead(reconcile, later).await.unwrap(),
        Revived::Requeued
    );
    assert_eq!(s.requeue_dead(cmd, later).await.unwrap(), Revived::Requeued);
    assert!(s.dead_letters().await.unwrap().is_empty());
    assert_eq!(s.queue_stats(later).await.unwrap().depth, 2);
    let first = s.claim("w", LEASE, later).await.unwrap().unwrap();
    let second = s.claim("w", LEASE, later).await.unwrap().unwrap();
    let (rec, com) = if matches!(first.kind, JobKind::Reconcile { .. }) {
        (first, second)
    } else {
        (second, first)
    };
    assert!(
        matches!(&rec.kind, JobKind::Reconcile { repo, reason } if repo == "env" && reason.contains(&format!("requeued dead letter {reconcile}"))),
        "{:?}",
        rec.kind
    );
    assert_eq!((com.id, com.attempts), (cmd, 1), "from its first attempt");
    assert_eq!(com.kind, command("rebase"));
    // Requeued already: no dead letter has the id any more.
    assert_eq!(s.requeue_dead(cmd, later).await.unwrap(), Revived::NotDead);

    // Dropping deletes it.
    s.complete(&rec, later).await.unwrap();
    s.fail(&com, "boom", later).await.unwrap();
    let dead = kill(s, later + ms(RETRY_BACKOFF_CAP)).await;
    assert_eq!(dead, cmd);
    assert!(s.drop_dead(cmd).await.unwrap());
    assert!(!s.drop_dead(cmd).await.unwrap());
    assert!(s.dead_letters().await.unwrap().iter().all(|d| d.id != cmd));
}
