//! Image references, repositories, tags and digests (`domain`), one per
//! line: no panic; the spans of a parsed reference hold exactly its name,
//! tag and digest; a repository prints as a name that parses back to it,
//! and its host is already normalised.
#![no_main]

use imagebump::domain::{Digest, ImageRef, ImageRepo, Tag, normalise_host};
use libfuzzer_sys::fuzz_target;

fn check_repo(repo: &ImageRepo) {
    let printed = repo.to_string();
    assert_eq!(printed, format!("{}/{}", repo.host(), repo.path()));
    let again = ImageRepo::parse(&printed)
        .unwrap_or_else(|e| panic!("{printed:?} does not parse back: {e}"));
    assert_eq!(&again, repo, "{printed:?}");
    assert_eq!(normalise_host(repo.host()), repo.host());
    assert!(!repo.api_host().is_empty());
}

fn check(s: &str) {
    if let Ok(r) = ImageRef::parse(s) {
        check_repo(&r.repo);
        let name = &s[r.name_span.clone()];
        assert_eq!(ImageRepo::parse(name).as_ref(), Ok(&r.repo), "{s:?}");
        match (&r.tag, &r.tag_span) {
            (Some(tag), Some(span)) => {
                assert_eq!(&s[span.clone()], tag.as_str(), "{s:?}");
                assert_eq!(s.as_bytes()[span.start - 1], b':');
                assert!(span.start > r.name_span.end);
            }
            (None, None) => {}
            _ => panic!("a tag without its span, or a span without a tag: {s:?}"),
        }
        match (&r.digest, &r.digest_span) {
            (Some(digest), Some(span)) => {
                assert_eq!(&s[span.clone()], digest.as_str(), "{s:?}");
                assert_eq!(s.as_bytes()[span.start - 1], b'@');
                assert_eq!(span.end, s.len());
            }
            (None, None) => {}
            _ => panic!("a digest without its span, or a span without a digest: {s:?}"),
        }
    }
    if let Ok(repo) = ImageRepo::parse(s) {
        check_repo(&repo);
    }
    if let Ok(tag) = Tag::parse(s) {
        assert_eq!(tag.as_str(), s);
        assert_eq!(Tag::parse(&tag.to_string()).as_ref(), Ok(&tag));
    }
    if let Ok(digest) = Digest::parse(s) {
        assert_eq!(digest.as_str(), s);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(text);
    for line in text.lines() {
        check(line);
    }
});
