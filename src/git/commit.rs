//! Commits in the mirror: describing them, listing the commits between two
//! points, and building a new commit from a parent's tree without a work
//! tree (new blobs → edited trees → commit object, SSH-signed when the
//! author has a key; no ref is updated).
//!
//! Building a commit touches only the edited paths: the tree editor
//! rewrites the trees on the way to each changed file and reuses every
//! other tree and blob by id, so a tree of 10,000 files costs no more than
//! its changed directories.

use anyhow::Context;
use gix::bstr::ByteSlice;

use super::tree::find_commit;
use super::{CommitInfo, Mirror, Signature};

impl Mirror {
    /// What commit `sha` says.
    pub fn commit_info(&self, sha: &str) -> anyhow::Result<CommitInfo> {
        let repo = self.local()?;
        let commit = find_commit(&repo, sha)?;
        info(&commit)
    }

    /// Commits reachable from `head` but not from `base` (like
    /// `git rev-list base..head`), newest first.
    pub fn commits_between(&self, base: &str, head: &str) -> anyhow::Result<Vec<CommitInfo>> {
        let repo = self.local()?;
        let base = find_commit(&repo, base)?.id;
        let head = find_commit(&repo, head)?.id;
        let walk = repo
            .rev_walk([head])
            .with_hidden([base])
            .sorting(gix::revision::walk::Sorting::ByCommitTime(
                gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
            ))
            .all()
            .context("walking commits")?;
        let mut out = Vec::new();
        for step in walk {
            let step = step.context("walking commits")?;
            let commit = repo
                .find_commit(step.id)
                .with_context(|| format!("reading {}", step.id))?;
            out.push(info(&commit)?);
        }
        Ok(out)
    }

    /// `head` and its first parents, newest first: at most `limit`
    /// commits, ending before `stop` when the chain reaches it.
    pub fn first_parents(
        &self,
        head: &str,
        stop: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<Vec<CommitInfo>> {
        let repo = self.local()?;
        let mut out = Vec::new();
        let mut next = Some(find_commit(&repo, head)?);
        while let Some(commit) = next.take() {
            if out.len() >= limit || stop.is_some_and(|s| commit.id == s) {
                break;
            }
            let described = info(&commit)?;
            next = match described.parents.first() {
                Some(parent) => Some(find_commit(&repo, parent)?),
                None => None,
            };
            out.push(described);
        }
        Ok(out)
    }

    /// Builds a commit on `parent` whose tree is the parent's with each
    /// `(path, new text)` replaced. Each path must be a regular file in the
    /// parent's tree; its mode is kept. With the author's signing key, the
    /// commit carries an SSH signature in its `gpgsig` header, as git
    /// writes with `gpg.format=ssh`; without, it has no such header. No
    /// ref is updated. Returns the sha.
    pub fn commit(
        &self,
        parent: &str,
        changes: &[(String, String)],
        message: &str,
        author: &Signature,
    ) -> anyhow::Result<String> {
        check_identity(author)?;
        let repo = self.local()?;
        let parent = find_commit(&repo, parent)?;
        let tree = parent.tree().context("reading the parent's tree")?;
        let mut editor = tree.edit().context("editing the tree")?;
        for (path, text) in changes {
            let entry = tree
                .lookup_entry_by_path(path)
                .with_context(|| format!("looking up {path}"))?
                .with_context(|| format!("{path} does not exist in {}", parent.id))?;
            let mode = entry.mode();
            anyhow::ensure!(
                mode.is_blob(),
                "{path} is not a regular file in {} (mode {:o})",
                parent.id,
                mode.value()
            );
            let blob = repo
                .write_blob(text.as_bytes())
                .with_context(|| format!("writing {path}"))?;
            editor
                .upsert(path.as_str(), mode.kind(), blob)
                .with_context(|| format!("replacing {path}"))?;
        }
        let new_tree = editor.write().context("writing trees")?;
        let signature = gix::actor::Signature {
            name: author.name.as_str().into(),
            email: author.email.as_str().into(),
            time: gix::date::Time::now_local_or_utc(),
        };
        // What `Repository::new_commit_as` writes, plus `gpgsig` if signed.
        let mut commit = gix::objs::Commit {
            tree: new_tree.detach(),
            parents: [parent.id].into_iter().collect(),
            author: signature.clone(),
            committer: signature,
            encoding: None,
            message: message.into(),
            extra_headers: Vec::new(),
        };
        if let Some(key) = &author.signing_key {
            // Git signs the commit object as it is without `gpgsig`, and
            // `verify-commit` strips that header (and its continuation
            // lines) again before checking.
            let mut payload = Vec::new();
            gix::objs::WriteTo::write_to(&commit, &mut payload).context("encoding the commit")?;
            let armored = key.sign(&payload).context("signing the commit")?;
            commit.extra_headers.push(("gpgsig".into(), armored.into()));
        }
        let id = repo.write_object(&commit).context("writing the commit")?;
        Ok(id.to_string())
    }
}

/// A name or email that would corrupt the commit header is refused.
fn check_identity(sig: &Signature) -> anyhow::Result<()> {
    for (what, value) in [("name", &sig.name), ("email", &sig.email)] {
        anyhow::ensure!(
            !value.contains(['<', '>', '\n', '\0']),
            "commit {what} {value:?} contains `<`, `>`, a newline or NUL"
        );
    }
    Ok(())
}

fn info(commit: &gix::Commit<'_>) -> anyhow::Result<CommitInfo> {
    let decoded = commit
        .decode()
        .with_context(|| format!("decoding commit {}", commit.id))?;
    Ok(CommitInfo {
        sha: commit.id.to_string(),
        tree: decoded.tree().to_string(),
        parents: decoded.parents().map(|p| p.to_string()).collect(),
        author_email: decoded.author()?.email.to_str_lossy().into_owned(),
        committer_email: decoded.committer()?.email.to_str_lossy().into_owned(),
        committed_ms: decoded
            .committer()?
            .time()
            .with_context(|| format!("reading the commit time of {}", commit.id))?
            .seconds
            .saturating_mul(1000),
        message: decoded.message.to_str_lossy().into_owned(),
    })
}
