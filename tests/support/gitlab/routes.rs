//! The REST v4 endpoints the bot calls, answered from the [`Model`] as
//! GitLab's documentation describes (status codes, error bodies).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::git::branch_sha;
use super::http::{flag, list, percent_decode, text};
use super::model::{Answer, Issue, MergeSemantics, Model, Note, Pipeline, Reply};
use super::{FakeMr, PROJECT_ID};

impl Model {
    pub(super) fn route(
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
            // doc/api/users.md "Get the current user"
            ("GET", ["user"]) => Ok(Reply::json(200, self.user_json(1))),
            // doc/api/users.md "List users" (`username` matches exactly)
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
            // doc/api/groups.md "List a group's projects" (`include_subgroups`)
            ("GET", ["groups", group, "projects"]) => {
                let group = percent_decode(group);
                let top = self.project_path.split('/').next().unwrap_or_default();
                if !group.eq_ignore_ascii_case(top) {
                    return Err(Reply::message(404, "404 Group Not Found"));
                }
                let subgroups = q.get("include_subgroups").map(String::as_str) == Some("true");
                let direct = |p: &str| p.matches('/').count() == 1;
                let mut items = Vec::new();
                if subgroups || direct(&self.project_path) {
                    let mut own = self.project_json();
                    own["http_url_to_repo"] = json!(format!("file://{}", self.bare.display()));
                    own["archived"] = json!(false);
                    items.push(own);
                }
                for (path, _, archived) in &self.others {
                    if !subgroups && !direct(path) {
                        continue;
                    }
                    if q.get("archived").map(String::as_str) == Some("false") && *archived {
                        continue;
                    }
                    items.push(json!({
                        "id": 1000 + items.len(), "path_with_namespace": path,
                        "default_branch": "main", "archived": archived,
                        "http_url_to_repo": format!("{}/{path}.git", self.url),
                    }));
                }
                Ok(self.paginate(items, q, raw_path))
            }
            // doc/api/repository_files.md "Get file from repository" (404 when absent)
            ("GET", ["projects", id, "repository", "files", file]) => {
                let project = percent_decode(id);
                let file = percent_decode(file);
                let at = q.get("ref").cloned().unwrap_or_else(|| "main".to_string());
                let present = if self.check_project(id).is_ok() {
                    super::git::git(&self.bare, &["cat-file", "-e", &format!("{at}:{file}")])
                        .is_ok()
                } else {
                    self.others.iter().any(|(p, has, _)| {
                        p.eq_ignore_ascii_case(&project) && *has && file == ".imagebump.yaml"
                    })
                };
                if present {
                    Ok(Reply::json(
                        200,
                        json!({ "file_name": file, "file_path": file, "ref": at }),
                    ))
                } else {
                    Err(Reply::message(404, "404 File Not Found"))
                }
            }
            (_, ["projects", id, rest @ ..]) => {
                self.check_project(id)?;
                self.route_project(method, rest, q, input, raw_path)
            }
            _ => Err(not_found()),
        }
    }

    pub(super) fn check_project(&self, id: &str) -> Result<(), Reply> {
        let decoded = percent_decode(id);
        if decoded == PROJECT_ID.to_string() || decoded.eq_ignore_ascii_case(&self.project_path) {
            Ok(())
        } else {
            Err(Reply::message(404, "404 Project Not Found"))
        }
    }

    pub(super) fn route_project(
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
            // doc/api/projects.md "Get a single project" (by id or URL-encoded path)
            ("GET", []) => Ok(Reply::json(200, self.project_json())),
            // doc/api/merge_requests.md "List project merge requests" (MergeRequestBasic: no head_pipeline)
            ("GET", ["merge_requests"]) => Ok(self.list_mrs(q, raw_path)),
            // doc/api/merge_requests.md "Create MR" (409 for a second open MR of the branch; unknown reviewer_ids dropped)
            ("POST", ["merge_requests"]) => self.create_mr(input),
            ("GET", ["merge_requests", n]) => {
                let n = iid(n)?;
                self.refresh_shas();
                Ok(Reply::json(200, self.mr_detail_json(self.mr(n)?)))
            }
            // doc/api/merge_requests.md "Update MR" (`state_event`: close, reopen)
            ("PUT", ["merge_requests", n]) => self.update_mr(iid(n)?, input),
            // doc/api/members.md "Get a member of a group or project, including inherited and invited members"
            ("GET", ["members", "all", uid]) => {
                let member = uid.parse::<u64>().ok().and_then(|uid| {
                    let user = self.users.iter().find(|u| u.id == uid)?;
                    let level = *self.access_levels.get(&user.username)?;
                    Some(json!({
                        "id": user.id,
                        "username": user.username,
                        "state": "active",
                        "access_level": level,
                    }))
                });
                member
                    .map(|m| Reply::json(200, m))
                    .ok_or_else(|| Reply::message(404, "404 Not found"))
            }
            ("PUT", ["merge_requests", n, "merge"]) => self.merge_endpoint(iid(n)?, input),
            // doc/api/merge_requests.md "Cancel Merge When Pipeline Succeeds":
            // 405 when the MR is merged or closed, 406 when it is not set to
            // merge when the pipeline succeeds; else the MR, no longer set.
            ("POST", ["merge_requests", n, "cancel_merge_when_pipeline_succeeds"]) => {
                let n = iid(n)?;
                let mr = self.mr(n)?.clone();
                if mr.state != "opened" {
                    return Err(Reply::message(405, "405 Method Not Allowed"));
                }
                if !mr.auto_merge {
                    return Err(Reply::message(406, "406 Not Acceptable"));
                }
                if let Some(m) = self.mrs.iter_mut().find(|m| m.iid == n) {
                    m.auto_merge = false;
                }
                self.system_note(n, "canceled the automatic merge", 1);
                Ok(Reply::json(201, self.mr_detail_json(self.mr(n)?)))
            }
            // doc/api/notes.md "List all merge request notes" (system notes included)
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
            // doc/api/notes.md "Create new merge request note"
            ("POST", ["merge_requests", n, "notes"]) => {
                let n = iid(n)?;
                self.mr(n)?;
                let note = self.new_note(input)?;
                let json = self.note_json(&note, n, "MergeRequest");
                self.mr_notes.entry(n).or_default().push(note);
                Ok(Reply::json(201, json))
            }
            // doc/api/pipelines.md "List project pipelines" (`sha` misses merged-results pipelines)
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
            // doc/api/commits.md "List the statuses of a commit"
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
            ("POST", ["repository", "commits"]) => self.create_commit(input),
            // doc/api/issues.md "List project issues" (`search`, `in=title`)
            ("GET", ["issues"]) => Ok(self.list_issues(q, raw_path)),
            // doc/api/issues.md "New issue"
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
            // doc/api/notes.md "Create new issue note"
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

    pub(super) fn list_mrs(&mut self, q: &HashMap<String, String>, raw_path: &str) -> Reply {
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

    pub(super) fn create_mr(&mut self, input: &Value) -> Answer {
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
        // One open MR per source branch *of a project*: a fork's MR of a
        // branch with the same name does not count.
        if let Some(dup) = self.mrs.iter().find(|mr| {
            mr.state == "opened"
                && mr.source_project_id == PROJECT_ID
                && mr.source_branch == source
                && mr.target_branch == target
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
            source_project_id: PROJECT_ID,
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
        let json = self.mr_detail_json(&mr);
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

    pub(super) fn update_mr(&mut self, iid: u64, input: &Value) -> Answer {
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
        Ok(Reply::json(200, self.mr_detail_json(self.mr(iid)?)))
    }

    /// `PUT …/merge`: an immediate merge, or auto-merge (`auto_merge` /
    /// `merge_when_pipeline_succeeds`) as the configured GitLab version
    /// decides ([`MergeSemantics`]).
    pub(super) fn merge_endpoint(&mut self, iid: u64, input: &Value) -> Answer {
        self.refresh_shas();
        let mr = self.mr(iid)?.clone();
        // 401 "This user does not have permission to accept this merge
        // request" (doc/api/merge_requests.md "Merge a merge request").
        if !self.bot_can_merge {
            return Err(Reply::message(401, "401 Unauthorized"));
        }
        // 405 "The merge request cannot merge" (same section).
        if mr.state != "opened" {
            return Err(Reply::message(405, "405 Method Not Allowed"));
        }
        // 409 "SHA does not match HEAD of source branch" (same section).
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
            let pipeline = self.head_pipeline(&mr).map(|p| p.status.clone());
            let creating = self.creating.contains(&mr.sha);
            let active = pipeline.as_deref().is_some_and(|s| {
                matches!(
                    s,
                    "created" | "waiting_for_resource" | "preparing" | "pending" | "running"
                )
            });
            let set_auto = match self.semantics {
                // merge_when_pipeline_succeeds_service.rb: available only
                // with an active head pipeline; else `not_allowed!`.
                MergeSemantics::PipelineSucceeds => {
                    if !active {
                        return Err(Reply::message(405, "405 Method Not Allowed"));
                    }
                    true
                }
                // merge_requests.rb `execute_merge`: a strategy when checks
                // are in progress; else merge at once when
                // `(!pipeline_creating? && !diff_head_pipeline) ||
                // diff_head_pipeline_success?`; else `not_allowed!`.
                MergeSemantics::ChecksPass => {
                    if active {
                        true
                    } else if (!creating && pipeline.is_none())
                        || pipeline.as_deref() == Some("success")
                    {
                        false
                    } else {
                        return Err(Reply::message(405, "405 Method Not Allowed"));
                    }
                }
            };
            if set_auto {
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
                return Ok(Reply::json(200, self.mr_detail_json(self.mr(iid)?)));
            }
        }
        self.merge(iid, Some(&mr.sha), 1)?;
        Ok(Reply::json(200, self.mr_detail_json(self.mr(iid)?)))
    }

    /// `POST /projects/:id/repository/commits` (doc/api/commits.md "Create
    /// a commit with multiple files and actions"): `start_sha` creates the
    /// branch from that commit; an existing branch needs `force` to be
    /// rewritten from `start_sha` ("A branch called … already exists");
    /// `update` needs the file to exist. Authored as `author_name`/`email`
    /// when given, else as the token's user.
    pub(super) fn create_commit(&mut self, input: &Value) -> Answer {
        let bad = |m: &str| Reply::message(400, m);
        let branch = text(input, "branch").unwrap_or_default();
        let message = text(input, "commit_message").unwrap_or_default();
        if branch.is_empty() || message.is_empty() {
            return Err(Reply::json(
                400,
                json!({ "error": "branch, commit_message are missing" }),
            ));
        }
        let exists = branch_sha(&self.bare, &branch);
        let parent = match (text(input, "start_sha"), &exists) {
            (Some(start), Some(_)) if flag(input, "force") => start,
            (Some(_), Some(_)) => {
                return Err(bad(&format!(
                    "A branch called '{branch}' already exists. Switch to that branch in order to make changes"
                )));
            }
            (Some(start), None) => start,
            (None, Some(head)) => head.clone(),
            (None, None) => {
                return Err(bad(
                    "You can only create or edit files when you are on a branch",
                ));
            }
        };
        let mut files = Vec::new();
        for a in input
            .get("actions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let path = text(a, "file_path").unwrap_or_default();
            match text(a, "action").as_deref() {
                Some("update") => {
                    let listed = super::git::git(&self.bare, &["ls-tree", &parent, "--", &path])
                        .unwrap_or_default();
                    if listed.is_empty() {
                        return Err(bad("A file with this name doesn't exist"));
                    }
                }
                Some("create") => {}
                other => {
                    return Err(bad(&format!(
                        "fake GitLab: action {other:?} is not modelled"
                    )));
                }
            }
            files.push((path, text(a, "content").unwrap_or_default().into_bytes()));
        }
        let bot = self.users[0].username.clone();
        let name = text(input, "author_name").unwrap_or_else(|| bot.clone());
        let email = text(input, "author_email").unwrap_or_else(|| format!("{bot}@example.invalid"));
        let sha = crate::support::gitobj::commit_files(
            &self.bare,
            &parent,
            &files,
            &message,
            (&name, &email),
            (&name, &email),
            true,
        )
        .map_err(|e| bad(&e))?;
        let old = exists.unwrap_or_default();
        super::git::git(
            &self.bare,
            &["update-ref", &format!("refs/heads/{branch}"), &sha, &old],
        )
        .map_err(|_| Reply::message(409, "the branch moved"))?;
        self.api_commits.push(sha.clone());
        let now = self.now();
        Ok(Reply::json(
            201,
            json!({
                "id": sha, "short_id": &sha[..8], "title": message.lines().next().unwrap_or_default(),
                "message": message, "author_name": name, "author_email": email,
                "committer_name": name, "committer_email": email, "created_at": now,
                "parent_ids": [parent],
            }),
        ))
    }

    pub(super) fn new_note(&mut self, input: &Value) -> Result<Note, Reply> {
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

    pub(super) fn list_issues(&self, q: &HashMap<String, String>, raw_path: &str) -> Reply {
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
}
