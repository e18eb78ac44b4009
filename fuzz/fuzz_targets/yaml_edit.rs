//! The YAML scanner and the byte-span editor (`manifest`). The first byte
//! chooses the edit, the rest is a YAML file. When the file scans, one
//! reference's tag (or every reference's tag, or one digest) is replaced
//! by a valid one, and:
//!
//! - every byte outside the edited spans is unchanged;
//! - `verify_edit`, the check run before a file is written, accepts it;
//! - a re-scan finds as many references, each in its place with the same
//!   line, kind, image and marker, and the new tag (digest) exactly where
//!   it was written.
#![no_main]

use imagebump::domain::Digest;
use imagebump::manifest::{Edit, Reference, apply, scan, verify_edit};
use libfuzzer_sys::fuzz_target;

/// Valid tags to write: short, long, with a `v`, a variant, underscores.
const NEW_TAGS: &[&str] = &[
    "1.2.4",
    "v10.0.0-rc.1",
    "latest",
    "0",
    "_x",
    "9.9.9-alpine3.20",
    "2024.01.15-a_b",
    "AbC-1.x_y",
];

/// The bytes outside the edits are the original's, in order.
fn outside_unchanged(before: &str, after: &str, edits: &[Edit]) {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| e.span.start);
    let (mut at, mut out) = (0, 0);
    for e in sorted {
        let kept = &before[at..e.span.start];
        assert_eq!(
            &after[out..out + kept.len()],
            kept,
            "bytes before {:?}",
            e.span
        );
        out += kept.len();
        assert_eq!(&after[out..out + e.replacement.len()], e.replacement);
        out += e.replacement.len();
        at = e.span.end;
    }
    assert_eq!(&after[out..], &before[at..], "bytes after the last edit");
}

/// Everything but the edited value is found again, in the same place.
fn same_reference(before: &Reference, after: &Reference) {
    assert_eq!(after.line, before.line);
    assert_eq!(after.kind, before.kind);
    assert_eq!(after.image, before.image);
    assert_eq!(after.marker, before.marker);
}

/// saphyr refuses `key:<tabs>value` and `-<tabs>value` when the value
/// starts with a letter, digit, `_` or `-`, but takes them when it starts
/// with anything else (`tag:\t.0`): replacing such a value with a tag
/// makes the file unparsable. `verify_edit` refuses that edit, and a
/// value like that is no tag; such inputs are skipped.
fn after_tabs_only(text: &str, span: &std::ops::Range<usize>) -> bool {
    let before = &text.as_bytes()[..span.start];
    let gap = before
        .iter()
        .rev()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    let alpha = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    gap > 0
        && !before[before.len() - gap..].contains(&b' ')
        && !text[span.clone()].bytes().next().is_some_and(alpha)
}

fn long_tag() -> String {
    let mut t = "v1.2.3-".to_string();
    t.push_str(&"x".repeat(128 - t.len()));
    t
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(refs) = scan(text) else {
        return;
    };
    for r in &refs {
        for f in [&r.tag, &r.digest].into_iter().flatten() {
            assert_eq!(
                &text[f.span.clone()],
                f.value,
                "a field's span holds its value"
            );
        }
    }
    let long = long_tag();
    let new_tag = match usize::from(choice >> 3) % (NEW_TAGS.len() + 1) {
        i if i < NEW_TAGS.len() => NEW_TAGS[i],
        _ => long.as_str(),
    };
    let tagged: Vec<usize> = (0..refs.len()).filter(|&i| refs[i].tag.is_some()).collect();
    // Which references to edit, and how.
    let (picked, digest) = match choice & 0b11 {
        0 | 1 => {
            let Some(&i) = tagged.get(usize::from(choice >> 2) % tagged.len().max(1)) else {
                return;
            };
            (vec![i], false)
        }
        2 => (tagged, false),
        _ => {
            let with_digest: Vec<usize> = (0..refs.len())
                .filter(|&i| refs[i].digest.is_some() || refs[i].digest_insert.is_some())
                .collect();
            let Some(&i) = with_digest.get(usize::from(choice >> 2) % with_digest.len().max(1))
            else {
                return;
            };
            (vec![i], true)
        }
    };
    if picked.is_empty() {
        return;
    }
    let replaced = |i: usize| {
        if digest {
            &refs[i].digest
        } else {
            &refs[i].tag
        }
    };
    if picked
        .iter()
        .filter_map(|&i| replaced(i).as_ref())
        .any(|f| after_tabs_only(text, &f.span))
    {
        return;
    }
    let new_digest = Digest::sha256_of(rest);
    let edits: Vec<Edit> = picked
        .iter()
        .map(|&i| {
            let edit = if digest {
                refs[i].digest_edit(&new_digest)
            } else {
                refs[i].tag_edit(new_tag)
            };
            edit.expect("the reference has the field")
        })
        .collect();
    let out = apply(text, &edits);
    outside_unchanged(text, &out, &edits);
    if let Err(e) = verify_edit(text, &out, &edits) {
        panic!("verify_edit refuses a valid edit: {e}\n--- before\n{text}\n--- after\n{out}");
    }
    let after = scan(&out).expect("the edited file scans");
    assert_eq!(after.len(), refs.len(), "as many references after the edit");
    // Where each edit's text starts in `out`.
    let mut shift: isize = 0;
    let mut starts = Vec::new();
    let mut order: Vec<(usize, &Edit)> = picked.iter().copied().zip(&edits).collect();
    order.sort_by_key(|(_, e)| e.span.start);
    for (i, e) in order {
        let start = e.span.start.checked_add_signed(shift).expect("in bounds");
        starts.push((i, start));
        shift += e.replacement.len() as isize - e.span.len() as isize;
    }
    for (i, start) in starts {
        let (b, a) = (&refs[i], &after[i]);
        same_reference(b, a);
        if digest {
            let f = a.digest.as_ref().expect("the new digest is found");
            assert_eq!(f.value, new_digest.as_str());
            let at = if b.digest.is_some() { start } else { start + 1 };
            assert_eq!(f.span.start, at, "the digest is where it was written");
            let value = |r: &Reference| r.tag.as_ref().map(|t| t.value.clone());
            assert_eq!(value(a), value(b), "the tag is kept");
        } else {
            let f = a.tag.as_ref().expect("the new tag is found");
            assert_eq!(f.value, new_tag, "the new tag is read back");
            assert_eq!(
                f.span,
                start..start + new_tag.len(),
                "the tag is where it was written"
            );
        }
    }
});
