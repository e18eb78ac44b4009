//! Container-registry webhook sources: fixtures under `tests/data/hooks/`,
//! secrets, HMACs and JWTs computed here.

mod support;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use imagebump::config::{HookSettings, Secret};
use imagebump::event::{Event, ImagePushed};
use imagebump::server::hooks::{
    HookError, Incoming, Source, Verdict, acr::Acr, artifactory::Artifactory, cdevents::CdEvents,
    distribution::Distribution, dockerhub::DockerHub, gar::Gar, harbor::Harbor, nexus::Nexus,
    quay::Quay,
};
use support::hooks::{
    GAR_AUDIENCE, GAR_KID, body_digest, fixture, gar_jwks_path, gar_keys, gar_settings, good_token,
    google_claims, hmac1_hex, hmac256_hex, jwt, pubsub_push, settings, unix_now,
};

// ---------------------------------------------------------------- helpers

/// One request: headers (name, value), body, path token, content type.
struct Req<'a> {
    headers: Vec<(String, String)>,
    body: &'a [u8],
    token: Option<&'a str>,
    content_type: Option<&'a str>,
    now: SystemTime,
}

impl<'a> Req<'a> {
    fn new(body: &'a [u8]) -> Self {
        Req {
            headers: Vec::new(),
            body,
            token: None,
            content_type: Some("application/json"),
            now: SystemTime::now(),
        }
    }
    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    fn token(mut self, t: &'a str) -> Self {
        self.token = Some(t);
        self
    }
    fn ct(mut self, ct: Option<&'a str>) -> Self {
        self.content_type = ct;
        self
    }
    fn send(&self, source: &dyn Source) -> Result<Verdict, HookError> {
        source.handle(&Incoming {
            headers: &self.headers,
            body: self.body,
            path_token: self.token,
            content_type: self.content_type,
            now: self.now,
        })
    }
}

fn pushed(registry: &str, repository: &str, tag: Option<&str>, digest: Option<&str>) -> Event {
    Event::ImagePushed(ImagePushed {
        registry: registry.into(),
        repository: repository.into(),
        tag: tag.map(Into::into),
        digest: digest.map(Into::into),
    })
}

fn events(v: Result<Verdict, HookError>) -> (String, Vec<Event>) {
    match v {
        Ok(Verdict::Events { delivery, events }) => (delivery, events),
        other => panic!("expected events, got {other:?}"),
    }
}

#[track_caller]
fn unauthorized(v: Result<Verdict, HookError>) {
    assert!(matches!(v, Err(HookError::Unauthorized(_))), "{v:?}");
}

#[track_caller]
fn ignored(v: Result<Verdict, HookError>) {
    assert!(matches!(v, Ok(Verdict::Ignored(_))), "{v:?}");
}

#[track_caller]
fn malformed(v: Result<Verdict, HookError>) {
    assert!(matches!(v, Err(HookError::Malformed(_))), "{v:?}");
}

#[track_caller]
fn unsupported(v: Result<Verdict, HookError>) {
    assert!(
        matches!(v, Err(HookError::UnsupportedMediaType(_))),
        "{v:?}"
    );
}

const DIST_CT: &str = "application/vnd.docker.distribution.events.v1+json";

// ----------------------------------------------------------- distribution

fn distribution() -> Distribution {
    Distribution::new(&settings(&["Bearer old-token", "Bearer new-token"], None)).unwrap()
}

#[test]
fn distribution_push_by_tag_yields_both_manifests() {
    let body = fixture("distribution", "push_tag.json");
    let v = Req::new(&body)
        .ct(Some(DIST_CT))
        .header("authorization", "Bearer new-token")
        .send(&distribution());
    let (delivery, evs) = events(v);
    assert_eq!(
        delivery,
        "320678d8-ca14-430f-8bb6-4ca139cd83f7,6e6e8f0c-93a4-4c5a-9e0e-1a1b0c5d2f44"
    );
    assert_eq!(
        evs,
        vec![
            pushed(
                "registry.example.com:5000",
                "acme/web",
                Some("1.4.3"),
                Some("sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf")
            ),
            pushed(
                "registry.example.com:5000",
                "acme/api",
                Some("2.0.0"),
                Some("sha256:0b1c5a3e9d4f6b7a8c2e1f3d5b7a9c0e2f4d6b8a0c2e4f6d8b0a2c4e6f8d0b2a")
            ),
        ]
    );
}

#[test]
fn distribution_rotation_accepts_old_secret_and_v2_and_json_types() {
    let body = fixture("distribution", "push_tag.json");
    for ct in [
        DIST_CT,
        "application/vnd.docker.distribution.events.v2+json",
        "application/json",
    ] {
        let v = Req::new(&body)
            .ct(Some(ct))
            .header("authorization", "Bearer old-token")
            .send(&distribution());
        assert_eq!(events(v).1.len(), 2);
    }
}

#[test]
fn distribution_digest_push_has_no_tag() {
    let body = fixture("distribution", "push_digest_only.json");
    let v = Req::new(&body)
        .ct(Some(DIST_CT))
        .header("authorization", "Bearer new-token")
        .send(&distribution());
    let (delivery, evs) = events(v);
    assert_eq!(delivery, "b7a1c2d3-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    assert_eq!(
        evs,
        vec![pushed(
            "registry.example.com:5000",
            "acme/worker",
            None,
            Some("sha256:3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b")
        )]
    );
}

#[test]
fn distribution_pull_blob_push_and_delete_are_ignored() {
    for name in ["pull.json", "blob_push.json"] {
        let body = fixture("distribution", name);
        ignored(
            Req::new(&body)
                .ct(Some(DIST_CT))
                .header("authorization", "Bearer new-token")
                .send(&distribution()),
        );
    }
}

#[test]
fn distribution_rejects_bad_auth_type_and_json() {
    let body = fixture("distribution", "push_tag.json");
    let src = distribution();
    unauthorized(Req::new(&body).ct(Some(DIST_CT)).send(&src));
    unauthorized(
        Req::new(&body)
            .ct(Some(DIST_CT))
            .header("authorization", "Bearer wrong")
            .send(&src),
    );
    unsupported(
        Req::new(&body)
            .ct(Some("text/plain"))
            .header("authorization", "Bearer new-token")
            .send(&src),
    );
    unsupported(
        Req::new(&body)
            .ct(None)
            .header("authorization", "Bearer new-token")
            .send(&src),
    );
    malformed(
        Req::new(b"{\"events\": [")
            .ct(Some(DIST_CT))
            .header("authorization", "Bearer new-token")
            .send(&src),
    );
}

#[test]
fn distribution_bare_secret_matches_bearer_header() {
    let src = Distribution::new(&settings(&["s3cret"], None)).unwrap();
    let body = fixture("distribution", "push_tag.json");
    let v = Req::new(&body)
        .ct(Some(DIST_CT))
        .header("authorization", "Bearer s3cret")
        .send(&src);
    assert_eq!(events(v).1.len(), 2);
}

#[test]
fn distribution_with_path_token_needs_both() {
    let src = Distribution::new(&settings(&["Bearer t"], Some("pathtok"))).unwrap();
    assert!(!src.needs_path_token());
    let body = fixture("distribution", "push_tag.json");
    let ok = Req::new(&body)
        .ct(Some(DIST_CT))
        .header("authorization", "Bearer t");
    unauthorized(ok.send(&src));
    let ok = ok.token("pathtok");
    assert_eq!(events(ok.send(&src)).1.len(), 2);
    unauthorized(
        Req::new(&body)
            .ct(Some(DIST_CT))
            .header("authorization", "Bearer t")
            .token("wrong")
            .send(&src),
    );
    let only_token = Distribution::new(&settings(&[], Some("pathtok"))).unwrap();
    assert!(only_token.needs_path_token());
    assert_eq!(
        events(
            Req::new(&body)
                .ct(Some(DIST_CT))
                .token("pathtok")
                .send(&only_token)
        )
        .1
        .len(),
        2
    );
}

#[test]
fn distribution_new_refuses_open_or_empty_config() {
    assert!(Distribution::new(&settings(&[], None)).is_err());
    assert!(Distribution::new(&settings(&[""], None)).is_err());
    assert!(Distribution::new(&settings(&[], Some(""))).is_err());
}

// -------------------------------------------------------------- dockerhub

#[test]
fn dockerhub_official_and_user_images() {
    let src = DockerHub::new(&settings(&[], Some("hubtoken"))).unwrap();
    assert!(src.needs_path_token());
    let body = fixture("dockerhub", "push_official.json");
    let (delivery, evs) = events(Req::new(&body).token("hubtoken").send(&src));
    assert_eq!(delivery, body_digest(&body));
    assert_eq!(
        evs,
        vec![pushed("docker.io", "library/nginx", Some("1.27.3"), None)]
    );
    let body = fixture("dockerhub", "push_user.json");
    let (_, evs) = events(Req::new(&body).token("hubtoken").send(&src));
    assert_eq!(
        evs,
        vec![pushed("docker.io", "acme/web", Some("1.4.3"), None)]
    );
}

#[test]
fn dockerhub_rejects_and_ignores() {
    assert!(DockerHub::new(&settings(&["x"], None)).is_err());
    let src = DockerHub::new(&settings(&[], Some("hubtoken"))).unwrap();
    let body = fixture("dockerhub", "push_user.json");
    unauthorized(Req::new(&body).send(&src));
    unauthorized(Req::new(&body).token("nope").send(&src));
    unsupported(
        Req::new(&body)
            .token("hubtoken")
            .ct(Some("text/html"))
            .send(&src),
    );
    malformed(Req::new(b"not json").token("hubtoken").send(&src));
    let body = fixture("dockerhub", "not_push.json");
    ignored(Req::new(&body).token("hubtoken").send(&src));
}

// ----------------------------------------------------------------- harbor

fn harbor_event() -> Event {
    pushed(
        "harbor.example.com",
        "acme/web",
        Some("1.4.3"),
        Some("sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4"),
    )
}

#[test]
fn harbor_default_and_cloudevents_push() {
    let src = Harbor::new(&settings(
        &["Basic aGFyYm9yOnMzY3JldA==", "Bearer rotated"],
        None,
    ))
    .unwrap();
    let body = fixture("harbor", "push_artifact.json");
    let (delivery, evs) = events(
        Req::new(&body)
            .header("authorization", "Basic aGFyYm9yOnMzY3JldA==")
            .send(&src),
    );
    assert_eq!(delivery, body_digest(&body));
    assert_eq!(evs, vec![harbor_event()]);
    let body = fixture("harbor", "cloudevent_push.json");
    let (delivery, evs) = events(
        Req::new(&body)
            .ct(Some("application/cloudevents+json"))
            .header("authorization", "Bearer rotated")
            .send(&src),
    );
    assert_eq!(delivery, "e3f1f5a2-9d1c-4c7e-bb8a-6c5d4e3f2a10");
    assert_eq!(evs, vec![harbor_event()]);
}

#[test]
fn harbor_rejects_and_ignores() {
    let src = Harbor::new(&settings(&["Bearer good"], None)).unwrap();
    let body = fixture("harbor", "push_artifact.json");
    unauthorized(Req::new(&body).send(&src));
    unauthorized(
        Req::new(&body)
            .header("authorization", "Bearer bad")
            .send(&src),
    );
    unsupported(
        Req::new(&body)
            .ct(Some("application/xml"))
            .header("authorization", "Bearer good")
            .send(&src),
    );
    malformed(
        Req::new(b"{")
            .header("authorization", "Bearer good")
            .send(&src),
    );
    let body = fixture("harbor", "pull_artifact.json");
    ignored(
        Req::new(&body)
            .header("authorization", "Bearer good")
            .send(&src),
    );
    assert!(Harbor::new(&settings(&[], None)).is_err());
}

// ------------------------------------------------------------------- quay

#[test]
fn quay_repo_push_one_event_per_tag() {
    let src = Quay::new(&settings(&[], Some("q-token"))).unwrap();
    assert!(src.needs_path_token());
    let body = fixture("quay", "repo_push.json");
    let (delivery, evs) = events(Req::new(&body).token("q-token").send(&src));
    assert_eq!(delivery, body_digest(&body));
    assert_eq!(
        evs,
        vec![
            pushed("quay.io", "acme/web", Some("1.4.3"), None),
            pushed("quay.io", "acme/web", Some("latest"), None),
        ]
    );
    let body = fixture("quay", "repo_push_legacy.json");
    let (_, evs) = events(Req::new(&body).token("q-token").send(&src));
    assert_eq!(
        evs,
        vec![pushed(
            "quay.example.com:8443",
            "acme/web",
            Some("1.4.3"),
            None
        )]
    );
}

#[test]
fn quay_rejects_and_ignores() {
    assert!(Quay::new(&settings(&["s"], None)).is_err());
    let src = Quay::new(&settings(&[], Some("q-token"))).unwrap();
    let body = fixture("quay", "repo_push.json");
    unauthorized(Req::new(&body).send(&src));
    unauthorized(Req::new(&body).token("q-tokeN").send(&src));
    unsupported(
        Req::new(&body)
            .token("q-token")
            .ct(Some("text/plain"))
            .send(&src),
    );
    malformed(Req::new(b"[1,").token("q-token").send(&src));
    let body = fixture("quay", "build_queued.json");
    ignored(Req::new(&body).token("q-token").send(&src));
}

// -------------------------------------------------------------------- acr

#[test]
fn acr_push_with_path_token_and_optional_header() {
    let plain = Acr::new(&settings(&[], Some("acr-token"))).unwrap();
    assert!(plain.needs_path_token());
    let body = fixture("acr", "push.json");
    let expected = vec![pushed(
        "myregistry.azurecr.io",
        "acme/web",
        Some("1.4.3"),
        Some("sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d"),
    )];
    let (delivery, evs) = events(Req::new(&body).token("acr-token").send(&plain));
    assert_eq!(delivery, "cb8c3971-9adc-488b-8a1e-43cbb4974ff5");
    assert_eq!(evs, expected);

    let with_header = Acr::new(&settings(&["one", "two"], Some("acr-token"))).unwrap();
    let (_, evs) = events(
        Req::new(&body)
            .token("acr-token")
            .header("authorization", "two")
            .send(&with_header),
    );
    assert_eq!(evs, expected);
    unauthorized(Req::new(&body).token("acr-token").send(&with_header));
    unauthorized(
        Req::new(&body)
            .token("acr-token")
            .header("authorization", "three")
            .send(&with_header),
    );
}

#[test]
fn acr_rejects_and_ignores() {
    assert!(Acr::new(&settings(&["header-only"], None)).is_err());
    let src = Acr::new(&settings(&[], Some("acr-token"))).unwrap();
    let body = fixture("acr", "push.json");
    unauthorized(Req::new(&body).send(&src));
    unauthorized(Req::new(&body).token("wrong").send(&src));
    unsupported(
        Req::new(&body)
            .token("acr-token")
            .ct(Some("text/xml"))
            .send(&src),
    );
    malformed(Req::new(b"{]").token("acr-token").send(&src));
    let body = fixture("acr", "ping.json");
    ignored(Req::new(&body).token("acr-token").send(&src));
}

// ------------------------------------------------------------ artifactory

fn artifactory_event() -> Event {
    pushed(
        "acme.jfrog.io",
        "docker-local/acme/web",
        Some("1.4.3"),
        None,
    )
}

#[test]
fn artifactory_plain_and_signed_secret() {
    let src = Artifactory::new(&settings(&["old", "new"], None)).unwrap();
    assert!(!src.needs_path_token());
    let body = fixture("artifactory", "pushed.json");
    let (delivery, evs) = events(
        Req::new(&body)
            .header("x-jfrog-event-auth", "old")
            .send(&src),
    );
    assert_eq!(delivery, body_digest(&body));
    assert_eq!(evs, vec![artifactory_event()]);
    let sig = hmac256_hex("new", &body);
    let (_, evs) = events(
        Req::new(&body)
            .header("x-jfrog-event-auth", &sig)
            .send(&src),
    );
    assert_eq!(evs, vec![artifactory_event()]);
    // A signature of another body does not pass.
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    unauthorized(
        Req::new(&tampered)
            .header("x-jfrog-event-auth", &sig)
            .send(&src),
    );
}

#[test]
fn artifactory_rejects_and_ignores() {
    let src = Artifactory::new(&settings(&["s3cret"], None)).unwrap();
    let body = fixture("artifactory", "pushed.json");
    unauthorized(Req::new(&body).send(&src));
    unauthorized(
        Req::new(&body)
            .header("x-jfrog-event-auth", "nope")
            .send(&src),
    );
    unsupported(
        Req::new(&body)
            .ct(Some("text/plain"))
            .header("x-jfrog-event-auth", "s3cret")
            .send(&src),
    );
    malformed(
        Req::new(b"{x")
            .header("x-jfrog-event-auth", "s3cret")
            .send(&src),
    );
    let body = fixture("artifactory", "deleted.json");
    ignored(
        Req::new(&body)
            .header("x-jfrog-event-auth", "s3cret")
            .send(&src),
    );

    let by_token = Artifactory::new(&settings(&[], Some("jf-token"))).unwrap();
    assert!(by_token.needs_path_token());
    let body = fixture("artifactory", "pushed.json");
    unauthorized(Req::new(&body).send(&by_token));
    unauthorized(Req::new(&body).token("bad").send(&by_token));
    assert_eq!(
        events(Req::new(&body).token("jf-token").send(&by_token)).1,
        vec![artifactory_event()]
    );
    assert!(Artifactory::new(&settings(&[], None)).is_err());
}

// ------------------------------------------------------------------ nexus

fn nexus_req<'a>(body: &'a [u8], secret: &str) -> Req<'a> {
    Req::new(body)
        .header("x-nexus-webhook-id", "rm:repository:component")
        .header(
            "x-nexus-webhook-delivery",
            "0ef0e2a6-5d3b-4cf1-9e24-7c1c3e4b8d2a",
        )
        .header("x-nexus-webhook-signature", &hmac1_hex(secret, body))
}

#[test]
fn nexus_signed_component_created() {
    let src = Nexus::new(&settings(&["old", "new"], None)).unwrap();
    let body = fixture("nexus", "component_created.json");
    for secret in ["old", "new"] {
        let (delivery, evs) = events(nexus_req(&body, secret).send(&src));
        assert_eq!(delivery, "0ef0e2a6-5d3b-4cf1-9e24-7c1c3e4b8d2a");
        assert_eq!(
            evs,
            vec![pushed("docker-hosted", "acme/web", Some("1.4.3"), None)]
        );
    }
    let src = Nexus::new(&HookSettings {
        registry: Some("nexus.example.com:8082".into()),
        ..settings(&["old", "new"], None)
    })
    .unwrap();
    let (_, evs) = events(nexus_req(&body, "new").send(&src));
    assert_eq!(
        evs,
        vec![pushed(
            "nexus.example.com:8082",
            "acme/web",
            Some("1.4.3"),
            None
        )]
    );
}

#[test]
fn nexus_rejects_tampering_and_ignores() {
    let src = Nexus::new(&settings(&["k"], None)).unwrap();
    let body = fixture("nexus", "component_created.json");
    unauthorized(nexus_req(&body, "other").send(&src));
    unauthorized(Req::new(&body).send(&src));
    let sig = hmac1_hex("k", &body);
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("1.4.3", "6.6.6");
    unauthorized(
        Req::new(tampered.as_bytes())
            .header("x-nexus-webhook-signature", &sig)
            .send(&src),
    );
    unsupported(nexus_req(&body, "k").ct(Some("text/plain")).send(&src));
    malformed(nexus_req(b"{nope", "k").send(&src));
    let deleted = fixture("nexus", "component_deleted.json");
    ignored(nexus_req(&deleted, "k").send(&src));
    let asset = Req::new(&body)
        .header("x-nexus-webhook-id", "rm:repository:asset")
        .header("x-nexus-webhook-signature", &sig);
    ignored(asset.send(&src));
    assert!(Nexus::new(&settings(&[], Some("t"))).is_err());
}

// --------------------------------------------------------------- cdevents

#[test]
fn cdevents_artifact_published_binary_and_structured() {
    let src = CdEvents::new(&settings(&[], Some("cd-token"))).unwrap();
    assert!(src.needs_path_token());
    let body = fixture("cdevents", "artifact_published.json");
    let expected = vec![pushed(
        "registry.example.com",
        "acme/web",
        Some("1.4.3"),
        Some("sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427"),
    )];
    let (delivery, evs) = events(
        Req::new(&body)
            .token("cd-token")
            .header("ce-type", "dev.cdevents.artifact.published.0.2.0")
            .send(&src),
    );
    assert_eq!(delivery, "271069a8-fc18-44f1-b38f-9d70a1695819");
    assert_eq!(evs, expected);

    let inner: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let structured = serde_json::json!({
        "specversion": "1.0",
        "id": "271069a8-fc18-44f1-b38f-9d70a1695819",
        "source": "/event/source/123",
        "type": "dev.cdevents.artifact.published.0.2.0",
        "datacontenttype": "application/json",
        "data": inner,
    })
    .to_string();
    let (_, evs) = events(
        Req::new(structured.as_bytes())
            .token("cd-token")
            .ct(Some("application/cloudevents+json"))
            .send(&src),
    );
    assert_eq!(evs, expected);
}

#[test]
fn cdevents_rejects_and_ignores() {
    assert!(CdEvents::new(&settings(&["s"], None)).is_err());
    let src = CdEvents::new(&settings(&[], Some("cd-token"))).unwrap();
    let body = fixture("cdevents", "artifact_published.json");
    unauthorized(Req::new(&body).send(&src));
    unauthorized(Req::new(&body).token("cd-tokem").send(&src));
    unsupported(
        Req::new(&body)
            .token("cd-token")
            .ct(Some("text/plain"))
            .send(&src),
    );
    malformed(Req::new(b"{\"context\":").token("cd-token").send(&src));
    let body = fixture("cdevents", "pipelinerun_finished.json");
    ignored(Req::new(&body).token("cd-token").send(&src));
}

// -------------------------------------------------------------------- gar

async fn gar() -> Gar {
    Gar::new(&gar_settings()).await.unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn gar_insert_with_tag_and_digest() {
    let src = gar().await;
    assert!(!src.needs_path_token());
    let body = pubsub_push("insert.json", "11223344556677");
    let (delivery, evs) = events(
        Req::new(&body)
            .header("authorization", &bearer(&good_token()))
            .send(&src),
    );
    assert_eq!(delivery, "11223344556677");
    assert_eq!(
        evs,
        vec![pushed(
            "us-docker.pkg.dev",
            "acme-prod/apps/web",
            Some("1.4.3"),
            Some("sha256:6ec128e26cd5f6c6bda2a5d5a6a6a6e7a7d1c5b1f1a2b3c4d5e6f708192a3b4c")
        )]
    );
    let body = pubsub_push("insert_digest_only.json", "99");
    let (_, evs) = events(
        Req::new(&body)
            .header("authorization", &bearer(&good_token()))
            .send(&src),
    );
    assert_eq!(
        evs,
        vec![pushed(
            "europe-west1-docker.pkg.dev",
            "acme-prod/apps/worker",
            None,
            Some("sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9")
        )]
    );
}

#[tokio::test]
async fn gar_accepts_bare_issuer_and_small_clock_skew() {
    let src = gar().await;
    let body = pubsub_push("insert.json", "1");
    let now = unix_now();
    // Issued a little in the future, expired a little ago: within 5 min.
    let t = jwt(
        google_claims("accounts.google.com", GAR_AUDIENCE, now + 120, now - 120),
        GAR_KID,
        &gar_keys().pem,
    );
    assert_eq!(
        events(
            Req::new(&body)
                .header("authorization", &bearer(&t))
                .send(&src)
        )
        .1
        .len(),
        1
    );
}

#[tokio::test]
async fn gar_rejects_bad_tokens() {
    let src = gar().await;
    let body = pubsub_push("insert.json", "1");
    let now = unix_now();
    let pem = &gar_keys().pem;
    let send = |auth: Option<String>| {
        let mut r = Req::new(&body);
        if let Some(a) = auth {
            r = r.header("authorization", &a);
        }
        r.send(&src)
    };
    unauthorized(send(None));
    unauthorized(send(Some(good_token())));
    unauthorized(send(Some("Bearer not.a.jwt".into())));
    // Tampered: a payload swapped under the original signature.
    let good = good_token();
    let mut parts: Vec<&str> = good.split('.').collect();
    let evil = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        google_claims(
            "https://accounts.google.com",
            "https://evil.example",
            now,
            now + 3600,
        )
        .to_string(),
    );
    parts[1] = &evil;
    unauthorized(send(Some(bearer(&parts.join(".")))));
    // Signed by a key not in the JWKS under a known kid.
    let c = google_claims("https://accounts.google.com", GAR_AUDIENCE, now, now + 3600);
    unauthorized(send(Some(bearer(&jwt(
        c.clone(),
        GAR_KID,
        &gar_keys().other_pem,
    )))));
    // Unknown kid.
    unauthorized(send(Some(bearer(&jwt(c, "unknown-kid", pem)))));
    // Wrong audience, wrong issuer.
    let wrong_aud = google_claims(
        "https://accounts.google.com",
        "https://other",
        now,
        now + 3600,
    );
    unauthorized(send(Some(bearer(&jwt(wrong_aud, GAR_KID, pem)))));
    let wrong_iss = google_claims("https://evil.example", GAR_AUDIENCE, now, now + 3600);
    unauthorized(send(Some(bearer(&jwt(wrong_iss, GAR_KID, pem)))));
    // Expired beyond the tolerance; issued too far in the future.
    let expired = google_claims(
        "accounts.google.com",
        GAR_AUDIENCE,
        now - 7200,
        now - 301 - 5,
    );
    unauthorized(send(Some(bearer(&jwt(expired, GAR_KID, pem)))));
    let future = google_claims(
        "accounts.google.com",
        GAR_AUDIENCE,
        now + 301 + 5,
        now + 7200,
    );
    unauthorized(send(Some(bearer(&jwt(future, GAR_KID, pem)))));
    let mut not_yet = google_claims("accounts.google.com", GAR_AUDIENCE, now, now + 7200);
    not_yet["nbf"] = serde_json::json!(now + 900);
    unauthorized(send(Some(bearer(&jwt(not_yet, GAR_KID, pem)))));
}

#[tokio::test]
async fn gar_uses_the_request_clock() {
    let src = gar().await;
    let body = pubsub_push("insert.json", "1");
    let mut r = Req::new(&body).header("authorization", &bearer(&good_token()));
    r.now = SystemTime::now() + Duration::from_secs(2 * 3600);
    unauthorized(r.send(&src));
}

#[tokio::test]
async fn gar_type_json_delete_and_path_token() {
    let src = gar().await;
    let auth = bearer(&good_token());
    let body = pubsub_push("insert.json", "1");
    unsupported(
        Req::new(&body)
            .ct(Some("text/plain"))
            .header("authorization", &auth)
            .send(&src),
    );
    malformed(
        Req::new(b"{\"message\":")
            .header("authorization", &auth)
            .send(&src),
    );
    malformed(
        Req::new(br#"{"message":{"data":"%%%","messageId":"1"}}"#)
            .header("authorization", &auth)
            .send(&src),
    );
    let body = pubsub_push("delete.json", "2");
    ignored(Req::new(&body).header("authorization", &auth).send(&src));

    let s = HookSettings {
        audience: Some(GAR_AUDIENCE.into()),
        jwks_file: Some(gar_jwks_path()),
        path_token: Some(Secret::new("gtok".into())),
        ..HookSettings::default()
    };
    let with_token = Gar::new(&s).await.unwrap();
    let body = pubsub_push("insert.json", "3");
    unauthorized(
        Req::new(&body)
            .header("authorization", &auth)
            .send(&with_token),
    );
    assert_eq!(
        events(
            Req::new(&body)
                .token("gtok")
                .header("authorization", &auth)
                .send(&with_token)
        )
        .0,
        "3"
    );
}

#[tokio::test]
async fn gar_new_needs_audience_and_keys() {
    let no_aud = HookSettings {
        jwks_file: Some(gar_jwks_path()),
        ..HookSettings::default()
    };
    assert!(Gar::new(&no_aud).await.is_err());
    let no_keys = HookSettings {
        audience: Some(GAR_AUDIENCE.into()),
        ..HookSettings::default()
    };
    assert!(Gar::new(&no_keys).await.is_err());
    let missing_file = HookSettings {
        audience: Some(GAR_AUDIENCE.into()),
        jwks_file: Some(PathBuf::from("/nonexistent/jwks.json")),
        ..HookSettings::default()
    };
    assert!(Gar::new(&missing_file).await.is_err());
    // Refreshing from the same file works.
    gar().await.refresh_keys().await.unwrap();
}

#[tokio::test]
async fn gar_service_account_and_email_verified() {
    let sa = "pubsub-push@acme-prod.iam.gserviceaccount.com".to_string();
    let src = Gar::new(&HookSettings {
        service_accounts: vec![sa],
        ..gar_settings()
    })
    .await
    .unwrap();
    let body = pubsub_push("insert.json", "7");
    let now = unix_now();
    let pem = &gar_keys().pem;
    let send = |c: serde_json::Value| {
        Req::new(&body)
            .header("authorization", &bearer(&jwt(c, GAR_KID, pem)))
            .send(&src)
    };
    let good = google_claims("https://accounts.google.com", GAR_AUDIENCE, now, now + 3600);
    assert_eq!(events(send(good.clone())).0, "7");
    let mut other = good.clone();
    other["email"] = serde_json::json!("intruder@evil-project.iam.gserviceaccount.com");
    unauthorized(send(other));
    let mut unverified = good.clone();
    unverified["email_verified"] = serde_json::json!(false);
    unauthorized(send(unverified.clone()));
    // Even without a configured account, an unverified email is refused.
    let open = gar().await;
    unauthorized(
        Req::new(&body)
            .header("authorization", &bearer(&jwt(unverified, GAR_KID, pem)))
            .send(&open),
    );
}

#[tokio::test]
async fn gar_reads_snake_case_message_id() {
    let src = gar().await;
    let data = base64::engine::general_purpose::STANDARD.encode(fixture("gar", "insert.json"));
    let body =
        serde_json::json!({"message": {"data": data, "message_id": "42"}, "subscription": "s"})
            .to_string();
    let v = Req::new(body.as_bytes())
        .header("authorization", &bearer(&good_token()))
        .send(&src);
    assert_eq!(events(v).0, "42");
}

#[test]
fn references_split_into_host_repository_tag_digest() {
    use imagebump::server::hooks::image::pushed_reference;
    let r = |reg: &str, repo: &str, tag: Option<&str>, digest: Option<&str>| ImagePushed {
        registry: reg.into(),
        repository: repo.into(),
        tag: tag.map(Into::into),
        digest: digest.map(Into::into),
    };
    assert_eq!(
        pushed_reference("localhost:5000/acme/web"),
        Some(r("localhost:5000", "acme/web", None, None))
    );
    assert_eq!(
        pushed_reference("Registry.Example.com:443/acme/web:1.0@sha256:ab"),
        Some(r(
            "registry.example.com:443",
            "acme/web",
            Some("1.0"),
            Some("sha256:ab")
        ))
    );
    assert_eq!(
        pushed_reference("registry-1.docker.io/nginx:1.27"),
        Some(r("docker.io", "library/nginx", Some("1.27"), None))
    );
    // A registry writes its host: a dotless one is still the host.
    assert_eq!(
        pushed_reference("registry/acme/web:2"),
        Some(r("registry", "acme/web", Some("2"), None))
    );
    assert_eq!(pushed_reference("nginx"), None);
}
