//! Reading an environment repository's work tree (for `check`): the files
//! that `.imagebump.yaml` selects, and writing edited files back.
//!
//! Symbolic links are never followed (a link could point out of the tree),
//! `.git` is never entered, and a file that cannot be read is reported
//! without stopping the others.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::plan::{Problem, SourceFile};
use crate::policy::RepoConfig;

/// Why a file of `size` bytes is not read, when it is over `limit`
/// (`maxFileSize`): it is skipped, and the reason reported.
pub fn over_limit(size: u64, limit: u64) -> Option<String> {
    (size > limit).then(|| {
        format!("skipped: {size} bytes, over the {limit}-byte limit for manifests (`maxFileSize`)")
    })
}

/// Compiles globs with `*` not crossing `/` (as in `.gitignore`).
pub fn glob_set(globs: &[String]) -> anyhow::Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(
            GlobBuilder::new(g)
                .literal_separator(true)
                .build()
                .with_context(|| format!("glob `{g}`"))?,
        );
    }
    Ok(b.build()?)
}

/// The files under `root` selected by the config, sorted by path.
pub fn read_files(
    root: &Path,
    config: &RepoConfig,
) -> anyhow::Result<(Vec<SourceFile>, Vec<Problem>)> {
    let include = glob_set(&config.files)?;
    let exclude = glob_set(&config.exclude)?;
    let mut paths = Vec::new();
    walk(root, root, &mut paths).with_context(|| format!("reading {}", root.display()))?;
    paths.sort();
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for (rel, abs) in paths {
        if !include.is_match(&rel) || exclude.is_match(&rel) {
            continue;
        }
        match read_one(&abs, config.max_file_bytes) {
            Ok(text) => files.push(SourceFile { path: rel, text }),
            Err(message) => problems.push(Problem {
                file: rel,
                line: 1,
                message,
            }),
        }
    }
    Ok((files, problems))
}

fn read_one(path: &Path, limit: u64) -> Result<String, String> {
    let meta = fs::symlink_metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if let Some(why) = over_limit(meta.len(), limit) {
        return Err(why);
    }
    let bytes = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?; // does not follow symlinks
        let path = entry.path();
        if kind.is_dir() {
            if entry.file_name() != ".git" {
                walk(root, &path, out)?;
            }
        } else if kind.is_file()
            && let Ok(rel) = path.strip_prefix(root)
            && let Some(rel) = rel.to_str()
        {
            out.push((rel.replace('\\', "/"), path));
        }
    }
    Ok(())
}

/// Replaces a file's contents atomically (temp file + rename), keeping its
/// permissions. Refuses symlinks.
pub fn write_file(root: &Path, rel: &str, text: &str) -> anyhow::Result<()> {
    let path = root.join(rel);
    let meta = fs::symlink_metadata(&path).with_context(|| rel.to_string())?;
    anyhow::ensure!(
        meta.file_type().is_file(),
        "{rel} is not a regular file; not writing through it"
    );
    let dir = path.parent().context("file has no parent directory")?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.imagebump.tmp"));
    let mut f = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::set_permissions(&tmp, meta.permissions())?;
    fs::rename(&tmp, &path).with_context(|| format!("replacing {rel}"))?;
    Ok(())
}
