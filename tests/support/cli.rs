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
/// group of its own; killed with what it started ([`Serving::kill9`])
/// when dropped.
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

    /// `kill -9` of the process and of everything it started, as when its
    /// container is killed; returns once it is gone. The one exception is
    /// the server side of a local git transport (`git-receive-pack` or
    /// `git-upload-pack` of a `file://` remote, started by the bot's `git
    /// push` or fetch): it stands for a git server on another machine,
    /// which sees its client go away and finishes or aborts on its own, so
    /// it is left running and waited for. The tree is stopped top-down
    /// (SIGSTOP: a stopped process starts nothing more), then killed.
    pub fn kill9(&mut self) {
        if self.reaped {
            return;
        }
        // While unreaped the pid is still this process's, and a stopped
        // process's children stay its children.
        let mut stopped = Vec::new();
        let mut servers = Vec::new();
        stop_tree(self.child.id(), &mut stopped, &mut servers);
        signal("KILL", &stopped);
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while servers
            .iter()
            .any(|pid| Path::new(&format!("/proc/{pid}")).exists())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// Sends `SIGSTOP` to `pid` and then to its descendants, collecting them
/// in `stopped`; a git transport's server side (and what it started) goes
/// to `servers` instead, untouched.
fn stop_tree(pid: u32, stopped: &mut Vec<u32>, servers: &mut Vec<u32>) {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    if cmdline.contains("receive-pack") || cmdline.contains("upload-pack") {
        servers.push(pid);
        return;
    }
    signal("STOP", &[pid]);
    stopped.push(pid);
    for child in children(pid) {
        stop_tree(child, stopped, servers);
    }
}

/// The children of `pid`, from `/proc/<pid>/task/*/children`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// `kill -<sig>` to these processes (each one this test started, or
/// started by one).
fn signal(sig: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg("--")
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status();
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
