//! A fake GitLab: an in-process model of one project (merge requests,
//! notes, issues, users, pipelines, commit statuses) behind a real HTTP
//! server (actix-web on 127.0.0.1), answering the REST v4 endpoints the bot
//! calls the way GitLab's documentation describes them: status codes, error
//! bodies (`message` as string or array), pagination headers, rate-limit
//! headers.
//!
//! The project's Git content is a real bare repository on disk: the bot
//! pushes to it with `git`, the fake reads branch heads with the `git` CLI
//! (an MR's `sha` is always the live head of its source branch) and merges
//! by writing a real squash commit onto the target branch.
//!
//! Start it with [`FakeGitLab::start`], point `GitLab::new(fake.url(),
//! "group/env", &fake.token())` at it, and steer it with the control
//! methods (`set_pipeline`, `merge_as_human`, `fail_next`, …). Control
//! methods are synchronous and may be called from async tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// The token the fake accepts (`PRIVATE-TOKEN` or `Authorization: Bearer`).
pub const TOKEN: &str = "glpat-fake-0123456789abcdef";
/// The bot user answering `GET /api/v4/user`.
pub const BOT_USER: &str = "imagebump-bot";
/// The project's numeric id (usable instead of the URL-encoded path).
pub const PROJECT_ID: u64 = 42;
/// `RateLimit-Limit` sent on every answer.
const RATE_LIMIT: u64 = 2000;

/// A merge request as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeMr {
    pub id: u64,
    pub iid: u64,
    pub project_id: u64,
    pub title: String,
    pub description: String,
    pub source_branch: String,
    pub target_branch: String,
    /// `opened`, `closed` or `merged`.
    pub state: String,
    pub created_at: String,
    pub updated_at: String,
    pub merged_at: Option<String>,
    pub closed_at: Option<String>,
    pub labels: Vec<String>,
    /// Usernames.
    pub reviewers: Vec<String>,
    /// Head of the source branch (live while open; last seen once gone).
    pub sha: String,
    /// `merge_when_pipeline_succeeds` / `auto_merge` was requested.
    pub auto_merge: bool,
    pub squash: bool,
    pub remove_source_branch: bool,
    pub merge_commit_sha: Option<String>,
    pub web_url: String,
}

#[derive(Clone, Debug)]
struct Note {
    id: u64,
    body: String,
    system: bool,
    author: u64,
    created_at: String,
}

#[derive(Clone, Debug)]
struct Issue {
    id: u64,
    iid: u64,
    title: String,
    description: String,
    state: String,
    created_at: String,
    notes: Vec<Note>,
}

#[derive(Clone, Debug)]
struct Pipeline {
    id: u64,
    sha: String,
    git_ref: String,
    status: String,
    created_at: String,
}

#[derive(Clone, Debug)]
struct CommitStatus {
    id: u64,
    sha: String,
    name: String,
    status: String,
}

#[derive(Clone, Debug)]
struct User {
    id: u64,
    username: String,
}

/// An injected answer or delay for the next `count` matching requests.
#[derive(Clone, Debug)]
struct Fault {
    method: String,
    prefix: String,
    remaining: usize,
    status: u16,
    retry_after: Option<u64>,
    delay: Option<Duration>,
}

impl Fault {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.remaining > 0
            && (self.method == "*" || self.method.eq_ignore_ascii_case(method))
            && path.starts_with(&self.prefix)
    }
}

/// An answer: status, JSON (or text) body, extra headers.
struct Reply {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body,
            headers: Vec::new(),
        }
    }

    fn message(status: u16, message: &str) -> Reply {
        Reply::json(status, json!({ "message": message }))
    }
}

type Answer = Result<Reply, Reply>;

struct Model {
    url: String,
    project_path: String,
    bare: PathBuf,
    users: Vec<User>,
    mrs: Vec<FakeMr>,
    mr_notes: HashMap<u64, Vec<Note>>,
    issues: Vec<Issue>,
    pipelines: Vec<Pipeline>,
    statuses: Vec<CommitStatus>,
    faults: Vec<Fault>,
    max_per_page: usize,
    requests: Vec<(String, String)>,
    clock: u64,
    next_id: u64,
}

/// The fake server; stops when dropped.
pub struct FakeGitLab {
    url: String,
    model: Arc<Mutex<Model>>,
    handle: ServerHandle,
}

impl FakeGitLab {
    /// Serves project `project_path` (e.g. `group/env`) whose repository is
    /// the bare repository `bare_repo`, on a free port of 127.0.0.1. Call
    /// inside a tokio runtime.
    pub async fn start(project_path: &str, bare_repo: &Path) -> FakeGitLab {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let url = format!("http://127.0.0.1:{port}");
        let users = [(1, BOT_USER), (2, "alice"), (3, "bob")]
            .into_iter()
            .map(|(id, name)| User {
                id,
                username: name.to_string(),
            })
            .collect();
        let model = Arc::new(Mutex::new(Model {
            url: url.clone(),
            project_path: project_path.to_string(),
            bare: bare_repo.to_path_buf(),
            users,
            mrs: Vec::new(),
            mr_notes: HashMap::new(),
            issues: Vec::new(),
            pipelines: Vec::new(),
            statuses: Vec::new(),
            faults: Vec::new(),
            max_per_page: 100,
            requests: Vec::new(),
            clock: 0,
            next_id: 100,
        }));
        let data = web::Data::from(model.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeGitLab { url, model, handle }
    }

    fn lock(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `http://127.0.0.1:PORT` (the instance URL, without `/api/v4`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn token(&self) -> String {
        TOKEN.to_string()
    }

    /// Every MR, by iid, with live head SHAs.
    pub fn mrs(&self) -> Vec<FakeMr> {
        let mut m = self.lock();
        m.refresh_shas();
        m.mrs.clone()
    }

    /// The newest MR of `branch` (any state).
    pub fn mr_by_branch(&self, branch: &str) -> Option<FakeMr> {
        self.mrs()
            .into_iter()
            .rev()
            .find(|mr| mr.source_branch == branch)
    }

    /// Bodies of the MR's non-system notes, oldest first.
    pub fn notes(&self, iid: u64) -> Vec<String> {
        let m = self.lock();
        m.mr_notes
            .get(&iid)
            .map(|notes| {
                notes
                    .iter()
                    .filter(|n| !n.system)
                    .map(|n| n.body.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Bodies of the MR's system notes ("closed", "merged", …).
    pub fn system_notes(&self, iid: u64) -> Vec<String> {
        let m = self.lock();
        m.mr_notes
            .get(&iid)
            .map(|notes| {
                notes
                    .iter()
                    .filter(|n| n.system)
                    .map(|n| n.body.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sets the status of the latest pipeline of `sha` (creating one if it
    /// has none): `created`, `pending`, `running`, `success`, `failed`,
    /// `canceled`, … On `success`, open MRs with auto-merge whose head is
    /// `sha` are merged, as GitLab does.
    pub fn set_pipeline(&self, sha: &str, status: &str) {
        let mut m = self.lock();
        m.set_pipeline(sha, status);
    }

    /// Adds a commit status (external CI) `name` = `status` on `sha`.
    pub fn set_commit_status(&self, sha: &str, name: &str, status: &str) {
        let mut m = self.lock();
        let id = m.id();
        m.statuses.retain(|s| !(s.sha == sha && s.name == name));
        m.statuses.push(CommitStatus {
            id,
            sha: sha.to_string(),
            name: name.to_string(),
            status: status.to_string(),
        });
    }

    /// A maintainer presses "Merge" (no SHA check). Panics if GitLab would
    /// refuse (not open, conflicts).
    pub fn merge_as_human(&self, iid: u64) {
        let mut m = self.lock();
        if let Err(e) = m.merge(iid, None, 2) {
            panic!("merge_as_human(!{iid}) failed: {} {}", e.status, e.body);
        }
    }

    /// A maintainer closes the MR without merging.
    pub fn close_as_human(&self, iid: u64) {
        let mut m = self.lock();
        let now = m.now();
        let Some(mr) = m.mrs.iter_mut().find(|mr| mr.iid == iid) else {
            panic!("close_as_human: no MR !{iid}");
        };
        mr.state = "closed".into();
        mr.closed_at = Some(now.clone());
        mr.updated_at = now;
        m.system_note(iid, "closed", 2);
    }

    /// The next `count` requests with `method` (`"*"` for any) whose path
    /// starts with `path_prefix` are answered with `status`. The path is
    /// the part after `/api/v4`, with the project written `:id`:
    /// `fail_next("POST", "/projects/:id/merge_requests", 502, 1)`. 429
    /// carries `Retry-After: 1`; 502/503 have an HTML body like a proxy's.
    pub fn fail_next(&self, method: &str, path_prefix: &str, status: u16, count: usize) {
        let retry_after = (status == 429).then_some(1);
        self.push_fault(method, path_prefix, status, count, retry_after, None);
    }

    /// The next matching request gets 429 with `Retry-After: secs`.
    pub fn rate_limit_next(&self, method: &str, path_prefix: &str, secs: u64) {
        self.push_fault(method, path_prefix, 429, 1, Some(secs), None);
    }

    /// The next `count` matching requests are answered normally after
    /// `delay` (same path rules as [`FakeGitLab::fail_next`]).
    pub fn delay_next(&self, method: &str, path_prefix: &str, delay: Duration, count: usize) {
        self.push_fault(method, path_prefix, 0, count, None, Some(delay));
    }

    fn push_fault(
        &self,
        method: &str,
        prefix: &str,
        status: u16,
        count: usize,
        retry_after: Option<u64>,
        delay: Option<Duration>,
    ) {
        self.lock().faults.push(Fault {
            method: method.to_string(),
            prefix: prefix.to_string(),
            remaining: count,
            status,
            retry_after,
            delay,
        });
    }

    /// Caps `per_page` (GitLab's is 100), to test pagination with few items.
    pub fn set_max_per_page(&self, n: usize) {
        self.lock().max_per_page = n.max(1);
    }

    /// Requests other than GET/HEAD received so far (including failed ones).
    pub fn write_calls(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|(method, _)| method != "GET" && method != "HEAD")
            .count()
    }

    /// Every request as (method, path and query), in order.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.lock().requests.clone()
    }

    /// Issues as (title, note bodies), by iid.
    pub fn issues(&self) -> Vec<(String, Vec<String>)> {
        self.lock()
            .issues
            .iter()
            .map(|i| {
                (
                    i.title.clone(),
                    i.notes.iter().map(|n| n.body.clone()).collect(),
                )
            })
            .collect()
    }
}

impl Drop for FakeGitLab {
    fn drop(&mut self) {
        // Sends the stop command now; the returned future only waits.
        drop(self.handle.stop(false));
    }
}

// ---------------------------------------------------------------- HTTP --

async fn handle(
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

fn fault_reply(f: &Fault) -> Reply {
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

fn respond(reply: Reply, used: u64) -> HttpResponse {
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
fn normalized_path(raw: &str) -> String {
    let rest = raw.strip_prefix("/api/v4").unwrap_or(raw);
    let segs: Vec<&str> = rest.split('/').collect();
    if segs.len() >= 3 && segs[1] == "projects" {
        let mut out: Vec<&str> = segs.clone();
        out[2] = ":id";
        return out.join("/");
    }
    rest.to_string()
}

fn parse_query(query: &str) -> HashMap<String, String> {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .map(|q| q.into_inner().into_iter().collect())
        .unwrap_or_default()
}

/// A JSON body, or a form body as an object of strings.
fn parse_body(content_type: &str, body: &[u8]) -> Value {
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let text = String::from_utf8_lossy(body);
        let pairs = parse_query(&text);
        return Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        );
    }
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

fn percent_decode(s: &str) -> String {
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

fn percent_encode(s: &str) -> String {
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

fn text(input: &Value, key: &str) -> Option<String> {
    match input.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn flag(input: &Value, key: &str) -> bool {
    match input.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

fn list(input: &Value, key: &str) -> Vec<String> {
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

// --------------------------------------------------------------- model --

impl Model {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fake clock: one second per event, from 2026-01-01T00:00:00Z.
    fn now(&mut self) -> String {
        self.clock += 1;
        let (h, m, s) = (self.clock / 3600, (self.clock / 60) % 60, self.clock % 60);
        format!("2026-01-01T{h:02}:{m:02}:{s:02}.000Z")
    }

    fn user_json(&self, id: u64) -> Value {
        let name = self
            .users
            .iter()
            .find(|u| u.id == id)
            .map_or("ghost", |u| u.username.as_str());
        json!({
            "id": id, "username": name, "name": name, "state": "active",
            "avatar_url": null, "web_url": format!("{}/{name}", self.url),
        })
    }

    fn refresh_shas(&mut self) {
        let bare = self.bare.clone();
        for mr in self.mrs.iter_mut().filter(|mr| mr.state == "opened") {
            if let Some(sha) = branch_sha(&bare, &mr.source_branch) {
                mr.sha = sha;
            }
        }
    }

    fn system_note(&mut self, iid: u64, body: &str, author: u64) {
        let note = Note {
            id: self.id(),
            body: body.to_string(),
            system: true,
            author,
            created_at: self.now(),
        };
        self.mr_notes.entry(iid).or_default().push(note);
    }

    fn route(
        &mut self,
        method: &str,
        raw_path: &str,
        q: &HashMap<String, String>,
        input: &Value,
    ) -> Answer {
        let not_found = || Reply::json(404, json!({ "error": "404 Not Found" }));
        let rest = raw_path.strip_prefix("/api/v4").ok_or_else(not_found)?;
        let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        match (method, segs.as_slice()) {
            ("GET", ["user"]) => Ok(Reply::json(200, self.user_json(1))),
            ("GET", ["users"]) => {
                let wanted = q.get("username").cloned().unwrap_or_default();
                let found: Vec<Value> = self
                    .users
                    .iter()
                    .filter(|u| wanted.is_empty() || u.username == wanted)
                    .map(|u| self.user_json(u.id))
                    .collect();
                Ok(Reply::json(200, Value::Array(found)))
            }
            (_, ["projects", id, rest @ ..]) => {
                self.check_project(id)?;
                self.route_project(method, rest, q, input, raw_path)
            }
            _ => Err(not_found()),
        }
    }

    fn check_project(&self, id: &str) -> Result<(), Reply> {
        let decoded = percent_decode(id);
        if decoded == PROJECT_ID.to_string() || decoded.eq_ignore_ascii_case(&self.project_path) {
            Ok(())
        } else {
            Err(Reply::message(404, "404 Project Not Found"))
        }
    }

    fn route_project(
        &mut self,
        method: &str,
        rest: &[&str],
        q: &HashMap<String, String>,
        input: &Value,
        raw_path: &str,
    ) -> Answer {
        let iid = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| Reply::message(404, "404 Not found"))
        };
        match (method, rest) {
            ("GET", []) => Ok(Reply::json(200, self.project_json())),
            ("GET", ["merge_requests"]) => Ok(self.list_mrs(q, raw_path)),
            ("POST", ["merge_requests"]) => self.create_mr(input),
            ("GET", ["merge_requests", n]) => {
                let n = iid(n)?;
                self.refresh_shas();
                Ok(Reply::json(200, self.mr_json(self.mr(n)?)))
            }
            ("PUT", ["merge_requests", n]) => self.update_mr(iid(n)?, input),
            ("PUT", ["merge_requests", n, "merge"]) => self.merge_endpoint(iid(n)?, input),
            ("GET", ["merge_requests", n, "notes"]) => {
                let n = iid(n)?;
                self.mr(n)?;
                let mut notes = self.mr_notes.get(&n).cloned().unwrap_or_default();
                if q.get("sort").map(String::as_str) != Some("asc") {
                    notes.reverse();
                }
                let items = notes
                    .iter()
                    .map(|x| self.note_json(x, n, "MergeRequest"))
                    .collect();
                Ok(self.paginate(items, q, raw_path))
            }
            ("POST", ["merge_requests", n, "notes"]) => {
                let n = iid(n)?;
                self.mr(n)?;
                let note = self.new_note(input)?;
                let json = self.note_json(&note, n, "MergeRequest");
                self.mr_notes.entry(n).or_default().push(note);
                Ok(Reply::json(201, json))
            }
            ("GET", ["pipelines"]) => {
                let mut found: Vec<&Pipeline> = self
                    .pipelines
                    .iter()
                    .filter(|p| q.get("sha").is_none_or(|s| *s == p.sha))
                    .filter(|p| q.get("ref").is_none_or(|r| *r == p.git_ref))
                    .filter(|p| q.get("status").is_none_or(|s| *s == p.status))
                    .collect();
                found.sort_by_key(|p| p.id);
                if q.get("sort").map(String::as_str) != Some("asc") {
                    found.reverse();
                }
                let items = found.iter().map(|p| self.pipeline_json(p)).collect();
                Ok(self.paginate(items, q, raw_path))
            }
            ("GET", ["repository", "commits", sha, "statuses"]) => {
                let items = self
                    .statuses
                    .iter()
                    .filter(|s| s.sha == *sha)
                    .map(|s| {
                        json!({
                            "id": s.id, "sha": s.sha, "ref": null, "status": s.status,
                            "name": s.name, "target_url": null, "description": null,
                            "allow_failure": false, "author": self.user_json(1),
                        })
                    })
                    .collect();
                Ok(self.paginate(items, q, raw_path))
            }
            ("GET", ["issues"]) => Ok(self.list_issues(q, raw_path)),
            ("POST", ["issues"]) => {
                let Some(title) = text(input, "title").filter(|t| !t.is_empty()) else {
                    return Err(Reply::json(400, json!({ "error": "title is missing" })));
                };
                let iid = self.issues.len() as u64 + 1;
                let issue = Issue {
                    id: self.id(),
                    iid,
                    title,
                    description: text(input, "description").unwrap_or_default(),
                    state: "opened".into(),
                    created_at: self.now(),
                    notes: Vec::new(),
                };
                let json = self.issue_json(&issue);
                self.issues.push(issue);
                Ok(Reply::json(201, json))
            }
            ("POST", ["issues", n, "notes"]) => {
                let n = iid(n)?;
                let note = self.new_note(input)?;
                let Some(pos) = self.issues.iter().position(|i| i.iid == n) else {
                    return Err(Reply::message(404, "404 Issue Not Found"));
                };
                let json = self.note_json(&note, n, "Issue");
                self.issues[pos].notes.push(note);
                Ok(Reply::json(201, json))
            }
            _ => Err(Reply::json(404, json!({ "error": "404 Not Found" }))),
        }
    }

    fn project_json(&self) -> Value {
        let name = self.project_path.rsplit('/').next().unwrap_or_default();
        json!({
            "id": PROJECT_ID, "name": name, "path": name,
            "path_with_namespace": self.project_path, "default_branch": "main",
            "web_url": format!("{}/{}", self.url, self.project_path),
            "http_url_to_repo": format!("{}/{}.git", self.url, self.project_path),
        })
    }

    fn mr(&self, iid: u64) -> Result<&FakeMr, Reply> {
        self.mrs
            .iter()
            .find(|mr| mr.iid == iid)
            .ok_or_else(|| Reply::message(404, "404 Not found"))
    }

    fn mr_json(&self, mr: &FakeMr) -> Value {
        let reviewers: Vec<Value> = mr
            .reviewers
            .iter()
            .filter_map(|name| self.users.iter().find(|u| u.username == *name))
            .map(|u| self.user_json(u.id))
            .collect();
        json!({
            "id": mr.id, "iid": mr.iid, "project_id": mr.project_id,
            "title": mr.title, "description": mr.description, "state": mr.state,
            "created_at": mr.created_at, "updated_at": mr.updated_at,
            "merged_at": mr.merged_at, "closed_at": mr.closed_at,
            "target_branch": mr.target_branch, "source_branch": mr.source_branch,
            "source_project_id": mr.project_id, "target_project_id": mr.project_id,
            "author": self.user_json(1), "assignees": [], "reviewers": reviewers,
            "labels": mr.labels, "draft": false, "work_in_progress": false,
            "merge_when_pipeline_succeeds": mr.auto_merge,
            "detailed_merge_status": if mr.state == "opened" { "mergeable" } else { "not_open" },
            "sha": mr.sha, "merge_commit_sha": mr.merge_commit_sha,
            "squash_commit_sha": mr.merge_commit_sha, "squash": mr.squash,
            "force_remove_source_branch": mr.remove_source_branch,
            "references": { "short": format!("!{}", mr.iid) },
            "web_url": mr.web_url,
        })
    }

    fn list_mrs(&mut self, q: &HashMap<String, String>, raw_path: &str) -> Reply {
        self.refresh_shas();
        let state = q.get("state").map_or("all", String::as_str);
        let mut found: Vec<&FakeMr> = self
            .mrs
            .iter()
            .filter(|mr| state == "all" || mr.state == state)
            .filter(|mr| {
                q.get("source_branch")
                    .is_none_or(|b| *b == mr.source_branch)
            })
            .filter(|mr| {
                q.get("target_branch")
                    .is_none_or(|b| *b == mr.target_branch)
            })
            .collect();
        if q.get("order_by").map(String::as_str) == Some("updated_at") {
            found.sort_by(|a, b| a.updated_at.cmp(&b.updated_at).then(a.id.cmp(&b.id)));
        } else {
            found.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        }
        if q.get("sort").map(String::as_str) != Some("asc") {
            found.reverse();
        }
        let items = found.iter().map(|mr| self.mr_json(mr)).collect();
        self.paginate(items, q, raw_path)
    }

    fn create_mr(&mut self, input: &Value) -> Answer {
        for key in ["source_branch", "target_branch", "title"] {
            if text(input, key).is_none_or(|v| v.is_empty()) {
                return Err(Reply::json(
                    400,
                    json!({ "error": format!("{key} is missing") }),
                ));
            }
        }
        let source = text(input, "source_branch").unwrap_or_default();
        let target = text(input, "target_branch").unwrap_or_default();
        let Some(sha) = branch_sha(&self.bare, &source) else {
            return Err(Reply::json(
                422,
                json!({ "message": [format!("Source branch \"{source}\" does not exist")] }),
            ));
        };
        if branch_sha(&self.bare, &target).is_none() {
            return Err(Reply::json(
                422,
                json!({ "message": [format!("Target branch \"{target}\" does not exist")] }),
            ));
        }
        if let Some(dup) = self.mrs.iter().find(|mr| {
            mr.state == "opened" && mr.source_branch == source && mr.target_branch == target
        }) {
            return Err(Reply::json(
                409,
                json!({ "message": [format!(
                    "Another open merge request already exists for this source branch: !{}",
                    dup.iid
                )] }),
            ));
        }
        let reviewers: Vec<String> = list(input, "reviewer_ids")
            .iter()
            .filter_map(|id| id.parse::<u64>().ok())
            .filter_map(|id| self.users.iter().find(|u| u.id == id))
            .map(|u| u.username.clone())
            .collect();
        let iid = self.mrs.iter().map(|mr| mr.iid).max().unwrap_or(0) + 1;
        let now = self.now();
        let mr = FakeMr {
            id: self.id(),
            iid,
            project_id: PROJECT_ID,
            title: text(input, "title").unwrap_or_default(),
            description: text(input, "description").unwrap_or_default(),
            source_branch: source,
            target_branch: target,
            state: "opened".into(),
            created_at: now.clone(),
            updated_at: now,
            merged_at: None,
            closed_at: None,
            labels: list(input, "labels"),
            reviewers: reviewers.clone(),
            sha,
            auto_merge: false,
            squash: flag(input, "squash"),
            remove_source_branch: flag(input, "remove_source_branch"),
            merge_commit_sha: None,
            web_url: format!("{}/{}/-/merge_requests/{iid}", self.url, self.project_path),
        };
        let json = self.mr_json(&mr);
        self.mrs.push(mr);
        if !reviewers.is_empty() {
            let names: Vec<String> = reviewers.iter().map(|r| format!("@{r}")).collect();
            self.system_note(
                iid,
                &format!("requested review from {}", names.join(" and ")),
                1,
            );
        }
        Ok(Reply::json(201, json))
    }

    fn update_mr(&mut self, iid: u64, input: &Value) -> Answer {
        self.mr(iid)?;
        let now = self.now();
        let mut note = None;
        let mr = self
            .mrs
            .iter_mut()
            .find(|mr| mr.iid == iid)
            .ok_or_else(|| Reply::message(404, "404 Not found"))?;
        if let Some(title) = text(input, "title") {
            mr.title = title;
        }
        if let Some(description) = text(input, "description") {
            mr.description = description;
        }
        if input.get("labels").is_some() {
            mr.labels = list(input, "labels");
        }
        match text(input, "state_event").as_deref() {
            Some("close") if mr.state == "opened" => {
                mr.state = "closed".into();
                mr.closed_at = Some(now.clone());
                note = Some("closed");
            }
            Some("reopen") if mr.state == "closed" => {
                mr.state = "opened".into();
                mr.closed_at = None;
                note = Some("reopened");
            }
            _ => {}
        }
        mr.updated_at = now;
        if let Some(body) = note {
            self.system_note(iid, body, 1);
        }
        self.refresh_shas();
        Ok(Reply::json(200, self.mr_json(self.mr(iid)?)))
    }

    /// `PUT …/merge`: immediate merge, or auto-merge (`auto_merge` /
    /// `merge_when_pipeline_succeeds`) which needs a pipeline on the head.
    fn merge_endpoint(&mut self, iid: u64, input: &Value) -> Answer {
        self.refresh_shas();
        let mr = self.mr(iid)?.clone();
        if mr.state != "opened" {
            return Err(Reply::message(405, "405 Method Not Allowed"));
        }
        if let Some(sha) = text(input, "sha")
            && sha != mr.sha
        {
            return Err(Reply::message(
                409,
                &format!("SHA does not match HEAD of source branch: {}", mr.sha),
            ));
        }
        let auto = flag(input, "auto_merge") || flag(input, "merge_when_pipeline_succeeds");
        if auto {
            let latest = self.latest_pipeline(&mr.sha).map(|p| p.status.clone());
            match latest.as_deref() {
                None | Some("failed" | "canceled" | "skipped") => {
                    return Err(Reply::message(405, "405 Method Not Allowed"));
                }
                Some("success") => {}
                Some(_) => {
                    let now = self.now();
                    if let Some(m) = self.mrs.iter_mut().find(|m| m.iid == iid) {
                        m.auto_merge = true;
                        m.squash = flag(input, "squash") || m.squash;
                        m.updated_at = now;
                    }
                    let body = format!(
                        "enabled an automatic merge when all merge checks for {} pass",
                        mr.sha
                    );
                    self.system_note(iid, &body, 1);
                    return Ok(Reply::json(200, self.mr_json(self.mr(iid)?)));
                }
            }
        }
        self.merge(iid, Some(&mr.sha), 1)?;
        Ok(Reply::json(200, self.mr_json(self.mr(iid)?)))
    }

    /// Squash-merges the MR onto its target branch in the bare repository.
    fn merge(&mut self, iid: u64, sha: Option<&str>, by: u64) -> Result<(), Reply> {
        self.refresh_shas();
        let mr = self.mr(iid)?.clone();
        if mr.state != "opened" {
            return Err(Reply::message(405, "405 Method Not Allowed"));
        }
        if let Some(sha) = sha
            && sha != mr.sha
        {
            return Err(Reply::message(
                409,
                &format!("SHA does not match HEAD of source branch: {}", mr.sha),
            ));
        }
        let merged = squash_merge(&self.bare, &mr.target_branch, &mr.source_branch, &mr.title)
            .map_err(|_| Reply::message(406, "Branch cannot be merged"))?;
        if mr.remove_source_branch {
            let _ = git(
                &self.bare,
                &[
                    "update-ref",
                    "-d",
                    &format!("refs/heads/{}", mr.source_branch),
                ],
            );
        }
        let now = self.now();
        if let Some(m) = self.mrs.iter_mut().find(|m| m.iid == iid) {
            m.state = "merged".into();
            m.merged_at = Some(now.clone());
            m.updated_at = now;
            m.merge_commit_sha = Some(merged);
        }
        self.system_note(iid, "merged", by);
        Ok(())
    }

    fn latest_pipeline(&self, sha: &str) -> Option<&Pipeline> {
        self.pipelines
            .iter()
            .filter(|p| p.sha == sha)
            .max_by_key(|p| p.id)
    }

    fn set_pipeline(&mut self, sha: &str, status: &str) {
        self.refresh_shas();
        let latest = self
            .pipelines
            .iter()
            .filter(|p| p.sha == sha)
            .map(|p| p.id)
            .max();
        match latest {
            Some(id) => {
                if let Some(p) = self.pipelines.iter_mut().find(|p| p.id == id) {
                    p.status = status.to_string();
                }
            }
            None => {
                let git_ref = self
                    .mrs
                    .iter()
                    .find(|mr| mr.sha == sha)
                    .map_or("main".to_string(), |mr| mr.source_branch.clone());
                let pipeline = Pipeline {
                    id: self.id(),
                    sha: sha.to_string(),
                    git_ref,
                    status: status.to_string(),
                    created_at: self.now(),
                };
                self.pipelines.push(pipeline);
            }
        }
        if status != "success" {
            return;
        }
        let waiting: Vec<u64> = self
            .mrs
            .iter()
            .filter(|mr| mr.state == "opened" && mr.auto_merge && mr.sha == sha)
            .map(|mr| mr.iid)
            .collect();
        for iid in waiting {
            if let Err(e) = self.merge(iid, Some(sha), 1) {
                if let Some(m) = self.mrs.iter_mut().find(|m| m.iid == iid) {
                    m.auto_merge = false;
                }
                let reason = e
                    .body
                    .get("message")
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                self.system_note(
                    iid,
                    &format!("aborted the automatic merge because {reason}"),
                    1,
                );
            }
        }
    }

    fn pipeline_json(&self, p: &Pipeline) -> Value {
        json!({
            "id": p.id, "iid": p.id, "project_id": PROJECT_ID, "sha": p.sha,
            "ref": p.git_ref, "status": p.status, "source": "push",
            "created_at": p.created_at, "updated_at": p.created_at,
            "web_url": format!("{}/{}/-/pipelines/{}", self.url, self.project_path, p.id),
        })
    }

    fn new_note(&mut self, input: &Value) -> Result<Note, Reply> {
        let Some(body) = text(input, "body").filter(|b| !b.is_empty()) else {
            return Err(Reply::json(400, json!({ "error": "body is missing" })));
        };
        Ok(Note {
            id: self.id(),
            body,
            system: false,
            author: 1,
            created_at: self.now(),
        })
    }

    fn note_json(&self, n: &Note, noteable_iid: u64, kind: &str) -> Value {
        json!({
            "id": n.id, "type": null, "body": n.body, "author": self.user_json(n.author),
            "created_at": n.created_at, "updated_at": n.created_at, "system": n.system,
            "noteable_type": kind, "noteable_iid": noteable_iid, "resolvable": false,
            "confidential": false, "internal": false,
        })
    }

    fn list_issues(&self, q: &HashMap<String, String>, raw_path: &str) -> Reply {
        let state = q.get("state").map_or("all", String::as_str);
        let search = q.get("search").map(|s| s.to_lowercase());
        let in_title_only = q.get("in").map(String::as_str) == Some("title");
        let mut found: Vec<&Issue> = self
            .issues
            .iter()
            .filter(|i| state == "all" || i.state == state)
            .filter(|i| {
                search.as_ref().is_none_or(|s| {
                    i.title.to_lowercase().contains(s)
                        || (!in_title_only && i.description.to_lowercase().contains(s))
                })
            })
            .collect();
        found.reverse();
        let items = found.iter().map(|i| self.issue_json(i)).collect();
        self.paginate(items, q, raw_path)
    }

    fn issue_json(&self, i: &Issue) -> Value {
        json!({
            "id": i.id, "iid": i.iid, "project_id": PROJECT_ID, "title": i.title,
            "description": i.description, "state": i.state, "labels": [],
            "created_at": i.created_at, "updated_at": i.created_at,
            "author": self.user_json(1), "user_notes_count": i.notes.len(),
            "web_url": format!("{}/{}/-/issues/{}", self.url, self.project_path, i.iid),
        })
    }

    /// One page of `items` with GitLab's offset-pagination headers.
    fn paginate(&self, items: Vec<Value>, q: &HashMap<String, String>, raw_path: &str) -> Reply {
        let per_page = q
            .get("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(20)
            .clamp(1, self.max_per_page.min(100));
        let page = q
            .get("page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let total = items.len();
        let pages = total.div_ceil(per_page).max(1);
        let body: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        let link = |p: usize| {
            let mut pairs: Vec<(String, String)> = q
                .iter()
                .filter(|(k, _)| *k != "page")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            pairs.sort();
            pairs.push(("page".into(), p.to_string()));
            let query: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
                .collect();
            format!("{}{raw_path}?{}", self.url, query.join("&"))
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(format!("<{}>; rel=\"prev\"", link(page - 1)));
        }
        if page < pages {
            links.push(format!("<{}>; rel=\"next\"", link(page + 1)));
        }
        links.push(format!("<{}>; rel=\"first\"", link(1)));
        links.push(format!("<{}>; rel=\"last\"", link(pages)));
        let next = if page < pages {
            (page + 1).to_string()
        } else {
            String::new()
        };
        let prev = if page > 1 {
            (page - 1).to_string()
        } else {
            String::new()
        };
        let mut reply = Reply::json(200, Value::Array(body));
        reply.headers = vec![
            ("X-Page".into(), page.to_string()),
            ("X-Per-Page".into(), per_page.to_string()),
            ("X-Total".into(), total.to_string()),
            ("X-Total-Pages".into(), pages.to_string()),
            ("X-Next-Page".into(), next),
            ("X-Prev-Page".into(), prev),
            ("Link".into(), links.join(", ")),
        ];
        reply
    }
}

// ----------------------------------------------------------------- git --

fn git(bare: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(bare)
        .args(args)
        .env("GIT_AUTHOR_NAME", "GitLab")
        .env("GIT_AUTHOR_EMAIL", "gitlab@example.invalid")
        .env("GIT_COMMITTER_NAME", "GitLab")
        .env("GIT_COMMITTER_EMAIL", "gitlab@example.invalid")
        .output()
        .map_err(|e| format!("git {args:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "git {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn branch_sha(bare: &Path, branch: &str) -> Option<String> {
    git(
        bare,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}^{{commit}}"),
        ],
    )
    .ok()
}

/// `merge-tree --write-tree` → `commit-tree` (one parent: a squash) →
/// `update-ref` guarded by the old target. Returns the new commit.
fn squash_merge(bare: &Path, target: &str, source: &str, message: &str) -> Result<String, String> {
    let old = branch_sha(bare, target).ok_or("no target branch")?;
    let head = branch_sha(bare, source).ok_or("no source branch")?;
    let tree_out = git(bare, &["merge-tree", "--write-tree", &old, &head])?;
    let tree = tree_out.lines().next().unwrap_or_default().to_string();
    let new = git(bare, &["commit-tree", &tree, "-p", &old, "-m", message])?;
    git(
        bare,
        &["update-ref", &format!("refs/heads/{target}"), &new, &old],
    )?;
    Ok(new)
}
