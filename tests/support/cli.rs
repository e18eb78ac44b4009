//! Running the real `imagebump` binary on a work tree: no Docker config, no
//! colour; writing files; reading JSON output.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Runs the binary that Cargo built for the tests (`bin` is the path that
/// `env!("CARGO_BIN_EXE_imagebump")` gives in the test crate).
pub fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env("DOCKER_CONFIG", "/nonexistent-imagebump-test")
        .env("NO_COLOR", "1")
        .output()
        .expect("run imagebump")
}

/// `imagebump serve --config CONFIG` (the binary at `bin`), quiet; killed
/// when dropped.
pub struct Serving(Child);

impl Serving {
    pub fn start(bin: &str, config: &Path) -> Serving {
        let child = Command::new(bin)
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("DOCKER_CONFIG", "/nonexistent-imagebump-test")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start imagebump serve");
        Serving(child)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}
