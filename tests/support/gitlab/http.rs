//! The HTTP side of the fake: one catch-all actix-web handler that records
//! the request, applies injected faults and delays, checks the token,
//! routes into the model and adds GitLab's rate-limit headers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::model::{Fault, Model, Reply};
use super::{RATE_LIMIT, TOKEN};

pub(super) async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    model: web::Data<Mutex<Model>>,
) -> HttpResponse {
    let method = req.method().as_str().to_string();
    let raw_path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let target = if query.is_empty() {
        raw_path.clone()
    } else {
        format!("{raw_path}?{query}")
    };
    let norm = normalized_path(&raw_path);
    let fault = {
        let mut m = model.lock().unwrap_or_else(|e| e.into_inner());
        m.requests.push((method.clone(), target.clone()));
        let fault = m.faults.iter_mut().find(|f| f.matches(&method, &norm));
        fault.map(|f| {
            f.remaining -= 1;
            f.clone()
        })
    };
    if let Some(delay) = fault.as_ref().and_then(|f| f.delay) {
        tokio::time::sleep(delay).await;
    }
    let reply = match fault {
        Some(f) if f.delay.is_none() => fault_reply(&f),
        _ => {
            let mut m = model.lock().unwrap_or_else(|e| e.into_inner());
            let token = req
                .headers()
                .get("private-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| {
                    req.headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .map(str::to_string)
                });
            if token.as_deref() != Some(TOKEN) {
                Reply::message(401, "401 Unauthorized")
            } else {
                let content_type = req
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let input = parse_body(&content_type, &body);
                let q = parse_query(&query);
                match m.route(&method, &raw_path, &q, &input) {
                    Ok(r) | Err(r) => r,
                }
            }
        }
    };
    let used = model.lock().map(|m| m.requests.len() as u64).unwrap_or(0);
    respond(reply, used)
}

pub(super) fn fault_reply(f: &Fault) -> Reply {
    let mut reply = match f.status {
        502..=504 => Reply::json(
            f.status,
            Value::String(format!(
                "<html><body><h1>{} {}</h1></body></html>",
                f.status,
                match f.status {
                    502 => "Bad Gateway",
                    503 => "Service Unavailable",
                    _ => "Gateway Time-out",
                }
            )),
        ),
        429 => Reply::message(429, "Retry later"),
        s => Reply::message(s, &format!("{s} Injected failure")),
    };
    if let Some(secs) = f.retry_after {
        reply.headers.push(("Retry-After".into(), secs.to_string()));
    }
    reply
}

/// `RateLimit-*` headers on every answer (doc/security/rate_limits.md "Headers").
pub(super) fn respond(reply: Reply, used: u64) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(reply.status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut rsp = HttpResponse::build(status);
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() + 60)
        .unwrap_or(0);
    rsp.insert_header(("RateLimit-Limit", RATE_LIMIT.to_string()))
        .insert_header(("RateLimit-Observed", used.to_string()))
        .insert_header((
            "RateLimit-Remaining",
            RATE_LIMIT.saturating_sub(used).to_string(),
        ))
        .insert_header(("RateLimit-Reset", reset.to_string()));
    for (k, v) in reply.headers {
        rsp.insert_header((k, v));
    }
    match reply.body {
        Value::String(text) => rsp.content_type("text/html").body(text),
        body => rsp.content_type("application/json").body(body.to_string()),
    }
}

/// The path after `/api/v4` with the project segment written `:id`.
pub(super) fn normalized_path(raw: &str) -> String {
    let rest = raw.strip_prefix("/api/v4").unwrap_or(raw);
    let segs: Vec<&str> = rest.split('/').collect();
    if segs.len() >= 3 && segs[1] == "projects" {
        let mut out: Vec<&str> = segs.clone();
        out[2] = ":id";
        return out.join("/");
    }
    rest.to_string()
}

pub(super) fn parse_query(query: &str) -> HashMap<String, String> {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .map(|q| q.into_inner().into_iter().collect())
        .unwrap_or_default()
}

/// A JSON body, or a form body as an object of strings.
pub(super) fn parse_body(content_type: &str, body: &[u8]) -> Value {
    if content_type.starts_with("application/x-www-form-urlencoded") {
        // Grape reads `key[]=a&key[]=b` as an array `key` (what the
        // `gitlab` crate sends for `reviewer_ids`).
        let text = String::from_utf8_lossy(body);
        let pairs = web::Query::<Vec<(String, String)>>::from_query(&text)
            .map(|q| q.into_inner())
            .unwrap_or_default();
        let mut out = serde_json::Map::new();
        for (k, v) in pairs {
            // `actions[][field]=…`: an array of objects; a field already
            // set in the last object starts the next one.
            if let Some((name, field)) = k.strip_suffix(']').and_then(|k| k.split_once("[][")) {
                let entry = out
                    .entry(name.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = entry {
                    if items.last().is_none_or(|o| o.get(field).is_some()) {
                        items.push(Value::Object(serde_json::Map::new()));
                    }
                    if let Some(Value::Object(o)) = items.last_mut() {
                        o.insert(field.to_string(), Value::String(v));
                    }
                }
                continue;
            }
            match k.strip_suffix("[]") {
                Some(name) => {
                    let entry = out
                        .entry(name.to_string())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(items) = entry {
                        items.push(Value::String(v));
                    }
                }
                None => {
                    out.insert(k, Value::String(v));
                }
            }
        }
        return Value::Object(out);
    }
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(super) fn text(input: &Value, key: &str) -> Option<String> {
    match input.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

pub(super) fn flag(input: &Value, key: &str) -> bool {
    match input.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

pub(super) fn list(input: &Value, key: &str) -> Vec<String> {
    match input.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}
