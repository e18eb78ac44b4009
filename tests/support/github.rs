//! A fake GitHub for one repository: an in-process model (pull requests,
//! issues, comments, statuses, check runs, auto-merge, tokens) behind a real
//! HTTP server (actix-web on 127.0.0.1), answering every endpoint the bot
//! calls as GitHub's REST and GraphQL docs describe. The repository's git
//! content is a real bare repository: the bot pushes to it with git, the
//! fake reads refs and merges with the `git` CLI.
//!
//! The default world: the repository allows auto-merge; one valid token
//! ([`FakeGitHub::token`]); a GitHub App [`FakeGitHub::APP_ID`] installed as
//! [`FakeGitHub::INSTALLATION_ID`] (the JWT's payload is checked, its
//! signature is not); pages of at most 100. A PR is "clean" (auto-merge
//! refused, like GitHub) when its head's checks all passed; with no checks
//! yet it waits for them, as under a branch protection requiring checks.
//!
//! ```ignore
//! let fake = FakeGitHub::start("acme/env", bare.path()).await;
//! let gh = GitHub::new(&fake.url(), "acme/env", GitHubAuth::Token(fake.token()))?;
//! ```
#![allow(dead_code)]

mod routes;
mod world;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use serde_json::json;

use world::{Delay, Fault, World};
#[allow(unused_imports)]
pub use world::{FakeAutoMerge, FakeIssue, FakePr};

const TOKEN: &str = "ghp_faketoken0123456789";

pub struct FakeGitHub {
    state: Arc<Mutex<World>>,
    server: actix_web::dev::ServerHandle,
    url: String,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        // Sends the stop command now; the returned future only waits.
        drop(self.server.stop(false));
    }
}

impl FakeGitHub {
    pub const APP_ID: u64 = 4242;
    pub const INSTALLATION_ID: u64 = 77;

    /// Starts the server on a free loopback port, on the current tokio
    /// runtime. `owner_repo` is `owner/name`; `bare_repo` a bare git repo.
    pub async fn start(owner_repo: &str, bare_repo: &Path) -> FakeGitHub {
        Self::start_with(owner_repo, bare_repo, false).await
    }

    /// Like [`Self::start`], laid out as GitHub Enterprise Server: REST
    /// (and the token mint) under `/api/v3`, GraphQL at `/api/graphql`
    /// (docs.github.com/enterprise-server REST "Endpoint URLs"); nothing
    /// at the root. [`Self::url`] is then `http://HOST/api/v3`.
    pub async fn start_ghes(owner_repo: &str, bare_repo: &Path) -> FakeGitHub {
        Self::start_with(owner_repo, bare_repo, true).await
    }

    async fn start_with(owner_repo: &str, bare_repo: &Path, ghes: bool) -> FakeGitHub {
        let (owner, name) = owner_repo.split_once('/').expect("owner/name");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let host = format!("http://{}", listener.local_addr().expect("local addr"));
        let url = if ghes { format!("{host}/api/v3") } else { host };
        let world = World {
            owner: owner.to_string(),
            name: name.to_string(),
            bare: bare_repo.to_path_buf(),
            base_url: url.clone(),
            next_number: 1,
            prs: Vec::new(),
            issues: Vec::new(),
            comments: HashMap::new(),
            statuses: HashMap::new(),
            check_runs: HashMap::new(),
            allow_auto_merge: true,
            tokens: HashSet::from([TOKEN.to_string()]),
            app_id: Self::APP_ID,
            installation_id: Self::INSTALLATION_ID,
            mints: 0,
            max_per_page: 100,
            faults: Vec::new(),
            delays: Vec::new(),
            requests: Vec::new(),
            write_calls: 0,
            rate_used: 0,
            permissions: HashMap::new(),
            collaborators: ["alice", "bob", world::HUMAN_LOGIN]
                .into_iter()
                .map(str::to_string)
                .collect(),
            required_checks: true,
            required_review: false,
            ghes,
            graphql_rate_limited: 0,
            verified: Vec::new(),
            others: Vec::new(),
        };
        let state = Arc::new(Mutex::new(world));
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(routes::handle))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeGitHub {
            state,
            server: handle,
            url,
        }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.state.lock().expect("fake state")
    }

    /// `http://127.0.0.1:PORT`, the API base for [`imagebump::forge::github::GitHub::new`].
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// A token the fake accepts.
    pub fn token(&self) -> String {
        TOKEN.to_string()
    }

    /// Snapshot of every pull request (head shas refreshed).
    pub fn prs(&self) -> Vec<FakePr> {
        let mut w = self.world();
        w.refresh();
        w.prs.clone()
    }

    /// The newest pull request whose head is `branch`.
    pub fn pr_by_branch(&self, branch: &str) -> Option<FakePr> {
        self.prs().into_iter().rev().find(|p| p.head == branch)
    }

    pub fn issues(&self) -> Vec<FakeIssue> {
        self.world().issues.clone()
    }

    /// Comment bodies of a PR or issue, oldest first.
    pub fn comments(&self, number: u64) -> Vec<String> {
        self.world()
            .comments
            .get(&number)
            .cloned()
            .unwrap_or_default()
    }

    /// Sets the `ci/fake` commit status of `sha` (`success`, `pending`,
    /// `failure`, `error`); auto-merge PRs whose checks now pass are merged.
    pub fn set_status(&self, sha: &str, state: &str) {
        self.set_status_context(sha, "ci/fake", state);
    }

    pub fn set_status_context(&self, sha: &str, context: &str, state: &str) {
        let mut w = self.world();
        let list = w.statuses.entry(sha.to_string()).or_default();
        list.retain(|(c, _)| c != context);
        list.push((context.to_string(), state.to_string()));
        w.run_auto_merge();
    }

    /// Adds a check run (`status`: queued/in_progress/completed;
    /// `conclusion`: success, failure, neutral, cancelled, skipped,
    /// timed_out, action_required, or None while running).
    pub fn add_check_run(&self, sha: &str, status: &str, conclusion: Option<&str>) {
        let mut w = self.world();
        let list = w.check_runs.entry(sha.to_string()).or_default();
        let name = format!("check-{}", list.len() + 1);
        list.push((name, status.to_string(), conclusion.map(str::to_string)));
        w.run_auto_merge();
    }

    /// A human presses "Squash and merge". Panics when GitHub would refuse.
    pub fn merge_as_human(&self, number: u64) -> String {
        match self.world().squash_merge(number, None) {
            Ok(sha) => sha,
            Err((status, message)) => panic!("merge of #{number} refused: {status} {message}"),
        }
    }

    pub fn close_as_human(&self, number: u64) {
        self.world().close(number);
    }

    /// `user`'s role on the repository (`admin`, `maintain`, `write`,
    /// `triage`, `read`, `none`); unknown users answer 404.
    pub fn set_permission(&self, user: &str, role: &str) {
        self.world()
            .permissions
            .insert(user.to_string(), role.to_string());
    }

    /// Branch protection on the base: whether the head's checks must pass
    /// before merging (default) or not. Without it, GitHub refuses native
    /// auto-merge ("clean status" / "unstable status") and its REST merge
    /// succeeds while checks are still pending.
    pub fn set_required_checks(&self, required: bool) {
        self.world().required_checks = required;
    }

    /// Branch protection requires an approving review: merges answer 405.
    pub fn set_required_review(&self, required: bool) {
        self.world().required_review = required;
    }

    /// The next `count` GraphQL requests hit the GraphQL rate limit.
    pub fn rate_limit_graphql_next(&self, count: usize) {
        self.world().graphql_rate_limited = count;
    }

    /// An outsider opens a PR from their fork `fork_owner/<name>` whose
    /// head branch is `branch`, with `body`. Returns its number.
    pub fn open_fork_pr(&self, fork_owner: &str, branch: &str, title: &str, body: &str) -> u64 {
        let mut w = self.world();
        let number = w.next_number;
        w.next_number += 1;
        w.prs.push(FakePr {
            number,
            node_id: format!("PR_{number}"),
            title: title.to_string(),
            body: body.to_string(),
            head: branch.to_string(),
            base: "main".to_string(),
            state: "open".to_string(),
            merged_at: None,
            head_sha: format!("{:040x}", 0xf0_4c00_u64 + number),
            merge_commit_sha: None,
            labels: Vec::new(),
            reviewers: Vec::new(),
            team_reviewers: Vec::new(),
            auto_merge: None,
            fork: Some(fork_owner.to_string()),
        });
        number
    }

    /// The repository setting "Allow auto-merge".
    pub fn set_allow_auto_merge(&self, allow: bool) {
        self.world().allow_auto_merge = allow;
    }

    /// Largest page the fake serves, whatever `per_page` asks.
    pub fn set_max_per_page(&self, n: usize) {
        self.world().max_per_page = n.max(1);
    }

    /// The next `count` requests of `method` on a path starting with
    /// `path_prefix` answer `status` with `{"message": <reason>}`.
    pub fn fail_next(&self, method: &str, path_prefix: &str, status: u16, count: usize) {
        let reason = actix_web::http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        self.fail_next_with(
            method,
            path_prefix,
            status,
            count,
            Vec::new(),
            json!({ "message": reason }),
        );
    }

    /// Like [`Self::fail_next`] with chosen headers and body.
    pub fn fail_next_with(
        &self,
        method: &str,
        path_prefix: &str,
        status: u16,
        count: usize,
        headers: Vec<(String, String)>,
        body: serde_json::Value,
    ) {
        self.world().faults.push(Fault {
            method: method.to_string(),
            prefix: path_prefix.to_string(),
            status,
            remaining: count,
            headers,
            body,
        });
    }

    /// The next `count` matching requests get GitHub's primary rate-limit
    /// answer: 403, `x-ratelimit-remaining: 0`, reset in `reset_in`.
    pub fn exhaust_rate_limit(
        &self,
        method: &str,
        path_prefix: &str,
        count: usize,
        reset_in: Duration,
    ) {
        let reset = world::now_secs() + reset_in.as_secs();
        self.fail_next_with(
            method,
            path_prefix,
            403,
            count,
            vec![
                ("x-ratelimit-remaining".to_string(), "0".to_string()),
                ("x-ratelimit-reset".to_string(), reset.to_string()),
            ],
            json!({
                "message": format!("API rate limit exceeded for installation ID {}.", Self::INSTALLATION_ID),
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            }),
        );
    }

    /// The next `count` matching requests are answered after `delay`.
    pub fn delay_next(&self, method: &str, path_prefix: &str, count: usize, delay: Duration) {
        self.world().delays.push(Delay {
            method: method.to_string(),
            prefix: path_prefix.to_string(),
            remaining: count,
            delay,
        });
    }

    /// Requests that change the repository so far: every non-GET except
    /// installation-token mints and GraphQL queries (mutations count).
    pub fn write_calls(&self) -> usize {
        self.world().write_calls
    }

    /// Every request so far: (method, path without query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.world().requests.clone()
    }

    /// Another repository `name` of the same owner (and installation), with
    /// or without `.imagebump.yaml` on `main`, archived or not. Its clone
    /// URL leads nowhere.
    pub fn add_other_repo(&self, name: &str, has_config: bool, archived: bool) {
        self.world()
            .others
            .push((name.to_string(), has_config, archived));
    }

    /// Commits GitHub made through the API (and signed), oldest first.
    pub fn verified_commits(&self) -> Vec<String> {
        self.world().verified.clone()
    }

    /// The address GitHub writes as the author of the App's API commits.
    pub fn app_bot_email() -> String {
        format!(
            "{}+{}[bot]@users.noreply.github.com",
            world::APP_BOT_ID,
            world::APP_SLUG
        )
    }

    /// Installation tokens minted so far.
    pub fn token_mints(&self) -> usize {
        self.world().mints
    }

    /// Tokens the fake accepts right now (the fixed one and minted ones).
    pub fn valid_tokens(&self) -> Vec<String> {
        self.world().tokens.iter().cloned().collect()
    }
}
