//! The JSON Schema of `.imagebump.yaml`, for editors (`imagebump schema`).
//! Kept beside the parser's key lists; a test checks they agree.

use serde_json::{Value, json};

/// JSON Schema (draft 2020-12) of the repository config.
pub fn schema() -> Value {
    let update_types = json!(["major", "minor", "patch", "prerelease", "digest", "other"]);
    let strings = json!({"type": "array", "items": {"type": "string", "minLength": 1}});
    let duration = json!({"type": "string", "pattern": DURATION_PATTERN});
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://imagebump.dev/schema/imagebump.yaml.json",
        "title": ".imagebump.yaml",
        "description": "imagebump's per-repository config: which files to scan and which policy each image follows.",
        "type": "object",
        "additionalProperties": false,
        "required": ["policies"],
        "properties": {
            "files": {
                "description": "Globs of files to scan, relative to the repository root.",
                "default": ["**/*.yaml", "**/*.yml"],
                "type": "array", "items": {"type": "string", "minLength": 1}
            },
            "exclude": {
                "description": "Globs of files never read.",
                "type": "array", "items": {"type": "string", "minLength": 1}
            },
            "maxFileSize": {
                "description": "Selected files larger than this are skipped with a reason: bytes, or a number with KiB or MiB; at most 64MiB.",
                "default": "8MiB",
                "oneOf": [
                    {"type": "integer", "minimum": 1, "maximum": 67108864},
                    {"type": "string", "pattern": "^[0-9]+ ?(KiB|MiB)?$"}
                ]
            },
            "policies": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name", "image"],
                    "not": {"required": ["semver", "tags"]},
                    "properties": {
                        "name": {
                            "description": "Unique; markers (`# imagebump: <name>`) refer to it.",
                            "type": "string", "pattern": "^[A-Za-z0-9._-]+$"
                        },
                        "image": {
                            "description": "Repository without tag or digest, e.g. ghcr.io/acme/web.",
                            "type": "string", "pattern": "^[^@]+$"
                        },
                        "semver": {
                            "description": "Version range as Flux and npm read it: ^1.4, ~1.4.2, >=1.0.0 <2.0.0, 1.2 - 1.4, 1.x, a || b; a bare `2.3` means 2.3.x and `1.0.1` exactly 1.0.1. Default `*`.",
                            "type": "string", "minLength": 1
                        },
                        "tags": {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["order"],
                            "properties": {
                                "pattern": {"description": "Regular expression matched against the tag.", "type": "string"},
                                "extract": {"description": "`$name`, `$1` or `${1}`; default the whole tag.", "type": "string"},
                                "order": {"description": "How tags are ordered: as versions, as numbers, as text, or `newest`: by build time (the image config's `created`, else when imagebump first saw the tag), for git-sha tags.", "enum": ["semver", "numerical", "alphabetical", "newest"]},
                                "exclude": {
                                    "description": "Regular expressions of tags never chosen, added to the defaults (*.sig, *.att, *.sbom).",
                                    "type": "array", "items": {"type": "string"}
                                }
                            }
                        },
                        "prerelease": {"description": "Prereleases are candidates.", "type": "boolean", "default": false},
                        "digest": {"description": "pin: write image:tag@sha256:… and re-pin when the tag moves.", "enum": ["pin", "off"], "default": "off"},
                        "platforms": {
                            "description": "Platforms (os/arch[/variant]) every target tag's manifest must offer, e.g. linux/amd64, linux/arm64.",
                            "type": "array", "items": {"type": "string", "pattern": "^[a-z0-9]+/[a-z0-9]+(/[a-z0-9]+)?$"}
                        },
                        "automerge": {
                            "description": "Update types merged without a human.",
                            "type": "array", "items": {"enum": update_types}
                        },
                        "minReleaseAge": min_release_age(&duration, "A tag becomes a candidate only once it is this old (since imagebump first saw it, or the image's `created` time): 30s, 5m, 1h, 3d. Default: `pullRequests.minReleaseAge`, else at once.")
                    }
                }
            },
            "pullRequests": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "branchPrefix": {"type": "string", "default": "imagebump/", "pattern": "^[A-Za-z0-9._/-]+$"},
                    "labels": strings.clone(),
                    "reviewers": strings,
                    "group": {"enum": ["per-policy", "per-file", "all"], "default": "per-policy"},
                    "minReleaseAge": min_release_age(&duration, "`minReleaseAge` of the policies that set none.")
                }
            }
        }
    })
}

/// Durations as `.imagebump.yaml` takes them: `30s`, `5m`, `1h`, `3d`, `1h30m`.
pub const DURATION_PATTERN: &str = "^([0-9]+(ms|s|m|h|d))+$";

fn min_release_age(duration: &Value, description: &str) -> Value {
    let mut v = duration.clone();
    v["description"] = json!(description);
    v
}
