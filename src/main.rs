use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use imagebump::config::LogFormat;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = imagebump::cli::Cli::parse();
    let filter =
        EnvFilter::try_from_env("IMAGEBUMP_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format() {
        // One object per line, with the current span's fields (`span`) and
        // every enclosing span's (`spans`: job, reconcile, step; hook).
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(imagebump::cli::run(cli))
}
