//! `environments:` of `.imagebump.yaml`: named file sets, each following
//! the registry or promoted from an earlier one (README, "Promotion between
//! environments").

use super::super::{Environment, MAX_CONFIG_DURATION};
use super::fields::Cx;
use crate::yaml::Node;

pub(super) const ENV_KEYS: &[&str] = &[
    "name",
    "files",
    "promoteFrom",
    "after",
    "require",
    "automerge",
];

/// What `require` may name.
pub(super) const REQUIREMENTS: &[&str] = &["checks"];

impl Cx<'_> {
    /// The list, each `promoteFrom` naming an environment listed before
    /// (so promotions form no cycle).
    pub(super) fn environments(&mut self, node: &Node) -> Vec<Environment> {
        let items = self.seq(
            node,
            "environments",
            "start each environment with `- name:`",
        );
        let mut out: Vec<Environment> = Vec::new();
        // Every environment listed so far, valid or not, so that one
        // problem does not hide another.
        let mut seen: Vec<Environment> = Vec::new();
        for item in items {
            let (env, valid) = self.environment(item);
            let name_at = item.get("name").unwrap_or(item);
            if !env.name.is_empty() && seen.iter().any(|e| e.name == env.name) {
                self.err(
                    name_at,
                    &format!("duplicate environment name `{}`", env.name),
                    Some("environment names must be unique; `promoteFrom` refers to them"),
                );
                continue;
            }
            if let Some(from) = &env.promote_from
                && !seen.iter().any(|e| &e.name == from)
            {
                let at = item.get("promoteFrom").unwrap_or(item);
                let (message, hint) = if *from == env.name {
                    (
                        format!("environment `{from}` cannot be promoted from itself"),
                        "name the environment it follows, e.g. `promoteFrom: dev`".to_string(),
                    )
                } else {
                    let earlier: Vec<&str> = seen
                        .iter()
                        .map(|e| e.name.as_str())
                        .filter(|n| !n.is_empty())
                        .collect();
                    (
                        format!(
                            "`promoteFrom: {from}` names no environment listed before `{}`",
                            env.name
                        ),
                        if earlier.is_empty() {
                            "list the source environment first".to_string()
                        } else {
                            format!(
                                "one of {}; list the source environment first",
                                earlier.join(", ")
                            )
                        },
                    )
                };
                self.err(at, &message, Some(&hint));
                seen.push(env);
                continue;
            }
            if valid {
                out.push(env.clone());
            }
            seen.push(env);
        }
        out
    }

    /// The environment as written, and whether it is valid.
    fn environment(&mut self, node: &Node) -> (Environment, bool) {
        let pairs = self.map(node, "an environment", ENV_KEYS);
        let errors_before = self.errors.len();
        let mut env = Environment {
            name: String::new(),
            files: Vec::new(),
            promote_from: None,
            after: std::time::Duration::ZERO,
            require_checks: false,
            automerge: false,
        };
        let mut promotion_only: Option<&Node> = None;
        for (k, v) in pairs {
            match k.as_str() {
                Some("name") => {
                    env.name = self
                        .branch_name(v, "name", "environment")
                        .unwrap_or_default()
                }
                Some("files") => {
                    env.files = self.globs(v, "files");
                    if env.files.is_empty() && v.as_seq().is_some_and(|s| s.is_empty()) {
                        self.err(v, "`files` of an environment may not be empty", None);
                    }
                }
                Some("promoteFrom") => {
                    env.promote_from = self.branch_name(v, "promoteFrom", "environment")
                }
                Some("after") => {
                    promotion_only = promotion_only.or(Some(k));
                    if let Some(d) = self.duration(v, "after", MAX_CONFIG_DURATION) {
                        env.after = d;
                    }
                }
                Some("require") => {
                    promotion_only = promotion_only.or(Some(k));
                    for (s, n) in self.strings(v, "require") {
                        if REQUIREMENTS.contains(&s.as_str()) {
                            env.require_checks = true;
                        } else {
                            self.err(
                                &n,
                                &format!("unknown requirement `{s}` in `require`"),
                                Some(&format!("one of {}", REQUIREMENTS.join(", "))),
                            );
                        }
                    }
                }
                Some("automerge") => {
                    promotion_only = promotion_only.or(Some(k));
                    env.automerge = self.bool(v, "automerge").unwrap_or(false);
                }
                _ => {}
            }
        }
        if node.as_map().is_some() {
            if node.get("name").is_none() {
                self.err(
                    node,
                    "an environment needs a `name`",
                    Some("add `name: staging`"),
                );
            }
            if node.get("files").is_none() {
                self.err(
                    node,
                    "an environment needs `files`",
                    Some("add `files: [\"clusters/staging/**\"]`"),
                );
            }
        }
        if let (Some(at), None) = (promotion_only, &env.promote_from) {
            let key = at.as_str().unwrap_or_default();
            self.err(
                at,
                &format!("`{key}` applies only to an environment with `promoteFrom`"),
                Some("add `promoteFrom: <environment>`, or remove it"),
            );
        }
        let valid = self.errors.len() == errors_before && !env.name.is_empty();
        (env, valid)
    }
}

#[cfg(test)]
mod tests;
