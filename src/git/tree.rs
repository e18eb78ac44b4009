//! Reading files from a commit's tree in the mirror, with the same rules as
//! the work-tree reader (`workdir`): globs where `*` does not cross `/`,
//! symlinks (mode 120000) and submodules (gitlinks) never read, files over
//! the limit (`maxFileSize`) or not UTF-8 reported as problems, not errors.

use anyhow::Context;
use gix::bstr::ByteSlice;

use super::Mirror;
use crate::plan::{Problem, SourceFile};
use crate::policy::DEFAULT_MAX_FILE_BYTES;
use crate::workdir::{glob_set, over_limit};

impl Mirror {
    /// The text of `path` at `commit`; `None` if there is no such entry.
    /// An error if the entry is not a regular file, is over
    /// [`DEFAULT_MAX_FILE_BYTES`] or is not UTF-8.
    pub fn read_file(&self, commit: &str, path: &str) -> anyhow::Result<Option<String>> {
        let repo = self.local()?;
        let tree = commit_tree(&repo, commit)?;
        let Some(entry) = tree
            .lookup_entry_by_path(path)
            .with_context(|| format!("looking up {path}"))?
        else {
            return Ok(None);
        };
        let mode = entry.mode();
        anyhow::ensure!(
            mode.is_blob(),
            "{path} at {commit} is not a regular file (mode {:o})",
            mode.value()
        );
        let size = blob_size(&repo, entry.object_id())?;
        if let Some(why) = over_limit(size, DEFAULT_MAX_FILE_BYTES) {
            anyhow::bail!("{path}: {why}");
        }
        let blob = repo
            .find_blob(entry.object_id())
            .with_context(|| format!("reading {path}"))?;
        let text = String::from_utf8(blob.detach().data).map_err(|e| {
            anyhow::anyhow!(
                "{path} is not UTF-8 text (byte {})",
                e.utf8_error().valid_up_to()
            )
        })?;
        Ok(Some(text))
    }

    /// The regular files of `commit`'s tree selected by `include` and not
    /// by `exclude`, sorted by path; those over `max_bytes` are problems.
    pub fn read_files(
        &self,
        commit: &str,
        include: &[String],
        exclude: &[String],
        max_bytes: u64,
    ) -> anyhow::Result<(Vec<SourceFile>, Vec<Problem>)> {
        let repo = self.local()?;
        let entries = selected(&repo, commit, include, exclude)?;
        let mut files = Vec::new();
        let mut problems = Vec::new();
        for (path, oid) in entries {
            if let Some(why) = unsafe_path(&path) {
                problems.push(Problem {
                    file: path,
                    line: 1,
                    message: why,
                });
                continue;
            }
            match read_blob_text(&repo, oid, max_bytes) {
                Ok(text) => files.push(SourceFile { path, text }),
                Err(message) => problems.push(Problem {
                    file: path,
                    line: 1,
                    message,
                }),
            }
        }
        Ok((files, problems))
    }

    /// The selected files (as [`Mirror::read_files`] selects them) whose
    /// content differs between commits `before` and `after`: their texts
    /// at `before` and at `after`, each side holding only the files it has
    /// and can read. Only the changed blobs are read.
    pub fn changed_files(
        &self,
        before: &str,
        after: &str,
        include: &[String],
        exclude: &[String],
        max_bytes: u64,
    ) -> anyhow::Result<(Vec<SourceFile>, Vec<SourceFile>)> {
        let repo = self.local()?;
        let old = selected(&repo, before, include, exclude)?;
        let new = selected(&repo, after, include, exclude)?;
        let old_ids: std::collections::HashMap<&str, gix::ObjectId> =
            old.iter().map(|(p, id)| (p.as_str(), *id)).collect();
        let new_ids: std::collections::HashMap<&str, gix::ObjectId> =
            new.iter().map(|(p, id)| (p.as_str(), *id)).collect();
        let read = |side: &[(String, gix::ObjectId)],
                    other: &std::collections::HashMap<&str, gix::ObjectId>| {
            side.iter()
                .filter(|(path, id)| other.get(path.as_str()) != Some(id))
                .filter(|(path, _)| unsafe_path(path).is_none())
                .filter_map(|(path, id)| {
                    let text = read_blob_text(&repo, *id, max_bytes).ok()?;
                    Some(SourceFile {
                        path: path.clone(),
                        text,
                    })
                })
                .collect::<Vec<SourceFile>>()
        };
        Ok((read(&old, &new_ids), read(&new, &old_ids)))
    }
}

/// The regular files of `commit`'s tree selected by `include` and not by
/// `exclude`, with their blob ids, sorted by path.
fn selected(
    repo: &gix::Repository,
    commit: &str,
    include: &[String],
    exclude: &[String],
) -> anyhow::Result<Vec<(String, gix::ObjectId)>> {
    let include = glob_set(include)?;
    let exclude = glob_set(exclude)?;
    let tree = commit_tree(repo, commit)?;
    let mut recorder = gix::traverse::tree::Recorder::default();
    tree.traverse()
        .breadthfirst(&mut recorder)
        .with_context(|| format!("walking the tree of {commit}"))?;
    let mut entries: Vec<(String, gix::ObjectId)> = recorder
        .records
        .into_iter()
        // Only regular files: never symlinks, submodules or trees.
        .filter(|e| e.mode.is_blob())
        .filter_map(|e| Some((e.filepath.to_str().ok()?.to_string(), e.oid)))
        .filter(|(path, _)| include.is_match(path) && !exclude.is_match(path))
        .collect();
    entries.sort();
    Ok(entries)
}

/// Why a path in a tree is never read or written: a `.`, `..` or `.git`
/// component, or an empty one. Git itself refuses such trees
/// (`git fsck`: "contains '..'", "contains '.git'"), but a remote that does
/// not check objects can still serve them.
fn unsafe_path(path: &str) -> Option<String> {
    path.split('/')
        .find(|c| c.is_empty() || *c == "." || *c == ".." || c.eq_ignore_ascii_case(".git"))
        .map(|c| format!("skipped: the path has a {c:?} component"))
}

/// The tree of the commit named by `rev` (a sha or a ref).
pub(crate) fn commit_tree<'r>(
    repo: &'r gix::Repository,
    rev: &str,
) -> anyhow::Result<gix::Tree<'r>> {
    find_commit(repo, rev)?
        .tree()
        .with_context(|| format!("reading the tree of {rev}"))
}

/// The commit named by `rev` (a sha or a ref).
pub(crate) fn find_commit<'r>(
    repo: &'r gix::Repository,
    rev: &str,
) -> anyhow::Result<gix::Commit<'r>> {
    anyhow::ensure!(!rev.starts_with('-'), "invalid revision {rev:?}");
    let id = repo
        .rev_parse_single(rev)
        .map_err(|e| anyhow::anyhow!("no commit {rev:?}: {e}"))?;
    id.object()
        .with_context(|| format!("reading {rev}"))?
        .peel_to_commit()
        .with_context(|| format!("{rev} is not a commit"))
}

fn blob_size(repo: &gix::Repository, oid: gix::ObjectId) -> anyhow::Result<u64> {
    Ok(repo
        .find_header(oid)
        .context("reading object header")?
        .size())
}

fn read_blob_text(
    repo: &gix::Repository,
    oid: gix::ObjectId,
    max_bytes: u64,
) -> Result<String, String> {
    let size = blob_size(repo, oid).map_err(|e| format!("cannot read: {e:#}"))?;
    if let Some(why) = over_limit(size, max_bytes) {
        return Err(why);
    }
    let blob = repo
        .find_blob(oid)
        .map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(blob.detach().data)
        .map_err(|e| format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}
