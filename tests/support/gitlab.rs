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
//!
//! Layout: `model` (state, merge, pipelines), `routes` (endpoints),
//! `json` (GitLab's shapes, pagination), `http` (actix-web glue, faults,
//! auth, rate-limit headers), `git` (the bare repository).
#![allow(dead_code)]

mod git;
mod http;
mod json;
mod model;
mod routes;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};

pub use self::model::MergeSemantics;
use self::model::{CommitStatus, Fault, Model, User};

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
    /// [`PROJECT_ID`], or a fork's id for an MR from a fork.
    pub source_project_id: u64,
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
            access_levels: HashMap::new(),
            semantics: MergeSemantics::ChecksPass,
            creating: Vec::new(),
            bot_can_merge: true,
            api_commits: Vec::new(),
            others: Vec::new(),
        }));
        let data = web::Data::from(model.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(http::handle))
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
    /// Makes `user` (created if unknown) a project member with `level`
    /// (10 guest, 20 reporter, 30 developer, 40 maintainer, 50 owner).
    pub fn set_access_level(&self, user: &str, level: u64) {
        let mut m = self.lock();
        if !m.users.iter().any(|u| u.username == user) {
            let id = m.users.iter().map(|u| u.id).max().unwrap_or(0) + 1;
            m.users.push(User {
                id,
                username: user.to_string(),
            });
        }
        m.access_levels.insert(user.to_string(), level);
    }

    /// Another project `path` (`group/sub/name`) of the group, with or
    /// without `.imagebump.yaml` on `main`, archived or not.
    pub fn add_other_project(&self, path: &str, has_config: bool, archived: bool) {
        self.lock()
            .others
            .push((path.to_string(), has_config, archived));
    }

    /// Commits made through the commits API, oldest first.
    pub fn api_commits(&self) -> Vec<String> {
        self.lock().api_commits.clone()
    }

    /// Which GitLab version's merge endpoint to model (17.11+ by default).
    pub fn set_merge_semantics(&self, semantics: MergeSemantics) {
        self.lock().semantics = semantics;
    }

    /// GitLab is creating a pipeline for `sha` (cleared once one exists).
    pub fn set_pipeline_creating(&self, sha: &str) {
        self.lock().creating.push(sha.to_string());
    }

    /// Whether the bot may merge (401 on merge when not).
    pub fn set_bot_can_merge(&self, can: bool) {
        self.lock().bot_can_merge = can;
    }

    /// Adds a merged-results pipeline for MR `iid`'s current head.
    pub fn add_merged_results_pipeline(&self, iid: u64, status: &str) {
        self.lock().add_merged_results_pipeline(iid, status);
    }

    /// An outsider opens an MR from their fork (project 9001) whose source
    /// branch is `branch` (which may look like a bot branch) and whose
    /// description is `description`. Returns its iid.
    pub fn open_fork_mr(&self, branch: &str, title: &str, description: &str) -> u64 {
        let mut m = self.lock();
        let iid = m.mrs.iter().map(|mr| mr.iid).max().unwrap_or(0) + 1;
        let now = m.now();
        let id = m.id();
        let web_url = format!("{}/{}/-/merge_requests/{iid}", m.url, m.project_path);
        m.mrs.push(FakeMr {
            id,
            iid,
            project_id: PROJECT_ID,
            source_project_id: 9001,
            title: title.to_string(),
            description: description.to_string(),
            source_branch: branch.to_string(),
            target_branch: "main".to_string(),
            state: "opened".to_string(),
            created_at: now.clone(),
            updated_at: now,
            merged_at: None,
            closed_at: None,
            labels: Vec::new(),
            reviewers: Vec::new(),
            sha: format!("{:040x}", 0xf0_4c00_u64 + iid),
            auto_merge: false,
            squash: false,
            remove_source_branch: false,
            merge_commit_sha: None,
            web_url,
        });
        iid
    }

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

    /// Adds `n` open MRs of branches `{prefix}{i}` that are not in the
    /// repository (listed, never merged), to fill pages cheaply.
    pub fn seed_open_mrs(&self, prefix: &str, n: usize) {
        for i in 0..n {
            let iid = self.open_fork_mr(&format!("{prefix}{i}"), &format!("seed {i}"), "");
            let mut m = self.lock();
            if let Some(mr) = m.mrs.iter_mut().find(|mr| mr.iid == iid) {
                mr.source_project_id = PROJECT_ID;
            }
        }
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
