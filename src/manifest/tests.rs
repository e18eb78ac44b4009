use super::*;
use crate::domain::{Digest, ImageRepo};

mod props;

const DIGEST0: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
const DIGEST1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn refs(text: &str) -> Vec<Reference> {
    scan(text).unwrap()
}

fn repo(name: &str) -> Option<ImageRepo> {
    Some(ImageRepo::parse(name).unwrap())
}

/// The text of a reference's tag, checked against the file's bytes.
fn tag<'a>(text: &'a str, r: &Reference) -> &'a str {
    let f = r.tag.as_ref().expect("a tag");
    assert_eq!(&text[f.span.clone()], f.value);
    &text[f.span.clone()]
}

fn digest<'a>(text: &'a str, r: &Reference) -> &'a str {
    let f = r.digest.as_ref().expect("a digest");
    assert_eq!(&text[f.span.clone()], f.value);
    &text[f.span.clone()]
}

fn marker(policy: &str, kind: MarkerKind) -> Option<Marker> {
    Some(Marker {
        policy: policy.to_string(),
        kind,
    })
}

/// Applies `edits`, checks the result with `verify_edit` and returns it.
fn edited(text: &str, edits: &[Edit]) -> String {
    let out = apply(text, edits);
    verify_edit(text, &out, edits).unwrap();
    out
}

#[test]
fn deployment_with_init_containers_and_two_containers() {
    let t = include_str!("../../tests/data/manifests/deployment-two-containers.yaml");
    let r = refs(t);
    assert_eq!(r.len(), 3, "{r:#?}");
    assert!(r.iter().all(|r| r.kind == RefKind::Image));
    assert_eq!(r[0].image, repo("ghcr.io/acme/migrate"));
    assert_eq!((tag(t, &r[0]), r[0].line), ("0.9.1", 13));
    assert_eq!(r[0].marker, None);
    assert_eq!(r[1].image, repo("ghcr.io/acme/web"));
    assert_eq!((tag(t, &r[1]), r[1].line), ("1.4.2", 17));
    assert_eq!(r[1].marker, marker("web", MarkerKind::Full));
    assert_eq!(r[2].image, repo("nginx"));
    assert_eq!(tag(t, &r[2]), "1.25.3");
    assert_eq!(digest(t, &r[2]), DIGEST0);
    assert_eq!(r[2].digest_insert, None);
    assert_eq!(r[2].line, 21);
}

#[test]
fn digest_insert_is_after_the_tag() {
    let t = "image: web:1.0 # c\n";
    let r = &refs(t)[0];
    assert_eq!(r.digest_insert, Some(14));
    assert_eq!(r.digest, None);
    let d = Digest::parse(DIGEST1).unwrap();
    let out = edited(t, &[r.digest_edit(&d).unwrap()]);
    assert_eq!(out, format!("image: web:1.0@{DIGEST1} # c\n"));
}

#[test]
fn digest_edit_replaces_an_existing_digest() {
    let t = format!("image: 'web:1.0@{DIGEST0}'\n");
    let r = &refs(&t)[0];
    assert_eq!(digest(&t, r), DIGEST0);
    let d = Digest::parse(DIGEST1).unwrap();
    let out = edited(&t, &[r.digest_edit(&d).unwrap()]);
    assert_eq!(out, format!("image: 'web:1.0@{DIGEST1}'\n"));
}

#[test]
fn image_without_tag_or_with_only_a_digest() {
    let t = format!("a:\n  image: nginx\nb:\n  image: nginx@{DIGEST0}\n");
    let r = refs(&t);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].tag, None);
    assert_eq!(r[0].digest_insert, None);
    assert_eq!(r[0].image, repo("docker.io/library/nginx"));
    assert_eq!(r[1].tag, None);
    assert_eq!(digest(&t, &r[1]), DIGEST0);
}

#[test]
fn multi_document_file() {
    let t = "---\nkind: A\nimage: a:1\n---\n# empty\n---\nkind: B\nspec:\n  image: b:2\n...\n---\nimage: c:3\n";
    let r = refs(t);
    let tags: Vec<_> = r.iter().map(|r| (tag(t, r), r.line)).collect();
    assert_eq!(tags, [("1", 3), ("2", 9), ("3", 12)]);
}

#[test]
fn flow_style_mappings_and_sequences() {
    let t =
        "spec: {image: \"x:1\"}\ncontainers: [{name: a, image: y:2}, {name: b, image: 'z:3'}]\n";
    let r = refs(t);
    let tags: Vec<_> = r.iter().map(|r| tag(t, r)).collect();
    assert_eq!(tags, ["1", "2", "3"]);
    let out = edited(
        t,
        &[r[1].tag_edit("2.1").unwrap(), r[2].tag_edit("4").unwrap()],
    );
    assert_eq!(
        out,
        "spec: {image: \"x:1\"}\ncontainers: [{name: a, image: y:2.1}, {name: b, image: 'z:4'}]\n"
    );
}

#[test]
fn single_and_double_quoted() {
    let t = "a:\n  image: 'web:1.0'\nb:\n  image: \"web:2.0\" # imagebump: web\n";
    let r = refs(t);
    assert_eq!(tag(t, &r[0]), "1.0");
    assert_eq!(tag(t, &r[1]), "2.0");
    assert_eq!(r[1].marker, marker("web", MarkerKind::Full));
    let out = edited(
        t,
        &[
            r[0].tag_edit("1.1").unwrap(),
            r[1].tag_edit("2.10").unwrap(),
        ],
    );
    assert_eq!(
        out,
        "a:\n  image: 'web:1.1'\nb:\n  image: \"web:2.10\" # imagebump: web\n"
    );
}

#[test]
fn crlf_file_keeps_crlf() {
    let t = "kind: Pod\r\nspec:\r\n  containers:\r\n    - name: a\r\n      image: web:1.0 # imagebump: web\r\n";
    let r = refs(t);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].line, 5);
    assert_eq!(r[0].marker, marker("web", MarkerKind::Full));
    let out = edited(t, &[r[0].tag_edit("1.2").unwrap()]);
    assert_eq!(
        out,
        "kind: Pod\r\nspec:\r\n  containers:\r\n    - name: a\r\n      image: web:1.2 # imagebump: web\r\n"
    );
}

#[test]
fn comments_everywhere() {
    let t = "# head\nspec: # c1\n  # c2\n  containers: # c3\n    # c4\n    - # c5\n      name: a # c6\n      # c7\n      image: web:1.0 # c8\n      # c9\n# tail\n";
    let r = refs(t);
    assert_eq!(r.len(), 1);
    assert_eq!((tag(t, &r[0]), r[0].line, &r[0].marker), ("1.0", 9, &None));
}

#[test]
fn registry_with_port() {
    let t = "image: localhost:5000/a/b:1.0\n";
    let r = &refs(t)[0];
    assert_eq!(r.image, repo("localhost:5000/a/b"));
    assert_eq!(r.image.as_ref().unwrap().host(), "localhost:5000");
    assert_eq!(tag(t, r), "1.0");
    let out = edited(t, &[r.tag_edit("1.1").unwrap()]);
    assert_eq!(out, "image: localhost:5000/a/b:1.1\n");
}

#[test]
fn kustomization_images() {
    let t = include_str!("../../tests/data/manifests/kustomization.yaml");
    let r = refs(t);
    assert_eq!(r.len(), 4, "{r:#?}");
    assert!(r.iter().all(|r| r.kind == RefKind::Kustomize));
    assert_eq!(r[0].image, repo("nginx"));
    assert_eq!((tag(t, &r[0]), r[0].line), ("1.25.3", 7));
    assert_eq!(r[1].image, repo("registry.example.com:5000/acme/web"));
    assert_eq!((tag(t, &r[1]), r[1].line), ("2.0.0", 10));
    assert_eq!(r[1].marker, marker("web", MarkerKind::Tag));
    assert_eq!(r[2].image, repo("redis"));
    assert_eq!(r[2].tag, None);
    assert_eq!((digest(t, &r[2]), r[2].line), (DIGEST1, 12));
    assert_eq!(r[3].image, repo("postgres"));
    assert_eq!(
        (r[3].tag.as_ref(), r[3].digest.as_ref(), r[3].line),
        (None, None, 13)
    );
    assert_eq!(r[0].digest_edit(&Digest::parse(DIGEST0).unwrap()), None);
    let out = edited(t, &[r[1].tag_edit("2.1.0").unwrap()]);
    assert_eq!(out, t.replace("newTag: \"2.0.0\"", "newTag: \"2.1.0\""));
}

#[test]
fn images_key_not_at_root_is_not_kustomize() {
    let t = "spec:\n  images:\n    - name: nginx\n      newTag: 1.0\n";
    assert_eq!(refs(t), []);
}

#[test]
fn helm_values() {
    let t = include_str!("../../tests/data/manifests/helm-values.yaml");
    let r = refs(t);
    assert_eq!(r.len(), 2, "{r:#?}");
    assert!(r.iter().all(|r| r.kind == RefKind::HelmValues));
    assert_eq!(r[0].image, repo("ghcr.io/acme/web"));
    assert_eq!((tag(t, &r[0]), r[0].line), ("1.25", 5));
    assert_eq!(r[0].marker, marker("web", MarkerKind::Tag));
    assert_eq!(r[0].digest, None);
    assert_eq!(r[1].image, repo("quay.io/acme/proxy"));
    assert_eq!((tag(t, &r[1]), r[1].line), ("3.1.0", 11));
    assert_eq!(r[1].digest.as_ref().map(|d| d.value.as_str()), Some(""));
    let d = Digest::parse(DIGEST1).unwrap();
    let out = edited(
        t,
        &[
            r[0].tag_edit("1.26").unwrap(),
            r[1].digest_edit(&d).unwrap(),
        ],
    );
    let expected = t
        .replace("tag: 1.25 #", "tag: 1.26 #")
        .replace("digest: \"\"", &format!("digest: \"{DIGEST1}\""));
    assert_eq!(out, expected);
    assert_eq!(r[0].digest_edit(&d), None);
}

#[test]
fn helm_numeric_and_quoted_tags() {
    let t = "a:\n  repository: nginx\n  tag: 1.25\nb:\n  repository: redis\n  tag: '7.2'\n";
    let r = refs(t);
    assert_eq!(tag(t, &r[0]), "1.25");
    assert_eq!(r[0].image, repo("nginx"));
    assert_eq!(tag(t, &r[1]), "7.2");
    assert_eq!(r[1].marker, None);
}

#[test]
fn helm_with_unparsable_repository_is_skipped() {
    let t = "image:\n  repository: \"{{ .Values.repo }}\"\n  tag: 1.0\n";
    assert_eq!(refs(t), []);
}

#[test]
fn imagebump_marker_forms() {
    let t = "a: web:1.0 # imagebump: web\nb: 1.0 # imagebump: web:tag\nc: sha256:abc # imagebump: web:digest\nd: ghcr.io/x # imagebump: web:name\ne: 2.0 #imagebump: api:tag trailing words\n";
    let r = refs(t);
    assert_eq!(r.len(), 4, "{r:#?}");
    assert_eq!(
        (r[0].kind, &r[0].marker),
        (RefKind::Image, &marker("web", MarkerKind::Full))
    );
    assert_eq!(r[0].image, repo("web"));
    assert_eq!(
        (r[1].kind, &r[1].marker),
        (RefKind::Marked, &marker("web", MarkerKind::Tag))
    );
    assert_eq!((tag(t, &r[1]), r[1].image.as_ref()), ("1.0", None));
    assert_eq!(r[2].marker, marker("web", MarkerKind::Digest));
    assert_eq!((digest(t, &r[2]), r[2].tag.as_ref()), ("sha256:abc", None));
    assert_eq!(r[3].marker, marker("api", MarkerKind::Tag));
    assert_eq!(tag(t, &r[3]), "2.0");
}

#[test]
fn flux_marker_forms() {
    let t = concat!(
        "full: ghcr.io/acme/web:1.0 # {\"$imagepolicy\": \"flux-system:web\"}\n",
        "tag: 1.0 # {\"$imagepolicy\": \"flux-system:web:tag\"}\n",
        "name: ghcr.io/acme/web # {\"$imagepolicy\": \"flux-system:web:name\"}\n",
        "digest: 'sha256:abc' # {\"$imagepolicy\": \"flux-system:web:digest\"}\n",
        "bad: x:1 # {\"$imagepolicy\": 3}\n",
        "list:\n  - ghcr.io/acme/api:2.0 # {\"$imagepolicy\":\"ns:api\"}\n",
    );
    let r = refs(t);
    assert_eq!(r.len(), 4, "{r:#?}");
    assert_eq!(
        (r[0].kind, &r[0].marker),
        (RefKind::Image, &marker("web", MarkerKind::Full))
    );
    assert_eq!(tag(t, &r[0]), "1.0");
    assert_eq!(
        (r[1].kind, &r[1].marker),
        (RefKind::Marked, &marker("web", MarkerKind::Tag))
    );
    assert_eq!(tag(t, &r[1]), "1.0");
    assert_eq!(
        (r[2].kind, &r[2].marker),
        (RefKind::Marked, &marker("web", MarkerKind::Digest))
    );
    assert_eq!(digest(t, &r[2]), "sha256:abc");
    assert_eq!(r[3].marker, marker("api", MarkerKind::Full));
    assert_eq!((r[3].line, tag(t, &r[3])), (7, "2.0"));
}

#[test]
fn marker_parsing() {
    use super::marker::parse;
    assert_eq!(parse("imagebump: web"), marker("web", MarkerKind::Full));
    assert_eq!(parse("imagebump:web:name"), marker("web", MarkerKind::Name));
    assert_eq!(parse("imagebump: a:b"), marker("a:b", MarkerKind::Full));
    assert_eq!(parse("imagebump:"), None);
    assert_eq!(parse("something else"), None);
    assert_eq!(
        parse("{\"$imagepolicy\": \"ns:web:digest\"}"),
        marker("web", MarkerKind::Digest)
    );
    assert_eq!(parse("{\"$imagepolicy\": \"ns:web:bogus\"}"), None);
    assert_eq!(parse("{\"$imagepolicy\": \"web\"}"), None);
    assert_eq!(
        parse("{\"$imagepolicy\": \"ns:web\"} and more"),
        marker("web", MarkerKind::Full)
    );
    assert_eq!(parse("{\"other\": \"ns:web\"}"), None);
    assert_eq!(parse("{not json"), None);
}

#[test]
fn flux_tag_marker_on_helm_tag_is_one_reference() {
    let t = "image:\n  repository: ghcr.io/acme/web\n  tag: 1.0.0 # {\"$imagepolicy\": \"flux-system:web:tag\"}\n";
    let r = refs(t);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind, RefKind::HelmValues);
    assert_eq!(r[0].marker, marker("web", MarkerKind::Tag));
    assert_eq!(tag(t, &r[0]), "1.0.0");
}

#[test]
fn tag_marker_on_image_key_makes_a_marked_reference() {
    let t = "image: 1.0 # imagebump: web:tag\n";
    let r = refs(t);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].kind, tag(t, &r[0])), (RefKind::Marked, "1.0"));
}

#[test]
fn comment_after_a_later_flow_value_is_not_its_marker() {
    let t = "a: [web:1.0, web:2.0] # imagebump: web\n";
    let r = refs(t);
    assert_eq!(r.len(), 1);
    assert_eq!(tag(t, &r[0]), "2.0");
}

#[test]
fn strings_that_contain_images_are_not_references() {
    let t = "kind: ConfigMap\ndata:\n  note: \"use ghcr.io/acme/web:1.0\"\n  cmd: [\"run\", \"--image=ghcr.io/acme/web:1.0\"]\n  image_hint: web:1.0\n";
    assert_eq!(refs(t), []);
}

#[test]
fn image_key_that_is_not_an_image_is_ignored() {
    let t = "a:\n  image: \"{{ .Values.image }}\"\nb:\n  image: Not An Image\nc:\n  image:\n    pullPolicy: Always\nd:\n  image: \"\"\n";
    assert_eq!(refs(t), []);
}

#[test]
fn uneditable_image_values_are_skipped() {
    let t = "a:\n  image: \"web:\\u0031.0\"\nb:\n  image: >\n    web:1.0\nc:\n  image: 'web:1.0\n    '\n";
    assert_eq!(refs(t), []);
}

#[test]
fn unicode_before_the_reference() {
    let t = "# Grüße — ✓ 日本語\nnote: \"héllo ✓\"\nimage: ghcr.io/acme/web:1.0 # imagebump: wéb\n";
    let r = refs(t);
    assert_eq!(r.len(), 1);
    assert_eq!(tag(t, &r[0]), "1.0");
    assert_eq!(r[0].marker, marker("wéb", MarkerKind::Full));
    let out = edited(t, &[r[0].tag_edit("1.1").unwrap()]);
    assert_eq!(out, t.replace("web:1.0", "web:1.1"));
}

#[test]
fn image_under_a_non_container_mapping() {
    let t = "apiVersion: example.com/v1\nkind: Thing\nspec:\n  build:\n    base:\n      image: alpine:3.19\n";
    let r = refs(t);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].image.clone(), tag(t, &r[0])),
        (repo("alpine"), "3.19")
    );
}

#[test]
fn anchored_image_value() {
    let t = "a:\n  image: &img web:1.0\nb:\n  image: *img\n";
    let r = refs(t);
    assert_eq!(r.len(), 1);
    assert_eq!(tag(t, &r[0]), "1.0");
}

#[test]
fn invalid_yaml_is_an_error_with_its_line() {
    let e = scan("a: 1\nb: 2\n  c: 3\nd: 4\n").unwrap_err();
    assert_eq!(e.line, 3, "{e:?}");
    assert!(!e.message.is_empty());
    assert!(e.to_string().starts_with("line 3, column"));
    let e = scan("a: [1, 2\n").unwrap_err();
    assert!(e.line >= 1, "{e:?}");
}

#[test]
fn empty_files() {
    assert_eq!(refs(""), []);
    assert_eq!(refs("# nothing\n"), []);
    assert_eq!(refs("---\n---\n"), []);
    assert_eq!(refs("just a string # imagebump: web:name\n"), []);
}

#[test]
fn references_are_in_byte_order() {
    let t = "x:\n  image: a:1\n  repository: b\n  tag: '2'\nimages:\n  - name: c\n    newTag: '3'\ny: {image: d:4, other: e:5 # imagebump: p:tag\n  }\n";
    let r = refs(t);
    let tags: Vec<_> = r.iter().map(|r| tag(t, r)).collect();
    assert_eq!(tags, ["1", "2", "3", "4", "e:5"]);
    let kinds: Vec<_> = r.iter().map(|r| r.kind).collect();
    use RefKind::*;
    assert_eq!(kinds, [Image, HelmValues, Kustomize, Image, Marked]);
}

#[test]
fn edit_changes_only_the_tag_bytes() {
    let t = "spec:\n  containers:\n    - name: web   # keep  spacing\n      image:   ghcr.io/acme/web:1.4.2     # imagebump: web\n    - image: other:9\n";
    let r = refs(t);
    let out = edited(t, &[r[0].tag_edit("1.10.0").unwrap()]);
    assert_eq!(
        out,
        "spec:\n  containers:\n    - name: web   # keep  spacing\n      image:   ghcr.io/acme/web:1.10.0     # imagebump: web\n    - image: other:9\n"
    );
}

#[test]
fn verify_edit_rejects_bad_results() {
    let t = "image: web:1.0\nnote: x\n";
    let r = &refs(t)[0];
    let e = r.tag_edit("2.0").unwrap();
    // Bytes outside the edit changed.
    let bad = "image: web:2.0\nnote: y\n";
    assert!(verify_edit(t, bad, std::slice::from_ref(&e)).is_err());
    // The replacement is not what the edit says.
    assert!(verify_edit(t, "image: web:3.0\nnote: x\n", std::slice::from_ref(&e)).is_err());
    // The result no longer parses.
    let broken = Edit {
        span: e.span.clone(),
        replacement: "[".to_string(),
    };
    let out = apply(t, std::slice::from_ref(&broken));
    assert!(verify_edit(t, &out, &[broken]).is_err());
    // The reference disappears.
    let gone = Edit {
        span: e.span.clone(),
        replacement: "no good".to_string(),
    };
    let out = apply(t, std::slice::from_ref(&gone));
    assert!(verify_edit(t, &out, &[gone]).is_err());
    // Overlapping and out-of-bounds edits.
    let overlap = [
        e.clone(),
        Edit {
            span: 12..13,
            replacement: String::new(),
        },
    ];
    assert!(verify_edit(t, t, &overlap).is_err());
    let oob = [Edit {
        span: 10..100,
        replacement: String::new(),
    }];
    assert!(verify_edit(t, t, &oob).is_err());
    assert_eq!(apply(t, &oob), t);
    // The new text parses but is not read back as the tag (`1.0.x` would
    // be; a comment swallowing it would not).
    let eaten = Edit {
        span: e.span.clone(),
        replacement: "2.0 #x".to_string(),
    };
    let out = apply(t, std::slice::from_ref(&eaten));
    assert!(verify_edit(t, &out, &[eaten]).is_err());
    // An edit outside any reference.
    let stray = [Edit {
        span: 21..22,
        replacement: "z".into(),
    }];
    assert!(verify_edit(t, &apply(t, &stray), &stray).is_err());
    // No edits: identical text passes.
    assert!(verify_edit(t, t, &[]).is_ok());
}

#[test]
fn apply_inserts_and_replaces_in_order() {
    let t = "abcdef";
    let edits = [
        Edit {
            span: 4..5,
            replacement: "E".into(),
        },
        Edit {
            span: 0..0,
            replacement: "<".into(),
        },
        Edit {
            span: 1..3,
            replacement: "".into(),
        },
    ];
    assert_eq!(apply(t, &edits), "<adEf");
    // Not image references: the guard refuses them.
    assert!(verify_edit(t, "<adEf", &edits).is_err());
}

#[test]
fn helm_flow_mapping_and_crlf() {
    let t = "image: {repository: nginx, tag: \"1.0\"}\r\nsub:\r\n  registry: ghcr.io/\r\n  repository: acme/web\r\n  tag: v2\t# imagebump: web:tag\r\n";
    let r = refs(t);
    assert_eq!(r.len(), 2, "{r:#?}");
    assert_eq!((r[0].image.clone(), tag(t, &r[0])), (repo("nginx"), "1.0"));
    assert_eq!(
        (r[1].image.clone(), tag(t, &r[1])),
        (repo("ghcr.io/acme/web"), "v2")
    );
    assert_eq!(r[1].marker, marker("web", MarkerKind::Tag));
    let out = edited(
        t,
        &[r[0].tag_edit("1.1").unwrap(), r[1].tag_edit("v3").unwrap()],
    );
    assert_eq!(out, t.replace("\"1.0\"", "\"1.1\"").replace("v2\t", "v3\t"));
}

#[test]
fn kustomize_crlf_with_marker_on_name_line() {
    let t = "images:\r\n- name: web # imagebump: web:name\r\n  newName: ghcr.io/acme/web\r\n  newTag: '1.0'\r\n";
    let r = refs(t);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].image, repo("ghcr.io/acme/web"));
    assert_eq!(r[0].marker, marker("web", MarkerKind::Name));
    assert_eq!((tag(t, &r[0]), r[0].line), ("1.0", 4));
}

#[test]
fn byte_order_mark_keeps_offsets_right() {
    let t = "\u{feff}image: web:1.0\n";
    let r = refs(t);
    assert_eq!(r.len(), 1);
    assert_eq!(tag(t, &r[0]), "1.0");
}
