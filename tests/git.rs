//! The `git` module against real bare repositories made with the `git` CLI.

#[path = "support/ssh.rs"]
mod ssh;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use imagebump::git::{GitAuth, Lease, Mirror, PushError, Signature, SigningKey};
use imagebump::lock::RepoLocks;
use imagebump::policy::DEFAULT_MAX_FILE_BYTES;

const REPO: &str = "env";
const SECRET: &str = "s3cr3t-t0ken-value";

/// Runs the git CLI isolated from the user's configuration.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Human")
        .env("GIT_AUTHOR_EMAIL", "human@example.com")
        .env("GIT_COMMITTER_NAME", "Human")
        .env("GIT_COMMITTER_EMAIL", "human@example.com")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn git_bytes(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?} failed");
    out.stdout
}

/// A bare "remote" with a `main` branch, and a work clone of it (`src`)
/// where a human makes commits.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    remote: PathBuf,
    src: PathBuf,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        let remote = root.join("remote.git");
        let src = root.join("src");
        std::fs::create_dir_all(&remote).expect("mkdir");
        std::fs::create_dir_all(&src).expect("mkdir");
        git(&remote, &["init", "-q", "--bare", "-b", "main"]);
        git(&src, &["init", "-q", "-b", "main"]);
        let write = |rel: &str, bytes: &[u8]| {
            let p = src.join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, bytes).expect("write");
        };
        write("deploy/app.yaml", b"image: nginx:1.25.0 # keep\n");
        write("deploy/nested/b.yaml", b"image: redis:7.0.0\n");
        write("deploy/other.yaml", b"image: busybox:1.36\n");
        write("run.yaml", b"image: alpine:3.19\n");
        write("bin.yaml", b"image: \xff\xfe\n");
        write("README.md", b"# env\n");
        {
            use std::os::unix::fs::PermissionsExt;
            let run = src.join("run.yaml");
            std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        std::os::unix::fs::symlink("deploy/app.yaml", src.join("link.yaml")).expect("symlink");
        git(&src, &["add", "-A"]);
        // A submodule entry (gitlink) pointing at some commit.
        git(
            &src,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                "160000,1111111111111111111111111111111111111111,sub.yaml",
            ],
        );
        git(&src, &["commit", "-q", "-m", "initial"]);
        git(
            &src,
            &["remote", "add", "origin", remote.to_str().expect("utf-8")],
        );
        git(&src, &["push", "-q", "origin", "main"]);
        World {
            _tmp: tmp,
            root,
            remote,
            src,
        }
    }

    fn url(&self) -> String {
        self.remote.to_str().expect("utf-8").to_string()
    }

    fn file_url(&self) -> String {
        format!("file://{}", self.url())
    }

    fn mirror_dir(&self) -> PathBuf {
        self.root.join("repos").join("env.git")
    }

    async fn mirror(&self) -> Mirror {
        cloned(REPO, &self.mirror_dir(), &self.url(), None)
            .await
            .expect("clone")
    }

    fn remote_head(&self, branch: &str) -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.remote)
            .args([
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}"),
            ])
            .output()
            .expect("git");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A human commit on `branch` upstream, changing `file`.
    fn human_commit(&self, branch: &str, file: &str, text: &str) -> String {
        git(&self.src, &["fetch", "-q", "origin"]);
        git(
            &self.src,
            &["checkout", "-q", "-B", branch, &format!("origin/{branch}")],
        );
        std::fs::write(self.src.join(file), text).expect("write");
        git(&self.src, &["commit", "-q", "-am", "human change"]);
        git(&self.src, &["push", "-q", "origin", branch]);
        git(&self.src, &["rev-parse", "HEAD"]).trim().to_string()
    }
}

fn bot() -> Signature {
    Signature {
        name: "imagebump".into(),
        email: "bot@example.com".into(),
        signing_key: None,
    }
}

/// The bot, signing with the private key at `key`.
fn signing_bot(key: &Path) -> Signature {
    Signature {
        signing_key: Some(Arc::new(SigningKey::from_file(key).expect("signing key"))),
        ..bot()
    }
}

/// The bump of [`bump`], made by `author`.
fn bump_as(m: &Mirror, parent: &str, author: &Signature) -> String {
    m.commit(
        parent,
        &[
            (
                "deploy/app.yaml".into(),
                "image: nginx:1.25.1 # keep\n".into(),
            ),
            ("run.yaml".into(), "image: alpine:3.20\n".into()),
        ],
        "Bump images\n\nImagebump-Change: web\n",
        author,
    )
    .expect("commit")
}

fn globs(g: &[&str]) -> Vec<String> {
    g.iter().map(|s| s.to_string()).collect()
}

fn bump(m: &Mirror, parent: &str) -> String {
    m.commit(
        parent,
        &[
            (
                "deploy/app.yaml".into(),
                "image: nginx:1.25.1 # keep\n".into(),
            ),
            ("run.yaml".into(), "image: alpine:3.20\n".into()),
        ],
        "Bump images\n\nImagebump-Change: web\n",
        &bot(),
    )
    .expect("commit")
}

#[tokio::test]
async fn clone_reads_selected_regular_files_only() {
    let w = World::new();
    let m = w.mirror().await;
    let head = m.branch_head("main").unwrap().expect("main");
    assert_eq!(Some(head.clone()), w.remote_head("main"));

    let (files, problems) = m
        .read_files(
            &head,
            &globs(&["**/*.yaml"]),
            &globs(&["deploy/nested/**"]),
            DEFAULT_MAX_FILE_BYTES,
        )
        .unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    // No symlink (link.yaml), no submodule (sub.yaml), nothing excluded.
    assert_eq!(paths, ["deploy/app.yaml", "deploy/other.yaml", "run.yaml"]);
    assert_eq!(files[0].text, "image: nginx:1.25.0 # keep\n");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].file, "bin.yaml");
    assert!(
        problems[0].message.contains("UTF-8"),
        "{}",
        problems[0].message
    );

    // `*` does not cross `/`.
    let (files, _) = m
        .read_files(&head, &globs(&["*.yaml"]), &[], DEFAULT_MAX_FILE_BYTES)
        .unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["run.yaml"]);
}

#[tokio::test]
async fn read_file_distinguishes_absent_and_unreadable() {
    let w = World::new();
    let m = w.mirror().await;
    let head = m.branch_head("main").unwrap().expect("main");
    assert_eq!(
        m.read_file(&head, "deploy/app.yaml").unwrap().as_deref(),
        Some("image: nginx:1.25.0 # keep\n")
    );
    assert_eq!(m.read_file(&head, "nope.yaml").unwrap(), None);
    assert!(m.read_file(&head, "bin.yaml").is_err());
    assert!(m.read_file(&head, "link.yaml").is_err());
    assert!(m.read_file(&head, "deploy").is_err());
    assert!(m.read_file(&head, "sub.yaml").is_err());
    assert_eq!(m.branch_head("missing").unwrap(), None);
    assert!(m.branch_head("bad..name").is_err());
}

#[tokio::test]
async fn commit_changes_only_the_given_files_and_keeps_modes() {
    let w = World::new();
    let m = w.mirror().await;
    let base = m.branch_head("main").unwrap().expect("main");
    let c = bump(&m, &base);
    let locks = RepoLocks::default();
    let guard = locks.acquire(REPO).await.unwrap();
    m.push(&guard, &c, "imagebump/web", Lease::MustNotExist, true)
        .await
        .unwrap();
    assert_eq!(w.remote_head("imagebump/web").as_deref(), Some(c.as_str()));
    assert_eq!(
        m.branch_head("imagebump/web").unwrap().as_deref(),
        Some(c.as_str())
    );

    let blob = git_bytes(
        &w.remote,
        &["cat-file", "blob", &format!("{c}:deploy/app.yaml")],
    );
    assert_eq!(blob, b"image: nginx:1.25.1 # keep\n");
    let changed = git(&w.remote, &["diff", "--name-only", &base, &c]);
    assert_eq!(changed, "deploy/app.yaml\nrun.yaml\n");
    let ls = git(&w.remote, &["ls-tree", &c, "run.yaml"]);
    assert!(ls.starts_with("100755 blob "), "{ls}");
    let ls = git(&w.remote, &["ls-tree", &c, "link.yaml", "sub.yaml"]);
    assert!(
        ls.contains("120000 blob") && ls.contains("160000 commit"),
        "{ls}"
    );
    git(&w.remote, &["fsck", "--strict", "--no-progress"]);

    let info = m.commit_info(&c).unwrap();
    assert_eq!(info.sha, c);
    assert_eq!(info.parents, vec![base.clone()]);
    assert_eq!(info.author_email, "bot@example.com");
    assert_eq!(info.committer_email, "bot@example.com");
    assert_eq!(info.message, "Bump images\n\nImagebump-Change: web\n");
    assert_eq!(
        info.tree,
        git(&w.remote, &["rev-parse", &format!("{c}^{{tree}}")]).trim()
    );
}

#[tokio::test]
async fn commit_refuses_missing_paths_and_non_files() {
    let w = World::new();
    let m = w.mirror().await;
    let base = m.branch_head("main").unwrap().expect("main");
    for path in ["new.yaml", "link.yaml", "sub.yaml", "deploy"] {
        let r = m.commit(&base, &[(path.into(), "x\n".into())], "m", &bot());
        assert!(r.is_err(), "{path} accepted");
    }
    let bad = Signature {
        name: "x>y".into(),
        email: "a@b".into(),
        signing_key: None,
    };
    assert!(m.commit(&base, &[], "m", &bad).is_err());
}

#[tokio::test]
async fn signed_commits_verify_with_git_for_each_key_type() {
    let w = World::new();
    let m = w.mirror().await;
    let base = m.branch_head("main").unwrap().expect("main");
    let keys = [
        ("ed25519", vec!["-t", "ed25519"], "ED25519"),
        ("p256", vec!["-t", "ecdsa", "-b", "256"], "ECDSA"),
        ("p384", vec!["-t", "ecdsa", "-b", "384"], "ECDSA"),
    ];
    let locks = RepoLocks::default();
    let guard = locks.acquire(REPO).await.unwrap();
    for (name, args, shown) in keys {
        let key = ssh::keygen(&w.root, name, "", &args);
        let c = bump_as(&m, &base, &signing_bot(&key));

        let raw = git(&w.mirror_dir(), &["cat-file", "commit", &c]);
        assert!(
            raw.contains("\ngpgsig -----BEGIN SSH SIGNATURE-----\n "),
            "{raw}"
        );
        assert!(raw.contains("\n -----END SSH SIGNATURE-----\n"), "{raw}");
        let (ok, said) = ssh::verify_commit(
            &w.mirror_dir(),
            &c,
            "bot@example.com",
            &ssh::public_key(&key),
        );
        assert!(ok, "{name}: {said}");
        assert!(
            said.contains("Good \"git\" signature for bot@example.com with"),
            "{name}: {said}"
        );
        assert!(
            said.contains(&format!("with {shown} key")),
            "{name}: {said}"
        );

        // The signature survives the push byte for byte.
        let branch = format!("imagebump/{name}");
        m.push(&guard, &c, &branch, Lease::MustNotExist, true)
            .await
            .unwrap();
        assert_eq!(w.remote_head(&branch).as_deref(), Some(c.as_str()));
        let (ok, said) =
            ssh::verify_commit(&w.remote, &c, "bot@example.com", &ssh::public_key(&key));
        assert!(ok, "{name} in the remote: {said}");
    }
    git(&w.remote, &["fsck", "--strict", "--no-progress"]);
}

#[tokio::test]
async fn a_signed_commit_fails_verification_against_another_key() {
    let w = World::new();
    let m = w.mirror().await;
    let base = m.branch_head("main").unwrap().expect("main");
    let key = ssh::ed25519(&w.root, "bot-key");
    let other = ssh::ed25519(&w.root, "other-key");
    let c = bump_as(&m, &base, &signing_bot(&key));
    let (ok, said) = ssh::verify_commit(
        &w.mirror_dir(),
        &c,
        "bot@example.com",
        &ssh::public_key(&other),
    );
    assert!(!ok, "verified against the wrong key: {said}");
    // The signature itself is sound; its key is just not an allowed one.
    assert!(said.contains("No principal matched"), "{said}");
    assert!(!said.contains("signature for bot@example.com"), "{said}");
}

#[tokio::test]
async fn signed_and_unsigned_commits_differ_only_in_the_gpgsig_header() {
    let w = World::new();
    let m = w.mirror().await;
    let base = m.branch_head("main").unwrap().expect("main");
    let key = ssh::ed25519(&w.root, "bot-key");
    let unsigned = bump_as(&m, &base, &bot());
    let signed = bump_as(&m, &base, &signing_bot(&key));
    assert_ne!(unsigned, signed);
    let tree = |c: &str| git(&w.mirror_dir(), &["rev-parse", &format!("{c}^{{tree}}")]);
    assert_eq!(tree(&unsigned), tree(&signed), "same edits, same tree");
    assert_eq!(
        m.commit_info(&unsigned).unwrap().tree,
        m.commit_info(&signed).unwrap().tree
    );

    let unsigned_raw = git(&w.mirror_dir(), &["cat-file", "commit", &unsigned]);
    assert!(!unsigned_raw.contains("gpgsig"), "{unsigned_raw}");
    let (ok, said) = ssh::verify_commit(
        &w.mirror_dir(),
        &unsigned,
        "bot@example.com",
        &ssh::public_key(&key),
    );
    assert!(!ok, "an unsigned commit verified: {said}");

    // Without the `gpgsig` header (and its continuation lines), the signed
    // commit is the unsigned one (but for the seconds of its timestamps).
    let signed_raw = git(&w.mirror_dir(), &["cat-file", "commit", &signed]);
    let mut stripped = Vec::new();
    let mut in_sig = false;
    for line in signed_raw.split_inclusive('\n') {
        if line.starts_with("gpgsig ") {
            in_sig = true;
        } else if !(in_sig && line.starts_with(' ')) {
            in_sig = false;
            stripped.push(line);
        }
    }
    let without_time = |lines: Vec<&str>| -> Vec<String> {
        lines
            .into_iter()
            .map(|l| match l.split_once("> ") {
                Some((who, _)) if l.starts_with("author ") || l.starts_with("committer ") => {
                    who.to_string()
                }
                _ => l.to_string(),
            })
            .collect()
    };
    assert_eq!(
        without_time(stripped),
        without_time(unsigned_raw.split_inclusive('\n').collect())
    );
}

#[test]
fn signing_keys_that_cannot_sign_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = |path: &Path| -> String {
        format!(
            "{:#}",
            SigningKey::from_file(path).expect_err("a key that cannot sign was accepted")
        )
    };
    let missing = dir.path().join("missing-key");
    let e = err(&missing);
    assert!(
        e.contains(&missing.display().to_string()) && e.contains("cannot read"),
        "{e}"
    );

    let garbage = dir.path().join("garbage-key");
    std::fs::write(&garbage, "not a key\n").unwrap();
    let e = err(&garbage);
    assert!(
        e.contains(&garbage.display().to_string()) && e.contains("not an OpenSSH private key"),
        "{e}"
    );

    let encrypted = ssh::keygen(
        dir.path(),
        "encrypted-key",
        "s3cret pass",
        &["-t", "ed25519"],
    );
    let e = err(&encrypted);
    assert!(
        e.contains(&encrypted.display().to_string()) && e.contains("encrypted"),
        "{e}"
    );

    // A public key is not a private key.
    let key = ssh::ed25519(dir.path(), "bot-key");
    let public = dir.path().join("bot-key.pub");
    let e = err(&public);
    assert!(e.contains(&public.display().to_string()), "{e}");

    // RSA is not built in: refused at start-up, not at the first commit.
    let rsa = ssh::keygen(dir.path(), "rsa-key", "", &["-t", "rsa", "-b", "2048"]);
    let e = err(&rsa);
    assert!(
        e.contains(&rsa.display().to_string()) && e.contains("ed25519"),
        "{e}"
    );

    // A good key shows only its public fingerprint.
    let good = SigningKey::from_file(&key).unwrap();
    let private = std::fs::read_to_string(&key).unwrap();
    let shown = format!("{good:?}");
    assert!(shown.contains(good.fingerprint()), "{shown}");
    assert!(good.fingerprint().starts_with("SHA256:"), "{shown}");
    for line in private.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!shown.contains(line), "{shown} shows the private key");
    }
}

#[tokio::test]
async fn stale_leases_are_rejected() {
    let w = World::new();
    let m = w.mirror().await;
    let base = m.branch_head("main").unwrap().expect("main");
    let c1 = bump(&m, &base);
    let locks = RepoLocks::default();
    let guard = locks.acquire(REPO).await.unwrap();
    m.push(&guard, &c1, "imagebump/web", Lease::MustNotExist, true)
        .await
        .unwrap();

    // Pushing what is there already is a no-op, whatever the lease.
    m.push(&guard, &c1, "imagebump/web", Lease::MustNotExist, true)
        .await
        .unwrap();
    // The branch exists now.
    let other = bump(&m, &c1);
    let again = m
        .push(&guard, &other, "imagebump/web", Lease::MustNotExist, true)
        .await;
    assert!(matches!(again, Err(PushError::Rejected(_))), "{again:?}");

    // Reset the branch to a new commit on base: right lease works, a stale one is refused.
    let c2 = m
        .commit(
            &base,
            &[("run.yaml".into(), "image: alpine:4\n".into())],
            "m2",
            &bot(),
        )
        .unwrap();
    let stale = m
        .push(
            &guard,
            &c2,
            "imagebump/web",
            Lease::Expect(base.clone()),
            true,
        )
        .await;
    assert!(matches!(stale, Err(PushError::Rejected(_))), "{stale:?}");
    assert_eq!(w.remote_head("imagebump/web").as_deref(), Some(c1.as_str()));
    m.push(
        &guard,
        &c2,
        "imagebump/web",
        Lease::Expect(c1.clone()),
        true,
    )
    .await
    .unwrap();
    assert_eq!(w.remote_head("imagebump/web").as_deref(), Some(c2.as_str()));
}

#[tokio::test]
async fn base_moved_upstream_is_seen_by_fetch_and_blocks_a_plain_push() {
    let w = World::new();
    let m = w.mirror().await;
    let old = m.branch_head("main").unwrap().expect("main");
    let bot_commit = bump(&m, &old);

    let new = w.human_commit("main", "README.md", "# env, edited\n");
    assert_eq!(
        m.branch_head("main").unwrap().as_deref(),
        Some(old.as_str())
    );
    m.fetch().await.unwrap();
    assert_eq!(
        m.branch_head("main").unwrap().as_deref(),
        Some(new.as_str())
    );

    let locks = RepoLocks::default();
    let guard = locks.acquire(REPO).await.unwrap();
    // Stale lease.
    let r = m
        .push(
            &guard,
            &bot_commit,
            "main",
            Lease::Expect(old.clone()),
            false,
        )
        .await;
    assert!(matches!(r, Err(PushError::Rejected(_))), "{r:?}");
    // Fresh lease, but not a fast-forward of it.
    let r = m
        .push(
            &guard,
            &bot_commit,
            "main",
            Lease::Expect(new.clone()),
            false,
        )
        .await;
    assert!(matches!(r, Err(PushError::Rejected(_))), "{r:?}");
    assert_eq!(w.remote_head("main").as_deref(), Some(new.as_str()));

    // Rebuilt on the new base, the plain push goes through.
    let rebuilt = bump(&m, &new);
    m.push(&guard, &rebuilt, "main", Lease::Expect(new.clone()), false)
        .await
        .unwrap();
    assert_eq!(w.remote_head("main").as_deref(), Some(rebuilt.as_str()));
    assert_eq!(
        m.branch_head("main").unwrap().as_deref(),
        Some(rebuilt.as_str())
    );
}

#[tokio::test]
async fn commits_between_lists_a_human_commit_on_the_bot_branch() {
    let w = World::new();
    let m = w.mirror().await;
    let base = m.branch_head("main").unwrap().expect("main");
    let c = bump(&m, &base);
    let locks = RepoLocks::default();
    let guard = locks.acquire(REPO).await.unwrap();
    m.push(&guard, &c, "imagebump/web", Lease::MustNotExist, true)
        .await
        .unwrap();
    assert!(m.commits_between(&base, &base).unwrap().is_empty());

    let human = w.human_commit("imagebump/web", "README.md", "# human\n");
    m.fetch().await.unwrap();
    let head = m.branch_head("imagebump/web").unwrap().expect("branch");
    assert_eq!(head, human);
    let since_bot = m.commits_between(&c, &head).unwrap();
    assert_eq!(since_bot.len(), 1);
    assert_eq!(since_bot[0].sha, human);
    assert_eq!(since_bot[0].author_email, "human@example.com");
    let all = m.commits_between(&base, &head).unwrap();
    let shas: Vec<&str> = all.iter().map(|i| i.sha.as_str()).collect();
    assert_eq!(shas, [human.as_str(), c.as_str()]);
}

#[tokio::test]
async fn fetch_prunes_branches_deleted_upstream_and_reopen_is_incremental() {
    let w = World::new();
    let m = w.mirror().await;
    let base = m.branch_head("main").unwrap().expect("main");
    git(&w.remote, &["branch", "feature", &base]);
    m.fetch().await.unwrap();
    assert_eq!(
        m.branch_head("feature").unwrap().as_deref(),
        Some(base.as_str())
    );
    git(&w.remote, &["branch", "-D", "feature"]);
    m.fetch().await.unwrap();
    assert_eq!(m.branch_head("feature").unwrap(), None);
    assert_eq!(
        m.branch_head("main").unwrap().as_deref(),
        Some(base.as_str())
    );

    // Opening again uses the existing mirror, with a file:// URL this time.
    drop(m);
    let new = w.human_commit("main", "README.md", "# again\n");
    let m = cloned(REPO, &w.mirror_dir(), &w.file_url(), None)
        .await
        .unwrap();
    assert_eq!(
        m.branch_head("main").unwrap().as_deref(),
        Some(base.as_str())
    );
    m.fetch().await.unwrap();
    assert_eq!(
        m.branch_head("main").unwrap().as_deref(),
        Some(new.as_str())
    );
    // No tags and no stray refs are fetched.
    let refs = git(m.path(), &["for-each-ref", "--format=%(refname)"]);
    assert_eq!(refs, "refs/heads/main\n");
}

#[tokio::test]
async fn delete_branch_is_lease_protected() {
    let w = World::new();
    let m = w.mirror().await;
    let base = m.branch_head("main").unwrap().expect("main");
    let c = bump(&m, &base);
    let locks = RepoLocks::default();
    let guard = locks.acquire(REPO).await.unwrap();
    m.push(&guard, &c, "imagebump/web", Lease::MustNotExist, true)
        .await
        .unwrap();
    let r = m.delete_branch(&guard, "imagebump/web", &base).await;
    assert!(matches!(r, Err(PushError::Rejected(_))), "{r:?}");
    assert!(w.remote_head("imagebump/web").is_some());
    m.delete_branch(&guard, "imagebump/web", &c).await.unwrap();
    assert_eq!(w.remote_head("imagebump/web"), None);
    assert_eq!(m.branch_head("imagebump/web").unwrap(), None);
}

#[tokio::test]
async fn a_guard_for_another_repo_is_refused() {
    let w = World::new();
    let m = w.mirror().await;
    let base = m.branch_head("main").unwrap().expect("main");
    let c = bump(&m, &base);
    let locks = RepoLocks::default();
    let other = locks.acquire("other").await.unwrap();
    let r = m
        .push(&other, &c, "imagebump/web", Lease::MustNotExist, true)
        .await;
    assert!(matches!(r, Err(PushError::Failed(_))), "{r:?}");
    let r = m.delete_branch(&other, "main", &base).await;
    assert!(matches!(r, Err(PushError::Failed(_))), "{r:?}");
    assert_eq!(w.remote_head("imagebump/web"), None);
}

#[tokio::test]
async fn auth_is_passed_but_never_shown() {
    let w = World::new();
    let auth = GitAuth::basic("x-access-token", SECRET);
    assert_eq!(format!("{auth:?}"), "GitAuth(***)");
    let m = cloned(REPO, &w.mirror_dir(), &w.file_url(), Some(auth.clone()))
        .await
        .unwrap();
    let base = m.branch_head("main").unwrap().expect("main");
    let c = bump(&m, &base);
    let locks = RepoLocks::default();
    let guard = locks.acquire(REPO).await.unwrap();
    m.push(&guard, &c, "imagebump/web", Lease::MustNotExist, true)
        .await
        .unwrap();
    assert_eq!(w.remote_head("imagebump/web").as_deref(), Some(c.as_str()));
    assert!(!format!("{m:?}").contains(SECRET));

    // The same mirror, pointed at remotes that fail.
    let bearer = GitAuth::bearer(SECRET);
    for (url, auth) in [
        (format!("{}/missing.git", w.root.display()), auth.clone()),
        (format!("http://user:{SECRET}@127.0.0.1:9/env.git"), bearer),
    ] {
        let bad = cloned(REPO, &w.mirror_dir(), &url, Some(auth))
            .await
            .unwrap();
        let r = bad
            .push(&guard, &c, "imagebump/other", Lease::MustNotExist, true)
            .await;
        let text = match r {
            Err(PushError::Failed(text)) => text,
            other => panic!("expected a failure, got {other:?}"),
        };
        assert!(!text.contains(SECRET), "{text}");
        let fetched = bad.fetch().await;
        let text = format!("{:#}", fetched.expect_err("fetch fails"));
        assert!(!text.contains(SECRET), "{text}");
        assert!(!format!("{bad:?}").contains(SECRET));
    }
}

#[tokio::test]
async fn a_failed_clone_leaves_no_mirror() {
    let w = World::new();
    let dir = w.mirror_dir();
    let r = cloned(REPO, &dir, "/nonexistent/remote.git", None).await;
    assert!(r.is_err());
    assert!(!dir.exists());
    let m = w.mirror().await;
    assert!(m.branch_head("main").unwrap().is_some());
}

/// A one-shot HTTP server that records the request headers it is sent and
/// answers 401 to everything.
fn header_recorder() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = String::new();
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let _ = tx.send(head);
            let _ = stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (format!("http://{addr}/env.git"), rx)
}

#[tokio::test]
async fn the_authorization_header_reaches_fetch_and_push() {
    let w = World::new();
    let m = w.mirror().await;
    let base = m.branch_head("main").unwrap().expect("main");
    let c = bump(&m, &base);
    drop(m);
    let auth = GitAuth::basic("x-access-token", SECRET);
    // base64("x-access-token:" + SECRET), lower-cased like the headers below.
    let expected =
        "authorization: basic eC1hY2Nlc3MtdG9rZW46czNjcjN0LXQwa2VuLXZhbHVl".to_ascii_lowercase();
    let (url, requests) = header_recorder();
    let m = cloned(REPO, &w.mirror_dir(), &url, Some(auth))
        .await
        .unwrap();

    let fetched = m.fetch().await;
    let text = format!("{:#}", fetched.expect_err("401"));
    assert!(!text.contains(SECRET), "{text}");
    let head = requests
        .recv()
        .expect("a fetch request")
        .to_ascii_lowercase();
    assert!(head.contains("git-upload-pack"), "{head}");
    assert!(head.contains(&expected), "{head}");

    let locks = RepoLocks::default();
    let guard = locks.acquire(REPO).await.unwrap();
    let r = m
        .push(&guard, &c, "imagebump/web", Lease::MustNotExist, true)
        .await;
    let text = match r {
        Err(PushError::Failed(text)) => text,
        other => panic!("expected a failure, got {other:?}"),
    };
    assert!(
        !text.contains(SECRET) && !text.contains("eC1hY2Nlc3M"),
        "{text}"
    );
    let head = requests
        .recv()
        .expect("a push request")
        .to_ascii_lowercase();
    assert!(head.contains("git-receive-pack"), "{head}");
    assert!(head.contains(&expected), "{head}");
}

/// A mirror of `url` in `dir`, opened (cloned first): what a worker's first
/// fetch does.
async fn cloned(
    name: &str,
    dir: &Path,
    url: &str,
    auth: Option<GitAuth>,
) -> anyhow::Result<Mirror> {
    let mirror = Mirror::new(name, dir, url, auth)?;
    mirror.open().await?;
    Ok(mirror)
}
