//! The Helm chart (`charts/imagebump`), rendered, linted and validated by
//! real tools offline: `scripts/chart-deps` installs Helm v4 as a library
//! (helm-python-sdk) and kubernetes-validate into `target/chart-venv`, then
//! `charts/imagebump/tests/test_chart.py` runs on them. Missing tools fail
//! this test; it never skips.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

fn run(what: &str, cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

#[test]
fn helm_chart_renders_lints_and_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let started = Instant::now();
    run(
        "scripts/chart-deps",
        Command::new(root.join("scripts/chart-deps")).current_dir(root),
    );
    let python = root.join("target/chart-venv/bin/python");
    assert!(
        python.exists(),
        "scripts/chart-deps left no {}",
        python.display()
    );
    let out = run(
        "charts/imagebump/tests/test_chart.py",
        Command::new(&python)
            .arg(root.join("charts/imagebump/tests/test_chart.py"))
            .current_dir(root),
    );
    // unittest reports on stderr: "Ran N tests" and "OK".
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(
        report.contains("\nOK"),
        "test_chart.py exited 0 without reporting OK:\n{report}"
    );
    let ran = report
        .lines()
        .find(|l| l.starts_with("Ran "))
        .unwrap_or("no `Ran N tests` line");
    assert!(
        !ran.starts_with("Ran 0 "),
        "test_chart.py ran no test:\n{report}"
    );
    eprintln!(
        "chart: {ran} ({:.1?} with scripts/chart-deps)",
        started.elapsed()
    );
}
