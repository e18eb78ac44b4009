//! Tag parsing and choosing alone, without the registry: the policy work
//! of `scripts/bench`'s large case (1000 images × 1000 tags, each image's
//! current tag its oldest), timed over repeated warm passes.
//!
//! `cargo bench --bench policy`

use std::time::Instant;

use imagebump::policy::{choose, parse_config};

fn main() {
    let images = 1000;
    let tags: Vec<String> = (0..1000)
        .map(|i| format!("1.{}.{}", i / 100, i % 100))
        .collect();
    let mut yaml = String::from("policies:\n");
    for i in 0..images {
        yaml.push_str(&format!(
            "  - name: img-{i}\n    image: registry.test/bench/img-{i}\n    semver: '^1.0'\n"
        ));
    }
    let config = parse_config(".imagebump.yaml", &yaml).expect("config");
    let mut times = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let mut bumps = 0usize;
        for p in &config.policies {
            if let imagebump::policy::Decision::Bump { .. } = choose(p, "1.0.0", &tags, false) {
                bumps += 1;
            }
        }
        assert_eq!(bumps, images);
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "choose over {images} images x {} tags: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        tags.len(),
        times[0].as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}
