//! The repository documents itself: code cites files in the repository
//! (docs/ARCHITECTURE.md, the README), never notes kept outside it, and
//! every file docs/ARCHITECTURE.md names exists.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn code_cites_only_files_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for dir in ["src", "tests", "benches"] {
        files(&root.join(dir), &mut all);
    }
    assert!(all.len() > 100, "{} files", all.len());
    let me = root.join("tests/docs.rs");
    for path in all.iter().filter(|p| **p != me) {
        let text = std::fs::read_to_string(path).unwrap();
        for outside in ["DESIGN.md", "WEBHOOKS.md", "STYLE.md", "CRATES.md"] {
            assert!(
                !text.contains(outside),
                "{} cites {outside}, which is not in the repository",
                path.display()
            );
        }
    }
}

#[test]
fn every_file_the_architecture_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let mut named = 0;
    for quoted in text.split('`').skip(1).step_by(2) {
        let path = quoted.split(['*', ' ']).next().unwrap_or_default();
        // A path (`reconcile/run.rs`, `server/hooks/`), not a bare name
        // such as `tests.rs` used for a kind of file.
        let looks_like_a_file =
            path.contains('/') && (path.ends_with(".rs") || path.ends_with('/'));
        if !looks_like_a_file || path.contains("::") {
            continue;
        }
        let candidates = [root.join(path), root.join("src").join(path)];
        assert!(
            candidates.iter().any(|c| c.exists()),
            "docs/ARCHITECTURE.md names `{path}`, which does not exist"
        );
        named += 1;
    }
    assert!(named > 20, "only {named} files named");
}
