//! Every webhook source of `server::hooks::SOURCES`: verify, then parse,
//! on raw headers and bytes, through `Source::handle` (the framework-free
//! entry point the HTTP layer calls).
//!
//! Input: byte 0 holds flags, byte 1 picks the source (modulo the table),
//! then a header block (`name: value` lines; `:path-token: x` is the
//! `/hooks/{source}/{token}` token), an empty line, and the body.
//!
//! - Flag bit 0 clear, "signed": the harness signs the fuzzed body the way
//!   the platform does, with the secret it configured the source with, and
//!   gives the right path token, so the fuzzer reaches the parsers. Bit 1
//!   chooses a platform's other scheme (GitHub's SHA-1 header, GitLab's
//!   signing token, a bare `Authorization` secret, Artifactory's HMAC).
//! - Bit 0 set, "raw": the headers go in as fuzzed. A request that is
//!   accepted must then carry the credential (the secret, the path token,
//!   or a signature of this very body): nothing is accepted unsigned.
//!
//! For every accepted request: the delivery id is not empty, and every
//! event survives the JSON round trip the store makes.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use imagebump::config::{HookSettings, Secret};
use imagebump::event::Event;
use imagebump::server::hooks::{Incoming, SOURCES, Source, Verdict};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

/// The shared secret of every source that has one.
const SECRET: &str = "fuzz-secret-5d1f";
/// The Standard Webhooks signing secret (the spec's test key).
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The path token of the sources that cannot sign.
const TOKEN: &str = "fuzz-p4th-t0ken";
/// The gar source's audience and key id.
const AUDIENCE: &str = "https://imagebump.example.com/hooks/gar";
const KID: &str = "fuzz-kid";
/// The request time: fixed, so that a run is reproducible.
const NOW: u64 = 1_800_000_000;

/// How a source authenticates, for signing and for the raw-mode check.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// `sha256=<hex>` in `x-hub-signature-256` (alt: SHA-1 in
    /// `x-hub-signature`).
    GitHub,
    /// `x-gitlab-token` (alt: Standard Webhooks).
    GitLab,
    /// Hex HMAC-SHA256 in `x-gitea-signature`.
    Gitea,
    /// `sha256=<hex>` in `x-hub-signature`.
    Bitbucket,
    /// Standard Webhooks.
    Standard,
    /// `Authorization: Bearer <secret>` (alt: the bare secret).
    Authorization,
    /// The secret (alt: hex HMAC-SHA256) in `x-jfrog-event-auth`.
    Artifactory,
    /// Hex HMAC-SHA1 in `x-nexus-webhook-signature`.
    Nexus,
    /// A Google OIDC token.
    Oidc,
    /// Only the path token.
    PathToken,
}

struct Case {
    source: Arc<dyn Source>,
    auth: Auth,
    /// The source was configured with [`TOKEN`] as its path token.
    path_token: bool,
}

fn secrets(list: &[&str]) -> HookSettings {
    HookSettings {
        secrets: list.iter().map(|s| Secret::new((*s).into())).collect(),
        ..HookSettings::default()
    }
}

fn token_only() -> HookSettings {
    HookSettings {
        path_token: Some(Secret::new(TOKEN.into())),
        ..HookSettings::default()
    }
}

/// A throwaway RSA key (the openssl CLI, as the tests make theirs), the
/// JWKS file of its public half, and a token under it for `gar`.
struct Gar {
    settings: HookSettings,
    token: String,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("the gar case needs the openssl CLI");
    assert!(out.status.success(), "openssl {args:?} failed");
    out.stdout
}

fn gar() -> Gar {
    let dir = std::env::temp_dir().join(format!("imagebump-fuzz-gar-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = TempDir(dir);
    let key = dir.0.join("key.pem");
    let key_arg = key.to_str().unwrap();
    openssl(&["genrsa", "-out", key_arg, "2048"]);
    let modulus =
        String::from_utf8(openssl(&["rsa", "-noout", "-modulus", "-in", key_arg])).unwrap();
    let n = hex::decode(modulus.trim().trim_start_matches("Modulus=")).unwrap();
    let jwks = serde_json::json!({"keys": [
        {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": KID, "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB"}
    ]});
    let jwks_path = dir.0.join("jwks.json");
    std::fs::write(&jwks_path, jwks.to_string()).unwrap();
    let pem = std::fs::read(&key).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(KID.into());
    let claims = serde_json::json!({
        "iss": "https://accounts.google.com", "aud": AUDIENCE,
        "iat": NOW, "exp": NOW + 3600,
        "email": "pubsub-push@acme-prod.iam.gserviceaccount.com", "email_verified": true,
    });
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
    )
    .unwrap();
    Gar {
        settings: HookSettings {
            audience: Some(AUDIENCE.into()),
            jwks_file: Some(jwks_path),
            ..HookSettings::default()
        },
        token,
        _dir: dir,
    }
}

struct World {
    cases: Vec<Case>,
    gar_token: String,
}

/// Every source of the table, configured; a source the harness does not
/// know stops it, so that a new one cannot go unfuzzed.
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let gar = gar();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut cases = Vec::new();
        for (name, build) in SOURCES {
            let (settings, auth) = match *name {
                "github" | "ghcr" => (
                    HookSettings {
                        allow_sha1: true,
                        ..secrets(&[SECRET])
                    },
                    Auth::GitHub,
                ),
                "gitlab" => (secrets(&[SECRET, WHSEC]), Auth::GitLab),
                "gitea" => (secrets(&[SECRET]), Auth::Gitea),
                "bitbucket" => (secrets(&[SECRET]), Auth::Bitbucket),
                "generic" => (secrets(&[WHSEC]), Auth::Standard),
                "distribution" | "harbor" => (secrets(&[SECRET]), Auth::Authorization),
                "artifactory" => (secrets(&[SECRET]), Auth::Artifactory),
                "nexus" => (secrets(&[SECRET]), Auth::Nexus),
                "gar" => (gar.settings.clone(), Auth::Oidc),
                "dockerhub" | "quay" | "acr" | "cdevents" => (token_only(), Auth::PathToken),
                other => panic!("the webhooks fuzz target does not know source {other}"),
            };
            let source = build(&settings).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            if let Some(g) = source.as_gar() {
                runtime.block_on(g.refresh_keys()).expect("gar keys load");
            }
            cases.push(Case {
                source,
                auth,
                path_token: settings.path_token.is_some(),
            });
        }
        World {
            cases,
            gar_token: gar.token,
        }
    })
}

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hmac1_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn whsec_key() -> Vec<u8> {
    BASE64.decode(WHSEC.trim_start_matches("whsec_")).unwrap()
}

/// The Standard Webhooks signature of a request with this id and time.
fn standard_sig(id: &str, ts: &str, body: &[u8]) -> String {
    let mac = hmac256(
        &whsec_key(),
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    BASE64.encode(mac)
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Replaces every `name` header with one `value`.
fn set(headers: &mut Vec<(String, String)>, name: &str, value: String) {
    headers.retain(|(k, _)| k != name);
    headers.push((name.to_string(), value));
}

fn remove(headers: &mut Vec<(String, String)>, names: &[&str]) {
    headers.retain(|(k, _)| !names.contains(&k.as_str()));
}

/// Signs `body` as the platform would, with the harness's secrets.
fn sign(auth: Auth, alt: bool, headers: &mut Vec<(String, String)>, body: &[u8], gar: &str) {
    let hex256 = || hex::encode(hmac256(SECRET.as_bytes(), &[body]));
    match auth {
        Auth::GitHub if alt => {
            remove(headers, &["x-hub-signature-256"]);
            let sig = format!("sha1={}", hmac1_hex(SECRET.as_bytes(), body));
            set(headers, "x-hub-signature", sig);
        }
        Auth::GitHub => set(
            headers,
            "x-hub-signature-256",
            format!("sha256={}", hex256()),
        ),
        Auth::GitLab if alt => standard(headers, body),
        Auth::GitLab => {
            remove(headers, &["webhook-signature"]);
            set(headers, "x-gitlab-token", SECRET.into());
        }
        Auth::Gitea => {
            remove(headers, &["x-forgejo-signature"]);
            set(headers, "x-gitea-signature", hex256());
        }
        Auth::Bitbucket => set(headers, "x-hub-signature", format!("sha256={}", hex256())),
        Auth::Standard => standard(headers, body),
        Auth::Authorization if alt => set(headers, "authorization", SECRET.into()),
        Auth::Authorization => set(headers, "authorization", format!("Bearer {SECRET}")),
        Auth::Artifactory if alt => set(headers, "x-jfrog-event-auth", hex256()),
        Auth::Artifactory => set(headers, "x-jfrog-event-auth", SECRET.into()),
        Auth::Nexus => set(
            headers,
            "x-nexus-webhook-signature",
            hmac1_hex(SECRET.as_bytes(), body),
        ),
        Auth::Oidc => set(headers, "authorization", format!("Bearer {gar}")),
        Auth::PathToken => {}
    }
}

/// Standard Webhooks headers for `body`, keeping a fuzzed `webhook-id`.
fn standard(headers: &mut Vec<(String, String)>, body: &[u8]) {
    let id = header(headers, "webhook-id")
        .unwrap_or("msg_fuzz")
        .to_string();
    let ts = NOW.to_string();
    let sig = format!("v1,{}", standard_sig(&id, &ts, body));
    set(headers, "webhook-id", id);
    set(headers, "webhook-timestamp", ts);
    set(headers, "webhook-signature", sig);
}

/// Whether a raw request carries its source's credential: the secret
/// itself, or a signature of this body under it.
fn carries_credential(case: &Case, headers: &[(String, String)], body: &[u8], gar: &str) -> bool {
    let any = |pred: &dyn Fn(&str) -> bool| headers.iter().any(|(_, v)| pred(v));
    let has_secret = any(&|v| v.contains(SECRET));
    let hex256 = hex::encode(hmac256(SECRET.as_bytes(), &[body]));
    let hex1 = hmac1_hex(SECRET.as_bytes(), body);
    let has_hex = |hex: &str| any(&|v| v.to_ascii_lowercase().contains(hex));
    // Any id/timestamp pair of the request may be the one that was checked.
    let has_standard = headers.iter().any(|(k, id)| {
        k == "webhook-id"
            && headers.iter().any(|(k, ts)| {
                k == "webhook-timestamp" && {
                    let sig = standard_sig(id, ts, body);
                    any(&|v| v.contains(&sig))
                }
            })
    });
    match case.auth {
        Auth::GitHub | Auth::Bitbucket => has_hex(&hex256) || has_hex(&hex1),
        Auth::GitLab => has_secret || has_standard,
        Auth::Gitea => has_hex(&hex256),
        Auth::Standard => has_standard,
        Auth::Authorization => has_secret,
        Auth::Artifactory => has_secret || has_hex(&hex256),
        Auth::Nexus => has_hex(&hex1),
        Auth::Oidc => any(&|v| v.contains(gar)),
        Auth::PathToken => true,
    }
}

/// `name: value` lines, names lowercased as the HTTP layer gives them.
fn parse_headers(block: &str) -> Vec<(String, String)> {
    block
        .lines()
        .filter_map(|line| {
            let (name, value) = line.strip_prefix(':').map_or_else(
                || line.split_once(':'),
                |rest| rest.split_once(':').map(|(n, v)| (&line[..n.len() + 1], v)),
            )?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect()
}

/// The content type without parameters, lowercased, as the server makes it.
fn content_type(headers: &[(String, String)]) -> Option<String> {
    header(headers, "content-type").map(|v| {
        v.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    })
}

fn check_accepted(verdict: &Verdict) {
    if let Verdict::Events { delivery, events } = verdict {
        assert!(!delivery.is_empty(), "an empty delivery id");
        for e in events {
            let json = serde_json::to_vec(e).expect("an event serialises");
            let back: Event = serde_json::from_slice(&json).expect("an event deserialises");
            assert_eq!(&back, e, "the JSON round trip changes the event");
            if let Event::ImagePushed(p) = e {
                let _ = p.image();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, pick, rest @ ..] = data else {
        return;
    };
    let world = world();
    let case = &world.cases[usize::from(*pick) % world.cases.len()];
    let raw = flags & 1 == 1;
    let alt = flags & 2 == 2;
    let (block, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &[][..]),
    };
    let mut headers = parse_headers(&String::from_utf8_lossy(block));
    let fuzzed_token = header(&headers, ":path-token").map(str::to_string);
    headers.retain(|(k, _)| !k.starts_with(':'));
    let path_token = if raw {
        fuzzed_token
    } else {
        sign(case.auth, alt, &mut headers, body, &world.gar_token);
        case.path_token.then(|| TOKEN.to_string())
    };
    let content_type = content_type(&headers);
    let req = Incoming {
        headers: &headers,
        body,
        path_token: path_token.as_deref(),
        content_type: content_type.as_deref(),
        now: UNIX_EPOCH + Duration::from_secs(NOW),
    };
    if let Ok(verdict) = case.source.handle(&req) {
        check_accepted(&verdict);
        if raw {
            if case.path_token {
                assert_eq!(
                    path_token.as_deref(),
                    Some(TOKEN),
                    "accepted without the path token"
                );
            }
            assert!(
                carries_credential(case, &headers, body, &world.gar_token),
                "{} accepted a request without its credential",
                case.source.name()
            );
        }
    }
});
