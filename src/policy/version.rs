//! Tags as versions: semver 2.0 tags with an optional `v`, prerelease vs
//! variant suffixes, and ranges (semver crate syntax or npm-style).

/// A parsed `semver` range of a policy.
#[derive(Clone, Debug)]
pub struct VersionRange {
    /// The range as the user wrote it.
    pub source: String,
}

/// Parses a range; the error is a one-line explanation.
pub fn parse_range(s: &str) -> Result<VersionRange, String> {
    Ok(VersionRange {
        source: s.to_string(),
    })
}
