//! Printing a plan: a unified diff per file and a summary line (text), or
//! the stable JSON contract.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use similar::{ChangeTag, TextDiff};

use super::Format;
use crate::plan::{FileChange, Report};

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

pub fn report(report: &Report, changes: &[FileChange], format: Format, color: bool, written: bool) {
    match format {
        Format::Json => match serde_json::to_string_pretty(report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: cannot encode the report: {e}"),
        },
        Format::Text => {
            print!("{}", text(report, changes, color, written));
            for e in &report.errors {
                eprintln!("error: {}:{}: {}", e.file, e.line, e.message);
            }
        }
    }
}

/// The text form (diffs, skipped references and the summary line).
pub fn text(report: &Report, changes: &[FileChange], color: bool, written: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("{code}{s}{RESET}")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    for c in changes {
        let _ = writeln!(out, "{}", paint(BOLD, &format!("--- a/{}", c.path)));
        let _ = writeln!(out, "{}", paint(BOLD, &format!("+++ b/{}", c.path)));
        let diff = TextDiff::from_lines(&c.before, &c.after);
        for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
            let _ = writeln!(out, "{}", paint(CYAN, &hunk.header().to_string()));
            for change in hunk.iter_changes() {
                let line = change.value().trim_end_matches(['\n', '\r']);
                let (sign, code) = match change.tag() {
                    ChangeTag::Delete => ("-", RED),
                    ChangeTag::Insert => ("+", GREEN),
                    ChangeTag::Equal => (" ", ""),
                };
                let s = format!("{sign}{line}");
                let _ = writeln!(out, "{}", if code.is_empty() { s } else { paint(code, &s) });
            }
        }
    }
    for s in &report.skipped {
        let _ = writeln!(
            out,
            "skipped {}:{} {}: {}",
            s.file, s.line, s.image, s.reason
        );
    }
    for w in &report.waiting {
        let _ = writeln!(
            out,
            "waiting {}:{} {}: {} for release age until {}",
            w.file, w.line, w.image, w.tag, w.until
        );
    }
    let _ = writeln!(out, "{}", summary(report, changes.len(), written));
    out
}

fn summary(report: &Report, files: usize, written: bool) -> String {
    let n = report.bumps.len();
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for b in &report.bumps {
        *by_type.entry(b.update.as_str()).or_default() += 1;
    }
    let kinds: Vec<String> = by_type.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let head = match (n, written) {
        (0, _) => "no bumps".to_string(),
        (_, true) => format!(
            "wrote {n} bump(s) in {files} file(s) ({})",
            kinds.join(", ")
        ),
        (_, false) => format!(
            "{n} bump(s) available in {files} file(s) ({})",
            kinds.join(", ")
        ),
    };
    let tail = if n > 0 && !written {
        "; run with --write to apply"
    } else {
        ""
    };
    let waiting = match report.waiting.len() {
        0 => String::new(),
        n => format!("; {n} waiting for release age"),
    };
    format!(
        "{head}; {} skipped; {} error(s){waiting}{tail}",
        report.skipped.len(),
        report.errors.len()
    )
}
