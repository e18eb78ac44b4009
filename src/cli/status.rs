//! `imagebump status`: what the status page shows (src/status/), read from
//! the store of the service config.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::Format;
use crate::clock::Clock;
use crate::config::ServiceConfig;
use crate::store::Store;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Service config (TOML), as given to `serve`.
    #[arg(long, env = "IMAGEBUMP_CONFIG")]
    config: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub async fn status(args: StatusArgs) -> ExitCode {
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let config = ServiceConfig::load(args.config.as_deref())?;
    let store = Store::open(&config.store_url()).await?;
    let names: Vec<String> = config.repos.iter().map(|r| r.name.clone()).collect();
    let poll_ms = i64::try_from(config.poll_interval.as_millis()).unwrap_or(i64::MAX);
    let status = crate::status::collect(&store, &names, poll_ms, Clock::system().now_ms()).await?;
    store.close().await;
    match args.format {
        Format::Text => print!("{}", crate::status::text(&status)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&status)?),
    }
    Ok(())
}
