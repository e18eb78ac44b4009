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

/// `imagebump serve --config CONFIG` (the binary at `bin`) in a process
/// group of its own; killed with what it started (the group) when
/// dropped.
pub struct Serving {
    child: Child,
    /// Waited for: its pid may belong to another process now.
    reaped: bool,
}

impl Serving {
    /// Quiet: its output goes nowhere.
    pub fn start(bin: &str, config: &Path) -> Serving {
        Self::spawn(bin, config, None, &[])
    }

    /// Its output (stdout and stderr) appended to `log`, with these
    /// environment variables added (e.g. `IMAGEBUMP_LOG`).
    pub fn start_logged(bin: &str, config: &Path, log: &Path, env: &[(&str, &str)]) -> Serving {
        Self::spawn(bin, config, Some(log), env)
    }

    fn spawn(bin: &str, config: &Path, log: Option<&Path>, env: &[(&str, &str)]) -> Serving {
        use std::os::unix::process::CommandExt as _;
        let (stdout, stderr) = match log {
            None => (Stdio::null(), Stdio::null()),
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("open the serve log");
                (file.try_clone().expect("log handle").into(), file.into())
            }
        };
        let child = Command::new(bin)
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("DOCKER_CONFIG", "/nonexistent-imagebump-test")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .expect("start imagebump serve");
        Serving {
            child,
            reaped: false,
        }
    }

    /// The process id (also its process group's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9` of the process and of what it started (its `git`
    /// children), as when its container is killed; returns once it is
    /// gone.
    pub fn kill9(&mut self) {
        if self.reaped {
            return;
        }
        // Before the wait: until then the pid, and so the group id, are
        // still this process's.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.kill9();
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
