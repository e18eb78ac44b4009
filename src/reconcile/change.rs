//! A change: the bumps that travel together in one commit and one MR
//! (grouped per policy, per file, or all at once), with the branch, title,
//! commit message and MR body they produce, and the hidden marker in the MR
//! body that records what the MR bumps (so reconcile finds and updates it
//! without a database, and a closed MR tells which versions were refused).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::plan::{Bump, Report};
use crate::policy::{Group, RepoConfig, UpdateType};

use crate::texts::{
    DIGEST_NOT_PINNED, MARK_END as MARKER_END, MARK_START as MARKER_START, MR_EVIDENCE_HEAD,
    MR_INTRO, MR_OUTRO, MR_PROMOTION_INTRO,
};

/// Bumps delivered together.
#[derive(Clone, Debug)]
pub struct Change {
    pub branch: String,
    pub bumps: Vec<Bump>,
}

/// What an MR body records about each bump.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkedBump {
    pub policy: String,
    pub image: String,
    pub file: String,
    pub from: String,
    pub to: String,
    pub update: UpdateType,
    /// The environment of the file (`environments`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// For a promotion: the environment promoted from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub version: u32,
    pub branch: String,
    pub bumps: Vec<MarkedBump>,
}

/// Groups the report's bumps into changes, in a stable order. Bumps of an
/// environment (`environments`) travel apart from the others': its name
/// leads the branch's (`imagebump/staging-web`).
pub fn group(report: &Report, config: &RepoConfig) -> Vec<Change> {
    let prefix = &config.pull_requests.branch_prefix;
    let mut by_branch: BTreeMap<String, Vec<Bump>> = BTreeMap::new();
    for b in &report.bumps {
        let key = match config.pull_requests.group {
            Group::PerPolicy => b.policy.clone(),
            Group::PerFile => slug(&b.file),
            Group::All => "all".to_string(),
        };
        let branch = match &b.environment {
            Some(env) => format!("{prefix}{env}-{key}"),
            None => format!("{prefix}{key}"),
        };
        by_branch.entry(branch).or_default().push(b.clone());
    }
    by_branch
        .into_iter()
        .map(|(branch, bumps)| Change { branch, bumps })
        .collect()
}

/// A branch-safe form of a file path: `apps/web.yaml` → `apps-web.yaml`.
fn slug(path: &str) -> String {
    let s: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.trim_matches(|c| c == '-' || c == '.').replace("..", ".")
}

impl Change {
    /// Distinct (policy, target tag) pairs, in order.
    fn targets(&self) -> Vec<(&str, &str)> {
        let mut seen = HashSet::new();
        self.bumps
            .iter()
            .map(|b| (b.policy.as_str(), b.to.tag.as_str()))
            .filter(|t| seen.insert(*t))
            .collect()
    }

    /// `Bump web to 1.4.3`, `Bump web to 1.4.3 and api to 2.0.1`, or
    /// `Bump 5 images` when there are more.
    pub fn title(&self) -> String {
        let t = self.targets();
        if let Some(env) = self.promoted_to() {
            return match t.as_slice() {
                [(p, to)] => format!("Promote {p} {to} to {env}"),
                [(p1, t1), (p2, t2)] => format!("Promote {p1} {t1} and {p2} {t2} to {env}"),
                _ => format!("Promote {} images to {env}", t.len()),
            };
        }
        match t.as_slice() {
            [(p, to)] => format!("Bump {p} to {to}"),
            [(p1, t1), (p2, t2)] => format!("Bump {p1} to {t1} and {p2} to {t2}"),
            _ => format!("Bump {} images", t.len()),
        }
    }

    pub fn marker(&self) -> Marker {
        Marker {
            version: 1,
            branch: self.branch.clone(),
            bumps: self
                .bumps
                .iter()
                .map(|b| MarkedBump {
                    policy: b.policy.clone(),
                    image: b.image.clone(),
                    file: b.file.clone(),
                    from: b.from.tag.clone(),
                    to: b.to.tag.clone(),
                    update: b.update,
                    environment: b.environment.clone(),
                    promoted_from: b.promotion.as_ref().map(|p| p.from.clone()),
                })
                .collect(),
        }
    }

    /// The MR description: a table of the bumps and the hidden marker.
    pub fn body(&self) -> String {
        self.body_noting("")
    }

    /// The MR description with `note` after the table, before the marker.
    pub fn body_noting(&self, note: &str) -> String {
        let promoted = self.promoted_to().is_some();
        let mut s = String::from(if promoted {
            MR_PROMOTION_INTRO
        } else {
            MR_INTRO
        });
        s.push_str("| file | image | from | to | update |\n| --- | --- | --- | --- | --- |\n");
        for b in &self.bumps {
            let show = |v: &crate::plan::Version| match &v.digest {
                Some(d) => format!("`{}@{}`", v.tag, short(d)),
                None => format!("`{}`", v.tag),
            };
            s.push_str(&format!(
                "| `{}:{}` | `{}` | {} | {} | {} |\n",
                b.file,
                b.line,
                b.image,
                show(&b.from),
                show(&b.to),
                b.update.as_str()
            ));
        }
        if promoted {
            s.push_str(&self.evidence());
        }
        s.push_str(MR_OUTRO);
        s.push_str(note);
        s.push_str(&encode_marker(&self.marker()));
        s
    }

    /// The environment every bump promotes to, when the change is a
    /// promotion.
    pub fn promoted_to(&self) -> Option<&str> {
        let first = self.bumps.first()?.promotion.as_ref()?;
        self.bumps
            .iter()
            .all(|b| {
                b.promotion
                    .as_ref()
                    .is_some_and(|p| p.environment == first.environment)
            })
            .then_some(first.environment.as_str())
    }

    /// What each promoted version is, where from, the commit that
    /// introduced it there, since when, and its checks.
    fn evidence(&self) -> String {
        let mut s = String::from(MR_EVIDENCE_HEAD);
        let mut seen = HashSet::new();
        for b in &self.bumps {
            let Some(p) = &b.promotion else { continue };
            if !seen.insert((&b.policy, &b.to.tag, &b.to.digest)) {
                continue;
            }
            let digest = match &b.to.digest {
                Some(d) => format!("`{d}`"),
                None => DIGEST_NOT_PINNED.to_string(),
            };
            s.push_str(&format!(
                "| `{}` | `{}` | {} | `{}` | {} | {} | {} |\n",
                b.image,
                b.to.tag,
                p.from,
                p.commit,
                crate::plan::promote::utc(p.since_ms),
                p.checks.describe(),
                digest
            ));
        }
        s
    }

    /// Commit message with one trailer set per bump.
    pub fn commit_message(&self) -> String {
        let mut s = format!("{}\n\n", self.title());
        let mut seen = HashSet::new();
        for b in &self.bumps {
            if seen.insert((&b.policy, &b.from.tag, &b.to.tag)) {
                s.push_str(&format!(
                    "Imagebump-Policy: {}\nImagebump-From: {}\nImagebump-To: {}\n",
                    b.policy, b.from.tag, b.to.tag
                ));
                if let Some(p) = &b.promotion {
                    s.push_str(&format!(
                        "Imagebump-Promoted-From: {} {}\n",
                        p.from, p.commit
                    ));
                }
            }
        }
        s
    }

    /// Every bump's update type is one its policy merges without a human.
    /// A promotion merges as its environment's `automerge` says.
    pub fn automerge_allowed(&self, config: &RepoConfig) -> bool {
        self.bumps.iter().all(|b| match &b.promotion {
            Some(p) => config
                .environment(&p.environment)
                .is_some_and(|e| e.automerge),
            None => config
                .policy(&b.policy)
                .is_some_and(|p| p.automerge.contains(&b.update)),
        })
    }
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

pub fn encode_marker(marker: &Marker) -> String {
    let json = serde_json::to_string(marker).unwrap_or_default();
    format!("{MARKER_START}{json}{MARKER_END}")
}

/// The marker in an MR body, if it has one that parses.
pub fn decode_marker(body: &str) -> Option<Marker> {
    let start = body.rfind(MARKER_START)? + MARKER_START.len();
    let end = body[start..].find(MARKER_END)? + start;
    serde_json::from_str(&body[start..end]).ok()
}

#[cfg(test)]
mod tests;
