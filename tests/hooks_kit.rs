//! The webhook sources' one verification kit and one table of sources
//! (`src/server/hooks/verify/`, `SOURCES` in `src/server/hooks/mod.rs`).

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use imagebump::config::HookSettings;
use imagebump::server::hooks::{SOURCES, build_all};

/// Every source file parses bodies only through `Verified` (which only
/// `verify/keys.rs` makes): no source calls serde on raw bytes, builds a
/// `Verified` itself, or keeps a comparison or HMAC helper of its own.
#[test]
fn sources_parse_only_verified_bodies_and_use_the_one_kit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server/hooks");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for banned in [
            "serde_json::from_slice",
            "serde_json::from_str",
            "Verified::new",
            "Verified {",
            "ConstantTimeEq",
            "Hmac::<",
        ] {
            // gar.rs reads its JWKS file (the keys, not a request) once.
            let allowed = usize::from(name == "gar.rs" && banned == "serde_json::from_slice");
            assert_eq!(
                text.matches(banned).count(),
                allowed,
                "{name} uses `{banned}`"
            );
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} source files found");
}

/// The table is the list: every name in it builds (with the least it
/// needs), an unknown name is refused naming every source, and the README
/// documents each one.
#[tokio::test]
async fn the_table_of_sources_is_the_one_list() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = &readme[readme.find("### Webhooks").unwrap()..];
    for (name, _) in SOURCES {
        let base = support::hooks::settings(&[support::hooks::WHSEC], Some("a-path-token"));
        let settings = HookSettings {
            secrets: base.secrets,
            path_token: base.path_token,
            ..support::hooks::gar_settings()
        };
        let built = build_all(&BTreeMap::from([(name.to_string(), settings)]))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(
            built[*name].name(),
            if *name == "ghcr" { "github" } else { *name }
        );
        assert!(
            section.contains(&format!("`{name}`")),
            "README's Webhooks omits `{name}`"
        );
    }
    let err = build_all(&BTreeMap::from([(
        "githib".to_string(),
        HookSettings::default(),
    )]))
    .await
    .err()
    .expect("an unknown source is refused");
    let message = err.to_string();
    assert!(
        message.contains("`hooks.githib`: unknown webhook source"),
        "{message}"
    );
    for (name, _) in SOURCES {
        assert!(message.contains(name), "{message} omits {name}");
    }
}
