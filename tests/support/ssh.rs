//! SSH signing keys made by the real `ssh-keygen` (Debian's
//! `openssh-client`), and the real `git verify-commit` against an
//! allowed-signers file, as a person checks the bot's signed commits.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Makes a key with `ssh-keygen -q -N <passphrase> -C imagebump-test
/// -f dir/name` and `args` (e.g. `["-t", "ed25519"]`); returns the private
/// key's path (the public key is beside it, `name.pub`).
pub fn keygen(dir: &Path, name: &str, passphrase: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-N", passphrase, "-C", "imagebump-test", "-f"])
        .arg(&path)
        .args(args)
        .output()
        .expect("run ssh-keygen (Debian package openssh-client)");
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// An unencrypted ed25519 key at `dir/name`.
pub fn ed25519(dir: &Path, name: &str) -> PathBuf {
    keygen(dir, name, "", &["-t", "ed25519"])
}

/// The public key line (`ssh-ed25519 AAAA… comment`) of the key at `key`.
pub fn public_key(key: &Path) -> String {
    let mut pub_path = key.as_os_str().to_owned();
    pub_path.push(".pub");
    std::fs::read_to_string(PathBuf::from(pub_path))
        .expect("read the public key")
        .trim()
        .to_string()
}

/// `git verify-commit <sha>` in `repo` with `gpg.format=ssh`, trusting only
/// `<principal> namespaces="git" <public_key>`: whether it passed, and
/// what git said (stdout and stderr).
pub fn verify_commit(repo: &Path, sha: &str, principal: &str, public_key: &str) -> (bool, String) {
    let allowed = tempfile::NamedTempFile::new().expect("allowed signers file");
    std::fs::write(
        allowed.path(),
        format!("{principal} namespaces=\"git\" {public_key}\n"),
    )
    .expect("write allowed signers");
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "gpg.format=ssh", "-c"])
        .arg(format!(
            "gpg.ssh.allowedSignersFile={}",
            allowed.path().display()
        ))
        .args(["verify-commit", "-v", sha])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git verify-commit");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}
