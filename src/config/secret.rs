//! A secret value that never prints: `Debug` and `Display` show `***`.

use std::fmt;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value itself: only for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The secret given inline, or read (and trimmed) from `file`.
pub(super) fn resolve(
    inline: Option<&Secret>,
    file: Option<&Path>,
) -> anyhow::Result<Option<Secret>> {
    match (inline, file) {
        (Some(s), _) => Ok(Some(s.clone())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read secret file {}", path.display()))?;
            let value = text.trim().to_string();
            anyhow::ensure!(!value.is_empty(), "secret file {} is empty", path.display());
            Ok(Some(Secret(value)))
        }
        (None, None) => Ok(None),
    }
}
