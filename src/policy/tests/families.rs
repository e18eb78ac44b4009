//! Tag families shaped like the real ones (Docker official images, bitnami,
//! Java builds, Python prereleases, Microsoft, `v`-prefixed vendors, cosign
//! artefacts, codenames and dates): for each current tag, the bump a user
//! expects, or none.

use super::{policy, semver, tags};
use crate::policy::version::parse_range;
use crate::policy::{Decision, Rule, UpdateType, choose};

/// `(family, current, range, prereleases, expected target and update)`.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    bool,
    Option<(&'static str, UpdateType)>,
);

const POSTGRES: &[&str] = &[
    "15",
    "15.6",
    "15.7",
    "15.7-alpine",
    "15.7-alpine3.19",
    "15.7-alpine3.20",
    "15.7-bookworm",
    "15.6-alpine3.19",
    "16",
    "16.0",
    "16.4",
    "16.4-alpine3.20",
    "15.7.1",
    "latest",
    "bookworm",
    "alpine",
    "17beta3",
    "17rc1",
];
const REDIS: &[&str] = &[
    "7.0-alpine",
    "7.0.15-alpine",
    "7.2-alpine",
    "7.2.5-alpine",
    "7.0",
    "7.2",
    "7-alpine",
    "7.2-alpine3.20",
    "7.4-rc2-alpine",
];
const NODE: &[&str] = &[
    "18.19.1-alpine3.19",
    "18.20.4-alpine3.19",
    "18.20.4-alpine3.20",
    "20.15.0-alpine3.19",
    "18.20.4",
    "18-alpine",
    "lts-alpine",
    "hydrogen-alpine3.19",
];
const PYTHON: &[&str] = &[
    "3.11.8-slim-bookworm",
    "3.11.9-slim-bookworm",
    "3.11.9-slim-bullseye",
    "3.12.4-slim-bookworm",
    "3.13.0rc1-slim-bookworm",
    "3.13.0b1-slim-bookworm",
    "3.11.9",
    "3.13.0rc1",
    "3.13.0b4",
    "3.13.0a3",
];
const BITNAMI: &[&str] = &[
    "7.0.15-debian-12-r3",
    "7.0.15-debian-12-r4",
    "7.0.15-debian-12-r10",
    "7.2.5-debian-12-r0",
    "7.2.5-debian-11-r9",
    "7.0.15",
    "7.0.15-debian-12",
    "latest",
];
const TEMURIN: &[&str] = &[
    "17.0.10_7-jre-jammy",
    "17.0.11_9-jre-jammy",
    "17.0.11_9-jdk-jammy",
    "17.0.11_9-jre-focal",
    "21.0.4_7-jre-jammy",
    "17-jre-jammy",
    "17.0.11_9-jre",
];
const DOTNET: &[&str] = &[
    "6.0",
    "6.0.31",
    "8.0",
    "8.0.7",
    "6.0-jammy",
    "8.0-jammy-chiseled",
    "9.0-preview",
];
const TRAEFIK: &[&str] = &[
    "v2.11", "v2.11.8", "v3.1", "v3.0", "2.11", "latest", "v3.2-rc1",
];
const COSIGN: &[&str] = &[
    "1.4.2",
    "1.4.3",
    "sha256-4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945.sig",
    "sha256-4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945.att",
    "1.4.3.sig",
    "1.5.0.sbom",
];
const RABBIT: &[&str] = &[
    "3.12.0-rc.2-management",
    "3.12.0-rc.10-management",
    "3.12.0-management",
    "3.12.1-management",
    "3.12.1",
    "3.12.1-management-alpine",
];
const UBUNTU: &[&str] = &[
    "noble-20240801",
    "noble-20240904",
    "24.04",
    "22.04",
    "jammy",
    "latest",
];
const NUMBERED: &[&str] = &[
    "3.4.1-0", "3.4.1-2", "3.4.2-0", "3.4.2", "1.2.3.4", "1.2.3.10", "1.2.4",
];

fn family(name: &str) -> &'static [&'static str] {
    match name {
        "postgres" => POSTGRES,
        "redis" => REDIS,
        "node" => NODE,
        "python" => PYTHON,
        "bitnami" => BITNAMI,
        "temurin" => TEMURIN,
        "dotnet" => DOTNET,
        "traefik" => TRAEFIK,
        "cosign" => COSIGN,
        "rabbitmq" => RABBIT,
        "ubuntu" => UBUNTU,
        "numbered" => NUMBERED,
        _ => unreachable!("{name}"),
    }
}

use UpdateType::{Major, Minor, Patch, Prerelease};

const ROWS: &[Row] = &[
    // Docker official images: precision and variant text are kept.
    ("postgres", "15.6", "*", false, Some(("16.4", Major))),
    ("postgres", "15.6", "15", false, Some(("15.7", Minor))),
    ("postgres", "15", "*", false, Some(("16", Major))),
    (
        "postgres",
        "15.6-alpine3.19",
        "*",
        false,
        Some(("15.7-alpine3.19", Minor)),
    ),
    ("postgres", "16.4", "*", false, None),
    ("postgres", "16", "*", true, Some(("17rc1", Major))),
    (
        "redis",
        "7.0-alpine",
        "*",
        false,
        Some(("7.2-alpine", Minor)),
    ),
    ("redis", "7.0-alpine", "~7.0", false, None),
    (
        "redis",
        "7.0.15-alpine",
        "^7",
        false,
        Some(("7.2.5-alpine", Minor)),
    ),
    (
        "node",
        "18.19.1-alpine3.19",
        "^18",
        false,
        Some(("18.20.4-alpine3.19", Minor)),
    ),
    (
        "node",
        "18.19.1-alpine3.19",
        "*",
        false,
        Some(("20.15.0-alpine3.19", Major)),
    ),
    (
        "python",
        "3.11.8-slim-bookworm",
        "~3.11",
        false,
        Some(("3.11.9-slim-bookworm", Patch)),
    ),
    (
        "python",
        "3.11.8-slim-bookworm",
        "*",
        false,
        Some(("3.12.4-slim-bookworm", Minor)),
    ),
    (
        "python",
        "3.11.8-slim-bookworm",
        "*",
        true,
        Some(("3.13.0rc1-slim-bookworm", Minor)),
    ),
    (
        "python",
        "3.13.0a3",
        "*",
        true,
        Some(("3.13.0rc1", Prerelease)),
    ),
    (
        "python",
        "3.13.0b4",
        "*",
        true,
        Some(("3.13.0rc1", Prerelease)),
    ),
    // Bitnami: a newer version-and-revision of the same `-debian-12`.
    (
        "bitnami",
        "7.0.15-debian-12-r3",
        "~7.0",
        false,
        Some(("7.0.15-debian-12-r10", Patch)),
    ),
    (
        "bitnami",
        "7.0.15-debian-12-r3",
        "*",
        false,
        Some(("7.2.5-debian-12-r0", Minor)),
    ),
    ("bitnami", "7.0.15", "*", false, None),
    // Java `_N` builds within one JRE flavour.
    (
        "temurin",
        "17.0.10_7-jre-jammy",
        "^17",
        false,
        Some(("17.0.11_9-jre-jammy", Patch)),
    ),
    (
        "temurin",
        "17.0.10_7-jre-jammy",
        "*",
        false,
        Some(("21.0.4_7-jre-jammy", Major)),
    ),
    ("temurin", "17-jre-jammy", "*", false, None),
    // Microsoft's two-part versions.
    ("dotnet", "6.0", "*", false, Some(("8.0", Major))),
    ("dotnet", "6.0", "6", false, None),
    ("dotnet", "6.0.31", "*", false, Some(("8.0.7", Major))),
    // `v`-prefixed vendors.
    ("traefik", "v2.11", "^2", false, None),
    ("traefik", "v2.11", "*", false, Some(("v3.1", Major))),
    ("traefik", "v2.11.8", "*", false, None),
    // Cosign artefacts never win.
    ("cosign", "1.4.2", "*", false, Some(("1.4.3", Patch))),
    // A prerelease of a variant moves within that variant.
    (
        "rabbitmq",
        "3.12.0-rc.2-management",
        "*",
        true,
        Some(("3.12.1-management", Patch)),
    ),
    (
        "rabbitmq",
        "3.12.0-rc.2-management",
        "3.12.0",
        true,
        Some(("3.12.0-management", Prerelease)),
    ),
    // Codenames and dates are not versions; numbered versions still move.
    ("ubuntu", "22.04", "*", false, Some(("24.04", Major))),
    ("numbered", "3.4.1-0", "*", false, Some(("3.4.2-0", Patch))),
    (
        "numbered",
        "3.4.1-0",
        "3.4.1",
        false,
        Some(("3.4.1-2", Patch)),
    ),
    ("numbered", "1.2.3.4", "*", false, Some(("1.2.3.10", Patch))),
];

#[test]
fn real_tag_families_bump_as_users_expect() {
    let mut failures = Vec::new();
    for &(name, current, range, pre, expected) in ROWS {
        let p = if pre {
            policy(Rule::Semver(parse_range(range).unwrap()), true, &[])
        } else {
            semver(range)
        };
        let got = choose(&p, current, &tags(family(name)), false);
        let want = match expected {
            Some((to, update)) => Decision::Bump {
                to: to.to_string(),
                update,
            },
            None => Decision::Current,
        };
        if got != want {
            failures.push(format!(
                "{name} {current} ({range}): got {got:?}, want {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn codenames_and_dates_are_skipped_without_a_marker() {
    for current in [
        "latest",
        "bookworm",
        "noble-20240801",
        "lts-alpine",
        "20240801",
    ] {
        let got = choose(&semver("*"), current, &tags(UBUNTU), false);
        assert!(
            matches!(&got, Decision::Skip(r) if r.starts_with("pattern: ")),
            "{current}: {got:?}"
        );
    }
}

#[test]
fn a_tag_pattern_still_selects_codename_dates() {
    let p = super::tag_rule(
        Some(r"^noble-(?P<d>\d{8})$"),
        Some("$d"),
        crate::policy::Order::Numerical,
    );
    assert_eq!(
        choose(&p, "noble-20240801", &tags(UBUNTU), false),
        Decision::Bump {
            to: "noble-20240904".into(),
            update: UpdateType::Other
        }
    );
}
