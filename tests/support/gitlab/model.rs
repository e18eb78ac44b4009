//! The fake's state: everything GitLab would store for the project, and
//! the operations with side effects on the bare repository (merge,
//! pipeline completion triggering auto-merge).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::FakeMr;
use super::git::{branch_sha, git, squash_merge};

#[derive(Clone, Debug)]
pub(super) struct Note {
    pub(super) id: u64,
    pub(super) body: String,
    pub(super) system: bool,
    pub(super) author: u64,
    pub(super) created_at: String,
}

#[derive(Clone, Debug)]
pub(super) struct Issue {
    pub(super) id: u64,
    pub(super) iid: u64,
    pub(super) title: String,
    pub(super) description: String,
    pub(super) state: String,
    pub(super) created_at: String,
    pub(super) notes: Vec<Note>,
}

#[derive(Clone, Debug)]
pub(super) struct Pipeline {
    pub(super) id: u64,
    pub(super) sha: String,
    pub(super) git_ref: String,
    pub(super) status: String,
    pub(super) created_at: String,
    /// A merged-results pipeline's MR head: it runs on a merge commit
    /// (`sha`) that is in neither branch.
    pub(super) source_sha: Option<String>,
}

/// How `PUT …/merge` with `auto_merge` / `merge_when_pipeline_succeeds`
/// behaves, by GitLab version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeSemantics {
    /// Up to 17.10: the merge-when-pipeline-succeeds strategy, available
    /// only while the head pipeline is active; otherwise 405. Conflicts
    /// answer 406 (before the 406→422 change of gitlab-org/gitlab!90976).
    /// Source: lib/api/merge_requests.rb `automatically_mergeable?` and
    /// app/services/auto_merge/merge_when_pipeline_succeeds_service.rb
    /// `available_for?` (`diff_head_pipeline&.active?`).
    PipelineSucceeds,
    /// 17.11+: `execute_merge` with merge-when-checks-pass. No head
    /// pipeline and none being created, or a head pipeline that already
    /// succeeded: merged at once. A running pipeline: auto-merge set. A
    /// pipeline being created or a failed one: 405. Conflicts: 422
    /// "Branch cannot be merged". Source: lib/api/merge_requests.rb
    /// `execute_merge`/`pipeline_allows_merge?`, doc/api/merge_requests.md
    /// "Merge a merge request".
    ChecksPass,
}

#[derive(Clone, Debug)]
pub(super) struct CommitStatus {
    pub(super) id: u64,
    pub(super) sha: String,
    pub(super) name: String,
    pub(super) status: String,
}

#[derive(Clone, Debug)]
pub(super) struct User {
    pub(super) id: u64,
    pub(super) username: String,
}

/// An injected answer or delay for the next `count` matching requests.
#[derive(Clone, Debug)]
pub(super) struct Fault {
    pub(super) method: String,
    pub(super) prefix: String,
    pub(super) remaining: usize,
    pub(super) status: u16,
    pub(super) retry_after: Option<u64>,
    pub(super) delay: Option<Duration>,
}

impl Fault {
    pub(super) fn matches(&self, method: &str, path: &str) -> bool {
        self.remaining > 0
            && (self.method == "*" || self.method.eq_ignore_ascii_case(method))
            && path.starts_with(&self.prefix)
    }
}

/// An answer: status, JSON (or text) body, extra headers.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: Value,
    pub(super) headers: Vec<(String, String)>,
}

impl Reply {
    pub(super) fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body,
            headers: Vec::new(),
        }
    }

    pub(super) fn message(status: u16, message: &str) -> Reply {
        Reply::json(status, json!({ "message": message }))
    }
}

pub(super) type Answer = Result<Reply, Reply>;

pub(super) struct Model {
    pub(super) url: String,
    pub(super) project_path: String,
    pub(super) bare: PathBuf,
    pub(super) users: Vec<User>,
    pub(super) mrs: Vec<FakeMr>,
    pub(super) mr_notes: HashMap<u64, Vec<Note>>,
    pub(super) issues: Vec<Issue>,
    pub(super) pipelines: Vec<Pipeline>,
    pub(super) statuses: Vec<CommitStatus>,
    pub(super) faults: Vec<Fault>,
    pub(super) max_per_page: usize,
    pub(super) requests: Vec<(String, String)>,
    pub(super) clock: u64,
    pub(super) next_id: u64,
    /// username → project access level (10 guest … 30 developer … 50
    /// owner); users not listed are not members (404).
    pub(super) access_levels: HashMap<String, u64>,
    pub(super) semantics: MergeSemantics,
    /// Head SHAs whose pipeline GitLab is still creating (after a push,
    /// before the pipeline exists).
    pub(super) creating: Vec<String>,
    /// Whether the bot's user may merge (a protected target branch that
    /// only maintainers may merge into answers 401).
    pub(super) bot_can_merge: bool,
    /// Commits made through the commits API, oldest first.
    pub(super) api_commits: Vec<String>,
    /// Other projects of the group: (path with namespace, has
    /// `.imagebump.yaml` on `main`, archived).
    pub(super) others: Vec<(String, bool, bool)>,
}

impl Model {
    pub(super) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fake clock: one second per event, from 2026-01-01T00:00:00Z.
    pub(super) fn now(&mut self) -> String {
        self.clock += 1;
        let (h, m, s) = (self.clock / 3600, (self.clock / 60) % 60, self.clock % 60);
        format!("2026-01-01T{h:02}:{m:02}:{s:02}.000Z")
    }

    pub(super) fn refresh_shas(&mut self) {
        let bare = self.bare.clone();
        // A fork's branch lives in the fork, not in this repository.
        for mr in self
            .mrs
            .iter_mut()
            .filter(|mr| mr.state == "opened" && mr.source_project_id == super::PROJECT_ID)
        {
            if let Some(sha) = branch_sha(&bare, &mr.source_branch) {
                mr.sha = sha;
            }
        }
    }

    pub(super) fn system_note(&mut self, iid: u64, body: &str, author: u64) {
        let note = Note {
            id: self.id(),
            body: body.to_string(),
            system: true,
            author,
            created_at: self.now(),
        };
        self.mr_notes.entry(iid).or_default().push(note);
    }

    pub(super) fn mr(&self, iid: u64) -> Result<&FakeMr, Reply> {
        self.mrs
            .iter()
            .find(|mr| mr.iid == iid)
            .ok_or_else(|| Reply::message(404, "404 Not found"))
    }

    /// Squash-merges the MR onto its target branch in the bare repository.
    pub(super) fn merge(&mut self, iid: u64, sha: Option<&str>, by: u64) -> Result<(), Reply> {
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
        // Conflicts: 406 before gitlab-org/gitlab!90976, 422 since
        // (doc/api/merge_requests.md "Merge a merge request").
        let conflict = match self.semantics {
            MergeSemantics::PipelineSucceeds => 406,
            MergeSemantics::ChecksPass => 422,
        };
        let merged = squash_merge(&self.bare, &mr.target_branch, &mr.source_branch, &mr.title)
            .map_err(|_| Reply::message(conflict, "Branch cannot be merged"))?;
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

    pub(super) fn latest_pipeline(&self, sha: &str) -> Option<&Pipeline> {
        self.pipelines
            .iter()
            .filter(|p| p.sha == sha)
            .max_by_key(|p| p.id)
    }

    /// The MR's `head_pipeline`: the newest pipeline of its head SHA, a
    /// branch pipeline or a merged-results one whose source is the head
    /// (MergeRequest#diff_head_pipeline, `for_sha_or_source_sha`).
    pub(super) fn head_pipeline(&self, mr: &FakeMr) -> Option<&Pipeline> {
        self.pipelines
            .iter()
            .filter(|p| p.sha == mr.sha || p.source_sha.as_deref() == Some(mr.sha.as_str()))
            .max_by_key(|p| p.id)
    }

    /// Adds a merged-results pipeline of MR `iid` (on
    /// `refs/merge-requests/:iid/merge`, with a merge commit's SHA that
    /// no branch has) for its current head.
    pub(super) fn add_merged_results_pipeline(&mut self, iid: u64, status: &str) {
        self.refresh_shas();
        let Some(head) = self
            .mrs
            .iter()
            .find(|m| m.iid == iid)
            .map(|m| m.sha.clone())
        else {
            panic!("no MR !{iid}");
        };
        let id = self.id();
        let pipeline = Pipeline {
            id,
            sha: format!("{:040x}", 0xfeed_0000_u64 + id),
            git_ref: format!("refs/merge-requests/{iid}/merge"),
            status: status.to_string(),
            created_at: self.now(),
            source_sha: Some(head.clone()),
        };
        self.pipelines.push(pipeline);
        if status == "success" {
            self.auto_merge_ready(&head);
        }
    }

    pub(super) fn set_pipeline(&mut self, sha: &str, status: &str) {
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
                    source_sha: None,
                };
                self.pipelines.push(pipeline);
            }
        }
        self.creating.retain(|s| s != sha);
        if status == "success" {
            self.auto_merge_ready(sha);
        }
    }

    /// Merges open auto-merge MRs whose head is `sha`, as GitLab does once
    /// the head pipeline succeeds.
    fn auto_merge_ready(&mut self, sha: &str) {
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
}
