//! What the bot says on the platforms, and the hidden marks it leaves, in
//! one place: the comment texts, the MR body's fixed sentences, and every
//! `<!-- imagebump: … -->` mark (the MR marker that records the bumps, and
//! the marks that keep one-time comments one-time). Changing a mark's
//! spelling here changes what the bot recognises as its own, everywhere.

/// The prefix that makes a comment a command.
pub const COMMAND_PREFIX: &str = "/imagebump";

/// Start and end of every hidden mark.
pub const MARK_START: &str = "<!-- imagebump: ";
pub const MARK_END: &str = " -->";

/// A hidden mark: `<!-- imagebump: {what} -->`.
pub fn mark(what: &str) -> String {
    format!("{MARK_START}{what}{MARK_END}")
}

/// A hidden mark naming one exact text (a problem, a command): a new text
/// gets a new comment, the same one never a second.
pub fn mark_for(what: &str, text: &str) -> String {
    mark(&format!("{what} {:016x}", fingerprint(text)))
}

/// A short, stable fingerprint (FNV-1a).
fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The mark of the comment about someone else's push to a bot branch.
pub fn human_push_mark() -> String {
    mark("human-push")
}

pub fn human_push(branch: &str) -> String {
    format!(
        "imagebump did not update this branch: someone else pushed to `{branch}`. Close this MR (or delete the branch) to let imagebump start over.\n\n{}",
        human_push_mark()
    )
}

/// The mark of the comment about reviews that could not be requested.
pub fn reviewers_mark() -> String {
    mark("reviewers")
}

pub fn reviewers_refused(problems: &str) -> String {
    format!(
        "imagebump opened this MR, but could not request every review:\n\n{problems}\n\n{}",
        reviewers_mark()
    )
}

/// The mark of the comment about a merge the platform refused, per head.
pub fn merge_refused_mark(head: &str) -> String {
    mark(&format!("merge-refused {head}"))
}

pub fn merge_refused(why: &str, mark: &str) -> String {
    format!(
        "imagebump would merge this MR (its checks passed), but the platform refused: {why}\n\nimagebump tries again on later runs; a person may merge it.\n\n{mark}"
    )
}

pub fn delivery_failed(error: &str, mark: &str) -> String {
    format!(
        "imagebump could not finish updating this MR:\n\n```\n{error}\n```\n\nIt tries again with backoff.\n\n{mark}"
    )
}

pub fn config_invalid(branch: &str, problems: &str, mark: &str) -> String {
    format!(
        "imagebump cannot use `.imagebump.yaml` on `{branch}`; it changes no MR until the file is fixed:\n\n```\n{problems}\n```\n\n{mark}"
    )
}

/// Title of the tracking issue for problems no MR can carry.
pub const CONFIG_ISSUE_TITLE: &str = "imagebump: .imagebump.yaml is invalid";

pub fn not_a_writer(user: &str, mark: &str) -> String {
    format!(
        "imagebump did not run this command: @{user} may not write to this repository.\n\n{mark}"
    )
}

/// The body a recreated MR is left with (its marker removed).
pub const RECREATED: &str =
    "imagebump closed this MR on request (`/imagebump recreate`); a fresh one replaces it.";

/// The MR description's first line, before the table of bumps.
pub const MR_INTRO: &str = "imagebump found newer images allowed by `.imagebump.yaml`:\n\n";

/// The MR description's closing sentence, before the marker.
pub const MR_OUTRO: &str = "\nThis MR is kept up to date by imagebump: a newer tag updates it, a moved base rebuilds it (unless someone else pushed to the branch). Close it to skip these versions.\n\n";

/// The body of a promotion MR starts with this (then the bumps' table and
/// the evidence).
pub const MR_PROMOTION_INTRO: &str = "imagebump promotes the versions another environment ran and proved, as `environments` in `.imagebump.yaml` says:\n\n";

/// The evidence table's head, after the bumps' table of a promotion MR.
pub const MR_EVIDENCE_HEAD: &str = "\n**Evidence**\n\n| image | promoted | from | source commit | there since | checks | digest |\n| --- | --- | --- | --- | --- | --- | --- |\n";

/// The evidence's digest column when the source does not pin one.
pub const DIGEST_NOT_PINNED: &str =
    "not pinned in the source: the tag is promoted, not proven to be the same bits";

/// The paragraph of an MR description whose bumps touch references held
/// after a rollback (src/rollback/): auto-merge is off, and why; empty
/// when none is held.
pub fn rollback_held(holds: &[&crate::rollback::RollbackHold]) -> String {
    if holds.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "**Auto-merge is off for this MR**: a person rolled back what it bumps, and imagebump holds it:\n\n",
    );
    for h in holds {
        s.push_str(&format!("- {}\n", h.describe()));
    }
    s.push_str(&format!(
        "\nThe rolled-back-from version and those between it and the current one are not proposed again. Comment `{COMMAND_PREFIX} unhold` here to release the hold (or raise the tag yourself); until then this MR waits for a person to merge it.\n\n"
    ));
    s
}
