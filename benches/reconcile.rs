//! Benchmarks of the service's core loop (`cargo bench --bench reconcile`):
//!
//! 1. tag push → open/updated MR: a real registry, a real bare repository
//!    and the fake GitHub; each round pushes a newer tag and times one
//!    `reconcile` until the MR shows it (p50/p99 over the rounds);
//! 2. a repository of 10,000 files (100 of them deploy the image): the
//!    time of `reconcile` (fetch, read, plan, commit, push, MR) and of
//!    building the bump commit alone.
//!
//! Figures are printed, never asserted.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::time::{Duration, Instant};

use support::world::{Kind, World, commit_all_as_ops, git};

const ROUNDS: usize = 30;
const FILES: usize = 10_000;
const IMAGE_FILES: usize = 100;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn push_to_mr(kind: Kind) {
    let w = World::new(kind).await;
    let mut times = Vec::new();
    for round in 0..ROUNDS {
        let tag = format!("1.4.{}", round + 3);
        w.push_tag(&tag).await;
        let start = Instant::now();
        let out = w.reconcile().await;
        times.push(start.elapsed());
        let mr = w.only_open_mr();
        assert!(mr.title.ends_with(&tag), "round {round}: {:?}", out.actions);
    }
    let first = times[0];
    times.sort();
    println!(
        "tag push -> MR (reconcile, fake {kind:?}, {ROUNDS} rounds): first open {}, updates p50 {}, p99 {}, max {}",
        ms(first),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().unwrap_or(&first))
    );
}

async fn large_repo() {
    let w = World::new(Kind::GitHub).await;
    // Add 10,000 files to main: IMAGE_FILES deploy acme/web, the rest not.
    let scratch = tempfile::tempdir().expect("tempdir");
    let work = scratch.path().join("w");
    git(
        scratch.path(),
        &["clone", "-q", w.remote.to_str().expect("utf-8"), "w"],
    );
    let host = w.registry.host();
    for i in 0..FILES {
        let dir = work.join(format!("clusters/c{}/ns{}", i % 10, (i / 10) % 100));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let image = if i < IMAGE_FILES {
            format!("{host}/acme/web:1.4.2")
        } else {
            format!("{host}/other/app{i}:1.0.0")
        };
        std::fs::write(
            dir.join(format!("app{i}.yaml")),
            format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\nspec:\n  template:\n    spec:\n      containers:\n        - name: main\n          image: {image}\n"),
        )
        .expect("write");
    }
    commit_all_as_ops(&work, "10k files");
    git(&work, &["push", "-q", "origin", "main"]);
    w.push_tag("1.5.0").await;

    let start = Instant::now();
    let out = w.reconcile().await;
    let full = start.elapsed();
    assert_eq!(
        out.report.bumps.len(),
        IMAGE_FILES + 1,
        "{:?}",
        out.report.errors
    );

    let base = w.head_of("main").expect("main");
    let changes: Vec<(String, String)> = out
        .report
        .bumps
        .iter()
        .map(|b| {
            (
                b.file.clone(),
                w.file_on("main", &b.file).replace("1.4.2", "1.5.0"),
            )
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        w.repo
            .mirror
            .commit(&base, &changes, "bench", &w.repo.identity)
            .expect("commit");
        times.push(start.elapsed());
    }
    times.sort();
    let read_start = Instant::now();
    let (files, _) = w
        .repo
        .mirror
        .read_files(
            &base,
            &["**/*.yaml".to_string()],
            &[],
            imagebump::policy::DEFAULT_MAX_FILE_BYTES,
        )
        .expect("read");
    let read = read_start.elapsed();
    println!(
        "repo of {} files: reconcile (fetch, read, plan, commit {} files, push, open MR) {}; read_files {} ({} files); commit alone p50 {}",
        FILES + 3,
        changes.len(),
        ms(full),
        ms(read),
        files.len(),
        ms(percentile(&times, 0.5))
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        push_to_mr(Kind::GitHub).await;
        push_to_mr(Kind::GitLab).await;
        large_repo().await;
    });
}
