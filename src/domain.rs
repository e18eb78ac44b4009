//! Identifiers shared by every module: image repositories, references, tags
//! and digests. Each is validated and normalised when it is made, so code
//! that holds one never re-checks it. No I/O happens here.

use std::fmt;
use std::ops::Range;

/// The registry that image names without a host belong to.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's registry API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A repository in a registry, normalised: `nginx`, `docker.io/library/nginx`
/// and `index.docker.io/library/nginx` are equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRepo {
    host: String,
    path: String,
}

impl ImageRepo {
    /// Parses a repository name without tag or digest.
    pub fn parse(name: &str) -> Result<Self, String> {
        let (host, path) = split_host(name);
        if path.is_empty() || !path.split('/').all(valid_path_component) {
            return Err(format!(
                "`{name}` is not an image repository (expected e.g. ghcr.io/acme/web)"
            ));
        }
        let (host, path) = normalise_repository(host.unwrap_or(DOCKER_HUB), path);
        Ok(Self { host, path })
    }

    /// The registry host as written in image names (`docker.io`, `ghcr.io`,
    /// `127.0.0.1:5000`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host whose `/v2/` API serves this repository.
    pub fn api_host(&self) -> &str {
        if self.host == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.host
        }
    }

    /// The repository path inside its registry (`library/nginx`).
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for ImageRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.path)
    }
}

/// Host names under which Docker Hub is reached (its API host, its index,
/// its web site as webhook payloads name it); all become [`DOCKER_HUB`].
const DOCKER_HUB_ALIASES: &[&str] = &[
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
    "hub.docker.com",
];

/// The one spelling of a registry host: lowercase, without a trailing `/`,
/// Docker Hub's aliases as [`DOCKER_HUB`].
pub fn normalise_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('/').to_ascii_lowercase();
    if DOCKER_HUB_ALIASES.contains(&host.as_str()) {
        DOCKER_HUB.to_string()
    } else {
        host
    }
}

/// A repository as every module names it, from a host and a path that are
/// already split: the host normalised, and Docker Hub's official images
/// under `library/`. [`ImageRepo::parse`] and the webhook sources (which
/// are told the host, rather than guessing it) both go through here.
pub fn normalise_repository(host: &str, path: &str) -> (String, String) {
    let host = normalise_host(host);
    let path = if host == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    };
    (host, path)
}

/// Splits off the registry host: the first component is a host when it has
/// a dot or a port, or is `localhost` (the rule Docker uses).
fn split_host(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            if valid_host(first) {
                (Some(first), rest)
            } else {
                (Some(first), "")
            }
        }
        _ => (None, name),
    }
}

fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.contains(']') || n.ends_with(']') => (n, Some(p)),
        _ => (host, None),
    };
    let name_ok = if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        !v6.is_empty() && v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
    } else {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    name_ok && port_ok
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, the OCI distribution path grammar.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(format!("`{s}` is not a valid tag"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A content digest, `sha256:<64 hex>` (or another registered algorithm).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = match s.split_once(':') {
            Some(("sha256", hex)) => hex.len() == 64 && hex.bytes().all(is_lower_hex),
            Some(("sha512", hex)) => hex.len() == 128 && hex.bytes().all(is_lower_hex),
            _ => false,
        };
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(format!(
                "`{s}` is not a digest (expected sha256:<64 hex digits>)"
            ))
        }
    }

    /// The digest of `bytes` as sha256.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(bytes))
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A full image reference `repo[:tag][@digest]`, with the byte ranges of its
/// parts inside the string it was parsed from (for byte-exact edits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub repo: ImageRepo,
    pub tag: Option<Tag>,
    pub digest: Option<Digest>,
    /// Byte range of the repository name.
    pub name_span: Range<usize>,
    /// Byte range of the tag (after the `:`).
    pub tag_span: Option<Range<usize>>,
    /// Byte range of the digest (after the `@`).
    pub digest_span: Option<Range<usize>>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (rest, digest, digest_span) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d)?), Some(r.len() + 1..s.len())),
            None => (s, None, None),
        };
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag, tag_span) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                let tag = Tag::parse(&rest[at + 1..])?;
                (&rest[..at], Some(tag), Some(at + 1..rest.len()))
            }
            None => (rest, None, None),
        };
        Ok(Self {
            repo: ImageRepo::parse(name)?,
            tag,
            digest,
            name_span: 0..name.len(),
            tag_span,
            digest_span,
        })
    }
}

/// The relative path of a file in an environment repository, always with `/`.
pub type RepoPath = String;
