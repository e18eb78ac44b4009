//! A read-only YAML tree with source positions, built on `saphyr-parser`'s
//! event stream. Every node knows its 1-based line and column and its byte
//! offset; a scalar knows the byte range of its literal text when that text
//! is exactly its value on one line, which is the only case we ever edit.
//!
//! The parser reports character indices; they are mapped to byte offsets
//! here once, so the rest of the crate only deals in bytes. Pure: no I/O.

use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A parse error at a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Quoting of a scalar as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Block,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub kind: Kind,
    /// 1-based line of the node's first character.
    pub line: usize,
    /// 1-based column of the node's first character.
    pub column: usize,
}

#[derive(Clone, Debug)]
pub enum Kind {
    Scalar(Scalar),
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
    Alias,
}

#[derive(Clone, Debug)]
pub struct Scalar {
    pub value: String,
    pub style: Style,
    /// Byte range of the value's text in the source (inside the quotes),
    /// present only when the source text equals `value` byte for byte.
    pub raw: Option<Range<usize>>,
    /// Byte offset just past the scalar's last source byte (closing quote
    /// included), when known; a comment on the line starts after it.
    pub end: Option<usize>,
}

impl Node {
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        self.as_scalar().map(|s| s.value.as_str())
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value under a scalar key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// A short name of the node's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar(_) => "a string",
            Kind::Map(_) => "a mapping",
            Kind::Seq(_) => "a list",
            Kind::Alias => "an alias",
        }
    }
}

/// Maps the parser's character indices to byte offsets.
struct Offsets<'a> {
    text: &'a str,
    /// Byte offset of each character, only when the text is not ASCII.
    table: Option<Vec<usize>>,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        let table = (!text.is_ascii()).then(|| {
            let mut t: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            t.push(text.len());
            t
        });
        Self { text, table }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.table {
            None => char_index.min(self.text.len()),
            Some(t) => t.get(char_index).copied().unwrap_or(self.text.len()),
        }
    }
}

/// How deep collections may nest. Real manifests stay far below it; a
/// deeper document is refused (an error at the collection that crosses
/// it), so that the tree, and every walk over it, fits a worker's stack.
pub const MAX_DEPTH: usize = 256;

/// Parses every document of a YAML stream. An empty document is `None`.
pub fn parse(text: &str) -> Result<Vec<Option<Node>>, YamlError> {
    let offsets = Offsets::new(text);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut current: Option<Node> = None;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| YamlError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        let node = match event {
            Event::DocumentStart(_) => {
                current = None;
                continue;
            }
            Event::DocumentEnd => {
                docs.push(current.take());
                continue;
            }
            Event::MappingStart(..) | Event::SequenceStart(..) if stack.len() >= MAX_DEPTH => {
                return Err(YamlError {
                    line: span.start.line(),
                    column: span.start.col() + 1,
                    message: format!("collections nested deeper than {MAX_DEPTH} levels"),
                });
            }
            Event::MappingStart(..) => {
                stack.push(Frame::map(span));
                continue;
            }
            Event::SequenceStart(..) => {
                stack.push(Frame::seq(span));
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => match stack.pop() {
                Some(frame) => frame.finish(),
                None => continue,
            },
            Event::Scalar(value, style, _, _) => {
                scalar_node(&offsets, value.into_owned(), style, span)
            }
            Event::Alias(_) => Node {
                kind: Kind::Alias,
                line: span.start.line(),
                column: span.start.col() + 1,
            },
            _ => continue,
        };
        match stack.last_mut() {
            Some(frame) => frame.push(node),
            None => current = Some(node),
        }
    }
    Ok(docs)
}

fn scalar_node(offsets: &Offsets, value: String, style: ScalarStyle, span: Span) -> Node {
    let text = offsets.text;
    let start = skip_properties(text, offsets.byte(span.start.index()));
    let (style, quote) = match style {
        ScalarStyle::Plain => (Style::Plain, None),
        ScalarStyle::SingleQuoted => (Style::SingleQuoted, Some(b'\'')),
        ScalarStyle::DoubleQuoted => (Style::DoubleQuoted, Some(b'"')),
        _ => (Style::Block, None),
    };
    let literal = |from: usize| -> bool {
        text.get(from..)
            .is_some_and(|rest| rest.starts_with(value.as_str()))
            && !value.contains(['\n', '\r'])
    };
    let (raw, end) = match (style, quote) {
        (Style::Plain, _) if !value.is_empty() && literal(start) => {
            (Some(start..start + value.len()), Some(start + value.len()))
        }
        (_, Some(q)) if text.as_bytes().get(start) == Some(&q) => {
            let inner = start + 1;
            let closes = text.as_bytes().get(inner + value.len()) == Some(&q);
            let escaped = value.bytes().any(|b| b == q || (q == b'"' && b == b'\\'));
            if literal(inner) && closes && !escaped {
                (
                    Some(inner..inner + value.len()),
                    Some(inner + value.len() + 1),
                )
            } else {
                (None, None)
            }
        }
        _ => (None, None),
    };
    Node {
        kind: Kind::Scalar(Scalar {
            value,
            style,
            raw,
            end,
        }),
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

/// Skips a node's properties (`!tag`, `&anchor`) before its text: the
/// parser's span starts at them, the literal text after them.
fn skip_properties(text: &str, mut at: usize) -> usize {
    while let Some(rest) = text.get(at..) {
        if !(rest.starts_with('!') || rest.starts_with('&')) {
            break;
        }
        let token = rest.find([' ', '\t']).unwrap_or(rest.len());
        let after = &rest[token..];
        let gap = after.len() - after.trim_start_matches([' ', '\t']).len();
        if token == 0 || gap == 0 {
            break;
        }
        at += token + gap;
    }
    at
}

struct Frame {
    is_map: bool,
    items: Vec<Node>,
    line: usize,
    column: usize,
}

impl Frame {
    fn map(span: Span) -> Self {
        Self::new(true, span)
    }
    fn seq(span: Span) -> Self {
        Self::new(false, span)
    }
    fn new(is_map: bool, span: Span) -> Self {
        Self {
            is_map,
            items: Vec::new(),
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
    fn push(&mut self, node: Node) {
        self.items.push(node);
    }
    fn finish(self) -> Node {
        let kind = if self.is_map {
            let mut it = self.items.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Kind::Map(pairs)
        } else {
            Kind::Seq(self.items)
        };
        Node {
            kind,
            line: self.line,
            column: self.column,
        }
    }
}

/// The comment text (after `#`, trimmed) that follows byte offset `from` on
/// the same line, if any.
pub fn comment_after(text: &str, from: usize) -> Option<&str> {
    let rest = text.get(from..)?;
    let line = rest.split(['\n', '\r']).next()?;
    let hash = line.find('#')?;
    // A comment starts at a `#` preceded by whitespace (or right after the
    // scalar's closing quote / flow punctuation).
    let before = line[..hash].chars().last();
    if hash > 0 && !matches!(before, Some(' ' | '\t' | ',' | '}' | ']')) {
        return None;
    }
    Some(line[hash + 1..].trim())
}

#[cfg(test)]
mod tests;
