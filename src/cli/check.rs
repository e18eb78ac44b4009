//! `imagebump check`: plan the bumps of a work tree against the registries,
//! print them, and with `--write` apply them.
//!
//! Exit codes: 0 nothing to do (or everything written), 2 bumps available,
//! 1 any error (config, unreadable file, registry).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{Color, Format, load_config, render};
use crate::plan::{self, Problem, Report};
use crate::registry::{self, Client, Credentials, Registry};
use crate::workdir;

/// How long a check runs before a progress spinner appears on a terminal.
const PROGRESS_DELAY: Duration = Duration::from_millis(400);

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Repository root (holding .imagebump.yaml).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Apply the bumps to the files.
    #[arg(long)]
    write: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// How the registries are reached (`check` and `explain`).
#[derive(Args, Debug)]
pub struct RegistryArgs {
    /// Docker config.json with registry credentials (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json).
    #[arg(long, env = "IMAGEBUMP_DOCKER_CONFIG")]
    docker_config: Option<PathBuf>,
    /// Registry host[:port] reached over plain HTTP (loopback hosts always are).
    #[arg(
        long = "insecure-registry",
        env = "IMAGEBUMP_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    insecure_registries: Vec<String>,
    /// Tags per page when listing.
    #[arg(long, env = "IMAGEBUMP_REGISTRY_PAGE_SIZE")]
    page_size: Option<usize>,
    /// Cap on requests per second to one registry host (0: no cap).
    #[arg(long, env = "IMAGEBUMP_REGISTRY_MAX_RPS")]
    max_rps_per_host: Option<f64>,
    /// Requests to one registry host sent at once before the cap spaces them.
    #[arg(long, env = "IMAGEBUMP_REGISTRY_BURST")]
    burst_per_host: Option<u32>,
}

pub async fn run(args: CheckArgs) -> ExitCode {
    let config = match load_config(&args.repo) {
        Ok(c) => c,
        Err(errors) => {
            let problems = errors
                .iter()
                .map(|e| Problem {
                    file: e.file.clone(),
                    line: e.line,
                    message: e.to_string(),
                })
                .collect();
            let report = Report {
                errors: problems,
                ..Report::default()
            };
            render::report(&report, &[], args.format, false, false);
            return ExitCode::from(1);
        }
    };
    let client = match args.registry.client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    let (files, read_problems) = match workdir::read_files(&args.repo, &config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    let spinner = Spinner::start(files.len());
    let mut report = plan::plan(&config, &files, &client, crate::clock::now_ms()).await;
    spinner.stop();
    tracing::info!(
        files = files.len(),
        requests = client.requests_made(),
        "registry requests"
    );
    report.errors.splice(0..0, read_problems);
    let changes = plan::apply(&mut report, &files);
    let mut write_failed = false;
    if args.write {
        for c in &changes {
            if let Err(e) = workdir::write_file(&args.repo, &c.path, &c.after) {
                write_failed = true;
                report.errors.push(Problem {
                    file: c.path.clone(),
                    line: 1,
                    message: format!("write failed: {e:#}"),
                });
            }
        }
    }
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    render::report(&report, &changes, args.format, color, args.write);
    if !report.errors.is_empty() || write_failed {
        ExitCode::from(1)
    } else if !report.bumps.is_empty() && !args.write {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

impl RegistryArgs {
    /// A client on a registry state of its own: the command is the
    /// process, so each host has one budget.
    pub fn client(&self) -> anyhow::Result<Client> {
        let args = self;
        let mut options = registry::Options {
            insecure_hosts: args.insecure_registries.clone(),
            ..Default::default()
        };
        if let Some(n) = args.page_size {
            anyhow::ensure!(n > 0, "--page-size must be at least 1");
            options.page_size = n;
        }
        if let Some(rps) = args.max_rps_per_host {
            anyhow::ensure!(
                rps >= 0.0 && rps.is_finite(),
                "--max-rps-per-host must be 0 (no cap) or more"
            );
            options.max_rps_per_host = rps;
        }
        if let Some(burst) = args.burst_per_host {
            anyhow::ensure!(burst > 0, "--burst-per-host must be at least 1");
            options.burst_per_host = burst;
        }
        let credentials = Credentials::discover(args.docker_config.as_deref())?;
        Ok(Registry::new(options, credentials)?.client())
    }
}

/// A spinner on stderr, shown only on a terminal and only once the check
/// has taken longer than [`PROGRESS_DELAY`].
struct Spinner(
    Option<tokio::task::JoinHandle<()>>,
    Option<indicatif::ProgressBar>,
);

impl Spinner {
    fn start(files: usize) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None, None);
        }
        let bar = indicatif::ProgressBar::hidden();
        bar.set_message(format!("checking {files} files against the registries"));
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(PROGRESS_DELAY).await;
            shown.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            shown.enable_steady_tick(Duration::from_millis(100));
        });
        Self(Some(task), Some(bar))
    }

    fn stop(self) {
        if let Some(t) = self.0 {
            t.abort();
        }
        if let Some(b) = self.1 {
            b.finish_and_clear();
        }
    }
}
