#!/usr/bin/env python3
"""Tests of the imagebump Helm chart, with real tools and offline.

Helm v4 (helm-python-sdk: Helm's Go SDK as a library) renders and lints
the chart; kubernetes-validate checks every rendered object against the
Kubernetes API's JSON schemas (strict: unknown fields are errors) for the
oldest Kubernetes the chart supports and the newest the package knows. The
Prometheus Operator's ServiceMonitor and PrometheusRule, which it has no
schemas for, have their Kubernetes parts (metadata, label selector) checked
against the same schemas and the rest by shape.

The rendered imagebump.toml is parsed with tomllib and every key checked
against the fields of the Rust structs in src/config/mod.rs (the service
refuses unknown keys), and every *_file path in it against the Secret
items the Deployment mounts.

Run with scripts/chart-deps' virtualenv:
    scripts/chart-deps && target/chart-venv/bin/python charts/imagebump/tests/test_chart.py
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import tempfile
import tomllib
import unittest
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import referencing
import jsonschema
import yaml
from kubernetes_validate import utils as kv_utils

CHART = Path(__file__).resolve().parents[1]
ROOT = CHART.parents[1]
VALUES_DIR = CHART / "tests" / "values"
RELEASE = "imagebump"
NAMESPACE = "bots"
# The chart's kubeVersion floor, and the newest Kubernetes the pinned
# kubernetes-validate has schemas for.
KUBE_VERSIONS = ("1.25.0", "1.37.0")
SECRETS_DIR = "/etc/imagebump/secrets"
CONFIG_PATH = "/etc/imagebump/imagebump.toml"
DOCKER_CONFIG = "/etc/imagebump/docker/config.json"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}


# --- rendering --------------------------------------------------------------


class Rendered:
    """One `helm template` of the chart: its objects, NOTES and config."""

    def __init__(self, manifests: dict[str, str]):
        self.manifests = manifests
        self.notes = ""
        self.objects: list[dict[str, Any]] = []
        for path, text in sorted(manifests.items()):
            if path.endswith("NOTES.txt"):
                self.notes = text
                continue
            for doc in yaml.safe_load_all(text):
                if doc:
                    self.objects.append(doc)

    def kinds(self) -> set[str]:
        return {o["kind"] for o in self.objects}

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, found {len(found)}"
        return found[0]

    @property
    def pod(self) -> dict[str, Any]:
        return self.one("Deployment")["spec"]["template"]["spec"]

    @property
    def container(self) -> dict[str, Any]:
        (c,) = self.pod["containers"]
        return c

    def env(self) -> dict[str, dict[str, Any]]:
        return {e["name"]: e for e in self.container.get("env", [])}

    def volume(self, name: str) -> dict[str, Any]:
        return next(v for v in self.pod["volumes"] if v["name"] == name)

    def mount(self, name: str) -> dict[str, Any]:
        return next(m for m in self.container["volumeMounts"] if m["name"] == name)

    def config_text(self) -> str:
        return self.one("ConfigMap")["data"]["imagebump.toml"]

    def config(self) -> dict[str, Any]:
        return tomllib.loads(self.config_text())

    def checksum(self) -> str:
        return self.one("Deployment")["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"
        ]

    def secret_items(self) -> dict[str, tuple[str, str]]:
        """Mounted file path -> (Secret name, key)."""
        if not any(v["name"] == "secrets" for v in self.pod["volumes"]):
            return {}
        out = {}
        for source in self.volume("secrets")["projected"]["sources"]:
            secret = source["secret"]
            for item in secret["items"]:
                path = f"{SECRETS_DIR}/{item['path']}"
                assert path not in out, f"{path} mounted twice"
                out[path] = (secret["name"], item["key"])
        return out


_chart = helm.Chart.load(CHART)


def values_file(name: str) -> dict[str, Any]:
    # Helm's own YAML reading, as `helm install -f` does it.
    return helm.values_from_yaml((VALUES_DIR / name).read_text())


def render(values: dict[str, Any] | None = None, chart: helm.Chart | None = None) -> Rendered:
    return Rendered(
        (chart or _chart).render(
            values=values, name=RELEASE, namespace=NAMESPACE, is_install=True
        )
    )


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# --- validation ---------------------------------------------------------------


def _k8s_definitions(version: str) -> referencing.Registry:
    defs = kv_utils.schema_contents(
        f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version
    )
    return referencing.Resource.from_contents(defs) @ referencing.Registry()


def validate_k8s_part(obj: Any, definition: str, version: str) -> None:
    """Checks one part of an object against a Kubernetes API definition."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"https://kubernetes.io/api/_definitions.json#/$defs/{definition}",
    }
    jsonschema.Draft202012Validator(schema, registry=_k8s_definitions(version)).validate(obj)


PROM_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def check_crd_shape(test: unittest.TestCase, obj: dict[str, Any], version: str) -> None:
    test.assertEqual(obj["apiVersion"], "monitoring.coreos.com/v1")
    test.assertEqual(set(obj), {"apiVersion", "kind", "metadata", "spec"})
    validate_k8s_part(obj["metadata"], "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", version)
    spec = obj["spec"]
    if obj["kind"] == "ServiceMonitor":
        test.assertLessEqual(set(spec), {"selector", "namespaceSelector", "endpoints", "jobLabel"})
        validate_k8s_part(
            spec["selector"], "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", version
        )
        test.assertEqual(set(spec["namespaceSelector"]), {"matchNames"})
        test.assertTrue(spec["endpoints"])
        for ep in spec["endpoints"]:
            test.assertLessEqual(set(ep), {"port", "path", "interval", "scrapeTimeout"})
            test.assertIsInstance(ep["port"], str)
            test.assertTrue(ep["path"].startswith("/"))
            for k in ("interval", "scrapeTimeout"):
                test.assertRegex(ep[k], PROM_DURATION)
    else:
        test.assertEqual(set(spec), {"groups"})
        for group in spec["groups"]:
            test.assertEqual(set(group), {"name", "rules"})
            for rule in group["rules"]:
                test.assertLessEqual(set(rule), {"alert", "record", "expr", "for", "labels", "annotations"})
                test.assertIsInstance(rule["expr"], str)
                test.assertEqual(rule["expr"].count("("), rule["expr"].count(")"), rule["expr"])
                test.assertEqual(rule["expr"].count("{"), rule["expr"].count("}"), rule["expr"])
                if "alert" in rule:
                    test.assertRegex(rule["alert"], r"^[A-Za-z_][A-Za-z0-9_]*$")
                    test.assertRegex(rule["for"], PROM_DURATION)
                    test.assertIn("severity", rule["labels"])
                    test.assertIn("summary", rule["annotations"])
                    for text in rule["annotations"].values():
                        test.assertEqual(text.count("{{"), text.count("}}"), text)


def validate_all(test: unittest.TestCase, rendered: Rendered) -> None:
    test.assertTrue(rendered.objects)
    for obj in rendered.objects:
        test.assertEqual(obj["metadata"].get("namespace"), NAMESPACE, obj["kind"])
        for version in KUBE_VERSIONS:
            with test.subTest(kind=obj["kind"], kubernetes=version):
                if obj["kind"] in CRD_KINDS:
                    check_crd_shape(test, obj, version)
                    continue
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    path = ".".join(str(p) for p in e.path)
                    test.fail(f"{obj['kind']}/{obj['metadata']['name']} on {version}: {path}: {e.message}")


# --- the service's config keys, from src/config/mod.rs ------------------------


def rust_fields() -> dict[str, set[str]]:
    src = (ROOT / "src" / "config" / "mod.rs").read_text()
    out = {}
    for m in re.finditer(r"^pub struct (\w+) \{\n(.*?)^\}", src, re.S | re.M):
        out[m.group(1)] = set(re.findall(r"^    pub (\w+):", m.group(2), re.M))
    return out


FIELDS = rust_fields()


def check_config_keys(test: unittest.TestCase, cfg: dict[str, Any]) -> None:
    """Every key is one the service's (deny_unknown_fields) structs take."""

    def keys(table: dict[str, Any], struct: str, at: str) -> None:
        test.assertIn(struct, FIELDS, f"no struct {struct} in src/config/mod.rs")
        unknown = set(table) - FIELDS[struct]
        test.assertFalse(unknown, f"{at}: keys {unknown} are not fields of {struct}")

    keys(cfg, "ServiceConfig", "top level")
    keys(cfg.get("git", {}), "GitIdentity", "git")
    keys(cfg.get("registry", {}), "RegistrySettings", "registry")
    for host, h in cfg.get("registry", {}).get("hosts", {}).items():
        keys(h, "HostCredentials", f"registry.hosts.{host}")
    for source, h in cfg.get("hooks", {}).items():
        keys(h, "HookSettings", f"hooks.{source}")
    for repo in cfg.get("repos", []):
        keys(repo, "RepoSettings", f"repos.{repo['name']}")
        if "github_app" in repo:
            keys(repo["github_app"], "GitHubApp", f"repos.{repo['name']}.github_app")
    for i, d in enumerate(cfg.get("discover", [])):
        keys(d, "DiscoverSettings", f"discover[{i}]")
        if "github_app" in d:
            keys(d["github_app"], "GitHubApp", f"discover[{i}].github_app")


def file_paths(cfg: Any) -> set[str]:
    """Every path the config reads a secret from."""
    out: set[str] = set()
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            if k.endswith("_file") or k == "docker_config":
                out.add(v)
            elif k.endswith("_files"):
                out.update(v)
            else:
                out |= file_paths(v)
    elif isinstance(cfg, list):
        for v in cfg:
            out |= file_paths(v)
    return out


def check_rendered(test: unittest.TestCase, r: Rendered) -> None:
    """What holds for every good render."""
    validate_all(test, r)
    cfg = r.config()
    check_config_keys(test, cfg)
    # The *_file keys and the mounted Secret items are the same set, but for
    # the chart's own config.json of credential helpers (a ConfigMap key).
    paths = file_paths(cfg)
    if DOCKER_CONFIG in paths:
        mount = next(m for m in r.container["volumeMounts"] if m["mountPath"] == DOCKER_CONFIG)
        test.assertEqual((mount["name"], mount["subPath"]), ("config", "docker-config.json"))
        written = json.loads(r.one("ConfigMap")["data"]["docker-config.json"])
        test.assertTrue(written)
        test.assertLessEqual(set(written), {"credHelpers", "credsStore"})
        paths.discard(DOCKER_CONFIG)
    else:
        test.assertNotIn("docker-config.json", r.one("ConfigMap")["data"])
    test.assertEqual(paths, set(r.secret_items()))
    # Names that env variables set must be config keys too.
    for name in r.env():
        if name.startswith("IMAGEBUMP_HOOKS__"):
            test.assertRegex(name, r"^IMAGEBUMP_HOOKS__[A-Z0-9]+__PATH_TOKEN$")
            test.assertIn("path_token", FIELDS["HookSettings"])
        elif name == "IMAGEBUMP_STORE":
            test.assertIn("store", FIELDS["ServiceConfig"])
    # The config changes roll the pods.
    test.assertEqual(
        r.checksum(),
        hashlib.sha256(r.manifests[f"{RELEASE}/templates/configmap.yaml"].encode()).hexdigest(),
    )
    # No secret material in what the chart writes.
    for text in r.manifests.values():
        test.assertNotIn("postgres://", text)
        test.assertNotIn("BEGIN", text)
    test.assertEqual(r.container["args"], ["serve", "--config", CONFIG_PATH])
    test.assertEqual(r.mount("config")["mountPath"], CONFIG_PATH)


def lint_ok(test: unittest.TestCase, values: dict[str, Any] | None) -> None:
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version="v1.37.0")
    bad = [m for m in report["messages"] if m["severity"] >= 2]
    test.assertEqual(report["errors"], [], report)
    test.assertEqual(bad, [], report)
    test.assertEqual(report["total_charts_linted"], 1)


# --- the tests -------------------------------------------------------------------


class Defaults(unittest.TestCase):
    r = render()

    def test_lint(self):
        lint_ok(self, None)

    def test_valid_objects(self):
        check_rendered(self, self.r)

    def test_objects(self):
        self.assertEqual(
            self.r.kinds(),
            {"ConfigMap", "Deployment", "Service", "ServiceAccount", "PersistentVolumeClaim", "PodDisruptionBudget"},
        )

    def test_one_replica_sqlite_on_a_claim(self):
        d = self.r.one("Deployment")
        self.assertEqual(d["spec"]["replicas"], 1)
        self.assertEqual(d["spec"]["strategy"], {"type": "Recreate"})
        self.assertEqual(self.r.volume("data")["persistentVolumeClaim"]["claimName"], "imagebump")
        self.assertEqual(self.r.mount("data")["mountPath"], "/var/lib/imagebump")
        pvc = self.r.one("PersistentVolumeClaim")
        self.assertEqual(pvc["spec"]["resources"]["requests"]["storage"], "5Gi")
        self.assertEqual(pvc["metadata"]["annotations"]["helm.sh/resource-policy"], "keep")
        self.assertNotIn("IMAGEBUMP_STORE", self.r.env())
        cfg = self.r.config()
        self.assertNotIn("store", cfg)
        self.assertEqual(cfg["data_dir"], "/var/lib/imagebump")

    def test_config(self):
        cfg = self.r.config()
        self.assertEqual(cfg["listen"], "0.0.0.0:8080")
        self.assertEqual(cfg["poll_interval"], "5m")
        self.assertIsInstance(cfg["poll_jitter"], float)
        self.assertEqual(cfg["concurrency"], 4)
        self.assertEqual(cfg["min_run_gap"], "2s")
        self.assertEqual(cfg["registry"], {"insecure": [], "tag_cache_ttl": "1m"})
        self.assertNotIn("repos", cfg)
        self.assertNotIn("hooks", cfg)

    def test_security_context(self):
        pod_sc = self.r.pod["securityContext"]
        self.assertEqual(pod_sc["runAsNonRoot"], True)
        self.assertEqual(pod_sc["runAsUser"], 10001)
        self.assertEqual(pod_sc["fsGroup"], 10001)
        self.assertEqual(pod_sc["seccompProfile"], {"type": "RuntimeDefault"})
        sc = self.r.container["securityContext"]
        self.assertEqual(sc["runAsNonRoot"], True)
        self.assertEqual(sc["runAsUser"], 10001)
        self.assertEqual(sc["readOnlyRootFilesystem"], True)
        self.assertEqual(sc["allowPrivilegeEscalation"], False)
        self.assertEqual(sc["capabilities"], {"drop": ["ALL"]})
        self.assertEqual(sc["seccompProfile"], {"type": "RuntimeDefault"})
        self.assertIs(self.r.pod["automountServiceAccountToken"], False)
        self.assertEqual(self.r.mount("tmp")["mountPath"], "/tmp")
        self.assertIn("emptyDir", self.r.volume("tmp"))

    def test_probes_port_resources(self):
        c = self.r.container
        self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "http"})
        self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "http"})
        self.assertEqual(c["startupProbe"]["httpGet"]["path"], "/healthz")
        self.assertEqual(c["ports"], [{"name": "http", "containerPort": 8080, "protocol": "TCP"}])
        self.assertIn("memory", c["resources"]["limits"])
        self.assertIn("cpu", c["resources"]["requests"])
        svc = self.r.one("Service")
        self.assertEqual(svc["spec"]["ports"][0]["targetPort"], "http")
        self.assertEqual(svc["spec"]["selector"], self.r.one("Deployment")["spec"]["selector"]["matchLabels"])

    def test_image_is_the_app_version(self):
        self.assertEqual(self.r.container["image"], f"ghcr.io/imagebump/imagebump:{_chart.metadata['appVersion']}")
        r = render({"image": {"digest": "sha256:" + "a" * 64}})
        self.assertEqual(r.container["image"], "ghcr.io/imagebump/imagebump@sha256:" + "a" * 64)

    def test_pdb(self):
        pdb = self.r.one("PodDisruptionBudget")
        self.assertEqual(pdb["spec"]["maxUnavailable"], 1)
        self.assertNotIn("minAvailable", pdb["spec"])

    def test_notes(self):
        self.assertIn("port-forward svc/imagebump 8080:8080", self.r.notes)
        self.assertIn("store: sqlite", self.r.notes)


class Sqlite(unittest.TestCase):
    values = values_file("sqlite.yaml")
    r = render(values)

    def test_lint(self):
        lint_ok(self, self.values)

    def test_valid_objects(self):
        check_rendered(self, self.r)

    def test_existing_claim(self):
        self.assertNotIn("PersistentVolumeClaim", self.r.kinds())
        self.assertEqual(self.r.volume("data")["persistentVolumeClaim"]["claimName"], "imagebump-data")
        self.assertEqual(self.r.one("Deployment")["spec"]["replicas"], 1)

    def test_repo_tokens_are_files(self):
        repos = {r["name"]: r for r in self.r.config()["repos"]}
        self.assertEqual(repos["env"]["token_file"], f"{SECRETS_DIR}/repos/env/token")
        self.assertEqual(repos["env"]["forge"], "github")
        self.assertEqual(repos["env"]["branch"], "main")
        self.assertEqual(repos["platform"]["token_file"], f"{SECRETS_DIR}/repos/platform/token")
        self.assertEqual(repos["platform"]["commit"], "api")
        self.assertEqual(repos["platform"]["api_url"], "https://gitlab.acme.example")
        self.assertNotIn("token_file", repos["local"])
        self.assertEqual(repos["local"]["direct"], "branch")
        self.assertEqual(repos["local"]["branch"], "production")
        items = self.r.secret_items()
        self.assertEqual(items[f"{SECRETS_DIR}/repos/env/token"], ("imagebump-tokens", "github"))
        self.assertEqual(items[f"{SECRETS_DIR}/repos/platform/token"], ("imagebump-tokens", "gitlab"))
        secrets = self.r.volume("secrets")["projected"]
        self.assertEqual(secrets["defaultMode"], 0o440)
        self.assertIs(self.r.mount("secrets")["readOnly"], True)
        self.assertNotIn("subPath", self.r.mount("secrets"))

    def test_webhook_secrets(self):
        hooks = self.r.config()["hooks"]
        self.assertEqual(
            hooks["github"]["secret_files"],
            [f"{SECRETS_DIR}/hooks/github/0", f"{SECRETS_DIR}/hooks/github/1"],
        )
        items = self.r.secret_items()
        self.assertEqual(items[f"{SECRETS_DIR}/hooks/github/1"], ("imagebump-webhooks-next", "github"))
        self.assertEqual(hooks["dockerhub"], {})
        self.assertEqual(
            self.r.env()["IMAGEBUMP_HOOKS__DOCKERHUB__PATH_TOKEN"]["valueFrom"],
            {"secretKeyRef": {"name": "imagebump-webhooks", "key": "dockerhub-path"}},
        )
        self.assertEqual(hooks["gar"]["audience"], "https://imagebump.acme.example/hooks/gar")
        self.assertEqual(hooks["gar"]["service_accounts"], ["pubsub-push@acme.iam.gserviceaccount.com"])

    def test_registry_and_signing_key(self):
        cfg = self.r.config()
        reg = cfg["registry"]
        self.assertEqual(reg["docker_config"], f"{SECRETS_DIR}/registry/config.json")
        self.assertEqual(reg["insecure"], ["registry.internal:5000"])
        self.assertEqual(reg["page_size"], 500)
        self.assertEqual(reg["max_rps_per_host"], 20.0)
        self.assertIsInstance(reg["max_rps_per_host"], float)
        self.assertEqual(reg["burst_per_host"], 40)
        self.assertIsInstance(reg["burst_per_host"], int)
        self.assertEqual(
            reg["hosts"]["registry.internal:5000"],
            {"username": "bot", "password_file": f"{SECRETS_DIR}/registry/hosts/registry.internal_5000/password"},
        )
        self.assertEqual(
            reg["hosts"]["harbor.acme.example"],
            {"token_file": f"{SECRETS_DIR}/registry/hosts/harbor.acme.example/token"},
        )
        self.assertEqual(cfg["git"]["signing_key_file"], f"{SECRETS_DIR}/git/signing-key")
        self.assertEqual(self.r.secret_items()[f"{SECRETS_DIR}/git/signing-key"], ("imagebump-signing", "id_ed25519"))
        self.assertEqual(cfg["poll_jitter"], 0.2)
        self.assertEqual(cfg["concurrency"], 2)


class PostgresReplicas(unittest.TestCase):
    values = values_file("postgres-replicas.yaml")
    r = render(values)

    def test_lint(self):
        lint_ok(self, self.values)

    def test_valid_objects(self):
        check_rendered(self, self.r)

    def test_three_replicas_rolling(self):
        d = self.r.one("Deployment")
        self.assertEqual(d["spec"]["replicas"], 3)
        self.assertEqual(d["spec"]["strategy"]["type"], "RollingUpdate")
        self.assertEqual(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0)
        self.assertEqual(self.r.pod["topologySpreadConstraints"][0]["topologyKey"], "kubernetes.io/hostname")

    def test_store_url_from_secret(self):
        self.assertEqual(
            self.r.env()["IMAGEBUMP_STORE"],
            {"name": "IMAGEBUMP_STORE", "valueFrom": {"secretKeyRef": {"name": "imagebump-postgres", "key": "database-url"}}},
        )
        self.assertNotIn("store", self.r.config())

    def test_data_dir_is_per_pod(self):
        self.assertNotIn("PersistentVolumeClaim", self.r.kinds())
        self.assertEqual(self.r.volume("data")["emptyDir"], {"sizeLimit": "5Gi"})

    def test_pdb(self):
        spec = self.r.one("PodDisruptionBudget")["spec"]
        self.assertEqual(spec["minAvailable"], 2)
        self.assertNotIn("maxUnavailable", spec)

    def test_network_policy(self):
        np = self.r.one("NetworkPolicy")["spec"]
        self.assertEqual(np["policyTypes"], ["Ingress", "Egress"])
        self.assertEqual(np["podSelector"]["matchLabels"], self.r.one("Deployment")["spec"]["selector"]["matchLabels"])
        (rule,) = np["ingress"]
        self.assertEqual(rule["ports"], [{"port": "http", "protocol": "TCP"}])
        self.assertEqual(len(rule["from"]), 2)
        ports = [p["port"] for e in np["egress"] for p in e["ports"]]
        self.assertEqual(ports, [53, 53, 443, 5432])

    def test_notes(self):
        self.assertIn("3 replicas, store: postgres from Secret imagebump-postgres", self.r.notes)


class IngressAndMonitoring(unittest.TestCase):
    values = values_file("ingress-monitoring.yaml")
    r = render(values)

    def test_lint(self):
        lint_ok(self, self.values)

    def test_valid_objects(self):
        check_rendered(self, self.r)

    def test_ingress_exposes_only_hooks(self):
        ing = self.r.one("Ingress")["spec"]
        self.assertEqual(ing["ingressClassName"], "nginx")
        self.assertEqual(ing["tls"], [{"secretName": "imagebump-tls", "hosts": ["imagebump.acme.example"]}])
        (rule,) = ing["rules"]
        self.assertEqual(rule["host"], "imagebump.acme.example")
        self.assertEqual(
            rule["http"]["paths"],
            [{"path": "/hooks", "pathType": "Prefix", "backend": {"service": {"name": "imagebump", "port": {"name": "http"}}}}],
        )
        self.assertIn("https://imagebump.acme.example/hooks/github", self.r.notes)
        self.assertIn("https://imagebump.acme.example/hooks/distribution", self.r.notes)

    def test_service_monitor(self):
        sm = self.r.one("ServiceMonitor")
        self.assertEqual(sm["metadata"]["labels"]["release"], "kube-prometheus-stack")
        svc_labels = self.r.one("Service")["metadata"]["labels"]
        for k, v in sm["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(svc_labels[k], v)
        self.assertEqual(sm["spec"]["namespaceSelector"], {"matchNames": [NAMESPACE]})
        self.assertEqual(
            sm["spec"]["endpoints"], [{"port": "http", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}]
        )

    def test_prometheus_rule(self):
        (group,) = self.r.one("PrometheusRule")["spec"]["groups"]
        rules = {r["alert"]: r for r in group["rules"]}
        self.assertEqual(
            set(rules),
            {
                "ImagebumpDeadLetters",
                "ImagebumpDetectToMrSlow",
                "ImagebumpWebhookSignatureFailures",
                "ImagebumpReconcileErrors",
                "ImagebumpDeliveryFailures",
            },
        )
        sel = f'{{namespace="{NAMESPACE}", job="imagebump"}}'
        self.assertEqual(rules["ImagebumpDeadLetters"]["expr"], f"max by (namespace) (imagebump_queue_dead_letters{sel}) > 0")
        self.assertEqual(
            rules["ImagebumpDetectToMrSlow"]["expr"],
            f"histogram_quantile(0.9, sum by (namespace, le) (rate(imagebump_detect_to_mr_seconds_bucket{sel}[30m]))) > 45",
        )
        self.assertEqual(
            rules["ImagebumpWebhookSignatureFailures"]["expr"],
            f"sum by (namespace, source) (rate(imagebump_webhook_signature_failures_total{sel}[10m])) * 60 > 1",
        )
        self.assertIn(f"rate(imagebump_reconcile_errors_total{sel}[30m])", rules["ImagebumpReconcileErrors"]["expr"])
        self.assertIn("by (namespace, repo)", rules["ImagebumpReconcileErrors"]["expr"])
        self.assertIn(f"rate(imagebump_delivery_failures_total{sel}[30m])", rules["ImagebumpDeliveryFailures"]["expr"])
        self.assertIn("{{ $labels.repo }}", rules["ImagebumpReconcileErrors"]["annotations"]["summary"])
        for rule in rules.values():
            self.assertEqual(rule["labels"], {"severity": "warning"})

    def test_metric_names_are_the_services(self):
        """Each alert's metric is one the service (src/) records."""
        src = "\n".join(p.read_text() for p in (ROOT / "src").rglob("*.rs"))
        (group,) = self.r.one("PrometheusRule")["spec"]["groups"]
        for rule in group["rules"]:
            (metric,) = re.findall(r"(imagebump_[a-z_]+?)(?:_bucket)?\{", rule["expr"])
            self.assertIn(f'"{metric}"', src, rule["alert"])

    def test_switches(self):
        self.assertFalse(self.r.kinds() & {"NetworkPolicy"})
        only_sm = render({"metrics": {"serviceMonitor": {"enabled": True}}})
        self.assertIn("ServiceMonitor", only_sm.kinds())
        self.assertNotIn("PrometheusRule", only_sm.kinds())
        only_rule = render({"metrics": {"prometheusRule": {"enabled": True, "alerts": {"deadLetters": {"enabled": False}}}}})
        self.assertNotIn("ServiceMonitor", only_rule.kinds())
        (group,) = only_rule.one("PrometheusRule")["spec"]["groups"]
        self.assertNotIn("ImagebumpDeadLetters", {r["alert"] for r in group["rules"]})
        self.assertEqual(len(group["rules"]), 4)
        for kind in ("Ingress", "ServiceMonitor", "PrometheusRule", "NetworkPolicy"):
            self.assertNotIn(kind, Defaults.r.kinds())


class GitHubApp(unittest.TestCase):
    values = values_file("github-app.yaml")
    r = render(values)

    def test_lint(self):
        lint_ok(self, self.values)

    def test_valid_objects(self):
        check_rendered(self, self.r)

    def test_app_key_is_a_file(self):
        repos = {r["name"]: r for r in self.r.config()["repos"]}
        self.assertEqual(
            repos["env"]["github_app"],
            {"app_id": 123456, "installation_id": 98765432, "private_key_file": f"{SECRETS_DIR}/repos/env/github-app.pem"},
        )
        self.assertEqual(repos["env"]["commit"], "api")
        self.assertNotIn("token_file", repos["env"])
        self.assertEqual(repos["ghe-env"]["api_url"], "https://ghe.acme.example/api/v3")
        self.assertEqual(repos["ghe-env"]["project"], "platform/env")
        self.assertEqual(repos["ghe-env"]["github_app"]["private_key_file"], f"{SECRETS_DIR}/repos/ghe-env/github-app.pem")
        items = self.r.secret_items()
        self.assertEqual(items[f"{SECRETS_DIR}/repos/env/github-app.pem"], ("imagebump-github-app", "private-key.pem"))
        self.assertEqual(items[f"{SECRETS_DIR}/repos/ghe-env/github-app.pem"], ("imagebump-ghe-app", "key.pem"))

    def test_ecr_through_the_images_credential_helper(self):
        cfg = self.r.config()
        self.assertEqual(cfg["registry"]["docker_config"], DOCKER_CONFIG)
        self.assertEqual(
            json.loads(self.r.one("ConfigMap")["data"]["docker-config.json"]),
            {"credHelpers": {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"}},
        )
        self.assertNotIn(f"{SECRETS_DIR}/registry/config.json", self.r.secret_items())
        sa = self.r.one("ServiceAccount")
        self.assertEqual(sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"], "arn:aws:iam::123456789012:role/imagebump-ecr-read")
        # The helper named is the one the image carries (Dockerfile).
        self.assertIn("amazon-ecr-credential-helper", (ROOT / "Dockerfile").read_text())
        store = render({"config": {"registry": {"credsStore": "ecr-login"}}})
        self.assertEqual(json.loads(store.one("ConfigMap")["data"]["docker-config.json"]), {"credsStore": "ecr-login"})
        check_rendered(self, store)

    def test_registry_credentials_from_a_dockerconfigjson_secret(self):
        # The other way: a dockerconfigjson Secret refreshed outside the
        # chart (imagebump reads it when it starts; Reloader restarts it).
        r = render({
            "deploymentAnnotations": {"secret.reloader.stakater.com/reload": "ecr-dockerconfig"},
            "config": {"registry": {"dockerConfig": {"existingSecret": "ecr-dockerconfig", "key": ".dockerconfigjson"}}},
        })
        check_rendered(self, r)
        self.assertEqual(r.config()["registry"]["docker_config"], f"{SECRETS_DIR}/registry/config.json")
        self.assertEqual(r.secret_items()[f"{SECRETS_DIR}/registry/config.json"], ("ecr-dockerconfig", ".dockerconfigjson"))
        d = r.one("Deployment")
        self.assertEqual(d["metadata"]["annotations"], {"secret.reloader.stakater.com/reload": "ecr-dockerconfig"})
        self.assertNotIn("secret.reloader.stakater.com/reload", d["spec"]["template"]["metadata"]["annotations"])

    def test_autodiscovery(self):
        cfg = self.r.config()
        self.assertEqual(cfg["discover_interval"], "30m")
        app, group = cfg["discover"]
        self.assertEqual(
            app,
            {
                "forge": "github",
                "include": ["acme/env-*"],
                "exclude": ["acme/env-sandbox"],
                "commit": "api",
                "github_app": {"app_id": 123456, "installation_id": 98765432, "private_key_file": f"{SECRETS_DIR}/discover/0/github-app.pem"},
            },
        )
        self.assertEqual(
            group,
            {
                "forge": "gitlab",
                "api_url": "https://gitlab.acme.example/api/v4",
                "group": "platform/envs",
                "include": [],
                "exclude": [],
                "token_file": f"{SECRETS_DIR}/discover/1/token",
            },
        )
        items = self.r.secret_items()
        self.assertEqual(items[f"{SECRETS_DIR}/discover/0/github-app.pem"], ("imagebump-github-app", "private-key.pem"))
        self.assertEqual(items[f"{SECRETS_DIR}/discover/1/token"], ("imagebump-tokens", "gitlab"))
        self.assertEqual(Defaults.r.config()["discover_interval"], "1h")
        self.assertNotIn("discover", Defaults.r.config())


class ReadmeExample(unittest.TestCase):
    """The README's install example renders, lints and validates."""

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Install with Helm"):]
    values = helm.values_from_yaml(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    r = render(values)

    def test_lint(self):
        lint_ok(self, self.values)

    def test_valid_objects(self):
        check_rendered(self, self.r)
        cfg = self.r.config()
        self.assertEqual(cfg["discover"][0]["github_app"]["private_key_file"], f"{SECRETS_DIR}/discover/0/github-app.pem")
        self.assertEqual(cfg["registry"]["docker_config"], DOCKER_CONFIG)
        self.assertEqual(self.r.one("Deployment")["spec"]["replicas"], 2)
        self.assertIn("Ingress", self.r.kinds())


class Checksum(unittest.TestCase):
    def test_config_change_rolls_the_pods(self):
        base = Defaults.r.checksum()
        self.assertRegex(base, r"^[0-9a-f]{64}$")
        self.assertNotEqual(render({"config": {"pollInterval": "10m"}}).checksum(), base)
        self.assertNotEqual(
            render({"config": {"repos": [{"name": "env", "url": "file:///srv/env.git", "forge": "direct"}]}}).checksum(),
            base,
        )
        # Not config: same checksum.
        self.assertEqual(render({"resources": {"requests": {"cpu": "1"}}}).checksum(), base)
        self.assertEqual(render({"replicaCount": 0}).checksum(), base)


class Refused(unittest.TestCase):
    """Bad values fail the render (`helm install`/`template`) readably."""

    @classmethod
    def setUpClass(cls):
        # The same chart without values.schema.json, to see the templates'
        # own guards (what `--skip-schema-validation` would reach).
        cls.tmp = tempfile.TemporaryDirectory()
        copy = Path(cls.tmp.name) / "imagebump"
        shutil.copytree(CHART, copy, ignore=shutil.ignore_patterns("tests"))
        (copy / "values.schema.json").unlink()
        cls.no_schema = helm.Chart.load(copy)

    @classmethod
    def tearDownClass(cls):
        cls.no_schema.close()
        cls.tmp.cleanup()

    def refused(self, values, *needles, chart=None, error=helm.HelmError) -> str:
        with self.assertRaises(error) as caught:
            render(values, chart)
        message = str(caught.exception)
        for needle in needles:
            self.assertIn(needle, message)
        return message

    def test_sqlite_with_three_replicas(self):
        values = {"replicaCount": 3, "store": {"type": "sqlite"}}
        self.refused(values, "at '/store/type': value must be 'postgres'", error=helm.HelmValuesError)
        self.refused(
            values,
            'replicaCount is 3 but store.type is "sqlite"',
            "SQLite is one file on one volume: several replicas need a shared Postgres store",
            "store.type=postgres",
            chart=self.no_schema,
            error=helm.HelmRenderError,
        )
        report = helm.lint(CHART, values)
        self.assertTrue(any("value must be 'postgres'" in e for e in report["errors"]), report)

    def test_postgres_without_a_secret(self):
        values = {"store": {"type": "postgres"}}
        self.refused(values, "at '/store/postgres/existingSecret'", error=helm.HelmValuesError)
        self.refused(values, "store.postgres.existingSecret is empty", chart=self.no_schema, error=helm.HelmRenderError)

    def test_inline_postgres_url(self):
        self.refused(
            {"store": {"type": "postgres", "postgres": {"existingSecret": "pg", "url": "postgres://u:p@db/x"}}},
            "at '/store/postgres': additional properties 'url' not allowed",
            error=helm.HelmValuesError,
        )

    def test_schema_violations(self):
        cases = [
            ({"replicaCount": "two"}, "at '/replicaCount'"),
            ({"config": {"pollInterval": "5 minutes"}}, "at '/config/pollInterval'"),
            ({"config": {"pollJitter": 0.9}}, "at '/config/pollJitter'"),
            ({"config": {"hooks": {"githib": {}}}}, "githib"),
            ({"config": {"repos": [{"name": "my env", "url": "x", "forge": "direct"}]}}, "at '/config/repos/0/name'"),
            ({"config": {"repos": [{"name": "env", "url": "x", "forge": "bitbucket"}]}}, "at '/config/repos/0/forge'"),
            ({"config": {"repos": [{"name": "env", "url": "x", "forge": "gitlab"}]}}, "missing property 'token'"),
            ({"config": {"repos": [{"name": "env", "url": "x", "forge": "github", "token": {"existingSecret": "t"}}]}}, "missing property 'key'"),
            ({"config": {"repos": [{"name": "env", "url": "x", "forge": "github", "token": "ghp_inline"}]}}, "at '/config/repos/0/token'"),
            ({"ingress": {"enabled": True, "path": "/"}}, "additional properties 'path' not allowed"),
            ({"metrics": {"serviceMonitor": {"enabled": "yes"}}}, "at '/metrics/serviceMonitor/enabled'"),
            ({"podDisruptionBudget": {"maxUnavailable": True}}, "at '/podDisruptionBudget/maxUnavailable'"),
            ({"config": {"discover": [{"forge": "direct"}]}}, "at '/config/discover/0/forge'"),
            ({"config": {"discover": [{"forge": "gitlab", "token": {"existingSecret": "t", "key": "k"}}]}}, "missing property 'group'"),
            ({"config": {"discover": [{"forge": "github", "owner": "acme"}]}}, "at '/config/discover/0'"),
            ({"config": {"discoverInterval": "daily"}}, "at '/config/discoverInterval'"),
            ({"config": {"registry": {"credHelpers": {"ecr.example": "ecr login"}}}}, "at '/config/registry/credHelpers"),
            ({"config": {"registry": {"burstPerHost": 0}}}, "at '/config/registry/burstPerHost'"),
        ]
        for values, needle in cases:
            with self.subTest(values=values):
                message = self.refused(values, needle, error=helm.HelmValuesError)
                self.assertIn("values don't meet the specifications of the schema", message)

    def test_template_guards(self):
        dup = {"config": {"repos": [
            {"name": "env", "url": "file:///a.git", "forge": "direct"},
            {"name": "env", "url": "file:///b.git", "forge": "direct"},
        ]}}
        self.refused(dup, 'config.repos has two repositories named "env"', error=helm.HelmRenderError)
        self.refused(
            {"config": {"repos": [{"name": "env", "url": "x", "forge": "github"}]}},
            'config.repos "env" (forge github) needs token or githubApp',
            chart=self.no_schema,
            error=helm.HelmRenderError,
        )
        self.refused(
            {"config": {"registry": {
                "credHelpers": {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"},
                "dockerConfig": {"existingSecret": "regcred", "key": ".dockerconfigjson"},
            }}},
            "config.registry.credHelpers/credsStore and config.registry.dockerConfig.existingSecret are both set",
            'put "credHelpers" into the config.json of Secret regcred',
            error=helm.HelmRenderError,
        )
        self.refused(
            {"config": {"discover": [{"forge": "github", "owner": "acme"}]}},
            "config.discover[0] (forge github) needs githubApp (the installation's repositories) or token and owner",
            chart=self.no_schema,
            error=helm.HelmRenderError,
        )
        self.refused(
            {"config": {"discover": [{"forge": "gitlab", "token": {"existingSecret": "t", "key": "k"}}]}},
            "config.discover[0] (forge gitlab) needs group",
            chart=self.no_schema,
            error=helm.HelmRenderError,
        )


class Versions(unittest.TestCase):
    def test_app_version_is_the_crate_version(self):
        cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
        self.assertEqual(_chart.metadata["appVersion"], cargo["package"]["version"])

    def test_chart_metadata(self):
        meta = _chart.metadata
        self.assertEqual(meta["apiVersion"], "v2")
        self.assertEqual(meta["name"], "imagebump")
        self.assertRegex(meta["version"], r"^\d+\.\d+\.\d+$")

    def test_tools(self):
        print(
            f"\nhelm-python-sdk {helm.__version__} (Helm {helm.helm_sdk_version()}), "
            f"kubernetes-validate {kubernetes_validate.__version__}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    unittest.main(verbosity=2)
