use super::*;

fn doc(text: &str) -> Node {
    parse(text).unwrap().into_iter().next().unwrap().unwrap()
}

#[test]
fn plain_scalar_span_is_exact() {
    let t = "a: x\nimage: ghcr.io/acme/web:1.4.2 # note\n";
    let n = doc(t);
    let s = n.get("image").unwrap().as_scalar().unwrap();
    assert_eq!(&t[s.raw.clone().unwrap()], "ghcr.io/acme/web:1.4.2");
    assert_eq!(comment_after(t, s.end.unwrap()), Some("note"));
}

#[test]
fn quoted_scalar_spans_exclude_quotes_and_comment() {
    let t = "a: 'x:1' # c1\nb: \"y:2\"  # {\"$imagepolicy\": \"ns:web\"}\n";
    let n = doc(t);
    let a = n.get("a").unwrap().as_scalar().unwrap();
    assert_eq!(&t[a.raw.clone().unwrap()], "x:1");
    assert_eq!(a.style, Style::SingleQuoted);
    assert_eq!(comment_after(t, a.end.unwrap()), Some("c1"));
    let b = n.get("b").unwrap().as_scalar().unwrap();
    assert_eq!(&t[b.raw.clone().unwrap()], "y:2");
    assert_eq!(
        comment_after(t, b.end.unwrap()),
        Some("{\"$imagepolicy\": \"ns:web\"}")
    );
}

#[test]
fn non_ascii_text_maps_to_bytes() {
    let t = "note: \"héllo ✓\"\nimage: web:1.0\n";
    let n = doc(t);
    let s = n.get("image").unwrap().as_scalar().unwrap();
    assert_eq!(&t[s.raw.clone().unwrap()], "web:1.0");
}

#[test]
fn escaped_or_multiline_scalars_have_no_raw_span() {
    let t = "a: \"x\\ty\"\nb: first\n  second\nc: |\n  block\n";
    let n = doc(t);
    for k in ["a", "b", "c"] {
        assert!(n.get(k).unwrap().as_scalar().unwrap().raw.is_none(), "{k}");
    }
}

#[test]
fn multi_document_and_flow_style() {
    let t = "---\na: 1\n---\n---\n{image: \"web:1\", b: [1, 2]}\n";
    let docs = parse(t).unwrap();
    assert_eq!(docs.len(), 3);
    assert!(docs[1].as_ref().is_none_or(|n| n.as_map().is_none()));
    let n = docs[2].as_ref().unwrap();
    let s = n.get("image").unwrap().as_scalar().unwrap();
    assert_eq!(&t[s.raw.clone().unwrap()], "web:1");
    assert_eq!(n.get("b").unwrap().as_seq().unwrap().len(), 2);
}

#[test]
fn crlf_line_endings() {
    let t = "a: 1\r\nimage: web:1.0\r\n";
    let n = doc(t);
    let s = n.get("image").unwrap();
    assert_eq!(s.line, 2);
    assert_eq!(&t[s.as_scalar().unwrap().raw.clone().unwrap()], "web:1.0");
}

#[test]
fn errors_name_line_and_column() {
    let e = parse("a: 1\nb: [1, 2\n").unwrap_err();
    assert!(e.line >= 2, "{e:?}");
    assert!(!e.message.is_empty());
}

#[test]
fn positions_are_one_based() {
    let n = doc("x: 1\n  \ny:\n  z: 2\n");
    let y = n.get("y").unwrap();
    let z = y.get("z").unwrap();
    assert_eq!((z.line, z.column), (4, 6));
}

#[test]
fn empty_plain_scalar_has_no_raw_span() {
    // `b:` with no value must not report an (empty) span at the key's colon.
    let t = "a: ''\nb:\nc: \"\"\n";
    let n = doc(t);
    assert_eq!(n.get("a").unwrap().as_scalar().unwrap().raw, Some(4..4));
    assert!(n.get("b").unwrap().as_scalar().unwrap().raw.is_none());
    assert_eq!(n.get("c").unwrap().as_scalar().unwrap().raw, Some(13..13));
}

#[test]
fn tagged_and_anchored_scalars_have_raw_spans() {
    let t = "a: !!str nginx:1 # c\nb: &x 'web:2'\nc: &y !!str x:3\n";
    let n = doc(t);
    let a = n.get("a").unwrap().as_scalar().unwrap();
    assert_eq!(&t[a.raw.clone().unwrap()], "nginx:1");
    assert_eq!(comment_after(t, a.end.unwrap()), Some("c"));
    let b = n.get("b").unwrap().as_scalar().unwrap();
    assert_eq!(&t[b.raw.clone().unwrap()], "web:2");
    let c = n.get("c").unwrap().as_scalar().unwrap();
    assert_eq!(&t[c.raw.clone().unwrap()], "x:3");
}
