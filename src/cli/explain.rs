//! `imagebump explain`: for each selected reference, the policy that owns
//! it and why, the current tag as parsed, every tag of the registry with the
//! first rule that excluded it, and the winner — "held back, or nothing to
//! do?". The winner comes from the same planner `check` runs, so the two
//! never disagree; the words are [`Reason`]'s, as in `check`'s skips.
//!
//! Exit codes: 0 explained, 1 any error (config, files, registry), 2 no
//! reference matched the selection.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::check::RegistryArgs;
use super::{Format, load_config};
use crate::config::ServiceConfig;
use crate::domain::{Digest, ImageRepo};
use crate::manifest;
use crate::plan::{self, Resolved, SourceFile, TagSource};
use crate::policy::version::parse_tag;
use crate::policy::{Policy, Rule, Verdict, verdicts_with};
use crate::registry::{Client, TagList};
use crate::rollback::{self, RollbackHold};
use crate::store::{Ignored, Store};
use crate::workdir;

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// Repository root (holding .imagebump.yaml).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// `FILE:LINE` of a reference, or an image (`ghcr.io/acme/web`, with or
    /// without a tag); every owned reference when left out.
    target: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The service config (`config/imagebump.toml`): with `--name`, the
    /// versions and update types people ignored are read from its store.
    #[arg(long, requires = "name")]
    service_config: Option<PathBuf>,
    /// The repository's `name` in the service config.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// One reference explained (the JSON form).
#[derive(Debug, Serialize)]
struct Explained {
    file: String,
    line: usize,
    image: String,
    policy: String,
    /// Why this policy owns the reference.
    why: String,
    rule: String,
    current: Current,
    /// The tag `check` would write, and the kind of change.
    winner: Option<Winner>,
    /// Why the reference is left alone, when it is.
    skipped: Option<String>,
    /// The rollback hold on the reference, in the service's store.
    held: Option<String>,
    /// A better tag younger than `minReleaseAge`: "waiting for release age
    /// of TAG until TIME".
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting: Option<String>,
    tags: Vec<Verdict>,
}

#[derive(Debug, Serialize)]
struct Current {
    tag: String,
    /// `None` when the tag is not shaped for the rule.
    release: Option<Vec<u64>>,
    prerelease: Option<String>,
    counter: Option<String>,
    variant: Option<String>,
}

#[derive(Debug, Serialize)]
struct Winner {
    tag: String,
    update: crate::policy::UpdateType,
}

pub async fn run(args: ExplainArgs) -> ExitCode {
    let config = match load_config(&args.repo) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return ExitCode::from(1);
        }
    };
    let client = match args.registry.client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    let (files, problems) = match workdir::read_files(&args.repo, &config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    let images: Vec<ImageRepo> = config.policies.iter().map(|p| p.image.clone()).collect();
    let (config, first_seen, holds) = match service_state(&args, &images).await {
        // What people refused is part of the policies the tags are judged by.
        Ok((ignored, first_seen, holds)) => (
            config.refusing(&crate::reconcile::refusals(&ignored)),
            first_seen,
            holds,
        ),
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    // Each image is listed once for the whole explanation.
    let listed = Listed {
        client: &client,
        lists: client
            .list_tags_many(&images)
            .await
            .into_iter()
            .map(|(image, r)| (image, r.map_err(|e| e.to_string())))
            .collect(),
        first_seen,
        created: Default::default(),
        now_ms: crate::clock::now_ms(),
    };
    let mut failed = !problems.is_empty();
    for p in &problems {
        eprintln!("error: {}:{}: {}", p.file, p.line, p.message);
    }
    let mut out = Vec::new();
    for file in &files {
        let Ok(refs) = manifest::scan(&file.text) else {
            continue; // `check` reports unparsable files
        };
        for r in refs {
            let Resolved::Policy(policy) = plan::resolve(&config, &r) else {
                continue;
            };
            let Some(tag) = r.tag.as_ref().map(|t| t.value.clone()) else {
                continue;
            };
            if !selected(args.target.as_deref(), &file.path, r.line, policy, &tag) {
                continue;
            }
            match explain_one(&config, file, &r, (policy, &tag), &listed, &holds).await {
                Ok(e) => out.push(e),
                Err(message) => {
                    failed = true;
                    eprintln!("error: {}:{}: {message}", file.path, r.line);
                }
            }
        }
    }
    match args.format {
        Format::Json => match serde_json::to_string_pretty(&out) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: cannot encode: {e}"),
        },
        Format::Text => print!("{}", text(&out)),
    }
    if failed {
        ExitCode::from(1)
    } else if out.is_empty() {
        eprintln!("no reference owned by a policy matches the selection");
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// The registry, with every tag list fetched once up front; the service's
/// first-seen times where `--service-config` names its store, and build
/// times asked once per tag.
struct Listed<'a> {
    client: &'a Client,
    lists: HashMap<ImageRepo, Result<TagList, String>>,
    first_seen: HashMap<ImageRepo, crate::policy::TagTimes>,
    created: std::sync::Mutex<HashMap<(ImageRepo, String), plan::BuildTime>>,
    now_ms: i64,
}

impl TagSource for Listed<'_> {
    async fn tags(&self, repos: &[ImageRepo]) -> HashMap<ImageRepo, Result<TagList, String>> {
        repos
            .iter()
            .filter_map(|r| self.lists.get(r).map(|l| (r.clone(), l.clone())))
            .collect()
    }

    async fn digest(&self, repo: &ImageRepo, tag: &str) -> Result<Digest, String> {
        TagSource::digest(self.client, repo, tag).await
    }

    async fn platforms(&self, repo: &ImageRepo, tag: &str) -> Result<Vec<String>, String> {
        TagSource::platforms(self.client, repo, tag).await
    }

    async fn first_seen(&self, repo: &ImageRepo) -> crate::policy::TagTimes {
        self.first_seen.get(repo).cloned().unwrap_or_default()
    }

    async fn build_times(
        &self,
        repo: &ImageRepo,
        tags: &[String],
    ) -> Result<HashMap<String, plan::BuildTime>, String> {
        let lock = || self.created.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = HashMap::new();
        let mut wanted = Vec::new();
        for tag in tags {
            match lock().get(&(repo.clone(), tag.clone())) {
                Some(time) => {
                    out.insert(tag.clone(), time.clone());
                }
                None => wanted.push(tag.clone()),
            }
        }
        let fetched = TagSource::build_times(self.client, repo, &wanted).await?;
        for (tag, time) in fetched {
            lock().insert((repo.clone(), tag.clone()), time.clone());
            out.insert(tag, time);
        }
        Ok(out)
    }
}

impl Listed<'_> {
    /// What is known of the times of `image`'s tags: the store's, and the
    /// build times asked so far.
    async fn times(&self, image: &ImageRepo) -> crate::policy::TagTimes {
        let mut times = self.first_seen(image).await;
        let created = self.created.lock().unwrap_or_else(|p| p.into_inner());
        for ((repo, tag), (_, time)) in created.iter() {
            if let (true, Some(time)) = (repo == image, time) {
                times.created.insert(tag.clone(), *time);
            }
        }
        times
    }
}

/// What people ignored in the service's store for `--name`, the store's
/// first-seen times of `images`, and the rollback holds there; nothing
/// without `--service-config`.
async fn service_state(
    args: &ExplainArgs,
    images: &[ImageRepo],
) -> anyhow::Result<(
    Ignored,
    HashMap<ImageRepo, crate::policy::TagTimes>,
    Vec<RollbackHold>,
)> {
    let (Some(file), Some(name)) = (&args.service_config, &args.name) else {
        return Ok(Default::default());
    };
    let config = ServiceConfig::load(Some(file.as_path()))?;
    anyhow::ensure!(
        config.repos.iter().any(|r| &r.name == name),
        "no repository `{name}` in {}",
        file.display()
    );
    let store = Store::open(&config.store_url()).await?;
    let ignored = store.ignored(name).await;
    let holds = store.rollback_holds(name).await;
    let mut first_seen = HashMap::new();
    for image in images {
        let key = crate::reconcile::tag_cache_key(image);
        if let Ok(Some(cached)) = store.cached_tags(&key).await {
            first_seen.insert(image.clone(), crate::reconcile::appeared(&cached));
        }
    }
    store.close().await;
    Ok((ignored?, first_seen, holds?))
}

fn selected(target: Option<&str>, file: &str, line: usize, policy: &Policy, tag: &str) -> bool {
    let Some(target) = target else {
        return true;
    };
    // `FILE:LINE` names a manifest; `acme/web:15` is an image at tag 15.
    if let Some((f, l)) = target.rsplit_once(':')
        && let Ok(l) = l.parse::<usize>()
        && (f.ends_with(".yaml") || f.ends_with(".yml"))
    {
        return f.trim_start_matches("./") == file && l == line;
    }
    let image = policy.image.to_string();
    target == image
        || target == format!("{image}:{tag}")
        || crate::domain::ImageRepo::parse(target).is_ok_and(|t| t == policy.image)
}

async fn explain_one(
    config: &crate::policy::RepoConfig,
    file: &SourceFile,
    r: &manifest::Reference,
    (policy, tag): (&Policy, &str),
    listed: &Listed<'_>,
    holds: &[RollbackHold],
) -> Result<Explained, String> {
    let tags = match listed.lists.get(&policy.image) {
        Some(Ok(tags)) => tags.clone(),
        Some(Err(e)) => return Err(e.clone()),
        None => return Err(format!("{} was not listed", policy.image)),
    };
    let marked = r.marker.is_some();
    // The winner as `check` plans it, platforms and refusals included; a
    // reference of a promoted environment is skipped, saying where from.
    let (one, promoted) = plan::promote::followed(config, std::slice::from_ref(file))
        .map_err(|e| format!("{e:#}"))?;
    let mut report = plan::plan(config, &one, listed, listed.now_ms).await;
    report.skipped.extend(promoted);
    if let Some(e) = report.errors.iter().find(|e| e.line == r.line) {
        return Err(e.message.clone());
    }
    // A rollback hold withholds the winner as a service run does (with
    // MRs: a winner above the from-version stays, without auto-merge).
    let mut bumps: Vec<plan::Bump> = report
        .bumps
        .iter()
        .filter(|b| b.line == r.line)
        .cloned()
        .collect();
    let restrained = rollback::restrain(config, holds, &one, &mut bumps, true);
    let bump = bumps.first();
    let held = rollback::managed(config, file)
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.line == r.line)
        .and_then(|m| holds.iter().find(|h| h.key == m.key))
        .map(RollbackHold::describe);
    let skipped = report
        .skipped
        .iter()
        .find(|s| s.line == r.line)
        .map(|s| s.reason.clone())
        .or_else(|| {
            restrained.withheld.first().map(|(b, h)| {
                format!(
                    "held after a rollback: {} is not above {}, the rolled-back-from version",
                    b.to.tag, h.from.tag
                )
            })
        });
    let times = listed.times(&policy.image).await;
    let mut verdicts = verdicts_with(policy, tag, &tags, marked, &times).unwrap_or_default();
    let waiting = report.waiting.iter().find(|w| w.line == r.line);
    let passed_over = bump
        .map(|b| &b.passed_over)
        .into_iter()
        .chain(waiting.map(|w| &w.passed_over))
        .flatten();
    for passed in passed_over {
        if let Some(v) = verdicts.iter_mut().find(|v| v.tag == passed.tag) {
            v.rule = Some(passed.rule);
            v.detail = passed.detail.clone();
            v.update = None;
        }
    }
    let why = match &r.marker {
        Some(m) => format!("the line's marker names policy `{}`", m.policy),
        None => format!("the reference's image is policy `{}`'s image", policy.name),
    };
    Ok(Explained {
        file: file.path.clone(),
        line: r.line,
        image: policy.image.to_string(),
        policy: policy.name.clone(),
        why,
        rule: rule_text(policy),
        current: current(policy, tag),
        winner: bump.map(|b| Winner {
            tag: b.to.tag.clone(),
            update: b.update,
        }),
        skipped,
        held,
        waiting: waiting.map(|w| format!("waiting for release age of {} until {}", w.tag, w.until)),
        tags: verdicts,
    })
}

fn rule_text(policy: &Policy) -> String {
    let mut text = match &policy.rule {
        Rule::Semver(range) => format!("semver `{}`", range.source),
        Rule::Tags(t) => format!(
            "tags `{}` ordered {:?}",
            t.pattern.as_ref().map_or("any tag", |p| p.as_str()),
            t.order
        )
        .to_lowercase(),
    };
    text.push_str(if policy.prerelease {
        ", prereleases allowed"
    } else {
        ", no prereleases"
    });
    if !policy.platforms.is_empty() {
        text.push_str(&format!(", platforms {}", policy.platforms.join(", ")));
    }
    text
}

fn current(policy: &Policy, tag: &str) -> Current {
    let parsed = match &policy.rule {
        Rule::Semver(_) => parse_tag(tag),
        Rule::Tags(_) => None,
    };
    Current {
        tag: tag.to_string(),
        release: parsed.as_ref().map(|v| v.release().to_vec()),
        prerelease: parsed
            .as_ref()
            .and_then(|v| v.pre.as_ref().map(|p| p.text.clone())),
        counter: parsed.as_ref().and_then(|v| {
            v.counter
                .map(|c| format!("{:?} {}", c.kind, c.value).to_lowercase())
        }),
        variant: parsed.as_ref().and_then(|v| v.variant.clone()),
    }
}

fn text(out: &[Explained]) -> String {
    let mut s = String::new();
    for e in out {
        let width = e.tags.iter().map(|t| t.tag.len()).max().unwrap_or(0);
        s.push_str(&format!(
            "{}:{}  {}:{}\n",
            e.file, e.line, e.image, e.current.tag
        ));
        s.push_str(&format!("  policy   {} ({})\n", e.policy, e.why));
        s.push_str(&format!("  rule     {}\n", e.rule));
        let parsed = match &e.current.release {
            None => "not a version under this rule".to_string(),
            Some(release) => {
                let parts: Vec<String> = release.iter().map(u64::to_string).collect();
                let mut d = format!("release {} ({} parts)", parts.join("."), release.len());
                for (name, value) in [
                    ("prerelease", &e.current.prerelease),
                    ("counter", &e.current.counter),
                    ("variant", &e.current.variant),
                ] {
                    if let Some(v) = value {
                        d.push_str(&format!(", {name} {v}"));
                    }
                }
                d
            }
        };
        s.push_str(&format!("  current  {} = {parsed}\n", e.current.tag));
        if let Some(held) = &e.held {
            s.push_str(&format!(
                "  held     {held}: versions up to the rolled-back-from one are not proposed; a newer one is, without auto-merge (direct mode: nothing is committed)\n"
            ));
        }
        match (&e.winner, &e.skipped) {
            (Some(w), _) => s.push_str(&format!("  winner   {} ({})\n", w.tag, w.update.as_str())),
            (None, Some(why)) => s.push_str(&format!("  skipped  {why}\n")),
            (None, None) if e.waiting.is_some() => {
                s.push_str("  winner   none yet: every newer tag is younger than minReleaseAge\n")
            }
            (None, None) => s.push_str("  winner   none: the current tag is the best allowed\n"),
        }
        if let Some(w) = &e.waiting {
            s.push_str(&format!("  waiting  {w}\n"));
        }
        s.push_str("  tags\n");
        for t in &e.tags {
            let verdict = match (t.rule, t.update) {
                (None, Some(u)) => format!("candidate ({})", u.as_str()),
                (Some(rule), _) => format!("{}: {}", rule.as_str(), t.detail),
                (None, None) => t.detail.clone(),
            };
            s.push_str(&format!("    {:width$}  {verdict}\n", t.tag));
        }
    }
    s
}
