//! Finding image references in YAML files and editing them byte-exactly.
//!
//! Pure: no I/O. `scan` parses a file (every document) and returns each
//! reference with the byte spans of its tag and digest; `apply` splices new
//! bytes into exactly those spans, so quoting, comments, indentation and
//! line endings never change. Which references a policy owns is decided by
//! the caller (`plan`), not here.

mod marker;
mod scan;

use std::ops::Range;

use crate::domain::{Digest, ImageRepo};

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
///
/// Finds `image:` values, kustomization `images:` entries, Helm
/// `repository`/`tag` mappings and scalars marked with `# imagebump: <policy>`
/// or Flux's `# {"$imagepolicy": "<ns>:<name>"}`, in byte order. Values that
/// cannot be edited in place (escaped, multi-line, block) are left out.
pub fn scan(text: &str) -> Result<Vec<Reference>, ScanError> {
    scan::scan(text)
}

impl Reference {
    /// Replaces the tag's text with `new`; `None` when there is no tag.
    pub fn tag_edit(&self, new: &str) -> Option<Edit> {
        let tag = self.tag.as_ref()?;
        Some(Edit {
            span: tag.span.clone(),
            replacement: new.to_string(),
        })
    }

    /// Replaces the digest, or inserts `@<digest>` after an image string's
    /// tag; `None` when the file has no place for one (a kustomization or
    /// Helm mapping without a `digest` key).
    pub fn digest_edit(&self, new: &Digest) -> Option<Edit> {
        if let Some(digest) = &self.digest {
            return Some(Edit {
                span: digest.span.clone(),
                replacement: new.to_string(),
            });
        }
        let at = self.digest_insert?;
        Some(Edit {
            span: at..at,
            replacement: format!("@{new}"),
        })
    }
}

/// Checks `after` against `before` with `edits` applied: the edits must be
/// in bounds and not overlap, every byte outside them must be unchanged,
/// `after` must still parse and hold as many references as `before`, and
/// each replacement must read back as exactly a reference's tag or digest.
/// Run it before writing a file.
pub fn verify_edit(before: &str, after: &str, edits: &[Edit]) -> Result<(), String> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.span.start, e.span.end));
    let mut at = 0; // in `before`
    let mut out = 0; // in `after`
    let mut written = Vec::new(); // each replacement's range in `after`
    for e in &sorted {
        let (start, end) = (e.span.start, e.span.end);
        if start < at || end < start || before.get(start..end).is_none() {
            return Err(format!("edit {start}..{end} overlaps or is out of bounds"));
        }
        let kept = &before[at..start];
        let expected_len = kept.len() + e.replacement.len();
        match after.get(out..out + expected_len) {
            Some(got) if got.starts_with(kept) && got.ends_with(e.replacement.as_str()) => {}
            _ => return Err(format!("bytes around edit {start}..{end} differ")),
        }
        written.push(out + kept.len()..out + expected_len);
        out += expected_len;
        at = end;
    }
    if after.get(out..) != before.get(at..) {
        return Err("bytes after the last edit differ".to_string());
    }
    let refs_before = scan(before).map_err(|e| format!("original does not parse: {e}"))?;
    let refs_after = scan(after).map_err(|e| format!("edited file does not parse: {e}"))?;
    if refs_before.len() != refs_after.len() {
        return Err(format!(
            "edited file has {} image references, the original {}",
            refs_after.len(),
            refs_before.len()
        ));
    }
    for range in written {
        if !reads_back(after, &refs_after, &range) {
            return Err(format!(
                "`{}` is not read back as a tag or digest",
                after.get(range).unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// Whether the bytes written at `range` are exactly a reference's tag or
/// digest (an inserted `@<digest>` counts from after the `@`).
fn reads_back(after: &str, refs: &[Reference], range: &Range<usize>) -> bool {
    let digest_range = match after.get(range.clone()) {
        Some(s) if s.starts_with('@') => range.start + 1..range.end,
        _ => range.clone(),
    };
    refs.iter().any(|r| {
        r.tag.as_ref().is_some_and(|f| f.span == *range)
            || r.digest.as_ref().is_some_and(|f| f.span == digest_range)
    })
}

/// Applies non-overlapping edits; every byte outside their spans is kept.
/// An edit that overlaps an earlier one or is out of bounds is skipped
/// (`verify_edit` reports it).
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut edits: Vec<&Edit> = edits.iter().collect();
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for e in edits {
        let (Some(kept), Some(_)) = (text.get(at..e.span.start), text.get(e.span.clone())) else {
            continue;
        };
        out.push_str(kept);
        out.push_str(&e.replacement);
        at = e.span.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests;
