//! `.imagebump.yaml` validation (`policy::parse_config`) on any text: no
//! panic; every error names a line and column of the file (1-based, the
//! line at most one past the last, counting lines as YAML does) and prints
//! on one line; errors come in position order; a valid config's ranges
//! read back, and its policies can choose.
#![no_main]

use imagebump::policy::version::parse_range;
use imagebump::policy::{Rule, choose, parse_config};
use libfuzzer_sys::fuzz_target;

const FILE: &str = ".imagebump.yaml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_config(FILE, text) {
        Err(errors) => {
            assert!(!errors.is_empty(), "an invalid config without an error");
            // YAML's lines: CR LF, CR and LF each end one.
            let lines = 1 + text.replace("\r\n", "\n").matches(['\n', '\r']).count();
            for e in &errors {
                assert!(e.line >= 1 && e.column >= 1, "{e:?}");
                assert!(e.line <= lines + 1, "{e:?} past the end ({lines} lines)");
                assert_eq!(e.file, FILE);
                let shown = e.to_string();
                assert!(shown.starts_with(FILE), "{shown}");
                assert!(
                    !shown.contains(['\n', '\r']),
                    "an error on two lines: {shown:?}"
                );
            }
            assert!(
                errors
                    .windows(2)
                    .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column)),
                "errors out of order"
            );
        }
        Ok(config) => {
            assert!(config.max_file_bytes <= imagebump::policy::MAX_FILE_BYTES);
            let tags: Vec<String> = ["1.2.3", "1.2.4", "2.0.0-rc.1", "latest", "main-20240101"]
                .iter()
                .map(|t| t.to_string())
                .collect();
            for policy in &config.policies {
                assert!(config.policy(&policy.name).is_some());
                if let Rule::Semver(range) = &policy.rule {
                    let again = parse_range(&range.source)
                        .unwrap_or_else(|e| panic!("{:?} does not read back: {e}", range.source));
                    assert_eq!(&again, range);
                }
                for current in ["1.2.3", "latest"] {
                    let _ = choose(policy, current, &tags, false);
                }
            }
        }
    }
});
