//! Regression tests of what the fuzz targets (`fuzz/`, `scripts/fuzz`)
//! found, one per crash, named after the target that found it.

use imagebump::manifest::{apply, scan, verify_edit};
use imagebump::policy::parse_config;

/// Edits every reference's tag to `new` the way `plan` does, and checks
/// what the bot checks before it writes, and the re-scan.
fn edit_all_tags(text: &str, new: &str) -> Result<String, String> {
    let refs = scan(text).map_err(|e| e.to_string())?;
    let edits: Vec<_> = refs.iter().filter_map(|r| r.tag_edit(new)).collect();
    let out = apply(text, &edits);
    verify_edit(text, &out, &edits)?;
    Ok(out)
}

/// yaml_edit: a `:tag` marker on a kustomization entry's `newName` (or a
/// Helm `repository`) whose value is no repository made that name a tag;
/// a tag written there is a repository name, the entry became an image
/// reference, and the re-scan no longer found the tag (`verify_edit`
/// refused the edit, so the file could never be updated). A value in a
/// name's place is never a tag, whatever its marker says.
#[test]
fn yaml_edit_a_tag_marker_on_a_name_is_no_tag() {
    for text in [
        "images:\n  - name: nginx\n    newName: \"not a repo\" # {\"$imagepolicy\": \"flux-system:web:tag\"}\n",
        "images:\n  - name: \"not a repo\" # imagebump: web:tag\n",
        "app:\n  repository: \"not a repo\" # imagebump: web:tag\n  tag: x y\n",
        "app:\n  registry: \"not a host\" # imagebump: web:digest\n  repository: web\n  tag: 1.0\n",
    ] {
        let refs = scan(text).unwrap();
        assert!(
            refs.iter().all(|r| r.tag.is_none() && r.digest.is_none()),
            "{text:?}: {refs:#?}"
        );
        edit_all_tags(text, "1.2.4").unwrap();
    }
    // A `:tag` marker on the tag of an entry whose name is no repository
    // still finds it.
    let text = "images:\n  - name: \"{{ .Values.image }}\"\n    newTag: 1.0 # imagebump: web:tag\n";
    let refs = scan(text).unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].tag.as_ref().unwrap().value, "1.0");
    let out = edit_all_tags(text, "1.2.4").unwrap();
    assert!(out.contains("newTag: 1.2.4 # imagebump"), "{out}");
}

/// config: an error quoting a value with a line break (a quoted `"a\nb"`)
/// printed on two lines, breaking the one-line `file:line:column:` form
/// that `validate` and editors read.
#[test]
fn config_an_error_quoting_a_line_break_stays_on_one_line() {
    for (text, quoted) in [
        (
            "policies:\n  - name: web\n    image: nginx\n    automerge: [\"pa\\n\\ninor\"]\n",
            "unknown update type `pa  inor`",
        ),
        ("\"poli\\r\\ncies\": []\n", "unknown key `poli  cies`"),
    ] {
        let errors = parse_config(".imagebump.yaml", text).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(shown.iter().all(|e| !e.contains(['\n', '\r'])), "{shown:?}");
        assert!(shown.iter().any(|e| e.contains(quoted)), "{shown:?}");
    }
}
