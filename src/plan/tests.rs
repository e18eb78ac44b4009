//! Planning against an in-memory tag source: how references, policies,
//! tag lists and digests combine. The registry itself is tested for real in
//! `tests/registry.rs` and end to end in `tests/check.rs`.

use std::collections::HashMap;

use super::*;
use crate::policy::parse_config;

/// Tags and digests per repository; a repository listed in `broken` fails.
#[derive(Default)]
struct Tags {
    tags: HashMap<String, Vec<String>>,
    digests: HashMap<(String, String), String>,
    platforms: HashMap<(String, String), Vec<String>>,
    /// The tags whose platforms were asked for, in order.
    asked: std::sync::Mutex<Vec<String>>,
    broken: Vec<String>,
    /// First-seen times per repository, as the store keeps them.
    seen: HashMap<String, crate::policy::TagTimes>,
    /// Image config `created` times per (repository, tag).
    created: HashMap<(String, String), Option<i64>>,
    /// The tags whose build times were asked for, in order.
    built: std::sync::Mutex<Vec<String>>,
}

impl Tags {
    fn with(mut self, repo: &str, tags: &[&str]) -> Self {
        let repo = ImageRepo::parse(repo).unwrap().to_string();
        self.tags
            .insert(repo, tags.iter().map(|t| t.to_string()).collect());
        self
    }
    fn platforms(mut self, repo: &str, tag: &str, platforms: &[&str]) -> Self {
        let repo = ImageRepo::parse(repo).unwrap().to_string();
        self.platforms.insert(
            (repo, tag.into()),
            platforms.iter().map(|p| p.to_string()).collect(),
        );
        self
    }
    fn digest(mut self, repo: &str, tag: &str, hex_char: char) -> Self {
        let repo = ImageRepo::parse(repo).unwrap().to_string();
        self.digests.insert(
            (repo, tag.into()),
            format!("sha256:{}", hex_char.to_string().repeat(64)),
        );
        self
    }
}

impl TagSource for Tags {
    async fn tags(&self, repos: &[ImageRepo]) -> HashMap<ImageRepo, Result<TagList, String>> {
        repos
            .iter()
            .map(|r| {
                let key = r.to_string();
                let v = if self.broken.contains(&key) {
                    Err(format!("registry unreachable for {key}"))
                } else {
                    Ok(self.tags.get(&key).cloned().unwrap_or_default().into())
                };
                (r.clone(), v)
            })
            .collect()
    }
    async fn digest(&self, repo: &ImageRepo, tag: &str) -> Result<Digest, String> {
        let d = self
            .digests
            .get(&(repo.to_string(), tag.to_string()))
            .ok_or("no such tag")?;
        Digest::parse(d)
    }
    async fn platforms(&self, repo: &ImageRepo, tag: &str) -> Result<Vec<String>, String> {
        self.asked.lock().unwrap().push(tag.to_string());
        self.platforms
            .get(&(repo.to_string(), tag.to_string()))
            .cloned()
            .ok_or_else(|| format!("manifest unknown: {tag}"))
    }
    async fn first_seen(&self, repo: &ImageRepo) -> crate::policy::TagTimes {
        self.seen
            .get(&repo.to_string())
            .cloned()
            .unwrap_or_default()
    }
    async fn build_times(
        &self,
        repo: &ImageRepo,
        tags: &[String],
    ) -> Result<HashMap<String, BuildTime>, String> {
        let mut out = HashMap::new();
        for tag in tags {
            self.built.lock().unwrap().push(tag.clone());
            if let Some(created) = self.created.get(&(repo.to_string(), tag.clone())) {
                let digest = Digest::parse(&format!("sha256:{}", "c".repeat(64)))?;
                out.insert(tag.clone(), (digest, *created));
            }
        }
        Ok(out)
    }
}

mod ages;

fn files(list: &[(&str, &str)]) -> Vec<SourceFile> {
    list.iter()
        .map(|(p, t)| SourceFile {
            path: p.to_string(),
            text: t.to_string(),
        })
        .collect()
}

async fn run(config: &str, f: &[(&str, &str)], tags: &Tags) -> (Report, Vec<FileChange>) {
    let config = parse_config(".imagebump.yaml", config).unwrap();
    let files = files(f);
    let mut report = plan(&config, &files, tags, 0).await;
    let changes = apply(&mut report, &files);
    (report, changes)
}

const WEB: &str = "policies:\n  - name: web\n    image: ghcr.io/acme/web\n    semver: ^1.4\n";

#[tokio::test]
async fn bumps_the_owned_reference_and_leaves_others() {
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.4.2", "1.4.3", "2.0.0"]);
    let text = "spec:\n  containers:\n    - image: ghcr.io/acme/web:1.4.2\n    - image: ghcr.io/acme/web-admin:1.4.2\n";
    let (report, changes) = run(WEB, &[("apps/web.yaml", text)], &tags).await;
    assert_eq!(report.bumps.len(), 1);
    let b = &report.bumps[0];
    assert_eq!(
        (b.file.as_str(), b.line, b.image.as_str(), b.policy.as_str()),
        ("apps/web.yaml", 3, "ghcr.io/acme/web", "web")
    );
    assert_eq!(b.update, UpdateType::Patch);
    assert_eq!(
        b.from,
        Version {
            tag: "1.4.2".into(),
            digest: None
        }
    );
    assert_eq!(
        b.to,
        Version {
            tag: "1.4.3".into(),
            digest: None
        }
    );
    assert_eq!(changes[0].after, text.replacen("web:1.4.2", "web:1.4.3", 1));
    assert!(report.skipped.is_empty() && report.errors.is_empty());
}

#[tokio::test]
async fn json_contract_field_names() {
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.4.3"]);
    let (report, _) = run(WEB, &[("a.yaml", "image: ghcr.io/acme/web:1.4.2\n")], &tags).await;
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "bumps": [{"file": "a.yaml", "line": 1, "image": "ghcr.io/acme/web", "policy": "web",
                       "update": "patch", "from": {"tag": "1.4.2", "digest": null},
                       "to": {"tag": "1.4.3", "digest": null}}],
            "skipped": [], "errors": []
        })
    );
}

#[tokio::test]
async fn up_to_date_reference_plans_nothing() {
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.4.2", "1.4.3"]);
    let (report, changes) = run(WEB, &[("a.yaml", "image: ghcr.io/acme/web:1.4.3\n")], &tags).await;
    assert!(report.bumps.is_empty() && report.skipped.is_empty() && report.errors.is_empty());
    assert!(changes.is_empty());
}

#[tokio::test]
async fn latest_is_skipped_with_a_reason() {
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.4.3"]);
    let (report, _) = run(
        WEB,
        &[("a.yaml", "image: ghcr.io/acme/web:latest\n")],
        &tags,
    )
    .await;
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert!(
        report.skipped[0].reason.contains("latest"),
        "{:?}",
        report.skipped[0]
    );
}

#[tokio::test]
async fn two_policies_for_one_image_need_a_marker() {
    let config = "policies:\n  - name: a\n    image: acme/web\n  - name: b\n    image: acme/web\n    semver: ^1.0\n";
    let tags = Tags::default().with("acme/web", &["1.0.0", "1.1.0", "2.0.0"]);
    let text = "x:\n  image: acme/web:1.0.0\ny:\n  image: acme/web:1.0.0 # imagebump: b\n";
    let (report, _) = run(config, &[("a.yaml", text)], &tags).await;
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].line, 2);
    assert!(report.skipped[0].reason.contains("add a marker"));
    assert_eq!(report.bumps.len(), 1);
    assert_eq!(
        (report.bumps[0].line, report.bumps[0].to.tag.as_str()),
        (4, "1.1.0")
    );
}

#[tokio::test]
async fn marker_naming_an_unknown_policy_is_an_error() {
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.4.3"]);
    let (report, _) = run(
        WEB,
        &[("a.yaml", "image: ghcr.io/acme/web:1.4.2 # imagebump: wbe\n")],
        &tags,
    )
    .await;
    assert_eq!(report.errors.len(), 1);
    assert!(
        report.errors[0].message.contains("`wbe`"),
        "{:?}",
        report.errors
    );
    assert!(report.bumps.is_empty());
}

#[tokio::test]
async fn registry_failure_is_an_error_per_reference_and_other_images_proceed() {
    let config = "policies:\n  - name: web\n    image: ghcr.io/acme/web\n  - name: api\n    image: ghcr.io/acme/api\n";
    let mut tags = Tags::default().with("ghcr.io/acme/api", &["1.0.0", "1.0.1"]);
    tags.broken.push("ghcr.io/acme/web".into());
    let text = "a:\n  image: ghcr.io/acme/web:1.0.0\nb:\n  image: ghcr.io/acme/api:1.0.0\n";
    let (report, _) = run(config, &[("a.yaml", text)], &tags).await;
    assert_eq!(
        report.errors,
        [Problem {
            file: "a.yaml".into(),
            line: 2,
            message: "registry unreachable for ghcr.io/acme/web".into()
        }]
    );
    assert_eq!(report.bumps.len(), 1);
}

#[tokio::test]
async fn unparsable_file_is_an_error_and_other_files_still_planned() {
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.4.3"]);
    let (report, changes) = run(
        WEB,
        &[
            ("bad.yaml", "a: [1, 2\n"),
            ("good.yaml", "image: ghcr.io/acme/web:1.4.2\n"),
        ],
        &tags,
    )
    .await;
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].file, "bad.yaml");
    assert!(report.errors[0].message.starts_with("not valid YAML"));
    assert_eq!(changes.len(), 1);
}

#[tokio::test]
async fn digest_pin_writes_the_new_tags_digest() {
    let config = "policies:\n  - name: web\n    image: ghcr.io/acme/web\n    digest: pin\n";
    let tags = Tags::default()
        .with("ghcr.io/acme/web", &["1.0.0", "1.1.0"])
        .digest("ghcr.io/acme/web", "1.1.0", 'b');
    let (report, changes) = run(
        config,
        &[("a.yaml", "image: ghcr.io/acme/web:1.0.0 # pinned\n")],
        &tags,
    )
    .await;
    let d = format!("sha256:{}", "b".repeat(64));
    assert_eq!(
        report.bumps[0].to,
        Version {
            tag: "1.1.0".into(),
            digest: Some(d.clone())
        }
    );
    assert_eq!(
        changes[0].after,
        format!("image: ghcr.io/acme/web:1.1.0@{d} # pinned\n")
    );
}

#[tokio::test]
async fn pinned_reference_is_repinned_when_the_tag_moves() {
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.4.2"]).digest(
        "ghcr.io/acme/web",
        "1.4.2",
        'c',
    );
    let old = format!("sha256:{}", "a".repeat(64));
    let text = format!("image: \"ghcr.io/acme/web:1.4.2@{old}\"\n");
    let (report, changes) = run(WEB, &[("a.yaml", &text)], &tags).await;
    assert_eq!(report.bumps.len(), 1);
    assert_eq!(report.bumps[0].update, UpdateType::Digest);
    let new = format!("sha256:{}", "c".repeat(64));
    assert_eq!(changes[0].after, text.replace(&old, &new));
}

#[tokio::test]
async fn unpinned_reference_without_pin_policy_is_not_pinned() {
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.4.2"]).digest(
        "ghcr.io/acme/web",
        "1.4.2",
        'c',
    );
    let (report, _) = run(WEB, &[("a.yaml", "image: ghcr.io/acme/web:1.4.2\n")], &tags).await;
    assert!(report.bumps.is_empty());
}

#[tokio::test]
async fn each_image_is_listed_once() {
    struct Counting(std::sync::Mutex<Vec<ImageRepo>>);
    impl TagSource for Counting {
        async fn tags(&self, repos: &[ImageRepo]) -> HashMap<ImageRepo, Result<TagList, String>> {
            self.0.lock().unwrap().extend(repos.iter().cloned());
            repos
                .iter()
                .map(|r| (r.clone(), Ok(TagList::from(vec!["1.0.0".to_string()]))))
                .collect()
        }
        async fn digest(&self, _: &ImageRepo, _: &str) -> Result<Digest, String> {
            Err("unused".into())
        }

        async fn platforms(&self, _: &ImageRepo, _: &str) -> Result<Vec<String>, String> {
            Err("unused".into())
        }
    }
    let config = parse_config(
        ".imagebump.yaml",
        "policies:\n  - name: n\n    image: nginx\n",
    )
    .unwrap();
    let f = files(&[
        ("a.yaml", "image: nginx:1.0.0\n"),
        ("b.yaml", "image: docker.io/library/nginx:1.0.0\n"),
        ("c.yaml", "image: index.docker.io/library/nginx:0.9.0\n"),
    ]);
    let source = Counting(Default::default());
    let report = plan(&config, &f, &source, 0).await;
    assert_eq!(source.0.lock().unwrap().len(), 1);
    assert_eq!(report.bumps.len(), 1);
    assert_eq!(report.bumps[0].file, "c.yaml");
}

#[tokio::test]
async fn the_config_file_is_never_scanned_as_a_manifest() {
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.4.3"]);
    let (report, changes) = run(
        WEB,
        &[
            (".imagebump.yaml", WEB),
            ("a.yaml", "image: ghcr.io/acme/web:1.4.2\n"),
        ],
        &tags,
    )
    .await;
    assert!(
        report.skipped.is_empty() && report.errors.is_empty(),
        "{report:?}"
    );
    assert_eq!(changes.len(), 1);
}

const MULTI_ARCH: &str = "policies:\n  - name: web\n    image: ghcr.io/acme/web\n    platforms: [linux/amd64, linux/arm64]\n";

#[tokio::test]
async fn a_tag_lacking_a_platform_is_passed_over_for_the_next() {
    let tags = Tags::default()
        .with("ghcr.io/acme/web", &["1.0.0", "1.1.0", "1.2.0", "1.3.0"])
        .platforms("ghcr.io/acme/web", "1.3.0", &["linux/amd64"])
        .platforms(
            "ghcr.io/acme/web",
            "1.2.0",
            &["linux/amd64", "linux/arm64/v8"],
        )
        .platforms("ghcr.io/acme/web", "1.1.0", &["linux/amd64", "linux/arm64"]);
    let (report, _) = run(
        MULTI_ARCH,
        &[("a.yaml", "image: ghcr.io/acme/web:1.0.0\n")],
        &tags,
    )
    .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let b = &report.bumps[0];
    assert_eq!(b.to.tag, "1.2.0");
    assert_eq!(b.passed_over.len(), 1);
    assert_eq!(b.passed_over[0].tag, "1.3.0");
    assert_eq!(b.passed_over[0].rule, crate::policy::Reason::Platform);
    assert!(
        b.passed_over[0].detail.contains("lacks linux/arm64"),
        "{}",
        b.passed_over[0].detail
    );
    // Only the winner and the next one were fetched.
    assert_eq!(*tags.asked.lock().unwrap(), ["1.3.0", "1.2.0"]);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["bumps"][0]["passed_over"][0]["rule"], "platform");
}

#[tokio::test]
async fn no_tag_with_every_platform_is_a_skip_that_says_why() {
    let tags = Tags::default()
        .with("ghcr.io/acme/web", &["1.0.0", "1.1.0"])
        .platforms("ghcr.io/acme/web", "1.1.0", &["linux/amd64"]);
    let (report, _) = run(
        MULTI_ARCH,
        &[("a.yaml", "image: ghcr.io/acme/web:1.0.0\n")],
        &tags,
    )
    .await;
    assert!(report.bumps.is_empty());
    let reason = &report.skipped[0].reason;
    assert!(reason.starts_with("platform: "), "{reason}");
    assert!(reason.contains("1.1.0 lacks linux/arm64"), "{reason}");
}

#[tokio::test]
async fn a_manifest_that_cannot_be_read_is_an_error_not_a_bump() {
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.0.0", "1.1.0"]);
    let (report, changes) = run(
        MULTI_ARCH,
        &[("a.yaml", "image: ghcr.io/acme/web:1.0.0\n")],
        &tags,
    )
    .await;
    assert!(report.bumps.is_empty() && changes.is_empty());
    assert!(
        report.errors[0].message.contains("manifest unknown"),
        "{:?}",
        report.errors
    );
}

#[tokio::test]
async fn without_platforms_no_manifest_is_fetched() {
    let config = "policies:\n  - name: web\n    image: ghcr.io/acme/web\n";
    let tags = Tags::default().with("ghcr.io/acme/web", &["1.0.0", "1.1.0"]);
    let (report, _) = run(
        config,
        &[("a.yaml", "image: ghcr.io/acme/web:1.0.0\n")],
        &tags,
    )
    .await;
    assert_eq!(report.bumps[0].to.tag, "1.1.0");
    assert!(tags.asked.lock().unwrap().is_empty());
}
