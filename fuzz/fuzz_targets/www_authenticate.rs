//! The `WWW-Authenticate` challenge (`registry::parse_challenge`): any
//! text, no panic; a Bearer challenge always has a realm; parsing is a
//! function of the text (the same header twice, the same answer).
#![no_main]

use imagebump::registry::{Challenge, parse_challenge};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let challenge = parse_challenge(header);
    if let Some(Challenge::Bearer { realm, .. }) = &challenge {
        assert!(!realm.is_empty(), "a Bearer challenge without a realm");
    }
    assert_eq!(challenge, parse_challenge(header));
    // Surrounding white space is not part of the challenge.
    assert_eq!(challenge, parse_challenge(&format!(" {header}\t")));
});
