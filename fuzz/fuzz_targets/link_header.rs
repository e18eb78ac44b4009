//! The `Link` header of a tag-list page (`registry::parse_next_link`): any
//! text, no panic; a `rel="next"` target is text of the header, between
//! `<` and `>`.
#![no_main]

use imagebump::registry::parse_next_link;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(target) = parse_next_link(header) {
        assert!(
            header.contains(target.as_str()),
            "{target:?} not in {header:?}"
        );
        assert!(!target.contains('>'), "{target:?} holds a `>`");
        assert_eq!(target.trim(), target, "untrimmed target");
    }
    // Each line as a header value of its own, as a response may repeat it.
    for line in header.lines() {
        let _ = parse_next_link(line);
    }
});
