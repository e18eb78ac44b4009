//! Comment commands on the bot's MRs: `/imagebump <command> [arg]` on the
//! first line of a comment.
//!
//! | command        | effect                                                   |
//! | -------------- | -------------------------------------------------------- |
//! | `rebase`       | rebuild the branch on the current base now (the reconcile that follows every command does it: a bot branch on an old base is rebuilt; a branch someone else pushed to is still left alone) |
//! | `recreate`     | close this MR (its marker removed first, so its versions are not taken as refused) and let the reconcile open a fresh one |
//! | `ignore`       | never propose the MR's target versions again (per policy) |
//! | `ignore major` / `ignore minor` | never propose updates of that type for the MR's policies |
//! | `hold` / `unhold` | stop / resume changing MRs of the MR's policies; `unhold` also releases the rollback holds (src/rollback/) of the references the MR bumps |
//!
//! Only users who may write to the repository are obeyed; others get a
//! comment saying so. An unknown command gets a short help comment. Both
//! replies are made once per comment text (a retried job does not repeat
//! them). A comment on an MR that is not the bot's is ignored. After a
//! command the worker reconciles the repository.

use anyhow::Context;

use crate::event::Command as CommandEvent;
use crate::forge::{Forge, MergeRequest};
use crate::reconcile::{Marker, Repo, comment_once, decode_marker};
use crate::store::Store;
use crate::texts;

pub use crate::texts::COMMAND_PREFIX as PREFIX;

/// A parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    Rebase,
    Recreate,
    Ignore,
    /// `"major"` or `"minor"`.
    IgnoreUpdates(&'static str),
    Hold,
    Unhold,
    /// Anything else after the prefix (the text, for the help reply).
    Unknown(String),
}

/// Every command: its words after the prefix, and what it does. [`parse`]
/// reads it, and [`help`] is made from it, so they cannot disagree.
pub const COMMANDS: &[(&str, Cmd, &str)] = &[
    (
        "rebase",
        Cmd::Rebase,
        "rebuild this branch on the current base",
    ),
    (
        "recreate",
        Cmd::Recreate,
        "close this MR and open a fresh one",
    ),
    ("ignore", Cmd::Ignore, "never propose these versions again"),
    (
        "ignore major",
        Cmd::IgnoreUpdates("major"),
        "never propose major updates of these images",
    ),
    (
        "ignore minor",
        Cmd::IgnoreUpdates("minor"),
        "never propose minor updates of these images",
    ),
    ("hold", Cmd::Hold, "stop updating MRs of these images"),
    (
        "unhold",
        Cmd::Unhold,
        "resume updating MRs of these images, and release their rollback holds",
    ),
];

/// The reply to an unknown command, one line per command.
pub fn help() -> String {
    let mut s = String::from("imagebump commands (on the first line of a comment):\n");
    for (words, _, what) in COMMANDS {
        s.push_str(&format!("\n- `{PREFIX} {words}`: {what}"));
    }
    s
}

/// The command in a comment's first line, or `None` when it is no command.
pub fn parse(text: &str) -> Option<Cmd> {
    let line = text.lines().next().unwrap_or_default().trim();
    let rest = line.strip_prefix(PREFIX)?;
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None; // `/imagebumpx`
    }
    let words: Vec<String> = rest.split_whitespace().map(str::to_lowercase).collect();
    let said = words.join(" ");
    Some(COMMANDS.iter().find(|(w, _, _)| *w == said).map_or_else(
        || Cmd::Unknown(rest.trim().to_string()),
        |(_, c, _)| c.clone(),
    ))
}

/// What handling a comment came to (for logs and tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Not a command, not on a bot MR, or no forge: nothing done.
    Ignored,
    /// The user may not write to the repository.
    Refused,
    /// An unknown command: help was given.
    Help,
    Done(Cmd),
}

/// Carries out `event`'s command on `repo`. The caller reconciles after.
pub async fn handle(store: &Store, repo: &Repo, event: &CommandEvent) -> anyhow::Result<Handled> {
    let Some(cmd) = parse(&event.text) else {
        return Ok(Handled::Ignored);
    };
    let Some(forge) = repo.platform() else {
        return Ok(Handled::Ignored);
    };
    let forge: &dyn Forge = &forge;
    let number = event.number;
    let mr = forge.get_mr(number).await?;
    let Some(marker) = decode_marker(&mr.body) else {
        tracing::debug!(
            mr = number,
            "a command on an MR that is not imagebump's; ignored"
        );
        return Ok(Handled::Ignored);
    };
    let writer = forge.can_write(&event.user).await?;
    let mark = texts::mark_for("command", &format!("{}\n{}", event.user, event.text));
    if !writer {
        tracing::info!(mr = number, user = %event.user, "command refused: no write access");
        let note = texts::not_a_writer(&event.user, &mark);
        comment_once(forge, number, &note, &mark).await?;
        return Ok(Handled::Refused);
    }
    let name = repo.mirror.name();
    match &cmd {
        Cmd::Unknown(_) => {
            let note = format!("{}\n\n{mark}", help());
            comment_once(forge, number, &note, &mark).await?;
            return Ok(Handled::Help);
        }
        Cmd::Rebase => {} // the reconcile that follows rebuilds a stale branch
        Cmd::Recreate => recreate(forge, &mr).await?,
        Cmd::Ignore => {
            for b in &marker.bumps {
                store.ignore_version(name, &b.policy, &b.to).await?;
            }
        }
        Cmd::IgnoreUpdates(kind) => {
            for p in policies(&marker) {
                store.ignore_update_type(name, &p, kind).await?;
            }
        }
        Cmd::Hold => {
            for p in policies(&marker) {
                store.set_hold(name, &p, true).await?;
            }
        }
        Cmd::Unhold => {
            for p in policies(&marker) {
                store.set_hold(name, &p, false).await?;
            }
            // The holds a rollback made on the references this MR bumps.
            for b in &marker.bumps {
                let released = store
                    .release_rollback_holds(name, &b.policy, &b.file)
                    .await?;
                if released > 0 {
                    tracing::info!(repo = name, mr = number, policy = %b.policy, file = %b.file, "rollback hold released on request");
                }
            }
        }
    }
    tracing::info!(repo = name, mr = number, user = %event.user, command = ?cmd, "command carried out");
    Ok(Handled::Done(cmd))
}

/// Closes the MR after removing its marker, so that reconcile neither takes
/// its versions as refused nor updates it, and opens a new MR instead.
async fn recreate(forge: &dyn Forge, mr: &MergeRequest) -> anyhow::Result<()> {
    forge
        .update_mr(mr.number, &mr.title, texts::RECREATED)
        .await
        .context("removing the marker before recreating")?;
    forge.close_mr(mr.number).await?;
    Ok(())
}

/// The MR's policies, each once, in order.
fn policies(marker: &Marker) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for b in &marker.bumps {
        if !out.contains(&b.policy) {
            out.push(b.policy.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(parse("/imagebump rebase"), Some(Cmd::Rebase));
        assert_eq!(parse("  /imagebump   Recreate  \nwhy"), Some(Cmd::Recreate));
        assert_eq!(parse("/imagebump ignore"), Some(Cmd::Ignore));
        assert_eq!(
            parse("/imagebump ignore major"),
            Some(Cmd::IgnoreUpdates("major"))
        );
        assert_eq!(
            parse("/imagebump ignore minor\r\n"),
            Some(Cmd::IgnoreUpdates("minor"))
        );
        assert_eq!(parse("/imagebump hold"), Some(Cmd::Hold));
        assert_eq!(parse("/imagebump unhold"), Some(Cmd::Unhold));
    }

    #[test]
    fn unknown_commands_and_arguments() {
        assert_eq!(parse("/imagebump"), Some(Cmd::Unknown(String::new())));
        assert_eq!(
            parse("/imagebump frobnicate"),
            Some(Cmd::Unknown("frobnicate".into()))
        );
        assert_eq!(
            parse("/imagebump ignore patch"),
            Some(Cmd::Unknown("ignore patch".into()))
        );
        assert_eq!(
            parse("/imagebump rebase now"),
            Some(Cmd::Unknown("rebase now".into()))
        );
    }

    #[test]
    fn the_help_names_every_command_and_each_parses() {
        let help = help();
        for (words, cmd, what) in COMMANDS {
            let line = format!("- `/imagebump {words}`: {what}");
            assert!(help.contains(&line), "{help}");
            assert_eq!(parse(&format!("/imagebump {words}")).as_ref(), Some(cmd));
        }
        assert_eq!(
            help.lines().filter(|l| l.starts_with("- ")).count(),
            COMMANDS.len()
        );
        let readme = include_str!("../../README.md");
        for (words, _, _) in COMMANDS {
            let listed = readme.lines().any(|l| {
                l.strip_prefix(&format!("/imagebump {words} "))
                    .is_some_and(|rest| rest.trim_start().starts_with('#'))
            });
            assert!(listed, "README's commands omit `{words}`");
        }
    }

    #[test]
    fn not_commands() {
        assert_eq!(parse("LGTM"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("/imagebumpx rebase"), None);
        assert_eq!(parse("please\n/imagebump rebase"), None, "first line only");
        assert_eq!(parse("say /imagebump rebase"), None);
    }
}
