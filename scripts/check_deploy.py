"""Checks the deployment files as a user's tools would take them.

- Dockerfile: hadolint (pinned), no warnings.
- deploy/k8s: every manifest valid against the Kubernetes 1.37 schemas (kubernetes-validate,
  strict: unknown fields are errors); the checker is first shown a broken manifest, which
  it must refuse; kustomization.yaml lists every manifest of the folder and nothing else;
  images are the Dockerfile's targets; every Secret key the workloads read exists.
- deploy/grafana/aethex-dashboard.json: a Grafana dashboard whose every query names only
  metrics that our servers export (found in their source), every panel with a query.

Origin's loading of the ConfigMap's aethex.toml is a Rust test (origin/tests).
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.environ.get("AETHEX_PY_DIR", os.path.expanduser("~/.cache/aethex-tools/py"))
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL {msg}")


def ok(msg):
    print(f"ok   {msg}")


def run(cmd):
    env = dict(os.environ, PYTHONPATH=TOOLS)
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


# Dockerfile
r = run([os.path.join(TOOLS, "bin", "hadolint"), "--config", os.path.join(ROOT, ".hadolint.yaml"), os.path.join(ROOT, "Dockerfile")])
if r.returncode == 0:
    ok("hadolint Dockerfile")
else:
    fail("hadolint Dockerfile:\n" + r.stdout + r.stderr)
targets = set(re.findall(r"^FROM \S+ AS (\S+)$", open(os.path.join(ROOT, "Dockerfile")).read(), re.M))
for t in ["origin", "relay", "edge"]:
    if t not in targets:
        fail(f"Dockerfile has no target {t}")

# Kubernetes manifests
k8s = os.path.join(ROOT, "deploy", "k8s")
validate = [os.path.join(TOOLS, "bin", "kubernetes-validate"), "--strict", "--quiet", "-k", "1.37.0"]
with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as bad:
    bad.write("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: two\n  selector: {}\n  template: {}\n")
if run(validate + [bad.name]).returncode == 0:
    fail("kubernetes-validate accepted a broken Deployment: the check cannot fail")
else:
    ok("kubernetes-validate refuses a broken Deployment")
os.unlink(bad.name)
manifests = sorted(f for f in os.listdir(k8s) if f.endswith(".yaml") and f != "kustomization.yaml")
r = run(validate + [os.path.join(k8s, f) for f in manifests])
if r.returncode == 0:
    ok(f"kubernetes-validate --strict: {len(manifests)} manifests")
else:
    fail("kubernetes-validate:\n" + r.stdout + r.stderr)
kust = yaml.safe_load(open(os.path.join(k8s, "kustomization.yaml")))
if sorted(kust.get("resources", [])) != manifests:
    fail(f"kustomization.yaml resources {sorted(kust.get('resources', []))} != manifests {manifests}")
else:
    ok("kustomization.yaml lists every manifest")
docs = [d for f in manifests for d in yaml.safe_load_all(open(os.path.join(k8s, f))) if d]
secret_keys = {k for d in docs if d["kind"] == "Secret" for k in d.get("stringData", {})}
kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
for need in [("Deployment", "aethex-origin"), ("Service", "aethex-origin"), ("StatefulSet", "aethex-libsql"), ("ConfigMap", "aethex-config"),
             ("Secret", "aethex-secrets"), ("Secret", "aethex-origin-keys"), ("HorizontalPodAutoscaler", "aethex-edge"),
             ("HorizontalPodAutoscaler", "aethex-origin"), ("Deployment", "aethex-redis"), ("Service", "aethex-redis")]:
    if need not in kinds:
        fail(f"no {need[0]} {need[1]}")
# Origin runs as a cluster: several replicas, each with Redis and an address the others call.
origin = next((d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "aethex-origin"), None)
if origin:
    if origin["spec"].get("replicas", 1) < 2:
        fail("origin runs fewer than two replicas")
    names = {e["name"] for c in origin["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}
    for need in ["AETHEX_CLUSTER__REDIS_URL", "AETHEX_CLUSTER__ADVERTISE_URL"]:
        if need not in names:
            fail(f"origin does not set {need}")
    for v in origin["spec"]["template"]["spec"].get("volumes", []):
        if "persistentVolumeClaim" in v:
            fail("origin replicas share a ReadWriteOnce volume")
        secret = v.get("secret", {}).get("secretName")
        if secret and ("Secret", secret) not in kinds:
            fail(f"origin mounts Secret {secret}, which is not in the manifests")
hpa = next((d for d in docs if d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == "aethex-origin"), None)
if hpa and hpa["spec"].get("minReplicas", 1) < 2:
    fail("origin's autoscaler may go below two replicas")
relays = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet") and d["metadata"]["name"].startswith("aethex-relay-")]
if len(relays) < 2:
    fail("fewer than two relay regions")
for d in relays:
    name = d["metadata"]["name"]
    if d["spec"].get("replicas", 1) < 2:
        fail(f"{name} runs fewer than two relays in its region")
    env = {e["name"] for c in d["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}
    for need in ["AETHEX_RELAY__REGION_URL", "AETHEX_RELAY__REDIS_URL", "AETHEX_RELAY__PUBLIC_URL"]:
        if need not in env:
            fail(f"{name} does not set {need}")
    # Each pod is reachable on its own (match rooms live on one pod).
    for i in range(d["spec"].get("replicas", 1)):
        if ("Service", f"{name}-{i}") not in kinds:
            fail(f"{name}: pod {i} has no Service of its own")
for d in docs:
    if d["kind"] not in ("Deployment", "StatefulSet"):
        continue
    for c in d["spec"]["template"]["spec"]["containers"]:
        img = c["image"]
        m = re.match(r"ghcr\.io/aethex/aethex-(\w+):", img)
        if m and m.group(1) not in targets:
            fail(f"{d['metadata']['name']}: image {img} is no Dockerfile target")
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref and ref["key"] not in secret_keys:
                fail(f"{d['metadata']['name']}: secret key {ref['key']} is not in the Secret")
ok("workloads use the Dockerfile's images and the Secret's keys")

# Grafana dashboard
dash = json.load(open(os.path.join(ROOT, "deploy", "grafana", "aethex-dashboard.json")))
source = ""
for base in ["origin/src", "edge/native/src", "edge/core/src", "relay-regions/src"]:
    for dirpath, _, files in os.walk(os.path.join(ROOT, base)):
        for f in files:
            if f.endswith(".rs"):
                source += open(os.path.join(dirpath, f)).read()
# Metric names as the servers write them: in a metrics macro, or in the text a relay or
# an edge renders itself.
exported = set(re.findall(r"\b(aethex_[a-z_]+)\b", source))
queries = 0
before = len(failures)
for p in dash["panels"]:
    if p["type"] == "row":
        continue
    if not p.get("targets"):
        fail(f"panel {p['title']!r} has no query")
    for t in p.get("targets", []):
        queries += 1
        for name in re.findall(r"\b(aethex_[a-z_]+)\b", t["expr"]):
            if name not in exported:
                fail(f"panel {p['title']!r} uses {name}, which no server exports")
    gp = p["gridPos"]
    if gp["x"] + gp["w"] > 24:
        fail(f"panel {p['title']!r} is wider than the grid")
if len(failures) == before:
    ok(f"dashboard: {len(dash['panels'])} panels, {queries} queries, every metric exported")

if failures:
    print(f"\n{len(failures)} deployment check(s) failed")
    sys.exit(1)
print("\ndeployment files: all checks passed")
