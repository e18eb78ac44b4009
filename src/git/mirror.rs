//! The bare mirror of one environment repository: opening it, cloning it
//! the first time, fetching it incrementally with gix, and reading its
//! branch heads.
//!
//! A fetch makes the mirror's `refs/heads/*` equal the remote's: changed
//! branches are updated (forced), branches deleted upstream are removed.
//! Tags are not fetched. gix's network calls block, so they run on
//! `spawn_blocking`. A first clone goes to a temporary directory that is
//! renamed into place only when complete, so a half clone is never opened.
//!
//! [`Mirror::new`] does no I/O: the mirror is opened or cloned by its first
//! [`fetch`](Mirror::fetch) (or [`open`](Mirror::open)), so `serve` listens
//! at once and each repository's first reconcile, on a worker, clones it
//! (docs/ARCHITECTURE.md, "Flow").

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use gix::bstr::ByteSlice;
use gix::remote::Direction;

use super::{GitAuth, is_http, redact_error, redact_url};

/// The mirror's fetch refspec: its branches are the remote's.
pub(crate) const FETCH_REFSPEC: &str = "+refs/heads/*:refs/heads/*";

/// A bare mirror of one remote repository.
pub struct Mirror {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) url: String,
    /// Replaced when a short-lived token is refreshed.
    pub(crate) auth: std::sync::RwLock<Option<GitAuth>>,
    /// Set once the mirror is opened or cloned.
    pub(crate) repo: std::sync::OnceLock<gix::ThreadSafeRepository>,
    /// Held while opening or cloning, so that it happens once.
    opening: tokio::sync::Mutex<()>,
    /// Set once this process has looked for lock files a dead process
    /// left in the mirror ([`Mirror::remove_stale_locks`]).
    locks_checked: AtomicBool,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("url", &redact_url(&self.url))
            .field("auth", &self.auth())
            .finish()
    }
}

impl Mirror {
    /// The credentials used for the remote now.
    pub(crate) fn auth(&self) -> Option<GitAuth> {
        self.auth
            .read()
            .map(|a| a.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Replaces the credentials (a refreshed installation token).
    pub fn set_auth(&self, auth: Option<GitAuth>) {
        match self.auth.write() {
            Ok(mut a) => *a = auth,
            Err(p) => *p.into_inner() = auth,
        }
    }

    /// The bare mirror of repository `name` at `dir` (e.g.
    /// `<data dir>/repos/<name>.git`) of `url`, not opened yet: the first
    /// [`fetch`](Self::fetch) opens it, or clones it if `dir` does not
    /// exist. `name` is the repository whose
    /// [`RepoGuard`](crate::lock::RepoGuard) a push requires.
    pub fn new(name: &str, dir: &Path, url: &str, auth: Option<GitAuth>) -> anyhow::Result<Mirror> {
        anyhow::ensure!(
            !url.starts_with('-'),
            "remote URL {} starts with `-`",
            redact_url(url)
        );
        Ok(Mirror {
            name: name.to_string(),
            path: dir.to_path_buf(),
            url: url.to_string(),
            auth: std::sync::RwLock::new(auth),
            repo: std::sync::OnceLock::new(),
            opening: tokio::sync::Mutex::new(()),
            locks_checked: AtomicBool::new(false),
        })
    }

    /// Opens the mirror, cloning it first if its directory does not exist;
    /// nothing once it is open. True if this call cloned it (a clone is a
    /// full fetch).
    pub async fn open(&self) -> anyhow::Result<bool> {
        if self.repo.get().is_some() {
            return Ok(false);
        }
        let _opening = self.opening.lock().await;
        if self.repo.get().is_some() {
            return Ok(false);
        }
        let dir = self.path.clone();
        let url = self.url.clone();
        let auth = self.auth();
        let (repo, cloned) = tokio::task::spawn_blocking(move || {
            let cloned = !dir.exists();
            open_or_clone_blocking(&dir, &url, auth.as_ref())
                .map(|r| (r, cloned))
                .map_err(|e| redact_error(e, &url, auth.as_ref()))
        })
        .await
        .context("clone task panicked")??;
        // Only this call sets it: it holds `opening`.
        let _ = self.repo.set(repo.into_sync());
        Ok(cloned)
    }

    /// The repository name given at construction.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The mirror's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fetches the remote's branches; prunes branches deleted upstream.
    /// The first fetch opens (or clones) the mirror.
    pub async fn fetch(&self) -> anyhow::Result<()> {
        if self.open().await? {
            return Ok(());
        }
        let repo = self.opened()?.clone();
        let url = self.url.clone();
        let auth = self.auth();
        tokio::task::spawn_blocking(move || {
            fetch_blocking(&repo.to_thread_local(), &url, auth.as_ref())
        })
        .await
        .context("fetch task panicked")?
    }

    /// Removes the lock files a process that died while writing the mirror
    /// left in it (`*.lock` under `refs/`, and `HEAD.lock`,
    /// `packed-refs.lock`, `config.lock`, `shallow.lock`): a fetch never
    /// updates a ref whose lock file exists, so one such file, left by a
    /// `kill -9` in the middle of a fetch, would stop every reconcile of
    /// the repository until someone deleted it by hand. Done once per
    /// process, before its first fetch, holding the repository's `guard`:
    /// every writer of the mirror holds that guard (the in-process lock,
    /// and on Postgres the repository's advisory lock across replicas;
    /// SQLite serves from one process by design), so a lock file found
    /// then belongs to no live writer. Returns the files removed, relative
    /// to the mirror.
    pub fn remove_stale_locks(
        &self,
        guard: &crate::lock::RepoGuard,
    ) -> anyhow::Result<Vec<PathBuf>> {
        anyhow::ensure!(
            guard.repo() == self.name,
            "the lock held is for {:?}, not {:?}",
            guard.repo(),
            self.name
        );
        if self
            .locks_checked
            .swap(true, std::sync::atomic::Ordering::SeqCst)
            || !self.path.exists()
        {
            return Ok(Vec::new());
        }
        let mut found: Vec<PathBuf> = [
            "HEAD.lock",
            "packed-refs.lock",
            "config.lock",
            "shallow.lock",
        ]
        .iter()
        .map(|name| self.path.join(name))
        .filter(|p| p.is_file())
        .collect();
        let mut dirs = vec![self.path.join("refs")];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                // Never follows a symlink out of the mirror.
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    dirs.push(path);
                } else if kind.is_file() && path.extension().is_some_and(|e| e == "lock") {
                    found.push(path);
                }
            }
        }
        let mut removed = Vec::new();
        for path in found {
            std::fs::remove_file(&path)
                .with_context(|| format!("removing the stale lock {}", path.display()))?;
            let shown = path.strip_prefix(&self.path).unwrap_or(&path).to_path_buf();
            tracing::warn!(
                repo = %self.name,
                file = %shown.display(),
                "removed a lock file a stopped process left in the mirror"
            );
            removed.push(shown);
        }
        Ok(removed)
    }

    /// The sha of `refs/heads/<branch>` in the mirror, if it exists.
    pub fn branch_head(&self, branch: &str) -> anyhow::Result<Option<String>> {
        let repo = self.local()?;
        let name = branch_ref(branch)?;
        match repo.try_find_reference(name.as_str())? {
            None => Ok(None),
            Some(mut r) => {
                let id = r
                    .peel_to_id()
                    .with_context(|| format!("resolving {name}"))?;
                Ok(Some(id.to_string()))
            }
        }
    }

    fn opened(&self) -> anyhow::Result<&gix::ThreadSafeRepository> {
        self.repo.get().with_context(|| {
            format!(
                "the mirror of {} is not cloned yet (its first fetch clones it)",
                self.name
            )
        })
    }

    /// A thread-local handle on the mirror (once it is open).
    pub(crate) fn local(&self) -> anyhow::Result<gix::Repository> {
        Ok(self.opened()?.to_thread_local())
    }
}

/// `refs/heads/<branch>`, validated as a ref name.
pub(crate) fn branch_ref(branch: &str) -> anyhow::Result<String> {
    let full = format!("refs/heads/{branch}");
    gix::refs::FullName::try_from(full.as_str())
        .map_err(|e| anyhow::anyhow!("invalid branch name {branch:?}: {e}"))?;
    Ok(full)
}

fn open_or_clone_blocking(
    dir: &Path,
    url: &str,
    auth: Option<&GitAuth>,
) -> anyhow::Result<gix::Repository> {
    if dir.exists() {
        return gix::open(dir).with_context(|| format!("opening mirror {}", dir.display()));
    }
    let file_name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("mirror directory has no name")?;
    let tmp = dir.with_file_name(format!(".{file_name}.cloning"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)
            .with_context(|| format!("removing stale {}", tmp.display()))?;
    }
    if let Some(parent) = tmp.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let cloned = (|| {
        let repo = gix::init_bare(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        fetch_blocking(&repo, url, auth)
    })();
    if let Err(e) = cloned {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.context(format!("cloning {}", redact_url(url))));
    }
    std::fs::rename(&tmp, dir).with_context(|| format!("moving clone to {}", dir.display()))?;
    gix::open(dir).with_context(|| format!("opening mirror {}", dir.display()))
}

fn fetch_blocking(repo: &gix::Repository, url: &str, auth: Option<&GitAuth>) -> anyhow::Result<()> {
    let shown = redact_url(url);
    let remote = repo
        .remote_at(url)
        .with_context(|| format!("remote {shown}"))?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs([FETCH_REFSPEC], Direction::Fetch)
        .context("fetch refspec")?;
    let mut conn = remote
        .connect(Direction::Fetch)
        .with_context(|| format!("connecting to {shown}"))?;
    // Never ask a credential helper or a terminal: the bot's credentials
    // are explicit.
    conn.set_credentials(|_| Ok(None));
    if let Some(auth) = auth
        && is_http(url)
    {
        conn.set_transport_options(http_options(repo, url, auth)?);
    }
    let outcome = conn
        .prepare_fetch(gix::progress::Discard, Default::default())
        .with_context(|| format!("listing refs of {shown}"))?
        .receive(gix::progress::Discard, &AtomicBool::new(false))
        .with_context(|| format!("fetching {shown}"))?;
    prune(repo, &outcome.ref_map.remote_refs)
}

/// HTTP transport options carrying the `Authorization` header.
fn http_options(
    repo: &gix::Repository,
    url: &str,
    auth: &GitAuth,
) -> anyhow::Result<Box<dyn std::any::Any>> {
    use gix::protocol::transport::client::blocking_io::http::Options;
    let mut opts = repo
        .transport_options(url, None)
        .context("transport options")?
        .and_then(|b| b.downcast::<Options>().ok())
        .map(|b| *b)
        .unwrap_or_default();
    opts.extra_headers.push(auth.header().to_string());
    Ok(Box::new(opts))
}

/// Deletes the mirror's branches that the remote no longer has.
fn prune(
    repo: &gix::Repository,
    remote_refs: &[gix::protocol::handshake::Ref],
) -> anyhow::Result<()> {
    let upstream: HashSet<&[u8]> = remote_refs
        .iter()
        .map(|r| r.unpack().0.as_bytes())
        .filter(|n| n.starts_with(b"refs/heads/"))
        .collect();
    let mut gone = Vec::new();
    for r in repo.references()?.prefixed("refs/heads/")? {
        let r = r.map_err(|e| anyhow::anyhow!("listing branches: {e}"))?;
        if !upstream.contains(r.name().as_bstr().as_bytes()) {
            gone.push(r.detach());
        }
    }
    for r in gone {
        let name = r.name.as_bstr().to_string();
        repo.find_reference(name.as_str())?
            .delete()
            .with_context(|| format!("pruning {name}"))?;
    }
    Ok(())
}
