"""Generates benchmark fixtures for scripts/bench.

registry STORAGE M T: adds M repositories `bench/img-<i>` with T tags each to
a Distribution filesystem storage that already holds `bench/base:0.0.0`,
every tag pointing at that image's manifest (links only; blobs are shared).
repo DIR REGISTRY M T N: writes an environment repository with N Deployment
manifests that reference the M images at their oldest tag.
"""
import os
import sys


def tag(i):
    return f"1.{i // 100}.{i % 100}"


def registry(storage, m, t):
    repos = os.path.join(storage, "docker/registry/v2/repositories")
    base = os.path.join(repos, "bench/base")
    with open(os.path.join(base, "_manifests/tags/0.0.0/current/link")) as f:
        digest = f.read().strip()
    hexd = digest.split(":", 1)[1]
    layers = os.listdir(os.path.join(base, "_layers/sha256"))
    for i in range(m):
        r = os.path.join(repos, f"bench/img-{i}")
        rev = os.path.join(r, "_manifests/revisions/sha256", hexd)
        os.makedirs(rev)
        with open(os.path.join(rev, "link"), "w") as f:
            f.write(digest)
        for layer in layers:
            d = os.path.join(r, "_layers/sha256", layer)
            os.makedirs(d)
            with open(os.path.join(d, "link"), "w") as f:
                f.write("sha256:" + layer)
        for j in range(t):
            d = os.path.join(r, "_manifests/tags", tag(j), "current")
            os.makedirs(d)
            with open(os.path.join(d, "link"), "w") as f:
                f.write(digest)


def repo(root, registry_host, m, t, n):
    os.makedirs(os.path.join(root, "apps"))
    with open(os.path.join(root, ".imagebump.yaml"), "w") as f:
        f.write("policies:\n")
        for i in range(m):
            f.write(f"  - name: img-{i}\n    image: {registry_host}/bench/img-{i}\n    semver: '^1.0'\n")
    for k in range(n):
        i = k % m
        d = os.path.join(root, "apps", f"app-{k // 100}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"app-{k}.yaml"), "w") as f:
            f.write(
                "apiVersion: apps/v1\nkind: Deployment\n"
                f"metadata:\n  name: app-{k}\n  labels: {{app: app-{k}}}\n"
                "spec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n"
                f"        - name: main\n          image: \"{registry_host}/bench/img-{i}:{tag(0)}\"  # owned by img-{i}\n"
                "          ports: [{containerPort: 8080}]\n"
                "        - name: sidecar\n          image: docker.io/library/busybox:1.36\n"
            )


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "registry":
        registry(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        repo(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
