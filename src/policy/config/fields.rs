//! Reading typed values out of the positioned YAML tree, recording a
//! `ConfigError` (file, line, column, one-line hint) for each mismatch.

use globset::Glob;
use regex::Regex;

use super::ConfigError;
use crate::yaml::Node;

pub(super) struct Cx<'a> {
    pub(super) file: &'a str,
    pub(super) errors: Vec<ConfigError>,
    pub(super) notes: Vec<ConfigError>,
}

/// A message quotes the file's values, which may hold line breaks (a
/// quoted `"a\nb"`); an error stays on its one `file:line:column:` line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

impl Cx<'_> {
    pub(super) fn err(&mut self, at: &Node, message: &str, hint: Option<&str>) {
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line: at.line,
            column: at.column,
            message: one_line(message),
            hint: hint.map(one_line),
        });
    }

    /// Checks a mapping's keys against `allowed`; returns its pairs.
    pub(super) fn map<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
    ) -> &'n [(Node, Node)] {
        let Some(pairs) = node.as_map() else {
            self.err(
                node,
                &format!("{what} must be a mapping, found {}", node.type_name()),
                None,
            );
            return &[];
        };
        let mut seen: Vec<&str> = Vec::new();
        for (k, _) in pairs {
            let Some(key) = k.as_str() else {
                self.err(k, &format!("keys of {what} must be strings"), None);
                continue;
            };
            if !allowed.contains(&key) {
                let hint = match closest(key, allowed) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("allowed keys: {}", allowed.join(", ")),
                };
                self.err(k, &format!("unknown key `{key}` in {what}"), Some(&hint));
            } else if seen.contains(&key) {
                self.err(k, &format!("duplicate key `{key}` in {what}"), None);
            }
            seen.push(key);
        }
        pairs
    }

    /// The items of list `key`; none (with the error) if it is not a list.
    pub(super) fn seq<'n>(&mut self, node: &'n Node, key: &str, hint: &str) -> &'n [Node] {
        match node.as_seq() {
            Some(items) => items,
            None => {
                self.err(
                    node,
                    &format!("`{key}` must be a list, found {}", describe(node)),
                    Some(hint),
                );
                &[]
            }
        }
    }

    pub(super) fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        match node.as_scalar() {
            Some(s) if !s.value.is_empty() => Some(s.value.clone()),
            _ => {
                self.err(
                    node,
                    &format!(
                        "`{key}` must be a non-empty string, found {}",
                        describe(node)
                    ),
                    None,
                );
                None
            }
        }
    }

    /// A name that becomes part of a branch name (of a policy or an
    /// environment, `what`): letters, digits, `-`, `_` and `.`.
    pub(super) fn branch_name(&mut self, node: &Node, key: &str, what: &str) -> Option<String> {
        let name = self.string(node, key)?;
        let ok = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            self.err(
                node,
                &format!("{what} name `{name}` may only use letters, digits, `-`, `_` and `.`"),
                Some("it becomes part of a branch name"),
            );
            return None;
        }
        Some(name)
    }

    pub(super) fn bool(&mut self, node: &Node, key: &str) -> Option<bool> {
        match node.as_str() {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => {
                self.err(
                    node,
                    &format!("`{key}` must be true or false, found {}", describe(node)),
                    None,
                );
                None
            }
        }
    }

    /// A size in bytes: a whole number, or one followed by `KiB` or `MiB`,
    /// within `min..=max`.
    pub(super) fn bytes(&mut self, node: &Node, key: &str, min: u64, max: u64) -> Option<u64> {
        let text = node.as_str().unwrap_or_default().trim();
        let (digits, unit) = match text.strip_suffix("MiB") {
            Some(d) => (d, 1 << 20),
            None => match text.strip_suffix("KiB") {
                Some(d) => (d, 1 << 10),
                None => (text, 1),
            },
        };
        let value = digits
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit))
            .filter(|n| (min..=max).contains(n));
        if value.is_none() {
            self.err(
                node,
                &format!(
                    "`{key}` must be a size from {min} bytes to {} MiB, found {}",
                    max >> 20,
                    describe(node)
                ),
                Some("write e.g. `maxFileSize: 2MiB`, `512KiB` or `100000` (bytes)"),
            );
        }
        value
    }

    /// A duration (`30s`, `5m`, `1h`, `3d`, `1h30m`), at most `max`.
    pub(super) fn duration(
        &mut self,
        node: &Node,
        key: &str,
        max: std::time::Duration,
    ) -> Option<std::time::Duration> {
        let text = node.as_str().unwrap_or_default();
        match crate::duration::parse_duration(text) {
            Ok(d) if d <= max => Some(d),
            Ok(_) => {
                self.err(
                    node,
                    &format!(
                        "`{key}` may be at most {} days, found {}",
                        max.as_secs() / 86_400,
                        describe(node)
                    ),
                    None,
                );
                None
            }
            Err(_) => {
                self.err(
                    node,
                    &format!("`{key}` must be a duration, found {}", describe(node)),
                    Some(&format!("write e.g. `{key}: 3d`, `12h`, `30m` or `90s`")),
                );
                None
            }
        }
    }

    pub(super) fn strings(&mut self, node: &Node, key: &str) -> Vec<(String, Node)> {
        let Some(items) = node.as_seq() else {
            self.err(
                node,
                &format!("`{key}` must be a list, found {}", describe(node)),
                Some(&format!("write `{key}: [\"…\"]`")),
            );
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|n| self.string(n, key).map(|s| (s, n.clone())))
            .collect()
    }

    pub(super) fn globs(&mut self, node: &Node, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (g, n) in self.strings(node, key) {
            match Glob::new(&g) {
                Ok(_) => out.push(g),
                Err(e) => self.err(
                    &n,
                    &format!("`{g}` is not a valid glob: {}", e.kind()),
                    Some("globs look like `clusters/**/*.yaml`"),
                ),
            }
        }
        out
    }

    pub(super) fn regex(&mut self, node: &Node, key: &str) -> Option<Regex> {
        let s = self.string(node, key)?;
        match Regex::new(&s) {
            Ok(r) => Some(r),
            Err(e) => {
                let detail = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                self.err(
                    node,
                    &format!("`{key}` is not a valid regular expression: {detail}"),
                    Some("use Rust regex syntax; escape dots as `\\.`"),
                );
                None
            }
        }
    }
}

pub(super) fn describe(node: &Node) -> String {
    match node.as_str() {
        Some(s) => format!("`{s}`"),
        None => node.type_name().to_string(),
    }
}

/// The allowed key nearest to a misspelt one, if it is near enough.
fn closest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let key_l = key.to_ascii_lowercase();
    allowed
        .iter()
        .map(|a| (edit_distance(&key_l, &a.to_ascii_lowercase()), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min()
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
