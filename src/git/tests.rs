//! Small unit tests of the git module's pure helpers.

use super::*;

#[test]
fn auth_debug_and_redaction_hide_secrets() {
    let basic = GitAuth::basic("x-access-token", "tok3n");
    assert_eq!(format!("{basic:?}"), "GitAuth(***)");
    // base64("x-access-token:tok3n")
    assert_eq!(
        basic.header(),
        "Authorization: Basic eC1hY2Nlc3MtdG9rZW46dG9rM24="
    );
    assert_eq!(
        basic.redact("a tok3n b eC1hY2Nlc3MtdG9rZW46dG9rM24= c"),
        "a *** b *** c"
    );
    let bearer = GitAuth::bearer("abc");
    assert_eq!(bearer.header(), "Authorization: Bearer abc");
    assert_eq!(bearer.redact("xabcx"), "x***x");
}

#[test]
fn url_passwords_are_redacted() {
    assert_eq!(
        redact_url("https://user:pw@example.com/a/b.git"),
        "https://***@example.com/a/b.git"
    );
    assert_eq!(
        redact_url("https://example.com/a.git"),
        "https://example.com/a.git"
    );
    assert_eq!(redact_url("/srv/git/env.git"), "/srv/git/env.git");
    let auth = GitAuth::bearer("zz-secret");
    let url = "https://u:pw@h/r.git";
    assert_eq!(
        redact_text("fatal: https://u:pw@h/r.git zz-secret", url, Some(&auth)),
        "fatal: https://***@h/r.git ***"
    );
}

#[test]
fn http_urls_are_recognised() {
    assert!(is_http("https://example.com/r.git"));
    assert!(is_http("HTTP://example.com/r.git"));
    assert!(!is_http("file:///srv/r.git"));
    assert!(!is_http("/srv/r.git"));
    assert!(!is_http("git@example.com:r.git"));
}

#[test]
fn branch_names_are_validated() {
    assert_eq!(
        mirror::branch_ref("imagebump/web").ok().as_deref(),
        Some("refs/heads/imagebump/web")
    );
    for bad in ["a..b", "a b", "", "x.lock", "a:b", "a~1"] {
        assert!(mirror::branch_ref(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn push_errors_read_well() {
    assert_eq!(
        PushError::Rejected("stale info".into()).to_string(),
        "push rejected: stale info"
    );
    assert_eq!(PushError::Failed("x".into()).to_string(), "push failed: x");
}
