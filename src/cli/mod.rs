//! The command line: `check`, `explain`, `serve`, `reconcile`, `validate`, `schema`,
//! `version`, `dead-letters`, `holds`, `doctor`.
//! Each command returns its process exit code.

mod check;
mod doctor;
mod explain;
mod queue;
mod render;
mod serve;
mod status;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::policy::{self, CONFIG_FILE, ConfigError, RepoConfig};

#[derive(Parser, Debug)]
#[command(
    name = "imagebump",
    version,
    about = "Keeps container image tags in a GitOps repository up to date"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// How to write logs: `IMAGEBUMP_LOG_FORMAT`, else the service
    /// config's `log_format` for `serve` and `reconcile` (a config that
    /// does not load is reported by the command itself), else text.
    pub fn log_format(&self) -> crate::config::LogFormat {
        let config = match &self.command {
            Command::Serve(a) => a.config.as_deref(),
            Command::Reconcile(a) => a.config.as_deref(),
            _ => {
                return match std::env::var("IMAGEBUMP_LOG_FORMAT").as_deref() {
                    Ok("json") => crate::config::LogFormat::Json,
                    _ => crate::config::LogFormat::Text,
                };
            }
        };
        crate::config::ServiceConfig::load(config)
            .map(|c| c.log_format)
            .unwrap_or_default()
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show (or write) the bumps that the repository's policies allow.
    Check(check::CheckArgs),
    /// Explain, for one reference, the policy, the current tag and every
    /// candidate tag with the first rule that excluded it.
    Explain(explain::ExplainArgs),
    /// Run the service: poll every configured repository and keep its MRs current.
    Serve(serve::ServeArgs),
    /// Reconcile one configured repository once and print what it did.
    Reconcile(serve::ReconcileArgs),
    /// Show what the status page shows, read from the service's store.
    Status(status::StatusArgs),
    /// Check a repository's .imagebump.yaml; exit 1 when it is invalid.
    Validate {
        /// Repository root holding .imagebump.yaml.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Print the JSON Schema of .imagebump.yaml, for editors.
    Schema,
    /// Print the version.
    Version,
    /// List, requeue or drop the store's dead letters.
    #[command(name = "dead-letters")]
    DeadLetters(queue::DeadArgs),
    /// List or release the holds (manual and rollback) of the configured repositories.
    Holds(queue::HoldsArgs),
    /// Check the store, webhook secrets, git remotes and registry
    /// credentials of the service config; exit 1 on any failure.
    Doctor(doctor::DoctorArgs),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check(args) => check::run(args).await,
        Command::Explain(args) => explain::run(args).await,
        Command::Serve(args) => serve::serve(args).await,
        Command::Reconcile(args) => serve::reconcile_once(args).await,
        Command::Status(args) => status::status(args).await,
        Command::Validate { dir } => validate(&dir),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&policy::schema::schema()).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Command::DeadLetters(args) => queue::dead_letters(args).await,
        Command::Holds(args) => queue::holds(args).await,
        Command::Doctor(args) => doctor::run(args).await,
        Command::Version => {
            println!("imagebump {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}

/// Reads and validates `dir/.imagebump.yaml`.
pub fn load_config(dir: &Path) -> Result<RepoConfig, Vec<ConfigError>> {
    let path = dir.join(CONFIG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            let message = if e.kind() == std::io::ErrorKind::NotFound {
                format!("no {CONFIG_FILE} in {}", dir.display())
            } else {
                format!("cannot read {}: {e}", path.display())
            };
            return Err(vec![ConfigError {
                file: CONFIG_FILE.to_string(),
                line: 1,
                column: 1,
                message,
                hint: Some("create it; `imagebump schema` prints its JSON Schema".into()),
            }]);
        }
    };
    policy::parse_config(CONFIG_FILE, &text)
}

fn validate(dir: &Path) -> ExitCode {
    match load_config(dir) {
        Ok(c) => {
            for note in &c.notes {
                eprintln!("note: {note}");
            }
            println!("{CONFIG_FILE}: valid ({} policies)", c.policies.len());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{CONFIG_FILE}: {} error(s)", errors.len());
            ExitCode::from(1)
        }
    }
}
