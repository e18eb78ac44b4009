//! Hostile content (issue 12, "Hostile content"): what a person or a
//! compromised pipeline can put in the env repository or its config, fed
//! to the real scanner, config parser and tag chooser. Each ends in a
//! clear error or a result, with the stack and memory a worker has; none
//! panics or overflows the stack.

use imagebump::manifest;
use imagebump::policy::parse_config;

/// The "billion laughs" shape: each alias names the level below ten
/// times. A scanner that expanded aliases would need 10^9 nodes.
fn alias_bomb() -> String {
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
    let mut below = "a";
    for name in names {
        text.push_str(&format!(
            "{name}: &{name} [*{below},*{below},*{below},*{below},*{below},*{below},*{below},*{below},*{below}]\n"
        ));
        below = name;
    }
    text.push_str("image: nginx:1.25.0\n");
    text
}

#[test]
fn a_yaml_alias_bomb_is_scanned_without_expanding_it() {
    let text = alias_bomb();
    // Aliases are not followed: the one real reference is found (or the
    // file is refused), and nothing grows.
    let refs = manifest::scan(&text).unwrap();
    let found: Vec<String> = refs.iter().map(|r| format!("{r:?}")).collect();
    assert_eq!(refs.len(), 1, "{found:?}");
    assert!(found[0].contains("1.25.0"), "{found:?}");
    let config = format!("{text}policies: []\n");
    let errors = parse_config(".imagebump.yaml", &config).unwrap_err();
    assert!(!errors.is_empty());
}

/// Runs `f` on a thread with a worker's stack (tokio's default, 2 MiB).
fn on_a_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no stack overflow, no panic")
}

#[test]
fn ten_thousand_levels_of_nesting_are_a_clear_error_or_a_result() {
    let depth = 10_000;
    let flow = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let mut block = String::new();
    for level in 0..depth {
        block.push_str(&" ".repeat(level));
        block.push_str("a:\n");
    }
    block.push_str(&" ".repeat(depth));
    block.push_str("image: nginx:1.25.0\n");
    let braces = format!("{}{}", "{a: ".repeat(depth), "}".repeat(depth));
    for text in [flow, block, braces] {
        let (scanned, parsed) = on_a_worker_stack(move || {
            let scanned = manifest::scan(&text).map(|r| r.len());
            let parsed = parse_config(".imagebump.yaml", &text).map(|_| ());
            (scanned, parsed)
        });
        // Ours (`yaml::MAX_DEPTH`), or saphyr-parser's own for flow
        // collections.
        let deep = |m: &str| m.contains("nested deeper than 256") || m.contains("recursion limit");
        let err = scanned.unwrap_err();
        assert!(deep(&err.message), "{err:?}");
        let errors = parsed.unwrap_err();
        assert!(errors.iter().any(|e| deep(&e.to_string())), "{errors:?}");
    }
    // A deep but real document is still read.
    let mut deep = String::new();
    for level in 0..200 {
        deep.push_str(&" ".repeat(level));
        deep.push_str("a:\n");
    }
    deep.push_str(&" ".repeat(200));
    deep.push_str("image: nginx:1.25.0\n");
    assert_eq!(manifest::scan(&deep).unwrap().len(), 1);
}

#[test]
fn a_manifest_with_100_000_image_references_is_scanned_whole() {
    let mut text = String::from("images:\n");
    for i in 0..100_000 {
        text.push_str(&format!("  - image: registry.example/app{i}:1.0.{i}\n"));
    }
    let refs = on_a_worker_stack(move || manifest::scan(&text).map(|r| r.len()));
    assert_eq!(refs.unwrap(), 100_000);
}

/// The textbook catastrophic pattern, `(a+)+$`, against 100,000 `a`s and a
/// `b`: a backtracking engine takes exponential time. The `regex` crate
/// guarantees time linear in the input (https://docs.rs/regex, "Untrusted
/// input"), so choosing among such tags ends, and finds no match.
#[test]
fn a_catastrophic_tag_pattern_is_matched_in_linear_time() {
    let config = "policies:\n  - name: web\n    image: acme/web\n    tags:\n      pattern: '^(a+)+$'\n      order: alphabetical\n";
    let repo = parse_config(".imagebump.yaml", config).expect("valid config");
    let policy = &repo.policies[0];
    let hostile = format!("{}b", "a".repeat(100_000));
    let tags = vec![hostile, "aaaa".to_string()];
    let decision = imagebump::policy::choose(policy, "aaa", &tags, false);
    let shown = format!("{decision:?}");
    assert!(
        shown.contains("\"aaaa\"") && shown.len() < 2_000,
        "the matching tag is chosen, the hostile one is not: {}",
        &shown[..shown.len().min(300)]
    );
}

/// An image with 100,000 tags: every tag is weighed once, and the newest
/// in range wins.
#[test]
fn an_image_with_100_000_tags_is_chosen_from_whole() {
    let config = "policies:\n  - name: web\n    image: acme/web\n    semver: ^1\n";
    let repo = parse_config(".imagebump.yaml", config).expect("valid config");
    let mut tags: Vec<String> = (0..100_000)
        .map(|i| format!("1.{}.{}", i / 1000, i % 1000))
        .collect();
    tags.push("2.0.0".into());
    tags.push("not-a-version".into());
    let decision = imagebump::policy::choose(&repo.policies[0], "1.0.0", &tags, false);
    assert!(format!("{decision:?}").contains("1.99.999"), "{decision:?}");
}

// ---- Files in the env repository -------------------------------------

/// Runs git in `dir`, failing the test on error.
fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `git mktree` of `(mode, type, oid, name)` entries.
fn mktree(dir: &std::path::Path, entries: &[(&str, &str, &str, &str)]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("git")
        .current_dir(dir)
        .args(["mktree", "--missing"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for (mode, kind, oid, name) in entries {
        writeln!(stdin, "{mode} {kind} {oid}\t{name}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn blob(dir: &std::path::Path, path: &std::path::Path) -> String {
    git(dir, &["hash-object", "-w", path.to_str().unwrap()])
}

/// A remote whose one commit holds, as a remote that does not check
/// objects can serve them: a 12 MiB manifest (over the default limit; the
/// work-tree test below takes 100 MB), a 2 KiB one, a symlink to
/// `/etc/passwd`, a `..` directory and a `.git` directory with manifests
/// in them, and two good manifests.
fn hostile_remote(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let work = dir.join("remote.git");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "--bare"]);
    // No delta search over the 100 MB blob when a clone packs it.
    git(&work, &["config", "core.bigFileThreshold", "1m"]);
    let big = dir.join("big.yaml");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let line = "# padding padding padding padding padding padding padding padding\n";
        for _ in 0..(12 << 20) / line.len() {
            f.write_all(line.as_bytes()).unwrap();
        }
        f.write_all(b"image: nginx:1.25.0\n").unwrap();
    }
    let medium = dir.join("medium.yaml");
    std::fs::write(
        &medium,
        format!("{}image: nginx:1.25.0\n", "#\n".repeat(1024)),
    )
    .unwrap();
    let good = dir.join("good.yaml");
    std::fs::write(&good, "image: nginx:1.25.0\n").unwrap();
    let link = dir.join("link-target");
    std::fs::write(&link, "/etc/passwd").unwrap();
    let (big, medium, good, link) = (
        blob(&work, &big),
        blob(&work, &medium),
        blob(&work, &good),
        blob(&work, &link),
    );
    let inner = mktree(&work, &[("100644", "blob", &good, "escape.yaml")]);
    let deploy = mktree(&work, &[("100644", "blob", &good, "app.yaml")]);
    let root = mktree(
        &work,
        &[
            ("040000", "tree", &inner, ".."),
            ("040000", "tree", &inner, ".git"),
            ("040000", "tree", &inner, ".GIT"),
            ("100644", "blob", &big, "big.yaml"),
            ("040000", "tree", &deploy, "deploy"),
            ("100644", "blob", &good, "good.yaml"),
            ("120000", "blob", &link, "link.yaml"),
            ("100644", "blob", &medium, "medium.yaml"),
        ],
    );
    let commit = git(&work, &["commit-tree", &root, "-m", "hostile"]);
    git(&work, &["update-ref", "refs/heads/main", &commit]);
    (work, commit)
}

#[tokio::test]
async fn big_files_symlinks_and_dot_dot_paths_in_the_env_repo_are_skipped_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (remote, commit) = hostile_remote(dir.path());
    let mirror = imagebump::git::Mirror::new(
        "acme/env",
        &dir.path().join("mirror"),
        remote.to_str().unwrap(),
        None,
    )
    .unwrap();
    mirror.open().await.unwrap();
    let all = ["**/*.yaml".to_string(), "*.yaml".to_string()];
    let read = |limit| mirror.read_files(&commit, &all, &[], limit).unwrap();

    let (files, problems) = read(imagebump::policy::DEFAULT_MAX_FILE_BYTES);
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["deploy/app.yaml", "good.yaml", "medium.yaml"]);
    let mut skipped: Vec<(String, String)> = problems
        .iter()
        .map(|p| (p.file.clone(), p.message.clone()))
        .collect();
    skipped.sort();
    let files_skipped: Vec<&str> = skipped.iter().map(|(f, _)| f.as_str()).collect();
    // The symlink is not a regular file: never read, nothing to report.
    assert_eq!(
        files_skipped,
        [
            "../escape.yaml",
            ".GIT/escape.yaml",
            ".git/escape.yaml",
            "big.yaml"
        ]
    );
    assert!(skipped[0].1.contains("\"..\" component"), "{skipped:?}");
    assert!(skipped[1].1.contains("\".GIT\" component"), "{skipped:?}");
    assert!(
        skipped[3].1.contains("over the 8388608-byte limit"),
        "{skipped:?}"
    );
    assert!(skipped[3].1.starts_with("skipped: 1258"), "{skipped:?}");

    // A lower `maxFileSize` skips the 2 KiB file too.
    let (files, problems) = read(1024);
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["deploy/app.yaml", "good.yaml"]);
    assert!(
        problems
            .iter()
            .any(|p| p.file == "medium.yaml" && p.message.contains("1024-byte limit")),
        "{problems:?}"
    );
}

#[test]
fn the_work_tree_reader_skips_big_files_and_never_follows_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("env");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(root.join("deploy")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.yaml"), "image: nginx:1.0.0\n").unwrap();
    std::fs::write(root.join("deploy/app.yaml"), "image: nginx:1.25.0\n").unwrap();
    // 100 MB, sparse: the reader must skip it by its size, not read it.
    let big = std::fs::File::create(root.join("big.yaml")).unwrap();
    big.set_len(100 << 20).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.yaml"), root.join("link.yaml")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("linked-dir")).unwrap();
    std::os::unix::fs::symlink("../outside/secret.yaml", root.join("deploy/up.yaml")).unwrap();
    let config = parse_config(
        ".imagebump.yaml",
        "maxFileSize: 1MiB\npolicies:\n  - name: web\n    image: nginx\n",
    )
    .unwrap();
    assert_eq!(config.max_file_bytes, 1 << 20);
    let (files, problems) = imagebump::workdir::read_files(&root, &config).unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["deploy/app.yaml"]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].file, "big.yaml");
    assert!(
        problems[0]
            .message
            .contains("104857600 bytes, over the 1048576-byte limit"),
        "{}",
        problems[0].message
    );
}

#[test]
fn max_file_size_takes_bytes_kib_and_mib_within_bounds_and_refuses_the_rest() {
    let parse = |value: &str| {
        parse_config(
            ".imagebump.yaml",
            &format!("maxFileSize: {value}\npolicies:\n  - name: web\n    image: nginx\n"),
        )
        .map(|c| c.max_file_bytes)
        .map_err(|e| format!("{e:?}"))
    };
    assert_eq!(parse("100000"), Ok(100_000));
    assert_eq!(parse("512KiB"), Ok(512 << 10));
    assert_eq!(parse("2MiB"), Ok(2 << 20));
    assert_eq!(parse("64MiB"), Ok(64 << 20));
    for bad in [
        "0",
        "65MiB",
        "-1",
        "1GiB",
        "lots",
        "18446744073709551615MiB",
        "[1]",
    ] {
        let err = parse(bad).unwrap_err();
        assert!(err.contains("`maxFileSize` must be a size"), "{bad}: {err}");
    }
    let default = parse_config(
        ".imagebump.yaml",
        "policies:\n  - name: web\n    image: nginx\n",
    )
    .unwrap();
    assert_eq!(default.max_file_bytes, 8 << 20);
}
