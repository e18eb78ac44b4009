//! Pushing from the mirror with the `git` CLI (gix cannot push), always
//! under `--force-with-lease` with an explicit expected value, and only for
//! the holder of the repository's [`RepoGuard`].
//!
//! Credentials reach only the one `git push` process, through its
//! environment (`GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_0=http.extraHeader`):
//! never argv, never disk. Everything git prints is redacted before it is
//! returned. A successful push also moves the mirror's own branch, so the
//! mirror agrees with the remote without a fetch.

use std::process::Stdio;
use std::time::Duration;

use gix::refs::transaction::PreviousValue;

use super::mirror::branch_ref;
use super::tree::find_commit;
use super::{Lease, Mirror, PushError, redact_text};
use crate::lock::RepoGuard;

/// A push that has not finished by then is killed: a hung remote must not
/// hold the repository's lock forever.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(300);

impl Mirror {
    /// Pushes `commit` to `refs/heads/<branch>` on the remote, if the
    /// remote branch is what `lease` says. With `force` false (the base
    /// branch in direct mode) the push must also be a fast-forward of the
    /// leased commit. Pushing the commit the remote branch already has
    /// succeeds whatever the lease (git reports it up to date).
    pub async fn push(
        &self,
        guard: &RepoGuard,
        commit: &str,
        branch: &str,
        lease: Lease,
        force: bool,
    ) -> Result<(), PushError> {
        self.check_guard(guard)?;
        let target = branch_ref(branch).map_err(failed)?;
        let commit_id = {
            let repo = self.local().map_err(failed)?;
            let c = find_commit(&repo, commit).map_err(failed)?;
            c.id
        };
        let expected = lease_value(&lease)?;
        if !force
            && let Lease::Expect(old) = &lease
            && !self.is_ancestor(old, &commit_id.to_string()).await?
        {
            return Err(PushError::Rejected(format!(
                "{commit_id} is not a fast-forward of {old} on {branch}"
            )));
        }
        self.run_push(&target, &expected, &format!("{commit_id}:{target}"))
            .await?;
        let repo = self.local().map_err(failed)?;
        repo.reference(
            target.as_str(),
            commit_id,
            PreviousValue::Any,
            "imagebump: pushed",
        )
        .map_err(|e| {
            PushError::Failed(format!("pushed, but updating the mirror's {target}: {e}"))
        })?;
        Ok(())
    }

    /// Deletes `refs/heads/<branch>` on the remote if it still points at
    /// `expected`.
    pub async fn delete_branch(
        &self,
        guard: &RepoGuard,
        branch: &str,
        expected: &str,
    ) -> Result<(), PushError> {
        self.check_guard(guard)?;
        let target = branch_ref(branch).map_err(failed)?;
        let expected = lease_value(&Lease::Expect(expected.to_string()))?;
        self.run_push(&target, &expected, &format!(":{target}"))
            .await?;
        let repo = self.local().map_err(failed)?;
        if let Ok(Some(r)) = repo.try_find_reference(target.as_str()) {
            r.delete().map_err(|e| {
                PushError::Failed(format!("deleted, but removing the mirror's {target}: {e}"))
            })?;
        }
        Ok(())
    }

    fn check_guard(&self, guard: &RepoGuard) -> Result<(), PushError> {
        if guard.repo() == self.name {
            Ok(())
        } else {
            Err(PushError::Failed(format!(
                "the lock held is for {:?}, not {:?}; refusing to push",
                guard.repo(),
                self.name
            )))
        }
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    async fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, PushError> {
        let out = tokio::process::Command::new("git")
            .arg("--git-dir")
            .arg(&self.path)
            .args(["merge-base", "--is-ancestor", ancestor, descendant])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| PushError::Failed(format!("running git merge-base: {e}")))?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(PushError::Failed(format!(
                "git merge-base: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))),
        }
    }

    /// `git push --porcelain --force-with-lease=<target>:<expected> <url> <refspec>`.
    async fn run_push(&self, target: &str, expected: &str, refspec: &str) -> Result<(), PushError> {
        let mut cmd = tokio::process::Command::new("git");
        cmd.arg("--git-dir")
            .arg(&self.path)
            // No credential helper: the only credentials are ours.
            .args(["-c", "credential.helper="])
            .arg("push")
            .arg("--porcelain")
            .arg(format!("--force-with-lease={target}:{expected}"))
            .arg("--")
            .arg(&self.url)
            .arg(refspec)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(auth) = &self.auth() {
            cmd.env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env("GIT_CONFIG_VALUE_0", auth.header());
        }
        let output = match tokio::time::timeout(PUSH_TIMEOUT, cmd.output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => return Err(PushError::Failed(format!("running git push: {e}"))),
            Err(_) => {
                return Err(PushError::Failed(self.redact(&format!(
                    "git push to {} did not finish within {PUSH_TIMEOUT:?}",
                    self.url
                ))));
            }
        };
        if output.status.success() {
            return Ok(());
        }
        let stdout = self.redact(&String::from_utf8_lossy(&output.stdout));
        let stderr = self.redact(&String::from_utf8_lossy(&output.stderr));
        // Porcelain: `!<TAB><from>:<to><TAB>[rejected] (stale info)`.
        let refused: Vec<&str> = stdout.lines().filter(|l| l.starts_with('!')).collect();
        if let Some(line) = refused.iter().find(|l| l.contains("[rejected]")) {
            return Err(PushError::Rejected(
                line.trim_start_matches('!').trim().to_string(),
            ));
        }
        let mut message = stderr.trim().to_string();
        for line in refused {
            message.push('\n');
            message.push_str(line);
        }
        Err(PushError::Failed(self.redact(&format!(
            "git push to {} exited with {}: {message}",
            self.url, output.status
        ))))
    }

    /// `text` without credentials: neither the auth's secrets nor a
    /// password in the URL.
    fn redact(&self, text: &str) -> String {
        redact_text(text, &self.url, self.auth().as_ref())
    }
}

/// The lease's expected value for `--force-with-lease` (empty: must not
/// exist).
fn lease_value(lease: &Lease) -> Result<String, PushError> {
    match lease {
        Lease::MustNotExist => Ok(String::new()),
        Lease::Expect(sha) => {
            let valid = sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit());
            if valid {
                Ok(sha.to_ascii_lowercase())
            } else {
                Err(PushError::Failed(format!(
                    "lease {sha:?} is not a full commit sha"
                )))
            }
        }
    }
}

fn failed(e: anyhow::Error) -> PushError {
    PushError::Failed(format!("{e:#}"))
}
