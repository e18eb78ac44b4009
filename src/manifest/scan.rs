//! Walks the YAML tree of every document and collects image references:
//! kustomization `images:` entries, Helm `repository`/`tag` mappings,
//! `image:` values and marked scalars. Each scalar belongs to at most one
//! reference, and a scalar in a name's place (a kustomization entry's
//! `name`/`newName`, a Helm mapping's `repository`/`registry`) is never a
//! tag or digest, whatever its marker says: writing a tag there would turn
//! the entry into a reference of its own, and the re-scan would not find
//! the tag.

use std::collections::HashSet;

use super::marker::marker_after;
use super::{Field, Marker, MarkerKind, RefKind, Reference, ScanError};
use crate::domain::{ImageRef, ImageRepo};
use crate::yaml::{self, Node, Scalar};

pub(super) fn scan(text: &str) -> Result<Vec<Reference>, ScanError> {
    let docs = yaml::parse(text).map_err(|e| ScanError {
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    let mut scanner = Scanner {
        text,
        found: Vec::new(),
        claimed: HashSet::new(),
        names: HashSet::new(),
    };
    for doc in docs.iter().flatten() {
        scanner.kustomization(doc);
        scanner.walk(doc);
    }
    scanner.found.sort_by_key(|(pos, _)| *pos);
    Ok(scanner.found.into_iter().map(|(_, r)| r).collect())
}

/// A node's identity and sort key: its 1-based (line, column).
type Pos = (usize, usize);

fn pos(node: &Node) -> Pos {
    (node.line, node.column)
}

struct Scanner<'a> {
    text: &'a str,
    /// References with the position of the node whose line they report.
    found: Vec<(Pos, Reference)>,
    /// Scalars that already belong to a reference.
    claimed: HashSet<Pos>,
    /// Scalars in a name's place, valid names or not.
    names: HashSet<Pos>,
}

/// A scalar whose text can be edited in place.
fn editable(node: &Node) -> Option<(&Scalar, std::ops::Range<usize>)> {
    let s = node.as_scalar()?;
    Some((s, s.raw.clone()?))
}

fn field(node: &Node) -> Option<Field> {
    let (s, span) = editable(node)?;
    Some(Field {
        value: s.value.clone(),
        span,
    })
}

impl Scanner<'_> {
    fn marker(&self, node: &Node) -> Option<Marker> {
        marker_after(self.text, node.as_scalar()?.end?)
    }

    fn claim<'n>(&mut self, nodes: impl IntoIterator<Item = &'n Node>) {
        self.claimed.extend(nodes.into_iter().map(pos));
    }

    /// `images:` entries at the root of a kustomization.
    fn kustomization(&mut self, doc: &Node) {
        let Some(images) = doc.get("images").and_then(Node::as_seq) else {
            return;
        };
        for entry in images {
            self.kustomize_entry(entry);
        }
    }

    fn kustomize_entry(&mut self, entry: &Node) {
        let Some(name) = entry.get("name").filter(|n| n.as_scalar().is_some()) else {
            return;
        };
        let new_name = entry.get("newName");
        self.names
            .extend([Some(name), new_name].into_iter().flatten().map(pos));
        let new_tag = entry.get("newTag");
        let digest = entry.get("digest");
        let repo = new_name.map_or(name, |n| n).as_str().map(ImageRepo::parse);
        let Some(Ok(repo)) = repo else { return };
        let tag = match new_tag {
            Some(t) => match field(t) {
                Some(f) => Some(f),
                None => return,
            },
            None => None,
        };
        let anchor = new_tag.or(digest).unwrap_or(name);
        let marker = [new_tag, digest, new_name, Some(name)]
            .into_iter()
            .flatten()
            .find_map(|n| self.marker(n));
        self.claim(
            [Some(name), new_name, new_tag, digest]
                .into_iter()
                .flatten(),
        );
        self.push(
            anchor,
            Reference {
                line: anchor.line,
                kind: RefKind::Kustomize,
                image: Some(repo),
                tag,
                digest: digest.and_then(field),
                digest_insert: None,
                marker,
            },
        );
    }

    fn push(&mut self, anchor: &Node, reference: Reference) {
        self.found.push((pos(anchor), reference));
    }

    fn walk(&mut self, node: &Node) {
        if let Some(seq) = node.as_seq() {
            for item in seq {
                self.walk(item);
            }
            return;
        }
        let Some(map) = node.as_map() else {
            if !self.claimed.contains(&pos(node)) {
                self.marked(node);
            }
            return;
        };
        self.helm(node);
        for (key, value) in map {
            if key.as_str() == Some("image") && !self.claimed.contains(&pos(value)) {
                self.image_value(value);
            }
        }
        for (_, value) in map {
            self.walk(value);
        }
    }

    /// Helm values: `repository` + `tag` (+ `registry`, `digest`).
    fn helm(&mut self, map: &Node) {
        let (Some(repository), Some(tag)) = (map.get("repository"), map.get("tag")) else {
            return;
        };
        if [repository, tag]
            .iter()
            .any(|n| self.claimed.contains(&pos(n)))
        {
            return;
        }
        let registry = map.get("registry").filter(|r| r.as_scalar().is_some());
        self.names
            .extend([Some(repository), registry].into_iter().flatten().map(pos));
        let (Some(name), Some(tag_field)) = (repository.as_str(), field(tag)) else {
            return;
        };
        let full = match registry.and_then(Node::as_str) {
            Some(reg) if !reg.is_empty() => format!("{}/{name}", reg.trim_end_matches('/')),
            _ => name.to_string(),
        };
        let Ok(repo) = ImageRepo::parse(&full) else {
            return;
        };
        let digest = map.get("digest");
        let marker = [Some(tag), digest, Some(repository), registry]
            .into_iter()
            .flatten()
            .find_map(|n| self.marker(n));
        self.claim(
            [Some(repository), Some(tag), registry, digest]
                .into_iter()
                .flatten(),
        );
        self.push(
            tag,
            Reference {
                line: tag.line,
                kind: RefKind::HelmValues,
                image: Some(repo),
                tag: Some(tag_field),
                digest: digest.and_then(field),
                digest_insert: None,
                marker,
            },
        );
    }

    /// The value of an `image:` key; a `:tag`/`:digest`/`:name` marker on
    /// it is left to [`Self::marked`].
    fn image_value(&mut self, node: &Node) {
        let marker = self.marker(node);
        if marker.as_ref().is_some_and(|m| m.kind != MarkerKind::Full) {
            return;
        }
        if let Some(reference) = image_ref(node, marker) {
            self.claim([node]);
            self.push(node, reference);
        }
    }

    /// A scalar that only a marker makes a reference.
    fn marked(&mut self, node: &Node) {
        let Some(marker) = self.marker(node) else {
            return;
        };
        let tag_or_digest = matches!(marker.kind, MarkerKind::Tag | MarkerKind::Digest);
        if tag_or_digest && self.names.contains(&pos(node)) {
            return;
        }
        let reference = match marker.kind {
            MarkerKind::Name => None,
            MarkerKind::Full => image_ref(node, Some(marker)),
            MarkerKind::Tag => field(node).map(|f| Reference {
                line: node.line,
                kind: RefKind::Marked,
                image: None,
                tag: Some(f),
                digest: None,
                digest_insert: None,
                marker: Some(marker),
            }),
            MarkerKind::Digest => field(node).map(|f| Reference {
                line: node.line,
                kind: RefKind::Marked,
                image: None,
                tag: None,
                digest: Some(f),
                digest_insert: None,
                marker: Some(marker),
            }),
        };
        if let Some(reference) = reference {
            self.claim([node]);
            self.push(node, reference);
        }
    }
}

/// A full `repo[:tag][@digest]` string with absolute spans.
fn image_ref(node: &Node, marker: Option<Marker>) -> Option<Reference> {
    let (s, raw) = editable(node)?;
    let parsed = ImageRef::parse(&s.value).ok()?;
    let at = raw.start;
    let tag = parsed
        .tag
        .as_ref()
        .zip(parsed.tag_span.as_ref())
        .map(|(t, span)| Field {
            value: t.as_str().to_string(),
            span: at + span.start..at + span.end,
        });
    let digest = parsed
        .digest
        .as_ref()
        .zip(parsed.digest_span.as_ref())
        .map(|(d, span)| Field {
            value: d.as_str().to_string(),
            span: at + span.start..at + span.end,
        });
    let digest_insert = match (&tag, &digest) {
        (Some(t), None) => Some(t.span.end),
        _ => None,
    };
    Some(Reference {
        line: node.line,
        kind: RefKind::Image,
        image: Some(parsed.repo),
        tag,
        digest,
        digest_insert,
        marker,
    })
}
