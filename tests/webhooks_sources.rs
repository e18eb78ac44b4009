//! Every webhook source the server mounts, over real HTTP (actix) with a
//! real SQLite store (issue 4). For each, from a realistic payload under
//! `tests/data/hooks/<source>/` with credentials computed here:
//!
//! - a wrong secret (401), a wrong content type (415), a correctly signed
//!   body one byte over the limit, with a `Content-Length` and streamed
//!   without one (413), correctly signed malformed JSON (400) and, where the
//!   credentials bind a time, an expired and a future one (401) store
//!   nothing: no job, no delivery id;
//! - the valid request is stored (202, one job per event) under the
//!   delivery id the source's wire format gives, or the body's digest where
//!   it gives none;
//! - the identical request again is a duplicate (200) and adds no job.
//!
//! Sources with shared secrets are configured mid-rotation (two secrets)
//! and their senders sign with the older one, so each check also covers the
//! second secret. Sources that cannot sign are reached at a path token; a
//! wrong secret there is a wrong token.

mod support;

use std::collections::BTreeMap;

use imagebump::server::hooks::TIMESTAMP_TOLERANCE;
use serde_json::json;
use support::hook_server::HookServer;
use support::hooks::{
    GAR_AUDIENCE, GAR_KID, OLD_WHSEC, WHSEC, body_digest, fixture, gar_keys, google_claims,
    hmac1_hex, hmac256_hex, jwt, standard_sig, unix_now,
};

/// The body limit of every server here (the largest fixture is 8 KiB).
const LIMIT: usize = 16 * 1024;
const JSON: &str = "application/json";
const CURRENT: &str = "current-secret-5d1f";
const PREVIOUS: &str = "previous-secret-08ab";
const WRONG: &str = "wrong-secret-77c2";
const WRONG_WHSEC: &str = "whsec_YSBzaWduaW5nIHNlY3JldCBub2JvZHkgd2FzIGdpdmVuIQ==";
const TOKEN: &str = "p4th-t0ken-3e9a";

/// The credentials a request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    Good,
    Wrong,
    /// Good, but bound to a time before the tolerance window.
    Expired,
    /// Good, but bound to a time after it.
    Future,
}

/// A request as the source's sender makes it, less its content type.
struct Sent {
    path: String,
    headers: Vec<(String, String)>,
}

fn sent(path: impl Into<String>, headers: &[(&str, String)]) -> Sent {
    Sent {
        path: path.into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

/// One source as the server mounts it, and how its sender talks.
struct Case {
    /// The `{source}` of `/hooks/{source}`.
    source: &'static str,
    settings: imagebump::config::HookSettings,
    /// The payload, as the platform sends it.
    body: Vec<u8>,
    content_type: &'static str,
    /// Jobs the payload asks for: one per event, routed to the
    /// repositories of `support::hook_server::env_repos`.
    jobs: u64,
    /// The delivery id the store must remember for it.
    delivery: String,
    /// The credentials bind a time: `Expired` and `Future` apply.
    timestamped: bool,
    /// Builds the request for a body and credentials.
    request: fn(&[u8], Auth) -> Sent,
}

impl Case {
    /// A JSON source with [`rotating`] secrets and no signed time.
    fn new(
        source: &'static str,
        body: Vec<u8>,
        jobs: u64,
        delivery: impl Into<String>,
        request: fn(&[u8], Auth) -> Sent,
    ) -> Case {
        Case {
            source,
            settings: rotating(),
            body,
            content_type: JSON,
            jobs,
            delivery: delivery.into(),
            timestamped: false,
            request,
        }
    }
}

impl Sent {
    /// The headers and this content type.
    fn typed(&self, content_type: &str) -> Vec<(String, String)> {
        let mut headers = self.headers.clone();
        headers.push(("content-type".into(), content_type.into()));
        headers
    }
}

async fn send(
    s: &HookServer,
    req: &Sent,
    body: &[u8],
    content_type: &str,
) -> (u16, serde_json::Value) {
    s.post(&req.path, body, &req.typed(content_type)).await
}

/// Runs the checks of the module doc against one source.
async fn exercise(case: Case) {
    let name = case.source;
    let s = HookServer::start(
        BTreeMap::from([(name.to_string(), case.settings.clone())]),
        LIMIT,
    )
    .await;
    // Trailing white space keeps the JSON valid; it is signed as sent.
    let mut oversize = case.body.clone();
    oversize.resize(LIMIT + 1, b' ');
    let malformed = b"{\"events\": [".to_vec();
    let (body, ct) = (&case.body, case.content_type);
    let mut refused = vec![
        ("a wrong secret", body, Auth::Wrong, ct, 401),
        ("text/plain", body, Auth::Good, "text/plain", 415),
        ("a body over the limit", &oversize, Auth::Good, ct, 413),
        ("malformed JSON", &malformed, Auth::Good, ct, 400),
    ];
    if case.timestamped {
        refused.push(("an expired time", body, Auth::Expired, ct, 401));
        refused.push(("a future time", body, Auth::Future, ct, 401));
    }
    // Refused first, with the valid request's delivery id: had one of them
    // been recorded, the valid request would be taken for its replay.
    for (what, body, auth, content_type, status) in refused {
        let req = (case.request)(body, auth);
        let (got, answer) = send(&s, &req, body, content_type).await;
        assert_eq!(got, status, "{name}, {what}: {answer}");
        assert!(answer["error"].is_string(), "{name}, {what}: {answer}");
        assert_eq!(s.depth().await, 0, "{name}, {what}: no job");
        assert_eq!(s.deliveries().await, [], "{name}, {what}: no delivery id");
    }
    // The same oversize body streamed without a length: refused while read.
    let req = (case.request)(&oversize, Auth::Good);
    let headers = req.typed(case.content_type);
    let (got, answer) = s.post_chunked(&req.path, &oversize, &headers, 4096).await;
    assert_eq!(got, 413, "{name}, a chunked body over the limit: {answer}");
    assert_eq!(s.depth().await, 0, "{name}, chunked: no job");
    assert_eq!(s.deliveries().await, [], "{name}, chunked: no delivery id");

    let valid = (case.request)(&case.body, Auth::Good);
    let remembered = [(name.to_string(), case.delivery.clone())];
    let (got, answer) = send(&s, &valid, &case.body, case.content_type).await;
    assert_eq!(
        (got, answer),
        (202, json!({"status": "stored", "jobs": case.jobs})),
        "{name}: stored"
    );
    // Every job is a reconcile of one repository: they coalesce.
    assert_eq!(s.depth().await, 1, "{name}: committed before the answer");
    assert_eq!(s.deliveries().await, remembered, "{name}: its delivery id");

    let (got, answer) = send(&s, &valid, &case.body, case.content_type).await;
    assert_eq!(
        (got, answer),
        (200, json!({"status": "duplicate"})),
        "{name}: the identical request again"
    );
    assert_eq!(s.depth().await, 1, "{name}: no job for the replay");
    assert_eq!(s.deliveries().await, remembered, "{name}: replay");
}

fn secret(auth: Auth) -> &'static str {
    if auth == Auth::Wrong { WRONG } else { PREVIOUS }
}

fn whsec(auth: Auth) -> &'static str {
    if auth == Auth::Wrong {
        WRONG_WHSEC
    } else {
        OLD_WHSEC
    }
}

/// `/hooks/{source}/{token}` of a source that cannot sign.
fn token_path(source: &str, auth: Auth) -> String {
    let token = if auth == Auth::Wrong {
        "wrong-token"
    } else {
        TOKEN
    };
    format!("/hooks/{source}/{token}")
}

/// Now, or a little outside the tolerance window for `Expired`/`Future`.
fn timestamp(auth: Auth) -> i64 {
    let skew = TIMESTAMP_TOLERANCE.as_secs() as i64 + 10;
    unix_now()
        + match auth {
            Auth::Expired => -skew,
            Auth::Future => skew,
            Auth::Good | Auth::Wrong => 0,
        }
}

/// Two secrets: a rotation in progress.
fn rotating() -> imagebump::config::HookSettings {
    support::hooks::settings(&[CURRENT, PREVIOUS], None)
}

fn path_token_only() -> imagebump::config::HookSettings {
    support::hooks::settings(&[], Some(TOKEN))
}

/// The Standard Webhooks headers (generic, GitLab signing tokens).
fn standard_headers(id: &str, body: &[u8], auth: Auth) -> [(&'static str, String); 3] {
    let ts = timestamp(auth);
    [
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        (
            "webhook-signature",
            standard_sig(whsec(auth), id, ts as u64, body),
        ),
    ]
}

mod cases {
    use super::*;

    const GH_DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    const GL_KEY: &str = "f0e4c2f7-6b1a-4d3e-9c3b-2a1d0e9f8c7b";

    fn github_request(path: &str, event: &str, body: &[u8], auth: Auth) -> Sent {
        let sig = format!("sha256={}", hmac256_hex(secret(auth), body));
        sent(
            path,
            &[
                ("x-github-event", event.into()),
                ("x-github-delivery", GH_DELIVERY.into()),
                ("x-github-hook-id", "479431233".into()),
                ("x-hub-signature-256", sig),
            ],
        )
    }

    pub fn github() -> Case {
        let body = fixture("github", "push-branch.json");
        Case::new("github", body, 1, GH_DELIVERY, |body, auth| {
            github_request("/hooks/github", "push", body, auth)
        })
    }

    /// GHCR: GitHub `registry_package` events at a mount of their own.
    pub fn ghcr() -> Case {
        let body = fixture("github", "registry_package-published.json");
        Case::new("ghcr", body, 1, GH_DELIVERY, |body, auth| {
            github_request("/hooks/ghcr", "registry_package", body, auth)
        })
    }

    /// A plain secret token in `X-Gitlab-Token`.
    pub fn gitlab_token() -> Case {
        let body = fixture("gitlab", "push.json");
        Case::new("gitlab", body, 1, GL_KEY, |_, auth| {
            let uuid = "13792a34-cac6-4fda-95a8-c58e00a3954e";
            sent(
                "/hooks/gitlab",
                &[
                    ("x-gitlab-event", "Push Hook".into()),
                    ("x-gitlab-token", secret(auth).into()),
                    ("x-gitlab-event-uuid", uuid.into()),
                    ("idempotency-key", GL_KEY.into()),
                ],
            )
        })
    }

    /// A signing token: Standard Webhooks signatures bound to a time.
    pub fn gitlab_signing() -> Case {
        Case {
            settings: support::hooks::settings(&[WHSEC, OLD_WHSEC], None),
            timestamped: true,
            request: |body, auth| {
                let mut headers = vec![
                    ("x-gitlab-event", "Push Hook".to_string()),
                    ("idempotency-key", GL_KEY.into()),
                ];
                headers.extend(standard_headers(GL_KEY, body, auth));
                sent("/hooks/gitlab", &headers)
            },
            ..gitlab_token()
        }
    }

    pub fn gitea() -> Case {
        const DELIVERY: &str = "b7d2a0c4-3f1e-4c5a-9d8b-7e6f5a4b3c2d";
        let body = fixture("gitea", "push.json");
        Case::new("gitea", body, 1, DELIVERY, |body, auth| {
            sent(
                "/hooks/gitea",
                &[
                    ("x-gitea-event", "push".into()),
                    ("x-gitea-delivery", DELIVERY.into()),
                    ("x-gitea-signature", hmac256_hex(secret(auth), body)),
                ],
            )
        })
    }

    /// A push of two branches: one job, for the watched `main`.
    pub fn bitbucket() -> Case {
        const REQUEST: &str = "6d4d5e3c-2b1a-4f0e-9d8c-7b6a5f4e3d2c";
        let body = fixture("bitbucket", "repo-push.json");
        Case::new("bitbucket", body, 1, REQUEST, |body, auth| {
            let sig = format!("sha256={}", hmac256_hex(secret(auth), body));
            sent(
                "/hooks/bitbucket",
                &[
                    ("x-event-key", "repo:push".into()),
                    ("x-hook-uuid", "0b9f8e7d-6c5b-4a39-8271-605f4e3d2c1b".into()),
                    ("x-request-uuid", REQUEST.into()),
                    ("x-hub-signature", sig),
                ],
            )
        })
    }

    /// Standard Webhooks.
    pub fn generic() -> Case {
        const ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
        let body = fixture("generic", "image-pushed.json");
        Case {
            settings: support::hooks::settings(&[WHSEC, OLD_WHSEC], None),
            timestamped: true,
            ..Case::new("generic", body, 1, ID, |body, auth| {
                sent("/hooks/generic", &standard_headers(ID, body, auth))
            })
        }
    }

    /// One envelope with two manifest pushes: their ids, joined.
    pub fn distribution() -> Case {
        let body = fixture("distribution", "push_tag.json");
        let ids = "320678d8-ca14-430f-8bb6-4ca139cd83f7,6e6e8f0c-93a4-4c5a-9e0e-1a1b0c5d2f44";
        Case {
            content_type: "application/vnd.docker.distribution.events.v1+json",
            ..Case::new("distribution", body, 2, ids, |_, auth| {
                let bearer = format!("Bearer {}", secret(auth));
                sent("/hooks/distribution", &[("authorization", bearer)])
            })
        }
    }

    /// No credentials but the path token, no delivery id: the body digest.
    pub fn dockerhub() -> Case {
        let body = fixture("dockerhub", "push_user.json");
        Case {
            settings: path_token_only(),
            ..Case::new(
                "dockerhub",
                body.clone(),
                1,
                body_digest(&body),
                |_, auth| sent(token_path("dockerhub", auth), &[]),
            )
        }
    }

    /// The Default format has no delivery id: the body digest.
    pub fn harbor() -> Case {
        let body = fixture("harbor", "push_artifact.json");
        Case::new("harbor", body.clone(), 1, body_digest(&body), |_, auth| {
            sent("/hooks/harbor", &[("authorization", secret(auth).into())])
        })
    }

    /// The CloudEvents format: its `id`.
    pub fn harbor_cloudevents() -> Case {
        Case {
            body: fixture("harbor", "cloudevent_push.json"),
            content_type: "application/cloudevents+json",
            delivery: "e3f1f5a2-9d1c-4c7e-bb8a-6c5d4e3f2a10".into(),
            ..harbor()
        }
    }

    /// Path token only, two tags, no delivery id: the body digest.
    pub fn quay() -> Case {
        let body = fixture("quay", "repo_push.json");
        Case {
            settings: path_token_only(),
            ..Case::new("quay", body.clone(), 2, body_digest(&body), |_, auth| {
                sent(token_path("quay", auth), &[])
            })
        }
    }

    pub fn acr() -> Case {
        let body = fixture("acr", "push.json");
        let id = "cb8c3971-9adc-488b-8a1e-43cbb4974ff5";
        Case {
            settings: path_token_only(),
            ..Case::new("acr", body, 1, id, |_, auth| {
                sent(token_path("acr", auth), &[])
            })
        }
    }

    /// `use_secret_for_signing`: a hex HMAC; no delivery id: the body digest.
    pub fn artifactory() -> Case {
        let body = fixture("artifactory", "pushed.json");
        Case::new(
            "artifactory",
            body.clone(),
            1,
            body_digest(&body),
            |body, auth| {
                let sig = hmac256_hex(secret(auth), body);
                sent("/hooks/artifactory", &[("x-jfrog-event-auth", sig)])
            },
        )
    }

    pub fn nexus() -> Case {
        const DELIVERY: &str = "0ef0e2a6-5d3b-4cf1-9e24-7c1c3e4b8d2a";
        let body = fixture("nexus", "component_created.json");
        Case::new("nexus", body, 1, DELIVERY, |body, auth| {
            sent(
                "/hooks/nexus",
                &[
                    ("x-nexus-webhook-id", "rm:repository:component".into()),
                    ("x-nexus-webhook-delivery", DELIVERY.into()),
                    ("x-nexus-webhook-signature", hmac1_hex(secret(auth), body)),
                ],
            )
        })
    }

    /// A Pub/Sub push: an OIDC token (a wrong secret is a key not in the
    /// JWKS; the time is the token's `iat`/`exp`) and `message.messageId`.
    pub fn gar() -> Case {
        const MESSAGE: &str = "11223344556677";
        let body = support::hooks::pubsub_push("insert.json", MESSAGE);
        Case {
            settings: support::hooks::gar_settings(),
            timestamped: true,
            ..Case::new("gar", body, 1, MESSAGE, |_, auth| {
                let at = timestamp(auth);
                let (iat, exp) = match auth {
                    Auth::Expired => (at - 3600, at),
                    _ => (at, at + 3600),
                };
                let keys = gar_keys();
                let pem = if auth == Auth::Wrong {
                    &keys.other_pem
                } else {
                    &keys.pem
                };
                let claims = google_claims("https://accounts.google.com", GAR_AUDIENCE, iat, exp);
                let bearer = format!("Bearer {}", jwt(claims, GAR_KID, pem));
                sent("/hooks/gar", &[("authorization", bearer)])
            })
        }
    }

    /// CloudEvents binary mode behind a path token: `context.id`.
    pub fn cdevents() -> Case {
        const ID: &str = "271069a8-fc18-44f1-b38f-9d70a1695819";
        let body = fixture("cdevents", "artifact_published.json");
        Case {
            settings: path_token_only(),
            ..Case::new("cdevents", body, 1, ID, |_, auth| {
                sent(
                    token_path("cdevents", auth),
                    &[
                        ("ce-specversion", "1.0".into()),
                        ("ce-id", ID.into()),
                        ("ce-type", "dev.cdevents.artifact.published.0.2.0".into()),
                        ("ce-source", "/event/source/123".into()),
                    ],
                )
            })
        }
    }
}

/// One test per case, named after it.
macro_rules! over_http {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            exercise(cases::$case()).await;
        }
    )*};
}

over_http!(
    github,
    ghcr,
    gitlab_token,
    gitlab_signing,
    gitea,
    bitbucket,
    generic,
    distribution,
    dockerhub,
    harbor,
    harbor_cloudevents,
    quay,
    acr,
    artifactory,
    nexus,
    gar,
    cdevents,
);

/// Sources whose wire format carries no delivery id are deduplicated by
/// the digest of the body: a byte-identical retry is a duplicate (above),
/// but the same event serialised differently (here: one more trailing
/// newline) is a new delivery and is stored again. That is the limit of
/// what can be told apart without an id; the jobs it doubles are
/// idempotent.
#[tokio::test]
async fn without_a_delivery_id_only_identical_bodies_are_duplicates() {
    for case in [
        cases::dockerhub(),
        cases::harbor(),
        cases::quay(),
        cases::artifactory(),
    ] {
        let name = case.source;
        let s = HookServer::start(
            BTreeMap::from([(name.to_string(), case.settings.clone())]),
            LIMIT,
        )
        .await;
        let mut reserialised = case.body.clone();
        reserialised.push(b'\n');
        for body in [&case.body, &reserialised] {
            let req = (case.request)(body, Auth::Good);
            let (status, answer) = send(&s, &req, body, case.content_type).await;
            assert_eq!(status, 202, "{name}: {answer}");
        }
        assert_eq!(s.depth().await, 1, "{name}: one reconcile, asked twice");
        let mut expected = vec![
            (name.to_string(), body_digest(&case.body)),
            (name.to_string(), body_digest(&reserialised)),
        ];
        expected.sort();
        assert_eq!(s.deliveries().await, expected, "{name}");
    }
}
