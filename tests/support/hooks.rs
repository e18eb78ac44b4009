//! What webhook tests send: the payload fixtures under
//! `tests/data/hooks/<source>/`, source settings, the signatures the
//! platforms compute (hex HMACs, Standard Webhooks `v1,<base64>`), and a
//! throwaway RSA key with its JWKS for Google Pub/Sub OIDC tokens (`gar`).
//! Everything is computed here, from secrets the tests choose.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use imagebump::config::{HookSettings, Secret};
use sha2::{Digest as _, Sha256};

/// A Standard Webhooks signing secret (32 bytes, base64): the spec's test
/// key.
pub const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The signing secret before a rotation.
pub const OLD_WHSEC: &str = "whsec_c2VjcmV0LWJlZm9yZS10aGUtcm90YXRpb24hIQ==";

/// The bytes of `tests/data/hooks/<source>/<name>`.
pub fn fixture(source: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hooks")
        .join(source)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Settings with these secrets and, optionally, a path token.
pub fn settings(secrets: &[&str], path_token: Option<&str>) -> HookSettings {
    HookSettings {
        secrets: secrets.iter().map(|s| Secret::new((*s).into())).collect(),
        path_token: path_token.map(|t| Secret::new(t.into())),
        ..HookSettings::default()
    }
}

/// HMAC-SHA256 of the concatenated `parts`.
pub fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase hex HMAC-SHA256 of `body` under the secret's UTF-8 bytes.
pub fn hmac256_hex(secret: &str, body: &[u8]) -> String {
    hex::encode(hmac256(secret.as_bytes(), &[body]))
}

/// Lowercase hex HMAC-SHA1 of `body` under the secret's UTF-8 bytes.
pub fn hmac1_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A Standard Webhooks `webhook-signature` entry (`v1,<base64>`) for a
/// `whsec_` secret.
pub fn standard_sig(whsec: &str, id: &str, ts: u64, body: &[u8]) -> String {
    let key = BASE64.decode(whsec.trim_start_matches("whsec_")).unwrap();
    let ts = ts.to_string();
    let mac = hmac256(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!("v1,{}", BASE64.encode(mac))
}

/// A GitHub `push` event body for the branch `main` of `repo`
/// (`owner/name`).
pub fn github_push_body(repo: &str) -> Vec<u8> {
    serde_json::json!({
        "ref": "refs/heads/main", "before": "0".repeat(40), "after": "a".repeat(40),
        "repository": {"full_name": repo, "name": "env", "owner": {"login": "acme"}},
        "sender": {"login": "ops"}, "commits": [], "head_commit": null
    })
    .to_string()
    .into_bytes()
}

/// The headers GitHub sends with a `push` event `body`, signed with
/// `secret` (`X-Hub-Signature-256`), as delivery `delivery`.
pub fn github_push_headers(
    secret: &str,
    body: &[u8],
    delivery: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        ("x-github-event", "push".into()),
        ("x-github-delivery", delivery.into()),
        (
            "x-hub-signature-256",
            format!("sha256={}", hmac256_hex(secret, body)),
        ),
    ]
}

/// A CNCF Distribution notification envelope, as the registry at `host`
/// sends it: one manifest push of `repo` per `(tag, digest, event id)`.
pub fn distribution_pushes(host: &str, repo: &str, pushes: &[(&str, &str, &str)]) -> String {
    let events: Vec<serde_json::Value> = pushes
        .iter()
        .map(|(tag, digest, id)| {
            serde_json::json!({
                "id": id,
                "timestamp": "2026-11-22T06:00:00Z",
                "action": "push",
                "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 400,
                           "digest": digest, "length": 400, "repository": repo,
                           "url": format!("http://{host}/v2/{repo}/manifests/{digest}"), "tag": tag},
                "request": {"id": "r1", "addr": "127.0.0.1:5555", "host": host, "method": "PUT",
                            "useragent": "test"},
                "actor": {}, "source": {"addr": "localhost:5000", "instanceID": "i1"}
            })
        })
        .collect();
    serde_json::json!({ "events": events }).to_string()
}

/// `sha256:<hex>`: the delivery id of a source whose requests carry none.
pub fn body_digest(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ------------------------------------------------ gar (Pub/Sub OIDC tokens)

/// The `aud` the gar source is configured with.
pub const GAR_AUDIENCE: &str = "https://imagebump.example.com/hooks/gar";
/// The `kid` of the key in the JWKS.
pub const GAR_KID: &str = "test-kid-1";

/// A throwaway RSA key made with the openssl CLI and its JWKS on disk,
/// plus a second key the JWKS does not hold.
pub struct GarKeys {
    dir: tempfile::TempDir,
    pub pem: Vec<u8>,
    pub other_pem: Vec<u8>,
    /// The JWK modulus (`n`) of [`GarKeys::other_pem`], to rotate to it.
    pub other_n: String,
}

/// The keys, made once per test process.
pub fn gar_keys() -> &'static GarKeys {
    static KEYS: OnceLock<GarKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let gen_key = |name: &str| -> (Vec<u8>, String) {
            let path = dir.path().join(name);
            let ok = std::process::Command::new("openssl")
                .args(["genrsa", "-out"])
                .arg(&path)
                .arg("2048")
                .output()
                .unwrap();
            assert!(ok.status.success(), "openssl genrsa failed");
            let out = std::process::Command::new("openssl")
                .args(["rsa", "-noout", "-modulus", "-in"])
                .arg(&path)
                .output()
                .unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            let modulus = hex::decode(text.trim().trim_start_matches("Modulus=")).unwrap();
            (
                std::fs::read(&path).unwrap(),
                URL_SAFE_NO_PAD.encode(modulus),
            )
        };
        let (pem, n) = gen_key("key.pem");
        let (other_pem, other_n) = gen_key("other.pem");
        let jwks = serde_json::json!({"keys": [
            {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": GAR_KID, "n": n, "e": "AQAB"}
        ]});
        std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).unwrap();
        GarKeys {
            dir,
            pem,
            other_pem,
            other_n,
        }
    })
}

/// The JWKS file holding [`GarKeys::pem`]'s public key.
pub fn gar_jwks_path() -> PathBuf {
    gar_keys().dir.path().join("jwks.json")
}

/// Settings of a gar source that trusts [`gar_jwks_path`] for
/// [`GAR_AUDIENCE`].
pub fn gar_settings() -> HookSettings {
    HookSettings {
        audience: Some(GAR_AUDIENCE.into()),
        jwks_file: Some(gar_jwks_path()),
        ..HookSettings::default()
    }
}

/// An RS256 JWT of `claims` under `pem`, naming `kid`.
pub fn jwt(claims: serde_json::Value, kid: &str, pem: &[u8]) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_string());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// The claims of a Pub/Sub push token.
pub fn google_claims(iss: &str, aud: &str, iat: i64, exp: i64) -> serde_json::Value {
    serde_json::json!({
        "iss": iss, "aud": aud, "iat": iat, "exp": exp,
        "azp": "112233445566778899000", "sub": "112233445566778899000",
        "email": "pubsub-push@acme-prod.iam.gserviceaccount.com", "email_verified": true,
    })
}

/// A token the gar source accepts: issued now, valid for an hour.
pub fn good_token() -> String {
    let now = unix_now();
    jwt(
        google_claims("https://accounts.google.com", GAR_AUDIENCE, now, now + 3600),
        GAR_KID,
        &gar_keys().pem,
    )
}

/// A Pub/Sub push body whose `message.data` is the gar fixture
/// `data_fixture`.
pub fn pubsub_push(data_fixture: &str, message_id: &str) -> Vec<u8> {
    let data = BASE64.encode(fixture("gar", data_fixture));
    serde_json::json!({
        "message": {
            "data": data,
            "attributes": {},
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": "2026-11-20T14:23:08.123Z",
            "publish_time": "2026-11-20T14:23:08.123Z",
        },
        "subscription": "projects/acme-prod/subscriptions/imagebump-gcr",
    })
    .to_string()
    .into_bytes()
}
