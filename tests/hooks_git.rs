//! The Git platform webhook sources (GitHub, GitLab, Gitea/Forgejo,
//! Bitbucket) and the generic Standard Webhooks source, called directly
//! through the `Source` trait with payloads from `tests/data/hooks/` and
//! signatures computed here.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use imagebump::config::Secret;
use imagebump::event::{
    ChangeRequestUpdated, ChecksCompleted, Command, Event, ImagePushed, RepoPushed,
};
use imagebump::server::hooks::bitbucket::Bitbucket;
use imagebump::server::hooks::generic::Generic;
use imagebump::server::hooks::gitea::Gitea;
use imagebump::server::hooks::github::GitHub;
use imagebump::server::hooks::gitlab::GitLab;
use imagebump::server::hooks::{HookError, Incoming, Source, Verdict};
use support::hooks::{
    OLD_WHSEC, WHSEC, body_digest, fixture, hmac1_hex, hmac256_hex, settings, standard_sig,
};

const SECRET: &str = "It's a Secret to Everybody";
const OLD_SECRET: &str = "the secret before the rotation";
const NOW: u64 = 1_714_637_976;
const JSON: &str = "application/json";

/// A request under construction.
struct Req {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    content_type: Option<String>,
    path_token: Option<String>,
    now: SystemTime,
}

impl Req {
    fn new(body: Vec<u8>) -> Self {
        Self {
            headers: Vec::new(),
            body,
            content_type: Some(JSON.into()),
            path_token: None,
            now: UNIX_EPOCH + Duration::from_secs(NOW),
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_lowercase(), value.into()));
        self
    }

    fn content_type(mut self, ct: Option<&str>) -> Self {
        self.content_type = ct.map(str::to_owned);
        self
    }

    fn path_token(mut self, token: &str) -> Self {
        self.path_token = Some(token.into());
        self
    }

    /// Changes one byte of the body (after signing).
    fn tamper(mut self) -> Self {
        let i = self.body.iter().position(|b| b.is_ascii_digit()).unwrap();
        self.body[i] = if self.body[i] == b'9' {
            b'8'
        } else {
            self.body[i] + 1
        };
        self
    }

    fn send(&self, source: &dyn Source) -> Result<Verdict, HookError> {
        source.handle(&Incoming {
            headers: &self.headers,
            body: &self.body,
            path_token: self.path_token.as_deref(),
            content_type: self.content_type.as_deref(),
            now: self.now,
        })
    }
}

fn events(delivery: &str, events: Vec<Event>) -> Result<Verdict, HookError> {
    Ok(Verdict::Events {
        delivery: delivery.into(),
        events,
    })
}

fn unauthorized(r: Result<Verdict, HookError>) {
    assert!(matches!(r, Err(HookError::Unauthorized(_))), "{r:?}");
}

fn ignored(r: Result<Verdict, HookError>) {
    assert!(matches!(r, Ok(Verdict::Ignored(_))), "{r:?}");
}

fn malformed(r: Result<Verdict, HookError>) {
    assert!(matches!(r, Err(HookError::Malformed(_))), "{r:?}");
}

fn unsupported(r: Result<Verdict, HookError>) {
    assert!(
        matches!(r, Err(HookError::UnsupportedMediaType(_))),
        "{r:?}"
    );
}

fn new_error<T>(r: anyhow::Result<T>) -> String {
    match r {
        Ok(_) => panic!("settings accepted"),
        Err(e) => format!("{e:#}"),
    }
}

fn push_event(repo: &str, branch: &str, after: &str) -> Event {
    Event::RepoPushed(RepoPushed {
        repo: repo.into(),
        branch: branch.into(),
        after: after.into(),
    })
}

// ---------------------------------------------------------------- GitHub

const GH_SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const GH_DIGEST: &str = "sha256:1f6be3ed1bb3e05da4bcb9b8ee1d4e3d61d5c29d4d1a49dd2b0d9b8c1f8b1c2a";

fn github() -> GitHub {
    GitHub::new(&settings(&[SECRET], None)).unwrap()
}

fn gh_req(event: &str, body: Vec<u8>, secret: &str) -> Req {
    let sig = format!("sha256={}", hmac256_hex(secret, &body));
    Req::new(body)
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        .header("X-GitHub-Hook-ID", "479431233")
        .header("X-Hub-Signature-256", sig)
}

fn gh(event: &str, file: &str) -> Result<Verdict, HookError> {
    gh_req(event, fixture("github", file), SECRET).send(&github())
}

const GH_DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

#[test]
fn github_push_to_branch() {
    assert_eq!(
        gh("push", "push-branch.json"),
        events(GH_DELIVERY, vec![push_event("acme/env", "main", GH_SHA)])
    );
}

#[test]
fn github_tag_push_is_ignored() {
    ignored(gh("push", "push-tag.json"));
}

#[test]
fn github_merged_pull_request() {
    assert_eq!(
        gh("pull_request", "pull_request-closed-merged.json"),
        events(
            GH_DELIVERY,
            vec![Event::ChangeRequestUpdated(ChangeRequestUpdated {
                repo: "acme/env".into(),
                number: 42,
                state: "merged".into(),
                head: "imagebump/web".into(),
                author: "octocat".into(),
            })]
        )
    );
}

#[test]
fn github_checks() {
    let checks = |conclusion: &str| {
        vec![Event::ChecksCompleted(ChecksCompleted {
            repo: "acme/env".into(),
            sha: GH_SHA.into(),
            conclusion: conclusion.into(),
        })]
    };
    assert_eq!(
        gh("check_suite", "check_suite-completed.json"),
        events(GH_DELIVERY, checks("success"))
    );
    assert_eq!(
        gh("status", "status-failure.json"),
        events(GH_DELIVERY, checks("failure"))
    );
}

#[test]
fn github_command_comment_on_a_pull_request() {
    assert_eq!(
        gh("issue_comment", "issue_comment-command.json"),
        events(
            GH_DELIVERY,
            vec![Event::Command(Command {
                repo: "acme/env".into(),
                number: 42,
                user: "octocat".into(),
                text: "/imagebump rebase".into(),
            })]
        )
    );
    ignored(gh("issue_comment", "issue_comment-on-issue.json"));
}

#[test]
fn github_container_package_published() {
    assert_eq!(
        gh("registry_package", "registry_package-published.json"),
        events(
            GH_DELIVERY,
            vec![Event::ImagePushed(ImagePushed {
                registry: "ghcr.io".into(),
                repository: "acme/web".into(),
                tag: Some("1.4.3".into()),
                digest: Some(GH_DIGEST.into()),
            })]
        )
    );
}

#[test]
fn github_ping_and_unknown_events_are_ignored() {
    ignored(gh("ping", "ping.json"));
    assert_eq!(
        gh("star", "ping.json"),
        Ok(Verdict::Ignored("event star not handled".into()))
    );
}

#[test]
fn github_rejects_wrong_missing_and_tampered_signatures() {
    let body = fixture("github", "push-branch.json");
    assert_eq!(
        gh_req("push", body.clone(), "wrong").send(&github()),
        Err(HookError::Unauthorized("signature mismatch".into()))
    );
    assert_eq!(
        Req::new(body.clone())
            .header("X-GitHub-Event", "push")
            .send(&github()),
        Err(HookError::Unauthorized(
            "missing X-Hub-Signature-256".into()
        ))
    );
    unauthorized(
        gh_req("push", body.clone(), SECRET)
            .tamper()
            .send(&github()),
    );
    let bare = hmac256_hex(SECRET, &body);
    unauthorized(
        Req::new(body)
            .header("X-GitHub-Event", "push")
            .header("X-Hub-Signature-256", bare)
            .send(&github()),
    );
}

#[test]
fn github_content_types() {
    let body = fixture("github", "push-branch.json");
    unsupported(
        gh_req("push", body.clone(), SECRET)
            .content_type(Some("text/plain"))
            .send(&github()),
    );
    unsupported(
        gh_req("push", body.clone(), SECRET)
            .content_type(None)
            .send(&github()),
    );
    // Form-encoded: signed over the raw form body.
    let json = String::from_utf8(body).unwrap();
    let mut form = String::from("payload=");
    for b in json.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => form.push(b as char),
            b' ' => form.push('+'),
            _ => form.push_str(&format!("%{b:02X}")),
        }
    }
    assert_eq!(
        gh_req("push", form.into_bytes(), SECRET)
            .content_type(Some("application/x-www-form-urlencoded"))
            .send(&github()),
        events(GH_DELIVERY, vec![push_event("acme/env", "main", GH_SHA)])
    );
}

#[test]
fn github_malformed_json_is_malformed() {
    malformed(gh_req("push", b"{\"ref\": ".to_vec(), SECRET).send(&github()));
    // Valid JSON without the fields a push needs.
    malformed(gh_req("push", b"{\"ref\": \"refs/heads/main\"}".to_vec(), SECRET).send(&github()));
}

#[test]
fn github_accepts_old_and_new_secret_during_rotation() {
    let source = GitHub::new(&settings(&[SECRET, OLD_SECRET], None)).unwrap();
    for secret in [SECRET, OLD_SECRET] {
        assert_eq!(
            gh_req("push", fixture("github", "push-branch.json"), secret).send(&source),
            events(GH_DELIVERY, vec![push_event("acme/env", "main", GH_SHA)])
        );
    }
    unauthorized(gh_req("push", fixture("github", "push-branch.json"), "third").send(&source));
}

#[test]
fn github_delivery_id_falls_back_to_body_digest() {
    let body = fixture("github", "push-branch.json");
    let digest = body_digest(&body);
    let sig = format!("sha256={}", hmac256_hex(SECRET, &body));
    assert_eq!(
        Req::new(body)
            .header("X-GitHub-Event", "push")
            .header("X-Hub-Signature-256", sig)
            .send(&github()),
        events(&digest, vec![push_event("acme/env", "main", GH_SHA)])
    );
}

#[test]
fn github_sha1_only_when_allowed() {
    let body = fixture("github", "push-branch.json");
    let req = Req::new(body.clone())
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", GH_DELIVERY)
        .header(
            "X-Hub-Signature",
            format!("sha1={}", hmac1_hex(SECRET, &body)),
        );
    assert_eq!(
        req.send(&github()),
        Err(HookError::Unauthorized(
            "missing X-Hub-Signature-256".into()
        ))
    );
    let mut allowing = settings(&[SECRET], None);
    allowing.allow_sha1 = true;
    let allowing = GitHub::new(&allowing).unwrap();
    assert_eq!(
        req.send(&allowing),
        events(GH_DELIVERY, vec![push_event("acme/env", "main", GH_SHA)])
    );
    unauthorized(req.tamper().send(&allowing));
}

#[test]
fn github_settings_need_a_non_empty_secret() {
    assert!(
        new_error(GitHub::new(&settings(&[], None)))
            .contains("hooks.github needs at least one secret")
    );
    assert!(new_error(GitHub::new(&settings(&[""], None))).contains("empty secret"));
}

#[test]
fn github_path_token_when_configured() {
    let mut s = settings(&[SECRET], None);
    s.path_token = Some(Secret::new("p4th-t0ken".into()));
    let source = GitHub::new(&s).unwrap();
    let body = fixture("github", "push-branch.json");
    assert_eq!(
        gh_req("push", body.clone(), SECRET).send(&source),
        Err(HookError::Unauthorized("missing path token".into()))
    );
    unauthorized(
        gh_req("push", body.clone(), SECRET)
            .path_token("wrong")
            .send(&source),
    );
    assert!(matches!(
        gh_req("push", body, SECRET)
            .path_token("p4th-t0ken")
            .send(&source),
        Ok(Verdict::Events { .. })
    ));
}

// ---------------------------------------------------------------- GitLab

const GL_SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const GL_KEY: &str = "f0e4c2f7-6b1a-4d3e-9c3b-2a1d0e9f8c7b";

fn gitlab(secrets: &[&str]) -> GitLab {
    GitLab::new(&settings(secrets, None)).unwrap()
}

fn gl_token(event: &str, file: &str, token: &str) -> Req {
    Req::new(fixture("gitlab", file))
        .header("X-Gitlab-Event", event)
        .header("X-Gitlab-Token", token)
        .header(
            "X-Gitlab-Event-UUID",
            "13792a34-cac6-4fda-95a8-c58e00a3954e",
        )
        .header("Idempotency-Key", GL_KEY)
}

fn gl_signed(event: &str, body: Vec<u8>, whsec: &str, ts: u64) -> Req {
    let sig = standard_sig(whsec, GL_KEY, ts, &body);
    Req::new(body)
        .header("X-Gitlab-Event", event)
        .header("Idempotency-Key", GL_KEY)
        .header("webhook-id", GL_KEY)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
}

#[test]
fn gitlab_events_with_secret_token() {
    let source = gitlab(&[SECRET]);
    let send = |event: &str, file: &str| gl_token(event, file, SECRET).send(&source);
    assert_eq!(
        send("Push Hook", "push.json"),
        events(
            GL_KEY,
            vec![push_event("acme/platform/env", "main", GL_SHA)]
        )
    );
    assert_eq!(
        send("Merge Request Hook", "merge_request-merged.json"),
        events(
            GL_KEY,
            vec![Event::ChangeRequestUpdated(ChangeRequestUpdated {
                repo: "acme/platform/env".into(),
                number: 7,
                state: "merged".into(),
                head: "imagebump/web".into(),
                author: "root".into(),
            })]
        )
    );
    assert_eq!(
        send("Pipeline Hook", "pipeline-failed.json"),
        events(
            GL_KEY,
            vec![Event::ChecksCompleted(ChecksCompleted {
                repo: "acme/platform/env".into(),
                sha: GL_SHA.into(),
                conclusion: "failed".into(),
            })]
        )
    );
    assert_eq!(
        send("Note Hook", "note-merge_request-command.json"),
        events(
            GL_KEY,
            vec![Event::Command(Command {
                repo: "acme/platform/env".into(),
                number: 7,
                user: "root".into(),
                text: "/imagebump recreate".into(),
            })]
        )
    );
    ignored(send("System Hook", "system-hook-project-create.json"));
}

#[test]
fn gitlab_token_checks() {
    let source = gitlab(&[SECRET, OLD_SECRET]);
    unauthorized(gl_token("Push Hook", "push.json", "wrong").send(&source));
    assert_eq!(
        Req::new(fixture("gitlab", "push.json"))
            .header("X-Gitlab-Event", "Push Hook")
            .send(&source),
        Err(HookError::Unauthorized("missing X-Gitlab-Token".into()))
    );
    for token in [SECRET, OLD_SECRET] {
        assert!(matches!(
            gl_token("Push Hook", "push.json", token).send(&source),
            Ok(Verdict::Events { .. })
        ));
    }
}

#[test]
fn gitlab_delivery_id_order() {
    let source = gitlab(&[SECRET]);
    let req = Req::new(fixture("gitlab", "push.json"))
        .header("X-Gitlab-Event", "Push Hook")
        .header("X-Gitlab-Token", SECRET)
        .header(
            "X-Gitlab-Event-UUID",
            "13792a34-cac6-4fda-95a8-c58e00a3954e",
        );
    assert!(matches!(
        req.send(&source),
        Ok(Verdict::Events { delivery, .. }) if delivery == "13792a34-cac6-4fda-95a8-c58e00a3954e"
    ));
}

#[test]
fn gitlab_signing_token() {
    let source = gitlab(&[WHSEC]);
    let body = fixture("gitlab", "push.json");
    let expected = events(
        GL_KEY,
        vec![push_event("acme/platform/env", "main", GL_SHA)],
    );
    assert_eq!(
        gl_signed("Push Hook", body.clone(), WHSEC, NOW).send(&source),
        expected
    );
    unauthorized(gl_signed("Push Hook", body.clone(), OLD_WHSEC, NOW).send(&source));
    unauthorized(
        gl_signed("Push Hook", body.clone(), WHSEC, NOW)
            .tamper()
            .send(&source),
    );
    assert_eq!(
        gl_signed("Push Hook", body.clone(), WHSEC, NOW - 301).send(&source),
        Err(HookError::Unauthorized("timestamp too old".into()))
    );
    assert_eq!(
        gl_signed("Push Hook", body.clone(), WHSEC, NOW + 301).send(&source),
        Err(HookError::Unauthorized("timestamp in the future".into()))
    );
    assert_eq!(
        gl_signed("Push Hook", body.clone(), WHSEC, NOW - 300).send(&source),
        expected
    );
    // Only a signing token is configured: a plain token is not enough.
    assert_eq!(
        gl_token("Push Hook", "push.json", WHSEC).send(&source),
        Err(HookError::Unauthorized("missing webhook-signature".into()))
    );
    malformed(gl_signed("Push Hook", b"not json".to_vec(), WHSEC, NOW).send(&source));
    unsupported(
        gl_signed("Push Hook", body, WHSEC, NOW)
            .content_type(Some("text/plain"))
            .send(&source),
    );
}

#[test]
fn gitlab_signing_token_rotation() {
    let source = gitlab(&[WHSEC, OLD_WHSEC]);
    for whsec in [WHSEC, OLD_WHSEC] {
        assert!(matches!(
            gl_signed("Push Hook", fixture("gitlab", "push.json"), whsec, NOW).send(&source),
            Ok(Verdict::Events { .. })
        ));
    }
}

#[test]
fn gitlab_content_type_and_malformed() {
    let source = gitlab(&[SECRET]);
    unsupported(
        gl_token("Push Hook", "push.json", SECRET)
            .content_type(Some("application/x-www-form-urlencoded"))
            .send(&source),
    );
    let mut req = gl_token("Push Hook", "push.json", SECRET);
    req.body = b"{\"object_kind\":".to_vec();
    malformed(req.send(&source));
}

#[test]
fn gitlab_settings() {
    assert!(
        new_error(GitLab::new(&settings(&[], None)))
            .contains("hooks.gitlab needs at least one secret")
    );
    assert!(new_error(GitLab::new(&settings(&[""], None))).contains("empty secret"));
    assert!(new_error(GitLab::new(&settings(&["whsec_!!!"], None))).contains("signing token"));
    let mut s = settings(&[SECRET], None);
    s.path_token = Some(Secret::new("p4th".into()));
    let source = GitLab::new(&s).unwrap();
    unauthorized(gl_token("Push Hook", "push.json", SECRET).send(&source));
    assert!(matches!(
        gl_token("Push Hook", "push.json", SECRET)
            .path_token("p4th")
            .send(&source),
        Ok(Verdict::Events { .. })
    ));
}

// ----------------------------------------------------------- Gitea/Forgejo

const GT_SHA: &str = "bffeb74224043ba2feb48d137756c8a9331c449a";
const GT_DELIVERY: &str = "b7d2a0c4-3f1e-4c5a-9d8b-7e6f5a4b3c2d";

fn gitea() -> Gitea {
    Gitea::new(&settings(&[SECRET, OLD_SECRET], None)).unwrap()
}

fn gt_req(event: &str, body: Vec<u8>, secret: &str) -> Req {
    let sig = hmac256_hex(secret, &body);
    Req::new(body)
        .header("X-Gitea-Event", event)
        .header("X-Gitea-Event-Type", event)
        .header("X-Gitea-Delivery", GT_DELIVERY)
        .header("X-Gitea-Signature", sig.clone())
        .header("X-Hub-Signature-256", format!("sha256={sig}"))
}

fn gt(event: &str, file: &str) -> Result<Verdict, HookError> {
    gt_req(event, fixture("gitea", file), SECRET).send(&gitea())
}

#[test]
fn gitea_events() {
    assert_eq!(
        gt("push", "push.json"),
        events(GT_DELIVERY, vec![push_event("acme/env", "main", GT_SHA)])
    );
    assert_eq!(
        gt("pull_request", "pull_request-synchronized.json"),
        events(
            GT_DELIVERY,
            vec![Event::ChangeRequestUpdated(ChangeRequestUpdated {
                repo: "acme/env".into(),
                number: 5,
                state: "open".into(),
                head: "imagebump/web".into(),
                author: "gitea".into(),
            })]
        )
    );
    assert_eq!(
        gt("issue_comment", "issue_comment-pull-command.json"),
        events(
            GT_DELIVERY,
            vec![Event::Command(Command {
                repo: "acme/env".into(),
                number: 5,
                user: "gitea".into(),
                text: "/imagebump rebase".into(),
            })]
        )
    );
    assert_eq!(
        gt("status", "status-success.json"),
        events(
            GT_DELIVERY,
            vec![Event::ChecksCompleted(ChecksCompleted {
                repo: "acme/env".into(),
                sha: GT_SHA.into(),
                conclusion: "success".into(),
            })]
        )
    );
    ignored(gt("create", "create-tag.json"));
}

#[test]
fn forgejo_headers() {
    let body = fixture("gitea", "push.json");
    let sig = hmac256_hex(SECRET, &body);
    assert_eq!(
        Req::new(body)
            .header("X-Forgejo-Event", "push")
            .header("X-Forgejo-Delivery", "forgejo-1")
            .header("X-Forgejo-Signature", sig)
            .send(&gitea()),
        events("forgejo-1", vec![push_event("acme/env", "main", GT_SHA)])
    );
}

#[test]
fn gitea_rejections() {
    let body = fixture("gitea", "push.json");
    assert_eq!(
        gt_req("push", body.clone(), "wrong").send(&gitea()),
        Err(HookError::Unauthorized("signature mismatch".into()))
    );
    assert_eq!(
        Req::new(body.clone())
            .header("X-Gitea-Event", "push")
            .send(&gitea()),
        Err(HookError::Unauthorized("missing X-Gitea-Signature".into()))
    );
    unauthorized(gt_req("push", body.clone(), SECRET).tamper().send(&gitea()));
    unsupported(
        gt_req("push", body.clone(), SECRET)
            .content_type(Some("application/x-www-form-urlencoded"))
            .send(&gitea()),
    );
    malformed(gt_req("push", b"[1, 2".to_vec(), SECRET).send(&gitea()));
    assert!(matches!(
        gt_req("push", body, OLD_SECRET).send(&gitea()),
        Ok(Verdict::Events { .. })
    ));
    assert!(
        new_error(Gitea::new(&settings(&[], None)))
            .contains("hooks.gitea needs at least one secret")
    );
}

// -------------------------------------------------------------- Bitbucket

const BB_REQUEST: &str = "6d4d5e3c-2b1a-4f0e-9d8c-7b6a5f4e3d2c";

fn bitbucket() -> Bitbucket {
    Bitbucket::new(&settings(&[SECRET, OLD_SECRET], None)).unwrap()
}

fn bb_req(event: &str, body: Vec<u8>, secret: &str) -> Req {
    let sig = format!("sha256={}", hmac256_hex(secret, &body));
    Req::new(body)
        .header("X-Event-Key", event)
        .header("X-Hook-UUID", "0b9f8e7d-6c5b-4a39-8271-605f4e3d2c1b")
        .header("X-Request-UUID", BB_REQUEST)
        .header("X-Attempt-Number", "1")
        .header("X-Hub-Signature", sig)
}

fn bb(event: &str, file: &str) -> Result<Verdict, HookError> {
    bb_req(event, fixture("bitbucket", file), SECRET).send(&bitbucket())
}

#[test]
fn bitbucket_events() {
    assert_eq!(
        bb("repo:push", "repo-push.json"),
        events(
            BB_REQUEST,
            vec![
                push_event(
                    "acme/env",
                    "main",
                    "1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
                ),
                push_event(
                    "acme/env",
                    "imagebump/web",
                    "7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a"
                ),
            ]
        )
    );
    assert_eq!(
        bb("pullrequest:fulfilled", "pullrequest-fulfilled.json"),
        events(
            BB_REQUEST,
            vec![Event::ChangeRequestUpdated(ChangeRequestUpdated {
                repo: "acme/env".into(),
                number: 12,
                state: "merged".into(),
                head: "imagebump/web".into(),
                author: "jdoe".into(),
            })]
        )
    );
    assert_eq!(
        bb(
            "repo:commit_status_updated",
            "repo-commit_status_updated.json"
        ),
        events(
            BB_REQUEST,
            vec![Event::ChecksCompleted(ChecksCompleted {
                repo: "acme/env".into(),
                sha: "7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a".into(),
                conclusion: "success".into(),
            })]
        )
    );
    assert_eq!(
        bb(
            "pullrequest:comment_created",
            "pullrequest-comment_created.json"
        ),
        events(
            BB_REQUEST,
            vec![Event::Command(Command {
                repo: "acme/env".into(),
                number: 12,
                user: "jdoe".into(),
                text: "/imagebump rebase".into(),
            })]
        )
    );
    assert_eq!(
        bb("diagnostics:ping", "diagnostics-ping.json"),
        Ok(Verdict::Ignored("ping".into()))
    );
}

#[test]
fn bitbucket_rejections() {
    let body = fixture("bitbucket", "repo-push.json");
    assert_eq!(
        bb_req("repo:push", body.clone(), "wrong").send(&bitbucket()),
        Err(HookError::Unauthorized("signature mismatch".into()))
    );
    assert_eq!(
        Req::new(body.clone())
            .header("X-Event-Key", "repo:push")
            .send(&bitbucket()),
        Err(HookError::Unauthorized("missing X-Hub-Signature".into()))
    );
    unauthorized(
        bb_req("repo:push", body.clone(), SECRET)
            .tamper()
            .send(&bitbucket()),
    );
    // A SHA-1 signature under the same header is not accepted.
    unauthorized(
        Req::new(body.clone())
            .header("X-Event-Key", "repo:push")
            .header(
                "X-Hub-Signature",
                format!("sha1={}", hmac1_hex(SECRET, &body)),
            )
            .send(&bitbucket()),
    );
    unsupported(
        bb_req("repo:push", body.clone(), SECRET)
            .content_type(Some("text/plain"))
            .send(&bitbucket()),
    );
    malformed(bb_req("repo:push", b"{".to_vec(), SECRET).send(&bitbucket()));
    assert!(matches!(
        bb_req("repo:push", body, OLD_SECRET).send(&bitbucket()),
        Ok(Verdict::Events { .. })
    ));
    assert!(
        new_error(Bitbucket::new(&settings(&[], None)))
            .contains("hooks.bitbucket needs at least one secret")
    );
}

// ---------------------------------------------------------------- generic

const MSG_ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";

fn generic() -> Generic {
    Generic::new(&settings(&[WHSEC], None)).unwrap()
}

fn gen_req(body: Vec<u8>, sig: String, ts: u64) -> Req {
    Req::new(body)
        .header("webhook-id", MSG_ID)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
}

fn gen_signed(file: &str, whsec: &str, ts: u64) -> Req {
    let body = fixture("generic", file);
    let sig = standard_sig(whsec, MSG_ID, ts, &body);
    gen_req(body, sig, ts)
}

#[test]
fn generic_events() {
    assert_eq!(
        gen_signed("image-pushed.json", WHSEC, NOW).send(&generic()),
        events(
            MSG_ID,
            vec![Event::ImagePushed(ImagePushed {
                registry: "registry.example.com:5000".into(),
                repository: "acme/web".into(),
                tag: Some("1.4.3".into()),
                digest: Some(GH_DIGEST.into()),
            })]
        )
    );
    assert_eq!(
        gen_signed("repo-pushed.json", WHSEC, NOW).send(&generic()),
        events(MSG_ID, vec![push_event("acme/env", "main", GH_SHA)])
    );
    ignored(gen_signed("unknown-type.json", WHSEC, NOW).send(&generic()));
}

#[test]
fn generic_signature_checks() {
    let source = generic();
    assert_eq!(
        gen_signed("image-pushed.json", OLD_WHSEC, NOW).send(&source),
        Err(HookError::Unauthorized("signature mismatch".into()))
    );
    unauthorized(
        gen_signed("image-pushed.json", WHSEC, NOW)
            .tamper()
            .send(&source),
    );
    let body = fixture("generic", "image-pushed.json");
    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut req = gen_signed("image-pushed.json", WHSEC, NOW);
        req.headers.retain(|(k, _)| k != missing);
        assert_eq!(
            req.send(&source),
            Err(HookError::Unauthorized(format!("missing {missing}")))
        );
    }
    unauthorized(gen_req(body.clone(), "v1,".into(), NOW).send(&source));
    unauthorized(gen_req(body.clone(), "v1,garbage!!".into(), NOW).send(&source));
    unauthorized(gen_req(body.clone(), "v2,abcd".into(), NOW).send(&source));
    // Several signatures: any may match.
    let good = standard_sig(WHSEC, MSG_ID, NOW, &body);
    let other = standard_sig(OLD_WHSEC, MSG_ID, NOW, &body);
    assert!(matches!(
        gen_req(body, format!("{other} v1a,xyz {good}"), NOW).send(&source),
        Ok(Verdict::Events { .. })
    ));
}

#[test]
fn generic_timestamps() {
    let source = generic();
    assert_eq!(
        gen_signed("image-pushed.json", WHSEC, NOW - 301).send(&source),
        Err(HookError::Unauthorized("timestamp too old".into()))
    );
    assert_eq!(
        gen_signed("image-pushed.json", WHSEC, NOW + 301).send(&source),
        Err(HookError::Unauthorized("timestamp in the future".into()))
    );
    for ts in [NOW - 300, NOW + 300] {
        assert!(matches!(
            gen_signed("image-pushed.json", WHSEC, ts).send(&source),
            Ok(Verdict::Events { .. })
        ));
    }
    // Timestamps past what a clock can hold are refused before the
    // signature is looked at, never an overflow (2^63 .. 2^64-1 panicked).
    for ts in [1u64 << 63, (1u64 << 63) + 1, u64::MAX - 1, u64::MAX] {
        let body = fixture("generic", "image-pushed.json");
        assert_eq!(
            gen_req(body, "v1,AAAA".into(), ts).send(&source),
            Err(HookError::Unauthorized("timestamp in the future".into())),
            "{ts}"
        );
    }
    let body = fixture("generic", "image-pushed.json");
    let sig = standard_sig(WHSEC, MSG_ID, NOW, &body);
    let mut req = gen_req(body, sig, NOW);
    req.headers.retain(|(k, _)| k != "webhook-timestamp");
    req.headers
        .push(("webhook-timestamp".into(), "yesterday".into()));
    unauthorized(req.send(&source));
}

#[test]
fn generic_rotation_content_type_and_malformed() {
    let source = Generic::new(&settings(&[WHSEC, OLD_WHSEC], None)).unwrap();
    for whsec in [WHSEC, OLD_WHSEC] {
        assert!(matches!(
            gen_signed("image-pushed.json", whsec, NOW).send(&source),
            Ok(Verdict::Events { .. })
        ));
    }
    unsupported(
        gen_signed("image-pushed.json", WHSEC, NOW)
            .content_type(Some("text/plain"))
            .send(&source),
    );
    let body = b"{\"type\": \"image.pushed\"".to_vec();
    let sig = standard_sig(WHSEC, MSG_ID, NOW, &body);
    malformed(gen_req(body, sig, NOW).send(&source));
    let body =
        b"{\"type\": \"image.pushed\", \"data\": {\"registry\": \"r\", \"repository\": \"a/b\"}}"
            .to_vec();
    let sig = standard_sig(WHSEC, MSG_ID, NOW, &body);
    malformed(gen_req(body, sig, NOW).send(&source));
}

#[test]
fn generic_settings_and_path_token() {
    assert!(
        new_error(Generic::new(&settings(&[], None)))
            .contains("hooks.generic needs at least one secret")
    );
    assert!(new_error(Generic::new(&settings(&[""], None))).contains("empty secret"));
    assert!(new_error(Generic::new(&settings(&["whsec_not base64!"], None))).contains("whsec_"));
    let mut s = settings(&[WHSEC], None);
    s.path_token = Some(Secret::new("p4th".into()));
    let source = Generic::new(&s).unwrap();
    unauthorized(gen_signed("image-pushed.json", WHSEC, NOW).send(&source));
    unauthorized(
        gen_signed("image-pushed.json", WHSEC, NOW)
            .path_token("p4tH")
            .send(&source),
    );
    assert!(matches!(
        gen_signed("image-pushed.json", WHSEC, NOW)
            .path_token("p4th")
            .send(&source),
        Ok(Verdict::Events { .. })
    ));
}
