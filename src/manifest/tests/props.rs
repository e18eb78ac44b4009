//! Generated Deployment-like files: a tag edit followed by a re-scan finds
//! the new tag at the same reference, and no other byte changes.

use proptest::prelude::*;

use super::super::*;

#[derive(Clone, Debug)]
struct Container {
    repo: &'static str,
    tag: String,
    quote: &'static str,
    comment: &'static str,
    extra: Vec<(String, String)>,
}

const REPOS: &[&str] = &[
    "nginx",
    "ghcr.io/acme/web",
    "localhost:5000/a/b",
    "registry.example.com/x/y-z",
    "docker.io/library/redis",
];
const QUOTES: &[&str] = &["", "'", "\""];
const COMMENTS: &[&str] = &[
    "",
    " # note",
    "   # imagebump: web",
    " # {\"$imagepolicy\": \"flux-system:web\"}",
    " # ünïcode ✓",
];

fn tag() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,15}"
}

fn container() -> impl Strategy<Value = Container> {
    (
        prop::sample::select(REPOS),
        tag(),
        prop::sample::select(QUOTES),
        prop::sample::select(COMMENTS),
        prop::collection::vec(("[a-z]{1,8}", "[a-z0-9]{1,8}"), 0..3),
    )
        .prop_map(|(repo, tag, quote, comment, extra)| Container {
            repo,
            tag,
            quote,
            comment,
            extra,
        })
}

#[derive(Clone, Debug)]
struct File {
    text: String,
    count: usize,
}

fn file() -> impl Strategy<Value = File> {
    (
        1usize..=4,
        prop::bool::ANY,
        prop::collection::vec(container(), 1..5),
        prop::collection::vec(prop::bool::ANY, 32),
        prop::bool::ANY,
    )
        .prop_map(|(width, crlf, containers, comments, leading_doc)| {
            let nl = if crlf { "\r\n" } else { "\n" };
            let i = " ".repeat(width.max(1));
            let mut flags = comments.into_iter().cycle();
            let mut lines: Vec<String> = Vec::new();
            let mut line = |l: String, lines: &mut Vec<String>| {
                if flags.next() == Some(true) {
                    lines.push(format!("{i}# comment ✓"));
                }
                lines.push(l);
            };
            if leading_doc {
                line("---".into(), &mut lines);
            }
            line("apiVersion: apps/v1".into(), &mut lines);
            line("kind: Deployment".into(), &mut lines);
            line("metadata:".into(), &mut lines);
            line(format!("{i}name: web # the name"), &mut lines);
            line("spec:".into(), &mut lines);
            line(format!("{i}template:"), &mut lines);
            line(format!("{i}{i}spec:"), &mut lines);
            line(format!("{i}{i}{i}containers:"), &mut lines);
            for (n, c) in containers.iter().enumerate() {
                let item = format!("{i}{i}{i}");
                line(format!("{item}- name: c{n}"), &mut lines);
                let q = c.quote;
                line(
                    format!("{item}  image: {q}{}:{}{q}{}", c.repo, c.tag, c.comment),
                    &mut lines,
                );
                for (k, v) in &c.extra {
                    line(format!("{item}  x{k}: {v}"), &mut lines);
                }
            }
            let mut text = lines.join(nl);
            text.push_str(nl);
            File {
                text,
                count: containers.len(),
            }
        })
}

proptest! {
    #[test]
    fn tag_edit_round_trips(f in file(), pick in 0usize..4, new in tag()) {
        let t = &f.text;
        let before = scan(t).unwrap();
        prop_assert_eq!(before.len(), f.count);
        let r = &before[pick % f.count];
        let span = r.tag.as_ref().unwrap().span.clone();
        let e = r.tag_edit(&new).unwrap();
        let out = apply(t, std::slice::from_ref(&e));
        prop_assert!(verify_edit(t, &out, std::slice::from_ref(&e)).is_ok());
        prop_assert_eq!(&out[..span.start], &t[..span.start]);
        prop_assert_eq!(&out[span.start + new.len()..], &t[span.end..]);
        let after = scan(&out).unwrap();
        prop_assert_eq!(after.len(), before.len());
        let a = &after[pick % f.count];
        let field = a.tag.as_ref().unwrap();
        prop_assert_eq!(&field.value, &new);
        prop_assert_eq!(&out[field.span.clone()], new.as_str());
        prop_assert_eq!(field.span.start, span.start);
        prop_assert_eq!(a.line, r.line);
        prop_assert_eq!(&a.image, &r.image);
        prop_assert_eq!(&a.marker, &r.marker);
    }

    #[test]
    fn digest_insert_round_trips(f in file(), pick in 0usize..4) {
        let t = &f.text;
        let refs = scan(t).unwrap();
        let r = &refs[pick % f.count];
        let d = crate::domain::Digest::sha256_of(t.as_bytes());
        let e = r.digest_edit(&d).unwrap();
        let out = apply(t, std::slice::from_ref(&e));
        prop_assert!(verify_edit(t, &out, std::slice::from_ref(&e)).is_ok());
        let after = scan(&out).unwrap();
        let a = &after[pick % f.count];
        prop_assert_eq!(a.digest.as_ref().map(|d| d.value.as_str()), Some(d.as_str()));
        prop_assert_eq!(&a.tag.as_ref().map(|t| &t.value), &r.tag.as_ref().map(|t| &t.value));
    }

    #[test]
    fn scan_never_panics(text in "[ a-z:\\-#'\"\\[\\]{},\r\n.0-9@/&*!|>]{0,80}") {
        let _ = scan(&text);
    }
}
