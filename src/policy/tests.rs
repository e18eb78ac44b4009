//! Tests of tag selection: versions, ranges, and `choose`.

mod choose_rules;
mod families;
mod properties;
mod range_rules;
mod tag_rules;
mod times;
mod version_rules;

use regex::Regex;

use super::{
    DEFAULT_TAG_EXCLUDES, Decision, DigestMode, Order, Policy, Rule, TagRule, UpdateType,
    version::parse_range,
};
use crate::domain::ImageRepo;

/// A policy as the config parser builds it: default excludes plus `extra`.
fn policy(rule: Rule, prerelease: bool, extra: &[&str]) -> Policy {
    let exclude = DEFAULT_TAG_EXCLUDES
        .iter()
        .chain(extra)
        .map(|re| Regex::new(re).unwrap())
        .collect();
    Policy {
        name: "web".to_string(),
        image: ImageRepo::parse("ghcr.io/acme/web").unwrap(),
        rule,
        prerelease,
        digest: DigestMode::Off,
        automerge: Vec::new(),
        exclude,
        platforms: Vec::new(),
        refused: Default::default(),
        min_release_age: std::time::Duration::ZERO,
    }
}

fn semver(range: &str) -> Policy {
    policy(Rule::Semver(parse_range(range).unwrap()), false, &[])
}

fn semver_pre(range: &str) -> Policy {
    policy(Rule::Semver(parse_range(range).unwrap()), true, &[])
}

fn tag_rule(pattern: Option<&str>, extract: Option<&str>, order: Order) -> Policy {
    let rule = TagRule {
        pattern: pattern.map(|p| Regex::new(p).unwrap()),
        extract: extract.map(str::to_string),
        order,
    };
    policy(Rule::Tags(rule), false, &[])
}

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| t.to_string()).collect()
}

fn bump(to: &str, update: UpdateType) -> Decision {
    Decision::Bump {
        to: to.to_string(),
        update,
    }
}
