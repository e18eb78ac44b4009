//! The `git` CLI on the project's bare repository.

use std::path::Path;
use std::process::Command;

pub(super) fn git(bare: &Path, args: &[&str]) -> Result<String, String> {
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

pub(super) fn branch_sha(bare: &Path, branch: &str) -> Option<String> {
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
pub(super) fn squash_merge(
    bare: &Path,
    target: &str,
    source: &str,
    message: &str,
) -> Result<String, String> {
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
