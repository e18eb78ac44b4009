//! `semver:` ranges (`policy::version::parse_range`). The first line is a
//! range A, the second a range B, the rest tags. Checks:
//!
//! - no panic; an error's offset is a character boundary in the range;
//!   the offsets of bare versions point at them; a range prints as written;
//! - for ranges without `|`: `A || B` parses and matches a version exactly
//!   when A or B does, and `A B` (both bounds) exactly when A and B do;
//! - `*` matches every version.
#![no_main]

use imagebump::policy::version::{TagVersion, VersionRange, parse_range, parse_tag};
use libfuzzer_sys::fuzz_target;

fn parse(s: &str) -> Option<VersionRange> {
    match parse_range(s) {
        Ok(r) => {
            assert_eq!(r.to_string(), s);
            assert!(r.alternatives() >= 1);
            for (at, bare) in r.bare_versions() {
                assert!(
                    s.get(*at..)
                        .is_some_and(|rest| rest.starts_with(bare.as_str())),
                    "bare version {bare:?} is not at {at} in {s:?}"
                );
            }
            Some(r)
        }
        Err(e) => {
            assert!(
                e.offset <= s.len() && s.is_char_boundary(e.offset),
                "offset {} in {s:?}",
                e.offset
            );
            assert!(!e.message.contains(['\n', '\r']));
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let a = lines.next().unwrap_or_default();
    let b = lines.next().unwrap_or_default();
    let versions: Vec<TagVersion> = lines.take(16).filter_map(parse_tag).collect();
    let any = parse_range("*").expect("`*` is a range");
    for v in &versions {
        assert!(any.matches(v), "`*` does not match {v}");
    }
    let (ra, rb) = (parse(a), parse(b));
    for r in [&ra, &rb].into_iter().flatten() {
        for v in &versions {
            let _ = r.matches(v);
        }
    }
    let (Some(ra), Some(rb)) = (ra, rb) else {
        return;
    };
    if a.contains('|') || b.contains('|') {
        return;
    }
    let either = parse(&format!("{a}||{b}"))
        .unwrap_or_else(|| panic!("{a:?} and {b:?} parse, `{a}||{b}` does not"));
    let both = parse(&format!("{a} {b}"))
        .unwrap_or_else(|| panic!("{a:?} and {b:?} parse, `{a} {b}` does not"));
    assert_eq!(either.alternatives(), ra.alternatives() + rb.alternatives());
    for v in &versions {
        let (ma, mb) = (ra.matches(v), rb.matches(v));
        assert_eq!(either.matches(v), ma || mb, "{v} in `{a}||{b}`");
        assert_eq!(both.matches(v), ma && mb, "{v} in `{a} {b}`");
    }
});
