//! Registry push → MR latency, driven by webhooks (`cargo bench --bench
//! webhooks`): the real registry's notifications reach `imagebump serve`
//! (release build, SQLite store, polling every hour) at
//! `/hooks/distribution/<token>`; each round pushes a newer tag and waits
//! until the fake GitHub's MR shows it. Prints p50/p99; asserts nothing
//! about time.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::github::FakeGitHub;
use support::registry::TestRegistry;
use support::world::{default_config, seed_env_repo};

const ROUNDS: usize = 100;
const TOKEN: &str = "bench-path-token";
const AUTH: &str = "Bearer bench-notify";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let port = support::free_port();
        let registry = TestRegistry::start_with_notifications(&format!("http://127.0.0.1:{port}/hooks/distribution/{TOKEN}"), AUTH);
        registry.push_image("acme/web", "1.0.0").await;
        let host = registry.host();
        let dir = tempfile::tempdir().expect("tempdir");
        let remote = seed_env_repo(dir.path(), &default_config(&host).replace("^1.4", "^1.0"), &format!("{host}/acme/web:1.0.0"));
        let fake = FakeGitHub::start("acme/env", &remote).await;
        let config = format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\npoll_interval = \"1h\"\n[hooks.distribution]\nsecrets = [\"{AUTH}\"]\npath_token = \"{TOKEN}\"\n\
             [[repos]]\nname = \"env\"\nurl = \"file://{}\"\nforge = \"github\"\napi_url = \"{}\"\nproject = \"acme/env\"\ntoken = \"{}\"\n",
            dir.path().join("data").display(),
            remote.display(),
            fake.url(),
            fake.token()
        );
        std::fs::write(dir.path().join("imagebump.toml"), config).expect("write");
        let mut child = Command::new(env!("CARGO_BIN_EXE_imagebump"))
            .args(["serve", "--config", dir.path().join("imagebump.toml").to_str().expect("utf-8")])
            .env("DOCKER_CONFIG", "/nonexistent")
            .env("IMAGEBUMP_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve");
        let ready = Instant::now();
        while support::http_get(port, "/readyz").is_none() && ready.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut times = Vec::new();
        for round in 1..=ROUNDS {
            let tag = format!("1.0.{round}");
            registry.push_image("acme/web", &tag).await;
            let pushed = Instant::now();
            let title = format!("Bump web to {tag}");
            loop {
                if fake.prs().iter().any(|p| p.state == "open" && p.title == title) {
                    break;
                }
                assert!(pushed.elapsed() < Duration::from_secs(30), "round {round}: no MR for {tag}");
                std::thread::sleep(Duration::from_millis(2));
            }
            times.push(pushed.elapsed());
        }
        let _ = child.kill();
        let _ = child.wait();
        times.sort();
        let p = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "registry push -> MR via notification webhook ({ROUNDS} pushes): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            p(0.5).as_secs_f64() * 1000.0,
            p(0.99).as_secs_f64() * 1000.0,
            times.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        );
    });
}
