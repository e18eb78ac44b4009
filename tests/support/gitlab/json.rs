//! GitLab's JSON shapes for the fake's objects, and offset pagination.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::http::percent_encode;
use super::model::{Issue, Model, Note, Pipeline, Reply};
use super::{FakeMr, PROJECT_ID};

impl Model {
    pub(super) fn user_json(&self, id: u64) -> Value {
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

    pub(super) fn project_json(&self) -> Value {
        let name = self.project_path.rsplit('/').next().unwrap_or_default();
        json!({
            "id": PROJECT_ID, "name": name, "path": name,
            "path_with_namespace": self.project_path, "default_branch": "main",
            "web_url": format!("{}/{}", self.url, self.project_path),
            "http_url_to_repo": format!("{}/{}.git", self.url, self.project_path),
        })
    }

    pub(super) fn mr_json(&self, mr: &FakeMr) -> Value {
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
            "source_project_id": mr.source_project_id, "target_project_id": mr.project_id,
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

    /// A single-MR answer (GET, create, update, merge): the list shape
    /// plus `head_pipeline`, which only `Entities::MergeRequest` exposes,
    /// not the lists' `MergeRequestBasic` (doc/api/merge_requests.md "Get
    /// single MR": "Pipeline running on the branch HEAD").
    pub(super) fn mr_detail_json(&self, mr: &FakeMr) -> Value {
        let mut j = self.mr_json(mr);
        j["head_pipeline"] = self
            .head_pipeline(mr)
            .map_or(Value::Null, |p| self.pipeline_json(p));
        j["pipeline"] = j["head_pipeline"].clone();
        j
    }

    pub(super) fn pipeline_json(&self, p: &Pipeline) -> Value {
        json!({
            "id": p.id, "iid": p.id, "project_id": PROJECT_ID, "sha": p.sha,
            "ref": p.git_ref, "status": p.status, "source": "push",
            "created_at": p.created_at, "updated_at": p.created_at,
            "web_url": format!("{}/{}/-/pipelines/{}", self.url, self.project_path, p.id),
        })
    }

    pub(super) fn note_json(&self, n: &Note, noteable_iid: u64, kind: &str) -> Value {
        json!({
            "id": n.id, "type": null, "body": n.body, "author": self.user_json(n.author),
            "created_at": n.created_at, "updated_at": n.created_at, "system": n.system,
            "noteable_type": kind, "noteable_iid": noteable_iid, "resolvable": false,
            "confidential": false, "internal": false,
        })
    }

    pub(super) fn issue_json(&self, i: &Issue) -> Value {
        json!({
            "id": i.id, "iid": i.iid, "project_id": PROJECT_ID, "title": i.title,
            "description": i.description, "state": i.state, "labels": [],
            "created_at": i.created_at, "updated_at": i.created_at,
            "author": self.user_json(1), "user_notes_count": i.notes.len(),
            "web_url": format!("{}/{}/-/issues/{}", self.url, self.project_path, i.iid),
        })
    }

    /// One page of `items` with GitLab's offset-pagination headers.
    /// doc/api/rest/index.md "Pagination": `page`/`per_page` (max 100), `X-Next-Page`, `Link`.
    pub(super) fn paginate(
        &self,
        items: Vec<Value>,
        q: &HashMap<String, String>,
        raw_path: &str,
    ) -> Reply {
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
