//! The fake's HTTP side: every endpoint the bot calls, answering with the
//! status codes, JSON shapes (the fields octocrab's models require),
//! pagination (`per_page`/`page`, `Link`) and error bodies of GitHub's REST
//! and GraphQL documentation.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use serde_json::{Value, json};

use super::world::{
    APP_BOT_ID, APP_SLUG, BOT_LOGIN, FakeAutoMerge, FakeIssue, FakePr, World, iso8601, now_secs,
};

pub type Shared = Arc<Mutex<World>>;

const DOCS: &str = "https://docs.github.com/rest";

pub struct Answer {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        body,
        headers: Vec::new(),
    }
}

fn error(status: u16, message: &str) -> Answer {
    answer(
        status,
        json!({ "message": message, "documentation_url": DOCS }),
    )
}

fn validation(errors: Value) -> Answer {
    answer(
        422,
        json!({ "message": "Validation Failed", "errors": errors, "documentation_url": DOCS }),
    )
}

/// The one actix handler: records, injects faults and delays, checks the
/// token, then routes.
pub async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
    let method = req.method().as_str().to_string();
    let full = req.path().to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ghes = state.lock().expect("fake state").ghes;
    // GHES serves REST (token mint included) under /api/v3 and GraphQL at
    // /api/graphql, nothing at the root; github.com the other way round
    // (docs.github.com/enterprise-server REST "Endpoint URLs").
    let path = if ghes {
        match full.as_str() {
            "/api/graphql" => Some("/graphql".to_string()),
            p => p
                .strip_prefix("/api/v3/")
                .filter(|rest| *rest != "graphql")
                .map(|rest| format!("/{rest}")),
        }
    } else {
        Some(full.clone()).filter(|p| !p.starts_with("/api/"))
    };
    let Some(path) = path else {
        let mut w = state.lock().expect("fake state");
        w.requests.push((method, full.clone()));
        return respond(&mut w, &full, error(404, "Not Found"));
    };
    let delay = {
        let mut w = state.lock().expect("fake state");
        w.requests.push((method.clone(), full.clone()));
        if is_write(&method, &path, &body) {
            w.write_calls += 1;
        }
        take_delay(&mut w, &method, &path)
    };
    if let Some(delay) = delay {
        actix_web::rt::time::sleep(delay).await;
    }
    let query: HashMap<String, String> =
        web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut w = state.lock().expect("fake state");
    let ans = match take_fault(&mut w, &method, &path) {
        Some(a) => a,
        None => route(&mut w, &method, &path, &query, auth.as_deref(), &body),
    };
    respond(&mut w, &path, ans)
}

/// A request that changes the repository: not a GET, not a token mint,
/// not a GraphQL query (only mutations).
fn is_write(method: &str, path: &str, body: &Value) -> bool {
    if method == "GET" || path.starts_with("/app/installations/") {
        return false;
    }
    path != "/graphql"
        || body["query"]
            .as_str()
            .is_some_and(|q| q.trim_start().starts_with("mutation"))
}

fn take_delay(w: &mut World, method: &str, path: &str) -> Option<std::time::Duration> {
    let d = w.delays.iter_mut().find(|d| {
        d.remaining > 0 && d.method.eq_ignore_ascii_case(method) && path.starts_with(&d.prefix)
    })?;
    d.remaining -= 1;
    Some(d.delay)
}

fn take_fault(w: &mut World, method: &str, path: &str) -> Option<Answer> {
    let f = w.faults.iter_mut().find(|f| {
        f.remaining > 0 && f.method.eq_ignore_ascii_case(method) && path.starts_with(&f.prefix)
    })?;
    f.remaining -= 1;
    Some(Answer {
        status: f.status,
        body: f.body.clone(),
        headers: f.headers.clone(),
    })
}

/// Rate-limit headers on every answer: docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#checking-the-status-of-your-rate-limit.
fn respond(w: &mut World, path: &str, ans: Answer) -> HttpResponse {
    w.rate_used += 1;
    let status = StatusCode::from_u16(ans.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = HttpResponse::build(status);
    let mut set: Vec<(String, String)> = vec![
        ("x-ratelimit-limit".into(), "5000".into()),
        (
            "x-ratelimit-remaining".into(),
            5000u64.saturating_sub(w.rate_used).to_string(),
        ),
        ("x-ratelimit-reset".into(), (now_secs() + 3600).to_string()),
        ("x-ratelimit-used".into(), w.rate_used.to_string()),
        (
            "x-ratelimit-resource".into(),
            if path == "/graphql" {
                "graphql"
            } else {
                "core"
            }
            .into(),
        ),
        ("x-github-api-version-selected".into(), "2022-11-28".into()),
    ];
    for (k, v) in ans.headers {
        set.retain(|(name, _)| !name.eq_ignore_ascii_case(&k));
        set.push((k, v));
    }
    for (k, v) in set {
        r.insert_header((k, v));
    }
    if ans.body.is_null() {
        r.finish()
    } else {
        r.content_type("application/json; charset=utf-8")
            .body(ans.body.to_string())
    }
}

fn token_of(auth: Option<&str>) -> Option<&str> {
    let auth = auth?;
    auth.strip_prefix("token ")
        .or_else(|| auth.strip_prefix("Bearer "))
        .or_else(|| auth.strip_prefix("bearer "))
        .map(str::trim)
}

fn route(
    w: &mut World,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    auth: Option<&str>,
    body: &Value,
) -> Answer {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let ["app", "installations", id, "access_tokens"] = segs.as_slice() {
        return if method == "POST" {
            mint(w, id, auth)
        } else {
            error(404, "Not Found")
        };
    }
    if let ["app"] = segs.as_slice() {
        return match (method, app_jwt(w, auth)) {
            ("GET", Ok(())) => answer(
                200,
                json!({ "id": w.app_id, "slug": APP_SLUG, "name": APP_SLUG, "owner": user_json(&w.base_url, &w.owner) }),
            ),
            (_, Err(a)) => a,
            _ => error(404, "Not Found"),
        };
    }
    if !token_of(auth).is_some_and(|t| w.tokens.contains(t)) {
        return error(401, "Bad credentials");
    }
    w.run_auto_merge();
    let repo_ok =
        |o: &str, r: &str| o.eq_ignore_ascii_case(&w.owner) && r.eq_ignore_ascii_case(&w.name);
    match (method, segs.as_slice()) {
        // docs.github.com/rest/apps/installations#list-repositories-accessible-to-the-app-installation
        ("GET", ["installation", "repositories"]) => {
            let repos = listed_repos(w);
            let mut a = paginate(w, repos, query, path);
            let total = a.body.as_array().map_or(0, Vec::len);
            a.body = json!({ "total_count": total, "repositories": a.body });
            a
        }
        // docs.github.com/rest/repos/repos#list-organization-repositories
        ("GET", ["orgs", org, "repos"]) if org.eq_ignore_ascii_case(&w.owner) => {
            let repos = listed_repos(w);
            paginate(w, repos, query, path)
        }
        // docs.github.com/rest/repos/contents#get-repository-content (404 when absent)
        ("GET", ["repos", o, r, "contents", file @ ..]) if o.eq_ignore_ascii_case(&w.owner) => {
            let file = file.join("/");
            let at = query
                .get("ref")
                .cloned()
                .unwrap_or_else(|| "main".to_string());
            let present = if r.eq_ignore_ascii_case(&w.name) {
                w.git(&["cat-file", "-e", &format!("{at}:{file}")]).is_ok()
            } else {
                w.others.iter().any(|(n, has, _)| {
                    n.eq_ignore_ascii_case(r) && *has && file == ".imagebump.yaml"
                })
            };
            if present {
                answer(200, json!({ "type": "file", "path": file, "name": file }))
            } else {
                error(404, "Not Found")
            }
        }
        // docs.github.com/rest/users/users#get-the-authenticated-user
        ("GET", ["user"]) => answer(200, user_json(&w.base_url, BOT_LOGIN)),
        // docs.github.com/rest/users/users#get-a-user (an App bot user is `<slug>[bot]`, type Bot)
        ("GET", ["users", login]) if decode(login) == format!("{APP_SLUG}[bot]") => {
            let mut u = user_json(&w.base_url, &decode(login));
            u["id"] = json!(APP_BOT_ID);
            u["type"] = json!("Bot");
            answer(200, u)
        }
        ("POST", ["graphql"]) => graphql(w, body),
        (_, ["repos", o, r, rest @ ..]) if repo_ok(o, r) => {
            repo_route(w, method, rest, query, body, path)
        }
        _ => error(404, "Not Found"),
    }
}

fn repo_route(
    w: &mut World,
    method: &str,
    rest: &[&str],
    query: &HashMap<String, String>,
    body: &Value,
    path: &str,
) -> Answer {
    let num = |s: &str| s.parse::<u64>().ok();
    match (method, rest) {
        // docs.github.com/rest/pulls/pulls#list-pull-requests
        ("GET", ["pulls"]) => list_pulls(w, query, path),
        // docs.github.com/rest/pulls/pulls#create-a-pull-request (422 "A pull request already exists for owner:branch.")
        ("POST", ["pulls"]) => create_pull(w, body),
        // docs.github.com/rest/pulls/pulls#get-a-pull-request
        ("GET", ["pulls", n]) => match num(n).and_then(|n| w.prs.iter().find(|p| p.number == n)) {
            Some(pr) => answer(200, pr_json(w, pr)),
            None => error(404, "Not Found"),
        },
        // docs.github.com/rest/pulls/pulls#update-a-pull-request
        ("PATCH", ["pulls", n]) => update_pull(w, num(n), body),
        // docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user (404 for a non-collaborator)
        ("GET", ["collaborators", user, "permission"]) => match w.permissions.get(*user) {
            Some(role) => {
                // The legacy `permission` knows no maintain/triage.
                let legacy = match role.as_str() {
                    "maintain" => "write",
                    "triage" => "read",
                    other => other,
                };
                answer(
                    200,
                    json!({
                        "permission": legacy,
                        "role_name": role,
                        "user": user_json(&w.base_url, user),
                    }),
                )
            }
            None => error(404, "Not Found"),
        },
        ("PUT", ["pulls", n, "merge"]) => merge_pull(w, num(n), body),
        ("POST", ["git", "refs"]) => create_ref(w, body),
        ("PATCH", ["git", "refs", "heads", branch @ ..]) => update_ref(w, &branch.join("/"), body),
        ("POST", ["pulls", n, "requested_reviewers"]) => request_reviewers(w, num(n), body),
        // docs.github.com/rest/issues/labels#add-labels-to-an-issue
        ("POST", ["issues", n, "labels"]) => add_labels(w, num(n), body),
        // docs.github.com/rest/issues/comments#list-issue-comments
        ("GET", ["issues", n, "comments"]) => match num(n).filter(|n| w.issue_exists(*n)) {
            Some(n) => {
                let items: Vec<Value> = w
                    .comments
                    .get(&n)
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, c)| comment_json(w, n, i, c))
                    .collect();
                paginate(w, items, query, path)
            }
            None => error(404, "Not Found"),
        },
        // docs.github.com/rest/issues/comments#create-an-issue-comment
        ("POST", ["issues", n, "comments"]) => {
            match (num(n).filter(|n| w.issue_exists(*n)), body["body"].as_str()) {
                (Some(n), Some(text)) => {
                    let list = w.comments.entry(n).or_default();
                    list.push(text.to_string());
                    let i = list.len() - 1;
                    answer(201, comment_json(w, n, i, text))
                }
                (None, _) => error(404, "Not Found"),
                (_, None) => validation(
                    json!([{"resource": "IssueComment", "field": "body", "code": "missing_field"}]),
                ),
            }
        }
        // docs.github.com/rest/issues/issues#list-repository-issues (pull requests are listed as issues too)
        ("GET", ["issues"]) => list_issues(w, query, path),
        // docs.github.com/rest/issues/issues#create-an-issue
        ("POST", ["issues"]) => match body["title"].as_str() {
            Some(title) => {
                let number = w.next_number;
                w.next_number += 1;
                let issue = FakeIssue {
                    number,
                    title: title.to_string(),
                    body: body["body"].as_str().unwrap_or_default().to_string(),
                    state: "open".to_string(),
                };
                let j = issue_json(w, &issue);
                w.issues.push(issue);
                answer(201, j)
            }
            None => validation(
                json!([{"resource": "Issue", "field": "title", "code": "missing_field"}]),
            ),
        },
        // docs.github.com/rest/commits/statuses#get-the-combined-status-for-a-specific-reference ("pending" when there are none)
        ("GET", ["commits", sha, "status"]) => combined_status(w, sha),
        // docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference
        ("GET", ["commits", sha, "check-runs"]) => {
            let runs: Vec<Value> = w
                .check_runs
                .get(*sha)
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, (name, status, conclusion))| {
                    json!({
                        "id": 7000 + i, "node_id": format!("CR_{i}"), "name": name,
                        "head_sha": sha, "status": status, "conclusion": conclusion,
                        "url": format!("{}/repos/{}/{}/check-runs/{}", w.base_url, w.owner, w.name, 7000 + i),
                        "html_url": null, "details_url": null, "external_id": "",
                        "started_at": iso8601(now_secs()), "completed_at": null,
                    })
                })
                .collect();
            let total = runs.len();
            let mut page = paginate(w, runs, query, path);
            page.body = json!({ "total_count": total, "check_runs": page.body });
            page
        }
        _ => error(404, "Not Found"),
    }
}

/// Slices `items` by `per_page` (default 30, at most 100 and the fake's
/// `max_per_page`) and `page`, with GitHub's `Link` header.
/// docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api: `per_page` (default 30, max 100), `page`, `Link`.
fn paginate(w: &World, items: Vec<Value>, query: &HashMap<String, String>, path: &str) -> Answer {
    let per_page = query
        .get("per_page")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100)
        .min(w.max_per_page);
    let page = query
        .get("page")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut others: Vec<(&String, &String)> =
        query.iter().filter(|(k, _)| k.as_str() != "page").collect();
    others.sort();
    let url = |n: usize| {
        let mut q: Vec<String> = others
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        q.push(format!("page={n}"));
        format!("<{}{path}?{}>", w.base_url, q.join("&"))
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", url(page + 1)));
        links.push(format!("{}; rel=\"last\"", url(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", url(page - 1)));
        links.push(format!("{}; rel=\"first\"", url(1)));
    }
    let mut a = answer(200, Value::Array(slice));
    if !links.is_empty() {
        a.headers.push(("link".to_string(), links.join(", ")));
    }
    a
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn list_pulls(w: &mut World, query: &HashMap<String, String>, path: &str) -> Answer {
    w.refresh();
    let state = query.get("state").map(String::as_str).unwrap_or("open");
    let head = query.get("head").map(|h| match h.split_once(':') {
        Some((owner, branch)) => (owner.to_string(), branch.to_string()),
        None => (h.clone(), String::new()),
    });
    let mut prs: Vec<&FakePr> = w
        .prs
        .iter()
        .filter(|p| state == "all" || p.state == state)
        .filter(|p| match &head {
            // `head=user:ref-name`: the head's owner (a fork's) and branch
            // (docs.github.com/rest/pulls/pulls#list-pull-requests).
            Some((owner, branch)) => {
                owner.eq_ignore_ascii_case(p.fork.as_deref().unwrap_or(&w.owner))
                    && (branch.is_empty() || *branch == p.head)
            }
            None => true,
        })
        .filter(|p| query.get("base").is_none_or(|b| *b == p.base))
        .collect();
    prs.sort_by_key(|p| std::cmp::Reverse(p.number));
    let items = prs.iter().map(|p| pr_json(w, p)).collect();
    paginate(w, items, query, path)
}

fn list_issues(w: &mut World, query: &HashMap<String, String>, path: &str) -> Answer {
    w.refresh();
    let state = query.get("state").map(String::as_str).unwrap_or("open");
    let mut items: Vec<(u64, Value)> = w
        .issues
        .iter()
        .filter(|i| state == "all" || i.state == state)
        .map(|i| (i.number, issue_json(w, i)))
        .collect();
    for p in w.prs.iter().filter(|p| state == "all" || p.state == state) {
        let mut j = issue_json(
            w,
            &FakeIssue {
                number: p.number,
                title: p.title.clone(),
                body: p.body.clone(),
                state: p.state.clone(),
            },
        );
        j["pull_request"] = json!({
            "url": format!("{}/repos/{}/{}/pulls/{}", w.base_url, w.owner, w.name, p.number),
            "html_url": format!("{}/{}/{}/pull/{}", w.base_url, w.owner, w.name, p.number),
            "merged_at": p.merged_at,
        });
        items.push((p.number, j));
    }
    items.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    paginate(w, items.into_iter().map(|(_, j)| j).collect(), query, path)
}

fn create_pull(w: &mut World, body: &Value) -> Answer {
    let field = |k: &str| body[k].as_str().map(str::to_string);
    let (Some(title), Some(head), Some(base)) = (field("title"), field("head"), field("base"))
    else {
        return validation(
            json!([{"resource": "PullRequest", "field": "title/head/base", "code": "missing_field"}]),
        );
    };
    let head = match head.split_once(':') {
        Some((_, b)) => b.to_string(),
        None => head,
    };
    let Some(head_sha) = w.branch_sha(&head) else {
        return validation(
            json!([{"resource": "PullRequest", "field": "head", "code": "invalid"}]),
        );
    };
    let Some(base_sha) = w.branch_sha(&base) else {
        return validation(
            json!([{"resource": "PullRequest", "field": "base", "code": "invalid"}]),
        );
    };
    if w.prs
        .iter()
        .any(|p| p.state == "open" && p.head == head && p.base == base)
    {
        let message = format!("A pull request already exists for {}:{head}.", w.owner);
        return validation(
            json!([{"resource": "PullRequest", "code": "custom", "message": message}]),
        );
    }
    let ahead = w.git(&["rev-list", "--count", &format!("{base_sha}..{head_sha}")]);
    if ahead.as_deref() == Ok("0") {
        let message = format!("No commits between {base} and {head}");
        return validation(
            json!([{"resource": "PullRequest", "code": "custom", "message": message}]),
        );
    }
    let number = w.next_number;
    w.next_number += 1;
    let pr = FakePr {
        number,
        node_id: format!("PR_{number}"),
        title,
        body: field("body").unwrap_or_default(),
        head,
        base,
        state: "open".to_string(),
        merged_at: None,
        head_sha,
        merge_commit_sha: None,
        labels: Vec::new(),
        reviewers: Vec::new(),
        team_reviewers: Vec::new(),
        auto_merge: None,
        fork: None,
    };
    let j = pr_json(w, &pr);
    w.prs.push(pr);
    let mut a = answer(201, j);
    a.headers.push((
        "location".to_string(),
        format!("{}/repos/{}/{}/pulls/{number}", w.base_url, w.owner, w.name),
    ));
    a
}

fn update_pull(w: &mut World, number: Option<u64>, body: &Value) -> Answer {
    w.refresh();
    let Some(pr) = number.and_then(|n| w.pr_mut(n)) else {
        return error(404, "Not Found");
    };
    if let Some(t) = body["title"].as_str() {
        pr.title = t.to_string();
    }
    if let Some(b) = body["body"].as_str() {
        pr.body = b.to_string();
    }
    if let Some(b) = body["base"].as_str() {
        pr.base = b.to_string();
    }
    match body["state"].as_str() {
        Some("closed") => {
            pr.state = "closed".to_string();
            pr.auto_merge = None;
        }
        Some("open") if pr.merged_at.is_none() => pr.state = "open".to_string(),
        Some("open") => {
            return validation(
                json!([{"resource": "PullRequest", "code": "custom", "message": "Cannot reopen a merged pull request"}]),
            );
        }
        _ => {}
    }
    let pr = pr.clone();
    answer(200, pr_json(w, &pr))
}

/// docs.github.com/rest/pulls/pulls#merge-a-pull-request: 405 "if merge
/// cannot be performed" (protection unmet), 409 "if sha was provided and
/// pull request head did not match". Without protection, pending checks
/// do not stop it.
fn merge_pull(w: &mut World, number: Option<u64>, body: &Value) -> Answer {
    let Some(number) = number else {
        return error(404, "Not Found");
    };
    w.refresh();
    if let Some(pr) = w.prs.iter().find(|p| p.number == number)
        && pr.state == "open"
        && let Some(why) = w.protection_blocks(pr)
    {
        return error(405, &why);
    }
    match w.squash_merge(number, body["sha"].as_str()) {
        Ok(sha) => answer(
            200,
            json!({ "sha": sha, "merged": true, "message": "Pull Request successfully merged" }),
        ),
        Err((status, message)) => error(status, &message),
    }
}

/// docs.github.com/rest/pulls/review-requests: "422 Unprocessable Entity if
/// user is not a collaborator", and the author cannot review their own PR.
fn request_reviewers(w: &mut World, number: Option<u64>, body: &Value) -> Answer {
    let strings = |k: &str| -> Vec<String> {
        body[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let (users, teams) = (strings("reviewers"), strings("team_reviewers"));
    if users.iter().any(|u| u == BOT_LOGIN) {
        return validation(
            json!([{"resource": "PullRequest", "code": "custom", "message": "Review cannot be requested from pull request author."}]),
        );
    }
    if users
        .iter()
        .any(|u| !w.collaborators.contains(u) && !w.permissions.contains_key(u))
    {
        let message = format!(
            "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {}/{} repository.",
            w.owner, w.name
        );
        return answer(
            422,
            json!({ "message": message, "documentation_url": DOCS }),
        );
    }
    let Some(pr) = number.and_then(|n| w.pr_mut(n)) else {
        return error(404, "Not Found");
    };
    for u in users {
        if !pr.reviewers.contains(&u) {
            pr.reviewers.push(u);
        }
    }
    for t in teams {
        if !pr.team_reviewers.contains(&t) {
            pr.team_reviewers.push(t);
        }
    }
    let pr = pr.clone();
    answer(201, pr_json(w, &pr))
}

fn add_labels(w: &mut World, number: Option<u64>, body: &Value) -> Answer {
    let Some(n) = number.filter(|n| w.issue_exists(*n)) else {
        return error(404, "Not Found");
    };
    let new: Vec<String> = body["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let labels = match w.pr_mut(n) {
        Some(pr) => {
            for l in new {
                if !pr.labels.contains(&l) {
                    pr.labels.push(l);
                }
            }
            pr.labels.clone()
        }
        None => new,
    };
    answer(
        200,
        Value::Array(labels.iter().map(|l| label_json(w, l)).collect()),
    )
}

fn combined_status(w: &World, sha: &str) -> Answer {
    let statuses: Vec<Value> = w
        .statuses
        .get(sha)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, (context, state))| {
            json!({
                "id": 5000 + i, "node_id": format!("SC_{i}"), "state": state, "context": context,
                "description": null, "target_url": null,
                "url": format!("{}/repos/{}/{}/statuses/{sha}", w.base_url, w.owner, w.name),
                "created_at": iso8601(now_secs()), "updated_at": iso8601(now_secs()),
            })
        })
        .collect();
    let states: Vec<&str> = statuses
        .iter()
        .filter_map(|s| s["state"].as_str())
        .collect();
    let state = if states.iter().any(|s| *s == "failure" || *s == "error") {
        "failure"
    } else if states.is_empty() || states.contains(&"pending") {
        "pending"
    } else {
        "success"
    };
    answer(
        200,
        json!({
            "state": state, "sha": sha, "total_count": statuses.len(), "statuses": statuses,
            "repository": repo_json(w),
            "commit_url": format!("{}/repos/{}/{}/commits/{sha}", w.base_url, w.owner, w.name),
            "url": format!("{}/repos/{}/{}/commits/{sha}/status", w.base_url, w.owner, w.name),
        }),
    )
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// docs.github.com/rest/git/refs#create-a-reference: 201, or 422
/// "Reference already exists".
fn create_ref(w: &mut World, body: &Value) -> Answer {
    let (Some(name), Some(sha)) = (body["ref"].as_str(), body["sha"].as_str()) else {
        return validation(json!([{ "resource": "Reference", "code": "missing_field" }]));
    };
    let Some(branch) = name.strip_prefix("refs/heads/") else {
        return answer(
            422,
            json!({ "message": "Reference name must start with 'refs/'", "documentation_url": DOCS }),
        );
    };
    if w.branch_sha(branch).is_some() {
        return answer(
            422,
            json!({ "message": "Reference already exists", "documentation_url": DOCS }),
        );
    }
    match w.git(&["update-ref", name, sha, ""]) {
        Ok(_) => answer(
            201,
            json!({ "ref": name, "object": { "sha": sha, "type": "commit" } }),
        ),
        Err(_) => answer(
            422,
            json!({ "message": "Object does not exist", "documentation_url": DOCS }),
        ),
    }
}

/// docs.github.com/rest/git/refs#update-a-reference: `force: true` may move
/// it anywhere; otherwise only forward ("Update is not a fast forward").
fn update_ref(w: &mut World, branch: &str, body: &Value) -> Answer {
    let Some(sha) = body["sha"].as_str() else {
        return validation(json!([{ "resource": "Reference", "code": "missing_field" }]));
    };
    let Some(old) = w.branch_sha(branch) else {
        return answer(
            422,
            json!({ "message": "Reference does not exist", "documentation_url": DOCS }),
        );
    };
    let forward = w.git(&["merge-base", "--is-ancestor", &old, sha]).is_ok();
    if !forward && !body["force"].as_bool().unwrap_or(false) {
        return answer(
            422,
            json!({ "message": "Update is not a fast forward", "documentation_url": DOCS }),
        );
    }
    let name = format!("refs/heads/{branch}");
    match w.git(&["update-ref", &name, sha, &old]) {
        Ok(_) => answer(
            200,
            json!({ "ref": name, "object": { "sha": sha, "type": "commit" } }),
        ),
        Err(_) => answer(
            422,
            json!({ "message": "Object does not exist", "documentation_url": DOCS }),
        ),
    }
}

/// `createCommitOnBranch` (docs.github.com/graphql/reference/mutations#createcommitonbranch):
/// commits `fileChanges` on top of the branch's head, which must be
/// `expectedHeadOid`; the author is the caller (an App's bot user) and
/// GitHub signs the commit.
fn create_commit_on_branch(w: &mut World, input: &Value) -> Answer {
    let fail = |t: &str, m: &str| {
        answer(
            200,
            json!({ "data": { "createCommitOnBranch": null }, "errors": [{ "type": t, "path": ["createCommitOnBranch"], "message": m }] }),
        )
    };
    let repo = format!("{}/{}", w.owner, w.name);
    if !input["branch"]["repositoryNameWithOwner"]
        .as_str()
        .is_some_and(|r| r.eq_ignore_ascii_case(&repo))
    {
        return fail("NOT_FOUND", "Could not resolve to a Repository");
    }
    let branch = input["branch"]["branchName"].as_str().unwrap_or_default();
    let Some(head) = w.branch_sha(branch) else {
        return fail(
            "NOT_FOUND",
            &format!("A ref named \"{branch}\" does not exist"),
        );
    };
    let expected = input["expectedHeadOid"].as_str().unwrap_or_default();
    if expected != head {
        return fail(
            "STALE_DATA",
            &format!(
                "Expected branch to point to \"{expected}\" but it did not. Pull and try again."
            ),
        );
    }
    let mut files = Vec::new();
    for a in input["fileChanges"]["additions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let path = a["path"].as_str().unwrap_or_default().to_string();
        let Ok(bytes) = base64::engine::general_purpose::STANDARD
            .decode(a["contents"].as_str().unwrap_or_default())
        else {
            return fail("UNPROCESSABLE", "contents is not base64");
        };
        files.push((path, bytes));
    }
    let headline = input["message"]["headline"].as_str().unwrap_or_default();
    let body = input["message"]["body"].as_str().unwrap_or_default();
    let message = if body.is_empty() {
        headline.to_string()
    } else {
        format!("{headline}\n\n{body}")
    };
    let author_login = format!("{APP_SLUG}[bot]");
    let author_email = format!("{APP_BOT_ID}+{author_login}@users.noreply.github.com");
    let made = crate::support::gitobj::commit_files(
        &w.bare,
        &head,
        &files,
        &message,
        (&author_login, &author_email),
        ("GitHub", "noreply@github.com"),
        true,
    );
    let Ok(sha) = made else {
        return fail("UNPROCESSABLE", "could not create the commit");
    };
    if w.git(&["update-ref", &format!("refs/heads/{branch}"), &sha, &head])
        .is_err()
    {
        return fail("STALE_DATA", "the branch moved");
    }
    w.verified.push(sha.clone());
    answer(
        200,
        json!({ "data": { "createCommitOnBranch": { "commit": { "oid": sha } } } }),
    )
}

fn graphql(w: &mut World, body: &Value) -> Answer {
    // docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api:
    // past the primary limit "the response status will still be 200",
    // with an error and `x-ratelimit-remaining: 0`.
    if w.graphql_rate_limited > 0 {
        w.graphql_rate_limited -= 1;
        let mut a = answer(
            200,
            json!({ "errors": [{ "type": "RATE_LIMITED", "message": format!("API rate limit exceeded for installation ID {}.", w.installation_id) }] }),
        );
        a.headers
            .push(("x-ratelimit-remaining".to_string(), "0".to_string()));
        return a;
    }
    let query = body["query"].as_str().unwrap_or_default();
    if query.contains("createCommitOnBranch") {
        return create_commit_on_branch(w, &body["variables"]["input"]);
    }
    if query.contains("disablePullRequestAutoMerge") {
        return disable_auto_merge(w, body);
    }
    if !query.contains("enablePullRequestAutoMerge") {
        return answer(
            200,
            json!({ "errors": [{ "message": "fake GitHub: unsupported GraphQL query" }] }),
        );
    }
    let node = body["variables"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let method = ["SQUASH", "MERGE", "REBASE"]
        .into_iter()
        .find(|m| {
            query.contains(&format!("mergeMethod: {m}"))
                || query.contains(&format!("mergeMethod:{m}"))
        })
        .unwrap_or("MERGE")
        .to_ascii_lowercase();
    let fail = |t: &str, m: &str| {
        answer(
            200,
            json!({ "data": { "enablePullRequestAutoMerge": null }, "errors": [{ "type": t, "path": ["enablePullRequestAutoMerge"], "message": m }] }),
        )
    };
    w.refresh();
    let Some(pr) = w.prs.iter().find(|p| p.node_id == node).cloned() else {
        return fail(
            "NOT_FOUND",
            &format!("Could not resolve to a node with the global id of '{node}'"),
        );
    };
    if !w.allow_auto_merge {
        return fail(
            "UNPROCESSABLE",
            "Pull request Auto merge is not allowed for this repository",
        );
    }
    if pr.state != "open" {
        return fail("UNPROCESSABLE", "Pull request Pull request is closed");
    }
    // EnablePullRequestAutoMergeInput.expectedHeadOid (octokit/graphql-schema):
    // "The expected head OID of the pull request". The message is the fake's.
    let expected = body["variables"]["head"].as_str();
    if expected.is_some_and(|oid| oid != pr.head_sha) {
        return fail(
            "UNPROCESSABLE",
            "Pull request head is not the expected head OID",
        );
    }
    // Auto-merge needs unmet requirements (peter-evans/enable-pull-request-automerge
    // README "Conditions"): a PR that may merge now is "clean", or
    // "unstable" when only checks that are not required are pending or
    // failing (MergeStateStatus UNSTABLE).
    let state = w.check_state(&pr.head_sha);
    if w.protection_blocks(&pr).is_none() {
        let status = if matches!(state, "success" | "none") {
            "clean"
        } else {
            "unstable"
        };
        return fail(
            "UNPROCESSABLE",
            &format!("Pull request Pull request is in {status} status"),
        );
    }
    if let Some(p) = w.pr_mut(pr.number) {
        p.auto_merge = Some(FakeAutoMerge {
            enabled_by: BOT_LOGIN.to_string(),
            merge_method: method,
        });
    }
    answer(
        200,
        json!({ "data": { "enablePullRequestAutoMerge": { "pullRequest": { "number": pr.number } } } }),
    )
}

/// `disablePullRequestAutoMerge` (docs.github.com GraphQL mutations:
/// "Disable auto merge on the given pull request"): the PR's `auto_merge`
/// is null afterwards.
fn disable_auto_merge(w: &mut World, body: &Value) -> Answer {
    let node = body["variables"]["id"].as_str().unwrap_or_default();
    w.refresh();
    let Some(number) = w.prs.iter().find(|p| p.node_id == node).map(|p| p.number) else {
        return answer(
            200,
            json!({ "data": { "disablePullRequestAutoMerge": null }, "errors": [{ "type": "NOT_FOUND", "path": ["disablePullRequestAutoMerge"], "message": format!("Could not resolve to a node with the global id of '{node}'") }] }),
        );
    };
    if let Some(p) = w.pr_mut(number) {
        p.auto_merge = None;
    }
    answer(
        200,
        json!({ "data": { "disablePullRequestAutoMerge": { "pullRequest": { "number": number } } } }),
    )
}

/// The bearer is the App's JWT: its (unverified) payload has `iss` = the
/// app id and an `exp` ahead.
fn app_jwt(w: &World, auth: Option<&str>) -> Result<(), Answer> {
    let Some(jwt) = token_of(auth) else {
        return Err(error(401, "A JSON web token could not be decoded"));
    };
    let payload = jwt
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p.trim_end_matches('='))
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let Some(payload) = payload else {
        return Err(error(401, "A JSON web token could not be decoded"));
    };
    let iss = match &payload["iss"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    if iss != Some(w.app_id) || payload["exp"].as_u64().is_none_or(|e| e < now_secs()) {
        return Err(error(401, "'Issuer' claim ('iss') must be an Integer"));
    }
    Ok(())
}

/// `POST /app/installations/{id}/access_tokens`: the bearer must be the
/// App's JWT.
fn mint(w: &mut World, id: &str, auth: Option<&str>) -> Answer {
    if let Err(a) = app_jwt(w, auth) {
        return a;
    }
    if id.parse::<u64>().ok() != Some(w.installation_id) {
        return error(404, "Not Found");
    }
    w.mints += 1;
    let token = format!("ghs_fake{:04}installation{}", w.mints, now_secs() % 10_000);
    w.tokens.insert(token.clone());
    answer(
        201,
        json!({
            "token": token, "expires_at": iso8601(now_secs() + 3600),
            "permissions": { "contents": "write", "pull_requests": "write", "issues": "write", "checks": "read" },
            "repository_selection": "all",
        }),
    )
}

pub fn user_json(base: &str, login: &str) -> Value {
    let u = format!("{base}/users/{login}");
    json!({
        "login": login, "id": login.len() as u64 * 1000 + 7, "node_id": format!("U_{login}"),
        "avatar_url": format!("{base}/avatars/{login}"), "gravatar_id": "",
        "url": u, "html_url": format!("{base}/{login}"),
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"), "type": "User", "site_admin": false,
    })
}

/// This repository (clonable: its bare repository) and the others.
fn listed_repos(w: &World) -> Vec<Value> {
    let mut own = repo_json(w);
    own["clone_url"] = json!(format!("file://{}", w.bare.display()));
    own["archived"] = json!(false);
    let mut all = vec![own];
    for (name, _, archived) in &w.others {
        let mut r = repo_json(w);
        r["name"] = json!(name);
        r["full_name"] = json!(format!("{}/{name}", w.owner));
        r["clone_url"] = json!(format!("{}/{}/{name}.git", w.base_url, w.owner));
        r["archived"] = json!(archived);
        all.push(r);
    }
    all
}

fn repo_json(w: &World) -> Value {
    json!({
        "id": 4242, "node_id": "R_4242", "name": w.name, "full_name": format!("{}/{}", w.owner, w.name),
        "private": false, "owner": user_json(&w.base_url, &w.owner),
        "html_url": format!("{}/{}/{}", w.base_url, w.owner, w.name),
        "url": format!("{}/repos/{}/{}", w.base_url, w.owner, w.name),
        "default_branch": "main", "allow_auto_merge": w.allow_auto_merge,
    })
}

fn label_json(w: &World, name: &str) -> Value {
    json!({
        "id": 900 + name.len() as u64, "node_id": format!("LA_{name}"), "name": name,
        "url": format!("{}/repos/{}/{}/labels/{}", w.base_url, w.owner, w.name, encode(name)),
        "color": "ededed", "default": false, "description": null,
    })
}

fn team_json(w: &World, slug: &str) -> Value {
    let u = format!("{}/orgs/{}/teams/{slug}", w.base_url, w.owner);
    json!({
        "id": 300 + slug.len() as u64, "node_id": format!("T_{slug}"), "url": u,
        "html_url": format!("{}/orgs/{}/teams/{slug}", w.base_url, w.owner),
        "name": slug, "slug": slug, "description": null, "privacy": "closed", "permission": "pull",
        "members_url": format!("{u}/members{{/member}}"), "repositories_url": format!("{u}/repos"), "parent": null,
    })
}

fn comment_json(w: &World, number: u64, i: usize, body: &str) -> Value {
    let id = number * 1000 + i as u64;
    json!({
        "id": id, "node_id": format!("IC_{id}"), "body": body,
        "url": format!("{}/repos/{}/{}/issues/comments/{id}", w.base_url, w.owner, w.name),
        "html_url": format!("{}/{}/{}/issues/{number}#issuecomment-{id}", w.base_url, w.owner, w.name),
        "issue_url": format!("{}/repos/{}/{}/issues/{number}", w.base_url, w.owner, w.name),
        "user": user_json(&w.base_url, BOT_LOGIN), "author_association": "NONE",
        "created_at": iso8601(now_secs()), "updated_at": iso8601(now_secs()),
    })
}

fn issue_json(w: &World, i: &FakeIssue) -> Value {
    let u = format!(
        "{}/repos/{}/{}/issues/{}",
        w.base_url, w.owner, w.name, i.number
    );
    json!({
        "id": 2000 + i.number, "node_id": format!("I_{}", i.number), "number": i.number,
        "url": u, "repository_url": format!("{}/repos/{}/{}", w.base_url, w.owner, w.name),
        "labels_url": format!("{u}/labels{{/name}}"), "comments_url": format!("{u}/comments"),
        "events_url": format!("{u}/events"), "html_url": format!("{}/{}/{}/issues/{}", w.base_url, w.owner, w.name, i.number),
        "state": i.state, "title": i.title, "body": i.body, "user": user_json(&w.base_url, BOT_LOGIN),
        "labels": [], "assignee": null, "assignees": [], "locked": false,
        "comments": w.comments.get(&i.number).map_or(0, Vec::len), "author_association": "NONE",
        "created_at": iso8601(now_secs()), "updated_at": iso8601(now_secs()), "closed_at": null,
    })
}

pub fn pr_json(w: &World, p: &FakePr) -> Value {
    let base_sha = w.branch_sha(&p.base).unwrap_or_default();
    let side = |owner: &str, r: &str, sha: &str| {
        let mut repo = repo_json(w);
        repo["full_name"] = json!(format!("{owner}/{}", w.name));
        repo["fork"] = json!(owner != w.owner);
        json!({
            "label": format!("{owner}:{r}"), "ref": r, "sha": sha,
            "user": user_json(&w.base_url, owner), "repo": repo,
        })
    };
    let head_owner = p.fork.as_deref().unwrap_or(&w.owner);
    let auto_merge = p.auto_merge.as_ref().map(|a| {
        json!({
            "enabled_by": user_json(&w.base_url, &a.enabled_by), "merge_method": a.merge_method,
            "commit_title": null, "commit_message": null,
        })
    });
    json!({
        "url": format!("{}/repos/{}/{}/pulls/{}", w.base_url, w.owner, w.name, p.number),
        "id": 1000 + p.number, "node_id": p.node_id, "number": p.number, "state": p.state, "locked": false,
        "title": p.title, "body": p.body,
        "html_url": format!("{}/{}/{}/pull/{}", w.base_url, w.owner, w.name, p.number),
        "user": user_json(&w.base_url, BOT_LOGIN),
        "labels": p.labels.iter().map(|l| label_json(w, l)).collect::<Vec<_>>(),
        "head": side(head_owner, &p.head, &p.head_sha), "base": side(&w.owner, &p.base, &base_sha),
        "merged_at": p.merged_at, "merged": p.merged_at.is_some(), "merge_commit_sha": p.merge_commit_sha,
        "auto_merge": auto_merge, "draft": false,
        "requested_reviewers": p.reviewers.iter().map(|u| user_json(&w.base_url, u)).collect::<Vec<_>>(),
        "requested_teams": p.team_reviewers.iter().map(|t| team_json(w, t)).collect::<Vec<_>>(),
        "created_at": iso8601(now_secs()), "updated_at": iso8601(now_secs()),
        "closed_at": if p.state == "closed" { Some(iso8601(now_secs())) } else { None },
    })
}
