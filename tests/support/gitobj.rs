//! Commits the fakes make on a platform's behalf (API commits), built with
//! the real `git` CLI in the bare repository: the parent's tree with files
//! replaced (modes kept), through a temporary index. No ref is updated.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// `(name, email)`.
pub type Who<'a> = (&'a str, &'a str);

fn run(
    bare: &Path,
    index: &Path,
    args: &[&str],
    input: Option<&[u8]>,
    env: &[(&str, &str)],
) -> Result<String, String> {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(bare)
        .args(args)
        .env("GIT_INDEX_FILE", index);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("git {args:?}: {e}"))?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(bytes).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The commit (not on any ref) of `files` over `parent`, by `author` and
/// `committer`, with `message`. A path missing from the parent is an
/// error unless `create` allows new files.
pub fn commit_files(
    bare: &Path,
    parent: &str,
    files: &[(String, Vec<u8>)],
    message: &str,
    author: Who<'_>,
    committer: Who<'_>,
    create: bool,
) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let index = dir.path().join("index");
    run(bare, &index, &["read-tree", parent], None, &[])?;
    for (path, bytes) in files {
        let listed = run(bare, &index, &["ls-tree", parent, "--", path], None, &[])?;
        let mode = match listed.split_whitespace().next() {
            Some(mode) => mode.to_string(),
            None if create => "100644".to_string(),
            None => return Err(format!("{path} does not exist")),
        };
        let blob = run(
            bare,
            &index,
            &["hash-object", "-w", "--stdin"],
            Some(bytes),
            &[],
        )?;
        let info = format!("{mode},{blob},{path}");
        run(
            bare,
            &index,
            &["update-index", "--add", "--cacheinfo", &info],
            None,
            &[],
        )?;
    }
    let tree = run(bare, &index, &["write-tree"], None, &[])?;
    let env = [
        ("GIT_AUTHOR_NAME", author.0),
        ("GIT_AUTHOR_EMAIL", author.1),
        ("GIT_COMMITTER_NAME", committer.0),
        ("GIT_COMMITTER_EMAIL", committer.1),
    ];
    run(
        bare,
        &index,
        &["commit-tree", &tree, "-p", parent, "-m", message],
        None,
        &env,
    )
}
