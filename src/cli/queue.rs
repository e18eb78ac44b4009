//! `imagebump dead-letters` and `imagebump holds`: the store's dead
//! letters and holds, for a shell or a CI job. Both open the store of the
//! service config (`store`, or SQLite in `data_dir`), as `serve` does.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::Format;
use crate::clock::Clock;
use crate::config::ServiceConfig;
use crate::plan::rfc3339;
use crate::store::{DeadJob, JobKind, Revived, Store};

#[derive(Args, Debug)]
pub struct DeadArgs {
    #[arg(long, env = "IMAGEBUMP_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    verb: DeadVerb,
}

#[derive(Subcommand, Debug)]
enum DeadVerb {
    /// Each dead letter: id, kind, repo, attempts, when it died, last error.
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Queue these dead letters again, from their first attempt.
    Requeue {
        #[arg(required = true)]
        ids: Vec<i64>,
    },
    /// Delete these dead letters.
    Drop {
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}

#[derive(Args, Debug)]
pub struct HoldsArgs {
    #[arg(long, env = "IMAGEBUMP_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    verb: HoldsVerb,
}

#[derive(Subcommand, Debug)]
enum HoldsVerb {
    /// The holds of each configured repository: manual and rollback.
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Release every hold (manual and rollback) of POLICY in REPO.
    Release { repo: String, policy: String },
}

/// The service config at `path` and its store; an error line on failure.
async fn open(path: Option<&PathBuf>) -> Result<(ServiceConfig, Store), ExitCode> {
    let config = super::serve::load(path)?;
    match Store::open(&config.store_url()).await {
        Ok(store) => Ok((config, store)),
        Err(e) => {
            eprintln!("error: cannot open the store: {e:#}");
            Err(ExitCode::from(1))
        }
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(1)
}

pub async fn dead_letters(args: DeadArgs) -> ExitCode {
    let (_, store) = match open(args.config.as_ref()).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let code = match args.verb {
        DeadVerb::List { format } => match store.dead_letters().await {
            Ok(dead) => {
                print_dead(&dead, format);
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        DeadVerb::Requeue { ids } => {
            let clock = Clock::system();
            each(
                &ids,
                |id| {
                    let store = &store;
                    let now = clock.now_ms();
                    async move {
                        Ok(match store.requeue_dead(id, now).await? {
                            Revived::Requeued => true,
                            Revived::NotDead => false,
                        })
                    }
                },
                "requeued",
            )
            .await
        }
        DeadVerb::Drop { ids } => {
            each(
                &ids,
                |id| {
                    let store = &store;
                    async move { store.drop_dead(id).await }
                },
                "dropped",
            )
            .await
        }
    };
    store.close().await;
    code
}

/// Runs `act` on every id (false: no dead letter has it), one line each;
/// exit 1 when any id failed, after all were tried.
async fn each<F, Fut>(ids: &[i64], act: F, done: &str) -> ExitCode
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let mut failed = false;
    for &id in ids {
        match act(id).await {
            Ok(true) => println!("{done} dead letter {id}"),
            Ok(false) => {
                failed = true;
                eprintln!(
                    "error: no dead letter {id} (requeued or dropped already?); \
                     `imagebump dead-letters list` shows them"
                );
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {e:#}");
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// (kind, repo) of a dead letter; `-` for what no longer decodes.
fn kind_repo(job: &DeadJob) -> (&'static str, &str) {
    match &job.kind {
        Some(JobKind::Reconcile { repo, .. }) => ("reconcile", repo),
        Some(JobKind::Command { repo, .. }) => ("command", repo),
        None => ("undecodable", "-"),
    }
}

fn print_dead(dead: &[DeadJob], format: Format) {
    match format {
        Format::Json => {
            let rows: Vec<_> = dead
                .iter()
                .map(|d| {
                    let (kind, repo) = kind_repo(d);
                    json!({
                        "id": d.id,
                        "kind": kind,
                        "repo": (repo != "-").then_some(repo),
                        "attempts": d.attempts,
                        "dead_at": rfc3339(d.dead_at_ms),
                        "last_error": d.last_error,
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(rows));
        }
        Format::Text => {
            if dead.is_empty() {
                println!("no dead letters");
                return;
            }
            println!("ID\tKIND\tREPO\tATTEMPTS\tDIED\tLAST ERROR");
            for d in dead {
                let (kind, repo) = kind_repo(d);
                // One line each: the error's own line breaks are folded.
                let error = d.last_error.replace('\n', " ");
                println!(
                    "{}\t{kind}\t{repo}\t{}\t{}\t{error}",
                    d.id,
                    d.attempts,
                    rfc3339(d.dead_at_ms)
                );
            }
        }
    }
}

pub async fn holds(args: HoldsArgs) -> ExitCode {
    let (config, store) = match open(args.config.as_ref()).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let code = match args.verb {
        HoldsVerb::List { format } => {
            let repos: Vec<&str> = config.repos.iter().map(|r| r.name.as_str()).collect();
            match list_holds(&store, &repos).await {
                Ok(rows) => {
                    print_holds(&rows, format);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        HoldsVerb::Release { repo, policy } => match release(&store, &repo, &policy).await {
            Ok(0) => {
                eprintln!(
                    "error: `{policy}` in {repo} is not held; `imagebump holds list` shows the holds"
                );
                ExitCode::from(1)
            }
            Ok(n) => {
                println!("released {n} hold(s) of `{policy}` in {repo}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
    };
    store.close().await;
    code
}

/// One hold, as listed.
struct HoldRow {
    repo: String,
    policy: String,
    /// `None`: a manual hold (`/imagebump hold`).
    rollback: Option<crate::rollback::RollbackHold>,
}

async fn list_holds(store: &Store, repos: &[&str]) -> anyhow::Result<Vec<HoldRow>> {
    let mut rows = Vec::new();
    for &repo in repos {
        let mut manual: Vec<String> = store.holds(repo).await?.into_iter().collect();
        manual.sort();
        rows.extend(manual.into_iter().map(|policy| HoldRow {
            repo: repo.to_string(),
            policy,
            rollback: None,
        }));
        rows.extend(
            store
                .rollback_holds(repo)
                .await?
                .into_iter()
                .map(|h| HoldRow {
                    repo: repo.to_string(),
                    policy: h.key.policy.clone(),
                    rollback: Some(h),
                }),
        );
    }
    Ok(rows)
}

/// Releases the manual hold and every rollback hold of `policy` in
/// `repo`; how many there were.
async fn release(store: &Store, repo: &str, policy: &str) -> anyhow::Result<usize> {
    let mut released = 0;
    if store.holds(repo).await?.contains(policy) {
        store.set_hold(repo, policy, false).await?;
        released += 1;
    }
    for hold in store.rollback_holds(repo).await? {
        if hold.key.policy == policy {
            store.release_rollback_hold(repo, &hold.key).await?;
            released += 1;
        }
    }
    Ok(released)
}

fn print_holds(rows: &[HoldRow], format: Format) {
    match format {
        Format::Json => {
            let rows: Vec<_> = rows
                .iter()
                .map(|r| match &r.rollback {
                    None => json!({"repo": r.repo, "policy": r.policy, "kind": "manual"}),
                    Some(h) => json!({
                        "repo": r.repo,
                        "policy": r.policy,
                        "kind": "rollback",
                        "file": h.key.file,
                        "from": h.from.tag,
                        "to": h.to.tag,
                        "commit": h.commit,
                        "author": h.author,
                        "held_at": rfc3339(h.at_ms),
                    }),
                })
                .collect();
            println!("{}", serde_json::Value::Array(rows));
        }
        Format::Text => {
            if rows.is_empty() {
                println!("no holds");
                return;
            }
            for r in rows {
                match &r.rollback {
                    None => println!("{}\t{}\tmanual", r.repo, r.policy),
                    Some(h) => println!(
                        "{}\t{}\trollback from {} to {} in {} by {} at {} ({})",
                        r.repo,
                        r.policy,
                        h.from.tag,
                        h.to.tag,
                        h.commit,
                        h.author,
                        rfc3339(h.at_ms),
                        h.key.file
                    ),
                }
            }
        }
    }
}
