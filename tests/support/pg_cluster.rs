//! A Postgres server of one test's own (`initdb` + `pg_ctl`, trust auth,
//! on a free loopback port), so that the test may stop and restart it
//! under load without touching the machine's shared server. Run as the
//! `postgres` user when the tests run as root (Postgres refuses root).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgCluster {
    pub port: u16,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl PgCluster {
    /// A new cluster, started.
    pub fn start() -> PgCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        if is_root() {
            chown_to_postgres(dir.path());
        }
        run(&[
            &bin("initdb"),
            "-D",
            data.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        let cluster = PgCluster {
            port: super::free_port(),
            data,
            _dir: dir,
        };
        cluster.pg_ctl(&["start"]);
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (`-m immediate`: no shutdown checkpoint,
    /// as a crash or a node loss does; connections drop).
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "immediate"]);
    }

    /// Starts the stopped server again (it recovers from its WAL).
    pub fn restart(&self) {
        self.pg_ctl(&["start"]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.data.parent().unwrap().display()
        );
        let mut argv = vec![bin("pg_ctl"), "-D".into(), self.data.display().to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        if args[0] == "start" {
            argv.extend(["-w".into(), "-l".into(), self.log().display().to_string()]);
            argv.extend(["-o".into(), options]);
        } else {
            argv.push("-w".into());
        }
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        run(&argv);
    }

    fn log(&self) -> PathBuf {
        self.data.parent().unwrap().join("server.log")
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = command(&[
            &bin("pg_ctl"),
            "-D",
            self.data.to_str().unwrap(),
            "stop",
            "-m",
            "immediate",
        ])
        .output();
    }
}

/// A Postgres program: from `pg_config --bindir`, else Debian's versioned
/// directory, else the PATH.
fn bin(name: &str) -> String {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if Path::new(&dir).join(name).exists() {
            return format!("{dir}/{name}");
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map_or_else(|| name.to_string(), |p| p.display().to_string())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown_to_postgres(dir: &Path) {
    let status = Command::new("chown")
        .args(["postgres:", dir.to_str().unwrap()])
        .status()
        .expect("chown");
    assert!(
        status.success(),
        "chown the cluster's directory to postgres"
    );
}

fn command(argv: &[&str]) -> Command {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).args(argv);
        c
    } else {
        let mut c = Command::new(argv[0]);
        c.args(&argv[1..]);
        c
    };
    cmd.current_dir("/");
    cmd
}

fn run(argv: &[&str]) {
    let out = command(argv).output().expect("run a Postgres program");
    assert!(
        out.status.success(),
        "{}: {}{}",
        argv[0],
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
