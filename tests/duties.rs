//! The background duties of `serve` really run: GAR's signing keys are
//! reloaded on their interval and at once (rate-limited) when a token names
//! an unknown key, and expired delivery ids are purged. Each runs here on a
//! short interval, against the real source and a real SQLite store.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use imagebump::server::hooks::gar::Gar;
use imagebump::server::hooks::{Incoming, Source};
use imagebump::store::{Accepted, Store};
use imagebump::work::duties::{self, Intervals};
use support::hooks::{
    GAR_AUDIENCE, gar_jwks_path, gar_keys, gar_settings, google_claims, jwt, pubsub_push,
};

const ROTATED_KID: &str = "rotated-kid-2";

/// A gar source reading its keys from a file of its own, which the test
/// rewrites when "Google rotates".
async fn rotating_gar(dir: &std::path::Path) -> (Arc<dyn Source>, std::path::PathBuf) {
    let jwks = dir.join("jwks.json");
    std::fs::copy(gar_jwks_path(), &jwks).expect("copy jwks");
    let mut settings = gar_settings();
    settings.jwks_file = Some(jwks.clone());
    let gar: Arc<dyn Source> = Arc::new(Gar::new(&settings).await.expect("gar"));
    (gar, jwks)
}

/// Google rotates to the other key, under a new `kid`.
fn rotate(jwks: &std::path::Path) {
    let keys = serde_json::json!({"keys": [
        {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": ROTATED_KID, "n": gar_keys().other_n, "e": "AQAB"}
    ]});
    std::fs::write(jwks, keys.to_string()).expect("write jwks");
}

/// Whether a push signed with the rotated key is accepted now.
fn rotated_token_passes(gar: &dyn Source) -> bool {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let token = jwt(
        google_claims("https://accounts.google.com", GAR_AUDIENCE, now, now + 3600),
        ROTATED_KID,
        &gar_keys().other_pem,
    );
    let headers = vec![("authorization".to_string(), format!("Bearer {token}"))];
    let body = pubsub_push("insert.json", "42");
    gar.handle(&Incoming {
        headers: &headers,
        body: &body,
        path_token: None,
        content_type: Some("application/json"),
        now: SystemTime::now(),
    })
    .is_ok()
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("waited 5 s for {what}");
}

fn sources(gar: Arc<dyn Source>) -> HashMap<String, Arc<dyn Source>> {
    HashMap::from([("gar".to_string(), gar)])
}

#[tokio::test]
async fn gar_keys_are_reloaded_on_their_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gar, jwks) = rotating_gar(dir.path()).await;
    rotate(&jwks);
    assert!(!rotated_token_passes(&*gar), "not before a reload");
    let store = Store::open("sqlite::memory:").await.expect("store");
    let every = Intervals {
        jwks_refresh: Duration::from_millis(50),
        jwks_min_gap: Duration::from_secs(3600),
        purge_deliveries: Duration::from_secs(3600),
        timers: Duration::from_secs(3600),
    };
    let task = tokio::spawn(duties::run(
        store,
        sources(gar.clone()),
        every,
        Default::default(),
    ));
    eventually("the interval's reload", || rotated_token_passes(&*gar)).await;
    task.abort();
}

#[tokio::test]
async fn an_unknown_key_id_reloads_at_once_but_not_twice_within_the_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gar, jwks) = rotating_gar(dir.path()).await;
    let store = Store::open("sqlite::memory:").await.expect("store");
    let every = Intervals {
        jwks_refresh: Duration::from_secs(3600),
        jwks_min_gap: Duration::ZERO,
        purge_deliveries: Duration::from_secs(3600),
        timers: Duration::from_secs(3600),
    };
    let task = tokio::spawn(duties::run(
        store,
        sources(gar.clone()),
        every,
        Default::default(),
    ));
    rotate(&jwks);
    // The first push is refused (unknown key) and triggers the reload;
    // Pub/Sub's retry then passes.
    assert!(!rotated_token_passes(&*gar));
    eventually("the reload an unknown kid triggers", || {
        rotated_token_passes(&*gar)
    })
    .await;
    task.abort();

    // With a gap of an hour, made-up key ids cause no reload.
    let dir = tempfile::tempdir().expect("tempdir");
    let (gar, jwks) = rotating_gar(dir.path()).await;
    let store = Store::open("sqlite::memory:").await.expect("store");
    let every = Intervals {
        jwks_refresh: Duration::from_secs(3600),
        jwks_min_gap: Duration::from_secs(3600),
        purge_deliveries: Duration::from_secs(3600),
        timers: Duration::from_secs(3600),
    };
    let task = tokio::spawn(duties::run(
        store,
        sources(gar.clone()),
        every,
        Default::default(),
    ));
    rotate(&jwks);
    for _ in 0..20 {
        assert!(!rotated_token_passes(&*gar), "rate-limited: no reload");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
}

/// Stores the delivery `d-1`, asking for nothing, at `now_ms`.
async fn remember(store: &Store, now_ms: i64) -> Accepted {
    let d = imagebump::store::Delivery {
        source: "test".into(),
        delivery: "d-1".into(),
        ..Default::default()
    };
    let answers = store.accept_batch(&[d], now_ms).await.expect("accept");
    answers[0]
}

#[tokio::test]
async fn expired_delivery_ids_are_purged_on_their_interval_by_the_clock_they_are_given() {
    let store = Store::open("sqlite::memory:").await.expect("store");
    // Recorded at T, years ahead of the system clock; the duties' clock
    // says its TTL has run out, so it is purged (by the system clock it
    // would not be).
    const T: i64 = 4_000_000_000_000;
    let ttl = i64::try_from(imagebump::store::DELIVERY_TTL.as_millis()).unwrap();
    let first = remember(&store, T).await;
    assert!(matches!(first, Accepted::Stored { .. }));
    let again = remember(&store, T + 1).await;
    assert_eq!(again, Accepted::Duplicate, "known until purged");
    let dir = tempfile::tempdir().expect("tempdir");
    let (gar, _) = rotating_gar(dir.path()).await;
    let every = Intervals {
        jwks_refresh: Duration::from_secs(3600),
        jwks_min_gap: Duration::from_secs(3600),
        purge_deliveries: Duration::from_millis(50),
        timers: Duration::from_secs(3600),
    };
    let clock = imagebump::clock::Clock::new(move || T + ttl);
    let task = tokio::spawn(duties::run(store.clone(), sources(gar), every, clock));
    let mut purged = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if matches!(remember(&store, T + 2).await, Accepted::Stored { .. }) {
            purged = true;
            break;
        }
    }
    assert!(purged, "the purge forgot the expired id");
    task.abort();
}

/// A timer set for a time the duties' clock has passed becomes a reconcile
/// of its repository, once (the clock is years ahead of the system's).
#[tokio::test]
async fn a_due_timer_becomes_a_reconcile_by_the_clock_the_duties_are_given() {
    const T: i64 = 4_000_000_000_000;
    let store = Store::open("sqlite::memory:").await.expect("store");
    store
        .set_timer("env", T, "release age of web 1.5.0")
        .await
        .expect("timer");
    let dir = tempfile::tempdir().expect("tempdir");
    let (gar, _) = rotating_gar(dir.path()).await;
    let every = Intervals {
        jwks_refresh: Duration::from_secs(3600),
        jwks_min_gap: Duration::from_secs(3600),
        purge_deliveries: Duration::from_secs(3600),
        timers: Duration::from_millis(20),
    };
    let clock = imagebump::clock::Clock::new(move || T);
    let task = tokio::spawn(duties::run(store.clone(), sources(gar), every, clock));
    let mut job = None;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        job = store
            .claim("w", Duration::from_secs(60), T)
            .await
            .expect("claim");
        if job.is_some() {
            break;
        }
    }
    task.abort();
    let job = job.expect("the timer's reconcile");
    assert!(
        matches!(&job.kind, imagebump::store::JobKind::Reconcile { repo, reason }
            if repo == "env" && reason.contains("release age of web 1.5.0")),
        "{:?}",
        job.kind
    );
    assert!(store.timers().await.expect("timers").is_empty());
}
