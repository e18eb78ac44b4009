//! Webhook intake in the store on both backends (tests/support/backends.rs):
//! delivery keys of bounded size, a delivery that cannot be stored failing
//! alone, and two replicas storing the same deliveries at once without a
//! deadlock (issue 12, defects 3 and 4).

mod support;

use imagebump::store::{
    Accepted, Delivery, JobKind, MAX_DELIVERY_KEY, MAX_SHOWN, Pushed, Store, delivery_key,
};
use sqlx::{Connection, PgConnection};
use support::backends::Backend;

const T0: i64 = 1_800_000_000_000;

fn delivery(id: &str, repo: &str) -> Delivery {
    Delivery {
        source: "distribution".into(),
        delivery: id.into(),
        jobs: vec![JobKind::Reconcile {
            repo: repo.into(),
            reason: format!("push {repo}"),
        }],
        pushes: vec![Pushed {
            image: format!("registry.example/{repo}"),
            tag: Some("1.0.0".into()),
        }],
    }
}

/// A Distribution notification's delivery id: its event ids joined, about
/// 7 KB for 200 events (src/server/hooks/distribution.rs).
fn joined_event_ids(events: usize, salt: &str) -> String {
    (0..events)
        .map(|i| format!("{salt}-{i:04}-7a3b2c1d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"))
        .collect::<Vec<_>>()
        .join(",")
}

both!(a_long_delivery_id_is_stored_under_its_hash_and_its_replay_is_a_duplicate);
async fn a_long_delivery_id_is_stored_under_its_hash_and_its_replay_is_a_duplicate(h: Backend) {
    let long = joined_event_ids(200, "n1");
    assert!(long.len() > 7_000, "{}", long.len());
    // Differs from `long` only in its last character.
    let mut other = long.clone();
    other.pop();
    other.push('7');
    let with_nul = "id\0with a NUL".to_string();
    let batch = [
        delivery(&long, "a"),
        delivery(&other, "b"),
        delivery(&with_nul, "c"),
        delivery("short-1", "d"),
    ];
    let answers = h.store.accept_batch(&batch, T0).await.unwrap();
    assert_eq!(answers, vec![Accepted::Stored { jobs: 1 }; 4]);
    let again = h.store.accept_batch(&batch, T0 + 1).await.unwrap();
    assert_eq!(again, vec![Accepted::Duplicate; 4]);

    let rows: Vec<(String, Option<String>)> = h
        .rows("SELECT delivery, shown FROM deliveries ORDER BY delivery")
        .await;
    assert_eq!(rows.len(), 4);
    for (key, shown) in &rows {
        assert!(key.len() <= MAX_DELIVERY_KEY, "{key}");
        let shown = shown.as_deref().unwrap();
        assert!(shown.len() <= MAX_SHOWN, "{}", shown.len());
        assert!(!shown.contains('\0'));
    }
    let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        keys.contains(&"short-1"),
        "a short id is its own key: {keys:?}"
    );
    assert!(keys.contains(&delivery_key(&long).as_ref()));
    assert_eq!(delivery_key(&long).len(), "sha256:".len() + 64);
    assert_ne!(delivery_key(&long), delivery_key(&other));
    // The id is kept for display, cut and marked.
    let shown_long = &rows
        .iter()
        .find(|(k, _)| k == delivery_key(&long).as_ref())
        .unwrap()
        .1;
    let shown_long = shown_long.as_deref().unwrap();
    assert!(long.starts_with(shown_long.trim_end_matches('…')));
    assert!(shown_long.ends_with('…'));
    // A key is its own key (sources that key deliveries by their body's
    // hash send such ids); any other id with the prefix is hashed.
    assert_eq!(delivery_key(&delivery_key(&long)), delivery_key(&long));
    for near in ["sha256:", "sha256:ABC", "sha256:short-1"] {
        assert_ne!(delivery_key(near), near, "{near}");
    }
    let upper = delivery_key(&long)
        .to_uppercase()
        .replacen("SHA256", "sha256", 1);
    assert_ne!(delivery_key(&upper), upper);
}

/// Makes the store refuse deliveries whose id starts with `poison-`, as a
/// fault of the database, not of imagebump.
async fn poison(h: &Backend) {
    if h.is_postgres() {
        h.raw(
            "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN
                 IF NEW.delivery LIKE 'poison-%' THEN RAISE EXCEPTION 'poisoned delivery'; END IF;
                 RETURN NEW;
             END $$ LANGUAGE plpgsql;
             CREATE TRIGGER poison BEFORE INSERT ON deliveries
                 FOR EACH ROW EXECUTE FUNCTION poison();",
        )
        .await;
    } else {
        h.raw(
            "CREATE TRIGGER poison BEFORE INSERT ON deliveries
                 WHEN NEW.delivery LIKE 'poison-%'
                 BEGIN SELECT RAISE(ABORT, 'poisoned delivery'); END;",
        )
        .await;
    }
}

both!(a_delivery_that_cannot_be_stored_fails_alone_and_its_batch_neighbours_are_stored);
async fn a_delivery_that_cannot_be_stored_fails_alone_and_its_batch_neighbours_are_stored(
    h: Backend,
) {
    poison(&h).await;
    // 400 valid deliveries with 10 the database refuses among them, and
    // one valid delivery twice.
    let mut batch: Vec<Delivery> = (0..400)
        .map(|i| delivery(&format!("ok-{i:03}"), &format!("repo-{}", i % 7)))
        .collect();
    for i in 0..10 {
        batch.insert(i * 40 + 3, delivery(&format!("poison-{i}"), "repo-0"));
    }
    batch.push(delivery("ok-000", "repo-0"));
    let answers = h.store.accept_each(&batch, T0).await;
    assert_eq!(answers.len(), batch.len());
    for (d, a) in batch.iter().zip(&answers).take(batch.len() - 1) {
        match a {
            Ok(Accepted::Stored { jobs: 1 }) => assert!(d.delivery.starts_with("ok-"), "{d:?}"),
            Err(e) => {
                assert!(d.delivery.starts_with("poison-"), "{}: {e:#}", d.delivery);
                assert!(format!("{e:#}").contains("poisoned delivery"), "{e:#}");
            }
            other => panic!("{}: {other:?}", d.delivery),
        }
    }
    assert!(matches!(answers.last(), Some(Ok(Accepted::Duplicate))));
    assert_eq!(h.count("deliveries").await, 400);
    // Each repository asked once: one reconcile each.
    assert_eq!(h.count("jobs").await, 7);
    // A batch with nothing wrong is still one transaction: all stored.
    let clean: Vec<Delivery> = (0..50)
        .map(|i| delivery(&format!("later-{i}"), "repo-9"))
        .collect();
    let answers = h.store.accept_each(&clean, T0 + 1).await;
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Ok(Accepted::Stored { jobs: 1 })))
    );
}

/// 200 deliveries, each asking for a reconcile of its own repository and
/// reporting a push of its own image.
fn crossing_batch(round: usize) -> Vec<Delivery> {
    (0..200)
        .map(|i| delivery(&format!("r{round}-d{i:03}"), &format!("repo-{i:03}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_storing_the_same_deliveries_in_opposite_orders_never_deadlock() {
    support::postgres::with_fresh_database(|db| async move {
        let a = Store::open(&db.url).await.unwrap();
        let b = Store::open(&db.url).await.unwrap();
        for round in 0..20 {
            let forward = crossing_batch(round);
            let mut backward = forward.clone();
            backward.reverse();
            // One statement each, not retried: the order alone must keep
            // the two transactions from waiting on each other in a cycle.
            let (x, y) = tokio::join!(
                a.accept_batch(&forward, T0 + round as i64),
                b.accept_batch(&backward, T0 + round as i64),
            );
            let x = x.unwrap_or_else(|e| panic!("round {round}, replica a: {e:#}"));
            let mut y = y.unwrap_or_else(|e| panic!("round {round}, replica b: {e:#}"));
            y.reverse();
            for (i, (x, y)) in x.iter().zip(&y).enumerate() {
                let stored = [x, y]
                    .iter()
                    .filter(|a| matches!(a, Accepted::Stored { .. }))
                    .count();
                assert_eq!(stored, 1, "round {round}, delivery {i}: {x:?} {y:?}");
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deadlock_with_another_writer_is_retried_not_answered_503() {
    support::postgres::with_fresh_database(|db| async move {
        let store = Store::open(&db.url).await.unwrap();
        // Another writer takes the rows in the other order. It waits 60 s
        // before looking for deadlocks, so the store's session (Postgres'
        // default, 1 s) is the one that finds the cycle and is aborted.
        let mut other = PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql("SET deadlock_timeout = '60s'; BEGIN;")
            .execute(&mut other)
            .await
            .unwrap();
        let insert = |id: &str| {
            format!(
                "INSERT INTO deliveries (source, delivery, received_at_ms, expires_at_ms) \
                 VALUES ('distribution', '{id}', {T0}, {})",
                T0 + 1_000_000
            )
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(insert("b")))
            .execute(&mut other)
            .await
            .unwrap();
        let batch = [delivery("a", "repo-a"), delivery("b", "repo-b")];
        let accepting = tokio::spawn({
            let store = store.clone();
            async move { store.accept_each(&batch, T0).await }
        });
        // Let the store take "a" and wait on "b"; then wait on its "a".
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(insert("a")))
            .execute(&mut other)
            .await
            .unwrap();
        sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
        let answers = accepting.await.unwrap();
        // The other writer recorded both first; the retry finds them.
        for a in &answers {
            assert!(matches!(a, Ok(Accepted::Duplicate)), "{a:?}");
        }
    })
    .await;
}
