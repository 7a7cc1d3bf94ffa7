#!/usr/bin/env python3
"""The checks of scripts/check-kubernetes on the rendered overlays of deploy/kubernetes.

    k8scheck.py check K8S_VERSION [--bin DEARME] [--haproxy CMD --redis-server CMD] NAME=RENDERED.yaml ...
    k8scheck.py sync        rewrite the copies of the compose stack's files (see COPIES)

`check` prints one PASS/FAIL line per check (with the problems under a FAIL) and a last line
`check-kubernetes: N passed, M failed`; exits 1 when one failed, 2 when it cannot run. It needs
kubernetes-validate (the venv scripts/check-kubernetes makes) and, through compose_env.py, a
docker compose v2 ($COMPOSE).

One source: the compose stack's files are the originals. What kustomize reads must lie inside
deploy/kubernetes, so the files it turns into ConfigMaps or PrometheusRules are copies, and a copy
that differs from its original fails the check (`sync` rewrites them). What the operators take as
fields rather than files (PgBouncer and PostgreSQL settings) is compared key by key with the
compose stack's values, every key either compared or listed here as the operator's own.
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compose_env  # noqa: E402

REPO = compose_env.REPO
K8S = os.path.join(REPO, "deploy", "kubernetes")
BASE = os.path.join(K8S, "base")

# copy (under deploy/kubernetes/base) -> original (the compose stack's file)
COPIES = {"redis/redis.conf": "deploy/redis/redis.conf"}
DASHBOARDS = ("monitoring/dashboards", "monitoring/grafana/dashboards")
RULES = {  # PrometheusRule file -> (rules file, object name)
    "monitoring/prometheusrule-alerts.yaml": ("monitoring/rules/alerts.yml", "dearme-alerts"),
    "monitoring/prometheusrule-recording.yaml": ("monitoring/rules/recording.yml", "dearme-recording"),
}

CORE = {"Namespace", "ServiceAccount", "ConfigMap", "Service", "Deployment", "StatefulSet", "Job",
        "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress", "NetworkPolicy"}
CUSTOM = {"Cluster": "postgresql.cnpg.io/v1", "Pooler": "postgresql.cnpg.io/v1",
          "ScaledObject": "keda.sh/v1alpha1", "TriggerAuthentication": "keda.sh/v1alpha1",
          "ServiceMonitor": "monitoring.coreos.com/v1", "PodMonitor": "monitoring.coreos.com/v1",
          "PrometheusRule": "monitoring.coreos.com/v1"}
WORKLOADS = ("Deployment", "StatefulSet", "Job")

# pgbouncer.ini.template keys a CloudNativePG Pooler does not take as parameters, and why.
PGBOUNCER_MANAGED = {
    "listen_addr": "the operator's (all addresses)",
    "listen_port": "the operator's (5432, the Pooler's Service port)",
    "unix_socket_dir": "the operator's",
    "logfile": "the operator's (stderr)",
    "pidfile": "the operator's",
    "auth_file": "the operator's (auth_query through its own TLS user)",
    "stats_users": "the operator's exporter reads the stats (port 9127, PodMonitor)",
    "ignore_startup_parameters": "the operator always sets extra_float_digits,options (checked: "
                                 "the template's list is no more)",
}
# docker-compose.prod.yml's `postgres -c` settings CloudNativePG sets itself, and why.
POSTGRES_MANAGED = {
    "wal_level": "fixed by the operator (logical, a superset of replica)",
    "hot_standby": "fixed by the operator (on)",
    "max_wal_senders": "the operator's default, above compose's 10",
    "max_replication_slots": "the operator's default (32), above compose's 10",
    "log_line_prefix": "the operator logs JSON with its own fields",
    "archive_mode": "fixed by the operator (WAL archiving is its backup configuration)",
    "archive_command": "fixed by the operator (its own WAL archiver; compose's is pgBackRest's)",
    "archive_timeout": "fixed by the operator",
}
APP_COMMANDS = ("serve", "worker", "migrate", "dev-llm")
# Defined only to build the URLs ($(VAR) expansion needs them in the container's environment).
HELPER_ENV = {"DEARME_DB_PASSWORD", "REDIS_PASSWORD"}
SQLX_POOL_DEFAULT = 10  # connections of the worker's direct pool (sqlx PgPool::connect's default)
DIRECT_RESERVE = 10     # exporters, migrations, KEDA's query, the operator's own


def read(rel):
    with open(os.path.join(REPO, rel), encoding="utf-8") as f:
        return f.read()


# ---------------------------------------------------------------------------------------------
# The copies

def prometheusrule_text(rules_rel, name):
    body = read(rules_rel)
    indented = "".join(("  " + line) if line.strip() else "\n" for line in body.splitlines(True))
    return (f"# GENERATED from {rules_rel} by `scripts/check-kubernetes --sync`: edit that file, then\n"
            "# sync (scripts/check-kubernetes fails while this copy differs). The rules as the\n"
            "# Prometheus Operator takes them: the file's `groups` under `spec`.\n"
            "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n"
            f"  name: {name}\nspec:\n{indented}")


def expected_copies():
    """{path under base: expected content} for every copy."""
    out = {copy: read(orig) for copy, orig in COPIES.items()}
    copy_dir, orig_dir = DASHBOARDS
    for name in sorted(os.listdir(os.path.join(REPO, orig_dir))):
        if name.endswith(".json"):
            out[f"{copy_dir}/{name}"] = read(f"{orig_dir}/{name}")
    for copy, (orig, name) in RULES.items():
        out[copy] = prometheusrule_text(orig, name)
    return out


def sync():
    expected = expected_copies()
    for rel, text in expected.items():
        path = os.path.join(BASE, rel)
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old != text:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote deploy/kubernetes/base/{rel}")
    copy_dir = os.path.join(BASE, DASHBOARDS[0])
    for name in sorted(os.listdir(copy_dir)):
        if f"{DASHBOARDS[0]}/{name}" not in expected:
            os.remove(os.path.join(copy_dir, name))
            print(f"removed deploy/kubernetes/base/{DASHBOARDS[0]}/{name} (its original is gone)")
    # The dashboards' ConfigMap lists every copy (kustomize takes no wildcard): rewrite that list.
    path = os.path.join(BASE, "kustomization.yaml")
    lines = open(path, encoding="utf-8").read().splitlines(True)
    item = re.compile(r"^(\s*- )" + re.escape(DASHBOARDS[0]) + r"/[^/]+\.json\n$")
    at = [i for i, line in enumerate(lines) if item.match(line)]
    if at:
        indent = item.match(lines[at[0]]).group(1)
        listed = [f"{indent}{rel}\n" for rel in sorted(expected) if rel.startswith(DASHBOARDS[0] + "/")]
        new = lines[:at[0]] + listed + [line for i, line in enumerate(lines[at[0]:], at[0]) if i not in at]
        if new != lines:
            with open(path, "w", encoding="utf-8") as f:
                f.write("".join(new))
            print("rewrote the dashboards' list in deploy/kubernetes/base/kustomization.yaml")
    return 0


def original_of(rel):
    if rel in COPIES:
        return COPIES[rel]
    if rel in RULES:
        return RULES[rel][0]
    return f"{DASHBOARDS[1]}/{os.path.basename(rel)}"


def check_copies():
    problems = []
    expected = expected_copies()
    for rel, text in expected.items():
        path = os.path.join(BASE, rel)
        if not os.path.exists(path):
            problems.append(f"deploy/kubernetes/base/{rel} is missing (scripts/check-kubernetes --sync)")
        elif open(path, encoding="utf-8").read() != text:
            problems.append(f"deploy/kubernetes/base/{rel} differs from {original_of(rel)}: edit the "
                            "original, then scripts/check-kubernetes --sync")
    copy_dir = os.path.join(BASE, DASHBOARDS[0])
    for name in sorted(os.listdir(copy_dir)):
        if f"{DASHBOARDS[0]}/{name}" not in expected:
            problems.append(f"deploy/kubernetes/base/{DASHBOARDS[0]}/{name} has no original in {DASHBOARDS[1]}")
    kustomization = yaml.safe_load(open(os.path.join(BASE, "kustomization.yaml")))
    generated = {f for g in kustomization.get("configMapGenerator", []) for f in g.get("files", [])}
    for rel in expected:
        if rel.startswith(DASHBOARDS[0]) and rel not in generated:
            problems.append(f"base/kustomization.yaml does not put {rel} in a ConfigMap")
        if rel in RULES and rel not in kustomization.get("resources", []):
            problems.append(f"base/kustomization.yaml does not list {rel}")
    for rel, (orig, _) in RULES.items():
        path = os.path.join(BASE, rel)
        if os.path.exists(path):
            spec = (yaml.safe_load(open(path)) or {}).get("spec") or {}
            if spec.get("groups") != yaml.safe_load(read(orig)).get("groups"):
                problems.append(f"deploy/kubernetes/base/{rel}: spec.groups differ from {orig}'s groups")
    return problems, f"{len(expected)} copies identical to their originals"


# ---------------------------------------------------------------------------------------------
# The rendered objects

class Render:
    def __init__(self, name, path):
        self.name = name
        with open(path, encoding="utf-8") as f:
            self.docs = [d for d in yaml.safe_load_all(f) if d]
        self.namespace = next((d["metadata"]["name"] for d in self.docs if d["kind"] == "Namespace"), None)

    def of(self, kind):
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind, name):
        return next((d for d in self.docs if d["kind"] == kind and d["metadata"]["name"] == name), None)

    def pods(self):
        """(owner, pod labels, pod spec) of every pod this overlay makes, the operators' included."""
        for d in self.docs:
            if d["kind"] in WORKLOADS:
                tmpl = d["spec"]["template"]
                yield d, tmpl.get("metadata", {}).get("labels", {}), tmpl["spec"]
            elif d["kind"] == "Cluster":
                yield d, {"cnpg.io/cluster": d["metadata"]["name"]}, {}
            elif d["kind"] == "Pooler":
                labels = dict(((d["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {})
                labels["cnpg.io/poolerName"] = d["metadata"]["name"]
                yield d, labels, {}

    def containers(self):
        for owner, _, spec in self.pods():
            for c in spec.get("initContainers", []) + spec.get("containers", []):
                yield owner, spec, c


def matches(selector, labels):
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def app_command(container):
    cmd = container.get("command") or []
    if len(cmd) >= 2 and cmd[0] == "dearme" and cmd[1] in APP_COMMANDS:
        return cmd[1]
    return None


def env_of(render, container, secret_value=None):
    """The container's environment as the kubelet builds it: envFrom ConfigMaps, then `env` with
    $(VAR) expansion. A secret's value is secret_value(name, key), or a placeholder; an optional
    secret key is left unset."""
    env, sources = {}, {}
    for src in container.get("envFrom") or []:
        ref = src.get("configMapRef")
        cm = ref and render.get("ConfigMap", ref["name"])
        for k, v in ((cm or {}).get("data") or {}).items():
            env[k], sources[k] = v, f"configmap {ref['name']}"
    for e in container.get("env") or []:
        name = e["name"]
        if "value" in e:
            env[name] = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                               lambda m: env.get(m.group(1), m.group(0)), str(e["value"]))
            sources[name] = "value"
        elif "secretKeyRef" in (e.get("valueFrom") or {}):
            ref = e["valueFrom"]["secretKeyRef"]
            sources[name] = f"secret {ref['name']}/{ref['key']}"
            if ref.get("optional"):
                env.pop(name, None)
                continue
            env[name] = (secret_value or placeholder)(ref["name"], ref["key"])
        elif "configMapKeyRef" in (e.get("valueFrom") or {}):
            ref = e["valueFrom"]["configMapKeyRef"]
            env[name] = ((render.get("ConfigMap", ref["name"]) or {}).get("data") or {}).get(ref["key"], "")
            sources[name] = f"configmap {ref['name']}/{ref['key']}"
        else:
            env[name], sources[name] = "field", "field"
    return env, sources


def placeholder(name, key):
    # URL-safe and long enough for JWT_SECRET; URL-looking for the LLM endpoint.
    if key == "base-url":
        return "https://llm.example.com/v1"
    return f"placeholder-{name}-{key}-0123456789abcdef0123456789abcdef".replace(".", "-")


def app_containers(render):
    out = {}
    for owner, spec, c in render.containers():
        cmd = app_command(c)
        if cmd:
            out.setdefault(cmd, []).append((owner, spec, c))
    return out


def seconds(ms):
    return int(ms) / 1000


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


# ---------------------------------------------------------------------------------------------
# Schema (kubernetes-validate) and the custom resources' own fields

def check_schema(render, version):
    import kubernetes_validate
    problems, validated, custom = [], 0, 0
    for d in render.docs:
        kind, name = d.get("kind"), d.get("metadata", {}).get("name")
        if kind in CUSTOM:
            custom += 1
            continue
        if kind == "Secret":
            problems.append(f"Secret {name} is rendered: secrets are referenced by name, never committed")
            continue
        if kind not in CORE:
            problems.append(f"{kind} {name}: a kind this check does not know (add it to CORE or CUSTOM)")
            continue
        try:
            kubernetes_validate.validate(d, version, strict=True)
            validated += 1
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            problems.append(f"{kind} {name}: {path}: {e.message}")
        except Exception as e:  # a schema that is missing for this version
            problems.append(f"{kind} {name}: {getattr(e, 'message', e)}")
    return problems, f"{validated} core objects valid (strict) against Kubernetes {version}; {custom} custom resources checked below"


def need(problems, obj, path, kind=None, where=None):
    """The value at dotted `path` of obj, recording a problem when it is missing or of the wrong type."""
    value = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None or value == "" or (kind is not None and not isinstance(value, kind)):
        problems.append(f"{where}: {path} is required" + (f" ({kind.__name__})" if kind else ""))
        return None
    return value


def check_custom(render):
    problems, counts = [], {}
    for d in render.docs:
        kind = d["kind"]
        if kind not in CUSTOM:
            continue
        counts[kind] = counts.get(kind, 0) + 1
        where = f"{kind} {d['metadata'].get('name')}"
        if d.get("apiVersion") != CUSTOM[kind]:
            problems.append(f"{where}: apiVersion {d.get('apiVersion')}, expected {CUSTOM[kind]}")
        spec = need(problems, d, "spec", dict, where) or {}
        CUSTOM_CHECKS[kind](problems, spec, where, render)
    for kind in CUSTOM:
        if kind not in counts:
            problems.append(f"no {kind} rendered")
    return problems, ", ".join(f"{counts[k]} {k}" for k in sorted(counts))


def custom_cluster(problems, spec, where, render):
    instances = need(problems, spec, "instances", int, where)
    if instances is not None and instances < 1:
        problems.append(f"{where}: instances must be at least 1")
    if not (spec.get("storage") or {}).get("size") and not (spec.get("storage") or {}).get("pvcTemplate"):
        problems.append(f"{where}: storage.size (or storage.pvcTemplate) is required")
    need(problems, spec, "imageName", str, where)
    for field in ("database", "owner", "secret.name"):
        need(problems, spec, f"bootstrap.initdb.{field}", str, where)
    for k, v in ((spec.get("postgresql") or {}).get("parameters") or {}).items():
        if not isinstance(v, str):
            problems.append(f"{where}: postgresql.parameters.{k} must be a string")
    for role in (spec.get("managed") or {}).get("roles") or []:
        need(problems, role, "name", str, f"{where} managed role")
        if role.get("login"):
            need(problems, role, "passwordSecret.name", str, f"{where} managed role {role.get('name')}")


def custom_pooler(problems, spec, where, render):
    cluster = need(problems, spec, "cluster.name", str, where)
    if cluster and not render.get("Cluster", cluster):
        problems.append(f"{where}: cluster {cluster} is not rendered")
    if spec.get("type", "rw") not in ("rw", "ro", "r"):
        problems.append(f"{where}: type must be rw, ro or r")
    if not isinstance(spec.get("instances", 1), int) or spec.get("instances", 1) < 1:
        problems.append(f"{where}: instances must be a whole number of at least 1")
    if need(problems, spec, "pgbouncer.poolMode", str, where) not in (None, "session", "transaction"):
        problems.append(f"{where}: pgbouncer.poolMode must be session or transaction")
    for k, v in ((spec.get("pgbouncer") or {}).get("parameters") or {}).items():
        if not isinstance(v, str):
            problems.append(f"{where}: pgbouncer.parameters.{k} must be a string")
    template = spec.get("template")
    if template is not None and not isinstance((template.get("spec") or {}).get("containers"), list):
        problems.append(f"{where}: template.spec.containers is required (an empty list at least)")
    if render.get("Cluster", where.split()[1]):
        problems.append(f"{where}: a Pooler must not share its name with a Cluster")


def custom_scaled_object(problems, spec, where, render):
    target = need(problems, spec, "scaleTargetRef.name", str, where)
    if target and not render.get(spec["scaleTargetRef"].get("kind", "Deployment"), target):
        problems.append(f"{where}: scaleTargetRef {target} is not rendered")
    lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi and hi >= 1):
        problems.append(f"{where}: need 0 <= minReplicaCount <= maxReplicaCount")
    triggers = need(problems, spec, "triggers", list, where) or []
    for i, t in enumerate(triggers):
        tw = f"{where} trigger {i}"
        need(problems, t, "type", str, tw)
        meta = need(problems, t, "metadata", dict, tw) or {}
        for k, v in meta.items():
            if not isinstance(v, str):
                problems.append(f"{tw}: metadata.{k} must be a string (KEDA's metadata is a string map)")
        auth = (t.get("authenticationRef") or {}).get("name")
        if auth and not render.get("TriggerAuthentication", auth):
            problems.append(f"{tw}: authenticationRef {auth} is not rendered")
        if t.get("type") == "postgresql":
            for k in ("query", "targetQueryValue"):
                need(problems, meta, k, str, tw)
            if "connectionFromEnv" not in meta:
                for k in ("host", "port", "dbName", "userName", "sslmode"):
                    need(problems, meta, k, str, tw)
                if "passwordFromEnv" not in meta and not auth:
                    problems.append(f"{tw}: no password (passwordFromEnv or a TriggerAuthentication)")


def custom_trigger_auth(problems, spec, where, render):
    refs = spec.get("secretTargetRef")
    if not refs and not any(k in spec for k in ("env", "hashiCorpVault", "podIdentity", "azureKeyVault",
                                                 "configMapTargetRef", "awsSecretManager")):
        problems.append(f"{where}: no source (secretTargetRef, env, ...)")
    for r in refs or []:
        for k in ("parameter", "name", "key"):
            need(problems, r, k, str, f"{where} secretTargetRef")


def relabelings(problems, rules, where):
    for r in rules or []:
        if r.get("action", "replace").lower() not in ("replace", "keep", "drop", "labeldrop", "labelkeep",
                                                       "labelmap", "hashmod", "lowercase", "uppercase",
                                                       "keepequal", "dropequal"):
            problems.append(f"{where}: relabel action {r.get('action')} is unknown")
        try:
            re.compile(r.get("regex", "(.*)"))
        except re.error as e:
            problems.append(f"{where}: relabel regex {r.get('regex')!r}: {e}")


def custom_service_monitor(problems, spec, where, render):
    selector = need(problems, spec, "selector", dict, where)
    endpoints = need(problems, spec, "endpoints", list, where) or []
    services = [s for s in render.of("Service") if selector and matches(selector, s["metadata"].get("labels", {}))]
    if selector and not services:
        problems.append(f"{where}: its selector matches no Service")
    for e in endpoints:
        port = e.get("port")
        if not port:
            problems.append(f"{where}: every endpoint needs a port name")
        for s in services:
            if port not in [p.get("name") for p in s["spec"].get("ports", [])]:
                problems.append(f"{where}: Service {s['metadata']['name']} has no port named {port}")
        relabelings(problems, e.get("relabelings"), where)
        relabelings(problems, e.get("metricRelabelings"), where)
    for label in spec.get("targetLabels") or []:
        if not any(label in s["metadata"].get("labels", {}) for s in services):
            problems.append(f"{where}: targetLabel {label} is on none of its Services")


def custom_pod_monitor(problems, spec, where, render):
    selector = need(problems, spec, "selector", dict, where)
    endpoints = need(problems, spec, "podMetricsEndpoints", list, where) or []
    if selector and not any(matches(selector, labels) for _, labels, _ in render.pods()):
        problems.append(f"{where}: its selector matches no pod of this overlay")
    for e in endpoints:
        if not e.get("port"):
            problems.append(f"{where}: every podMetricsEndpoint needs a port name")
        relabelings(problems, e.get("relabelings"), where)
        relabelings(problems, e.get("metricRelabelings"), where)


def custom_prometheus_rule(problems, spec, where, render):
    groups = need(problems, spec, "groups", list, where) or []
    names = [g.get("name") for g in groups]
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        problems.append(f"{where}: every group needs a unique name")
    for g in groups:
        for r in g.get("rules") or []:
            rw = f"{where} group {g.get('name')}"
            if ("alert" in r) == ("record" in r):
                problems.append(f"{rw}: a rule is either an alert or a record")
            if not isinstance(r.get("expr"), str) or not r["expr"].strip():
                problems.append(f"{rw}: rule {r.get('alert') or r.get('record')} has no expr")
            for field in ("labels", "annotations"):
                if any(not isinstance(v, str) for v in (r.get(field) or {}).values()):
                    problems.append(f"{rw}: {field} of {r.get('alert') or r.get('record')} must be strings")


CUSTOM_CHECKS = {"Cluster": custom_cluster, "Pooler": custom_pooler, "ScaledObject": custom_scaled_object,
                 "TriggerAuthentication": custom_trigger_auth, "ServiceMonitor": custom_service_monitor,
                 "PodMonitor": custom_pod_monitor, "PrometheusRule": custom_prometheus_rule}


# ---------------------------------------------------------------------------------------------
# References between objects, secrets, network policies

def check_references(render):
    problems = []
    pods = list(render.pods())
    for owner, _, spec in pods:
        where = f"{owner['kind']} {owner['metadata']['name']}"
        sa = spec.get("serviceAccountName")
        if sa and not render.get("ServiceAccount", sa):
            problems.append(f"{where}: ServiceAccount {sa} is not rendered")
        for v in spec.get("volumes", []):
            if "configMap" in v and not render.get("ConfigMap", v["configMap"]["name"]):
                problems.append(f"{where}: ConfigMap {v['configMap']['name']} is not rendered")
        for c in spec.get("containers", []):
            for src in c.get("envFrom") or []:
                ref = (src.get("configMapRef") or {}).get("name")
                if ref and not render.get("ConfigMap", ref):
                    problems.append(f"{where}: ConfigMap {ref} is not rendered")
    for kind in ("Service", "PodDisruptionBudget"):
        for d in render.of(kind):
            sel = d["spec"].get("selector")
            sel = sel if kind == "PodDisruptionBudget" else {"matchLabels": sel}
            if not any(matches(sel, labels) for _, labels, _ in pods):
                problems.append(f"{kind} {d['metadata']['name']}: its selector matches no pod")
    for ing in render.of("Ingress"):
        for rule in ing["spec"].get("rules", []):
            for p in rule["http"]["paths"]:
                svc = p["backend"]["service"]
                s = render.get("Service", svc["name"])
                if not s:
                    problems.append(f"Ingress {ing['metadata']['name']}: Service {svc['name']} is not rendered")
                elif svc["port"].get("name") not in [x.get("name") for x in s["spec"]["ports"]]:
                    problems.append(f"Ingress {ing['metadata']['name']}: Service {svc['name']} has no port {svc['port']}")
    for hpa in render.of("HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        if not render.get(ref["kind"], ref["name"]):
            problems.append(f"HorizontalPodAutoscaler {hpa['metadata']['name']}: {ref['kind']} {ref['name']} is not rendered")
    for cm in render.of("ConfigMap"):
        size = sum(len(v.encode()) for v in (cm.get("data") or {}).values())
        if size > 1024 * 1024 - 4096:
            problems.append(f"ConfigMap {cm['metadata']['name']}: {size} bytes, over the API's 1 MiB object limit")
    scaled = {so["spec"]["scaleTargetRef"]["name"] for so in render.of("ScaledObject")}
    scaled |= {h["spec"]["scaleTargetRef"]["name"] for h in render.of("HorizontalPodAutoscaler")}
    for d in render.of("Deployment"):
        if d["metadata"]["name"] in scaled and "replicas" in d["spec"]:
            problems.append(f"Deployment {d['metadata']['name']}: sets replicas, which its autoscaler owns")
    return problems, f"{len(render.docs)} objects; every name, selector and port they refer to is rendered"


def secret_refs(render):
    """{(secret, key)} this overlay references, whoever reads it."""
    refs = set()
    for _, _, c in render.containers():
        for e in c.get("env") or []:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                refs.add((ref["name"], ref["key"]))
    for ta in render.of("TriggerAuthentication"):
        for r in ta["spec"].get("secretTargetRef") or []:
            refs.add((r["name"], r["key"]))
    for cl in render.of("Cluster"):
        spec = cl["spec"]
        names = [((spec.get("bootstrap") or {}).get("initdb") or {}).get("secret", {}).get("name")]
        names += [(r.get("passwordSecret") or {}).get("name") for r in (spec.get("managed") or {}).get("roles") or []]
        for n in filter(None, names):  # basic-auth Secrets
            refs |= {(n, "username"), (n, "password")}
    for ing in render.of("Ingress"):
        for tls in ing["spec"].get("tls") or []:
            refs |= {(tls["secretName"], "tls.crt"), (tls["secretName"], "tls.key")}
    return refs


def documented_secrets(overlay):
    documented = set()
    for line in read("deploy/kubernetes/secrets.example").splitlines():
        if line.strip() and not line.startswith("#"):
            secret, key, overlays = line.split()[:3]
            if overlay in overlays.split(","):
                documented.add((secret, key))
    return documented


def check_secrets(render):
    refs, documented = secret_refs(render), documented_secrets(render.name)
    problems = [f"{s}/{k} is referenced but not listed in deploy/kubernetes/secrets.example"
                for s, k in sorted(refs - documented)]
    problems += [f"{s}/{k} is listed for {render.name} in secrets.example but nothing references it"
                 for s, k in sorted(documented - refs)]
    return problems, f"{len(refs)} secret keys referenced by name, all listed in secrets.example"


def check_network(render):
    problems, pods = [], list(render.pods())
    policies = render.of("NetworkPolicy")
    if not any(p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
               and not p["spec"].get("ingress") and not p["spec"].get("egress") for p in policies):
        problems.append("no default-deny policy (empty podSelector, Ingress and Egress, no rule)")
    for p in policies:
        where = f"NetworkPolicy {p['metadata']['name']}"
        if p["spec"]["podSelector"] and not any(matches(p["spec"]["podSelector"], l) for _, l, _ in pods):
            problems.append(f"{where}: its podSelector matches no pod")
        for rule in (p["spec"].get("ingress") or []) + (p["spec"].get("egress") or []):
            for peer in rule.get("from", []) + rule.get("to", []):
                if "podSelector" in peer and "namespaceSelector" not in peer and \
                        not any(matches(peer["podSelector"], l) for _, l, _ in pods):
                    problems.append(f"{where}: a peer podSelector matches no pod: {peer['podSelector']}")
    for owner, labels, _ in pods:
        if not any(p["spec"]["podSelector"] and matches(p["spec"]["podSelector"], labels) for p in policies):
            problems.append(f"{owner['kind']} {owner['metadata']['name']}: no policy allows it anything")
    return problems, f"{len(policies)} policies: default deny, and every pod has its allows"


# ---------------------------------------------------------------------------------------------
# The app's environment against compose's, and `dearme check-config` on it

class Compose:
    """What the compose stack says, rendered by compose's own loader (compose_env.py)."""

    def __init__(self):
        self.services = compose_env.rendered_services()
        with open(os.path.join(REPO, "docker-compose.monitoring.yml")) as f:
            self.monitoring = yaml.safe_load(f)["services"]

    def env_names(self, command):
        names = None
        for svc in self.services.values():
            cmd = svc.get("command") or []
            if len(cmd) >= 2 and cmd[0] == "dearme" and cmd[1] == command:
                names = set(compose_env.container_env(svc))
        return names


def check_env(render, compose):
    problems, seen = [], []
    apps = app_containers(render)
    for command in ("serve", "worker", "migrate"):
        if len(apps.get(command, [])) != 1:
            problems.append(f"{len(apps.get(command, []))} containers run `dearme {command}` (expected 1)")
    for command, found in sorted(apps.items()):
        wanted = compose.env_names(command)
        if wanted is None:
            problems.append(f"no compose service runs `dearme {command}`")
            continue
        for owner, _, c in found:
            where = f"{owner['kind']} {owner['metadata']['name']}"
            env, _ = env_of(render, c)
            names = set(env) | {e["name"] for e in c.get("env") or []}
            for name in sorted(wanted - names):
                problems.append(f"{where}: {name} is not set (compose gives it to `dearme {command}`)")
            for name in sorted(names - wanted - HELPER_ENV):
                problems.append(f"{where}: {name} is set but compose does not give it to `dearme {command}`")
            seen.append(f"{command} {len(names & wanted)}")
    problems += check_wiring(render, apps)
    return problems, "variables as compose's: " + ", ".join(seen)


def url_host(value):
    parts = urlsplit(value)
    return parts.hostname, parts.port, parts.path.lstrip("/"), parts.username


def check_wiring(render, apps):
    """The connection URLs point where they must, and the LLM is the overlay's."""
    problems = []
    for command in ("serve", "worker", "migrate"):
        for owner, _, c in apps.get(command, []):
            where = f"{owner['kind']} {owner['metadata']['name']}"
            env, sources = env_of(render, c)
            poolers = {p["spec"].get("type", "rw"): p["metadata"]["name"] for p in render.of("Pooler")}
            clusters = [cl["metadata"]["name"] for cl in render.of("Cluster")]
            expect = {"DATABASE_URL": poolers.get("rw"), "DATABASE_READ_URL": poolers.get("ro"),
                      "DATABASE_DIRECT_URL": clusters and f"{clusters[0]}-rw"}
            for name, host in expect.items():
                got = url_host(env.get(name, ""))
                if got[0] != host or got[1] != 5432:
                    problems.append(f"{where}: {name} reaches {got[0]}:{got[1]}, expected {host}:5432")
            redis = url_host(env.get("REDIS_URL", ""))
            svc = render.get("Service", redis[0] or "")
            if not svc or redis[1] not in [p["port"] for p in svc["spec"]["ports"]]:
                problems.append(f"{where}: REDIS_URL's {redis[0]}:{redis[1]} is no rendered Service port")
            provider = env.get("LLM_PROVIDER")
            if render.name == "production" and provider != "openai-compatible":
                problems.append(f"{where}: LLM_PROVIDER is {provider!r} in production")
            if provider == "dev":
                dev = url_host(env.get("LLM_DEV_URL", ""))
                if not render.get("Service", dev[0] or ""):
                    problems.append(f"{where}: LLM_PROVIDER=dev but LLM_DEV_URL's host {dev[0]} is no rendered Service")
            elif provider == "openai-compatible":
                for name in ("LLM_BASE_URL", "LLM_API_KEY", "LLM_MODEL"):
                    if not sources.get(name, "").startswith("secret "):
                        problems.append(f"{where}: {name} must come from a Secret (is {sources.get(name)})")
    return problems


def check_config(render, binary):
    if not binary or not os.access(binary, os.X_OK):
        return None, f"skipped: no dearme binary at {binary} (cargo build --bin dearme)"
    problems, ran = [], 0
    for command, found in sorted(app_containers(render).items()):
        if command == "dev-llm":
            continue
        for owner, _, c in found:
            env, _ = env_of(render, c)
            env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
            out = subprocess.run([binary, "check-config"], env=env, capture_output=True, text=True, timeout=60)
            ran += 1
            if out.returncode != 0:
                problems.append(f"{owner['kind']} {owner['metadata']['name']}: check-config exited {out.returncode}")
                problems += ["  " + line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    return problems, f"`dearme check-config` accepts the environment of {ran} containers (secrets as placeholders)"


# ---------------------------------------------------------------------------------------------
# Probes, shutdown, the Ingress's proxy settings, container security

def nginx_template():
    text = read("nginx/nginx.conf.template")
    stream = re.search(r"location ~ (\^/api/v1/chats/\S+) \{(.*?)\n\s*\}", text, re.S)
    server = text[:stream.start()]
    return {
        "read_timeout": int(re.findall(r"^\s*proxy_read_timeout (\d+)s;", server, re.M)[-1]),
        "body": re.search(r"client_max_body_size (\S+);", text).group(1),
        "stream_regex": stream.group(1),
        "stream_read_timeout": int(re.search(r"proxy_read_timeout (\d+)s;", stream.group(2)).group(1)),
        "stream_buffering": re.search(r"proxy_buffering (\w+);", stream.group(2)).group(1),
    }


def health_routes():
    return set(re.findall(r'\.route\("(/health[^"]*)"', read("backend/src/api/health.rs")))


def wait_margin():
    m = re.search(r"WAIT_MARGIN: Duration = Duration::from_secs\((\d+)\)", read("backend/src/platform/http/timeout.rs"))
    return int(m.group(1))


def probe_path(c, probe):
    return ((c.get(probe) or {}).get("httpGet") or {}).get("path")


def probe_port(c, probe):
    port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
    return next((p["containerPort"] for p in c.get("ports", []) if p.get("name") == port), port)


def check_lifecycle(render):
    problems, info = [], []
    routes, margin = health_routes(), wait_margin()
    for command, found in app_containers(render).items():
        for owner, spec, c in found:
            where = f"{owner['kind']} {owner['metadata']['name']}"
            env, _ = env_of(render, c)
            grace = spec.get("terminationGracePeriodSeconds", 30)
            if command == "serve":
                for probe, path in (("startupProbe", "/health/ready"), ("readinessProbe", "/health/live"),
                                    ("livenessProbe", "/health/live")):
                    if probe_path(c, probe) != path or path not in routes:
                        problems.append(f"{where}: {probe} on {probe_path(c, probe)}, expected {path} "
                                        f"(routes of health.rs: {', '.join(sorted(routes))})")
                    if probe_port(c, probe) != port_of(env["LISTEN_ADDR"]):
                        problems.append(f"{where}: {probe} port is not LISTEN_ADDR's")
                stop = ((c.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get("command", [])
                sleep = int(stop[1]) if len(stop) == 2 and stop[0] == "sleep" else 0
                if sleep < 5:
                    problems.append(f"{where}: preStop must sleep (>= 5 s) while the ingress drops the pod")
                need_s = sleep + seconds(env["JOB_WAIT_TIMEOUT_MS"]) + margin
                if grace < need_s:
                    problems.append(f"{where}: terminationGracePeriodSeconds {grace} < preStop {sleep} + "
                                    f"JOB_WAIT_TIMEOUT_MS {seconds(env['JOB_WAIT_TIMEOUT_MS']):g} + {margin}")
                info.append(f"api grace {grace}s >= {need_s:g}s")
            elif command == "worker":
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe_path(c, probe) != "/health/live" or probe_port(c, probe) != port_of(env["METRICS_ADDR"]):
                        problems.append(f"{where}: {probe} must be /health/live on METRICS_ADDR's port")
                shutdown, job = seconds(env["WORKER_SHUTDOWN_TIMEOUT_MS"]), seconds(env["JOB_TIMEOUT_MS"])
                if shutdown < job:
                    problems.append(f"{where}: WORKER_SHUTDOWN_TIMEOUT_MS ({shutdown:g} s) < JOB_TIMEOUT_MS ({job:g} s): "
                                    "a running job would be cut on scale-in")
                if grace <= shutdown:
                    problems.append(f"{where}: terminationGracePeriodSeconds {grace} <= WORKER_SHUTDOWN_TIMEOUT_MS {shutdown:g} s")
                info.append(f"worker grace {grace}s > shutdown {shutdown:g}s >= job {job:g}s")
    problems += check_ingress(render)
    return problems, "; ".join(info)


def check_ingress(render):
    problems, nginx = [], nginx_template()
    stream = [i for i in render.of("Ingress")
              if any(p["path"] == nginx["stream_regex"].lstrip("^") for r in i["spec"]["rules"] for p in r["http"]["paths"])]
    if len(stream) != 1:
        problems.append(f"no single Ingress routes nginx.conf.template's stream regex {nginx['stream_regex']}")
    for ing in render.of("Ingress"):
        where, a = f"Ingress {ing['metadata']['name']}", ing["metadata"].get("annotations") or {}
        get = lambda k: a.get(f"nginx.ingress.kubernetes.io/{k}")  # noqa: E731
        if ing["spec"].get("ingressClassName") != "nginx":
            problems.append(f"{where}: ingressClassName must be nginx")
        if get("proxy-body-size") != nginx["body"]:
            problems.append(f"{where}: proxy-body-size {get('proxy-body-size')}, nginx's is {nginx['body']}")
        if ing in stream:
            if get("proxy-buffering") != nginx["stream_buffering"] or get("use-regex") != "true":
                problems.append(f"{where}: the stream routes need proxy-buffering off and use-regex")
            for k in ("proxy-read-timeout", "proxy-send-timeout"):
                if int(get(k) or 60) < nginx["stream_read_timeout"]:
                    problems.append(f"{where}: {k} {get(k)} < nginx's {nginx['stream_read_timeout']} s on streams")
        elif int(get("proxy-read-timeout") or 60) < nginx["read_timeout"]:
            problems.append(f"{where}: proxy-read-timeout {get('proxy-read-timeout')} < nginx's {nginx['read_timeout']} s "
                            "(`dearme check-config` bounds JOB_WAIT_TIMEOUT_MS by it)")
    return problems


def check_security(render):
    problems, count = [], 0
    for owner, spec, c in render.containers():
        where = f"{owner['kind']} {owner['metadata']['name']} container {c['name']}"
        count += 1
        pod_sc, sc = spec.get("securityContext") or {}, c.get("securityContext") or {}
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(res.get(part) or {}):
                problems.append(f"{where}: resources.{part} needs cpu and memory")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            problems.append(f"{where}: runAsNonRoot is not set")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{where}: capabilities are not dropped")
        if ":" not in c.get("image", "") or c["image"].endswith(":latest"):
            problems.append(f"{where}: image {c.get('image')} has no pinned tag")
    return problems, f"{count} containers: non-root, read-only root, no privilege escalation, requests and limits"


# ---------------------------------------------------------------------------------------------
# The worker's scaler, the release and its migration Job, the database's connection budget

def queue_names():
    text = read("backend/src/jobs/queue.rs")
    return re.findall(r'pub const (?:INTERACTIVE|BACKGROUND)_QUEUE: &str = "([^"]+)";', text)


def check_keda(render):
    problems = []
    apps = app_containers(render)
    worker = apps.get("worker", [(None, None, None)])[0]
    if not worker[0]:
        return ["no worker"], ""
    env, sources = env_of(render, worker[2])
    so = next((s for s in render.of("ScaledObject") if s["spec"]["scaleTargetRef"]["name"] == worker[0]["metadata"]["name"]), None)
    if not so:
        return [f"no ScaledObject scales Deployment {worker[0]['metadata']['name']}"], ""
    trig = next((t for t in so["spec"]["triggers"] if t["type"] == "postgresql"), None)
    if not trig:
        return ["the worker's ScaledObject has no postgresql trigger"], ""
    meta, query = trig["metadata"], " ".join(trig["metadata"].get("query", "").split())
    for part in ["apalis.jobs", "'Pending'", "'Queued'"] + [f"'{q}'" for q in queue_names()]:
        if part not in query:
            problems.append(f"the scaler's query does not name {part} (backend/src/jobs/queue.rs)")
    host, _, db, user = url_host(env["DATABASE_DIRECT_URL"])
    want = f"{host}.{render.namespace}.svc.cluster.local"
    if meta.get("host") != want:
        problems.append(f"the scaler's host is {meta.get('host')}, expected {want} (the primary, seen from KEDA's namespace)")
    if (meta.get("dbName"), meta.get("userName"), meta.get("port")) != (db, user, "5432"):
        problems.append("the scaler's dbName/userName/port differ from DATABASE_DIRECT_URL's")
    target = float(meta.get("targetQueryValue", 0))
    cap = min(int(env["LLM_MAX_CONCURRENCY"]), int(env["WORKER_CONCURRENCY"]))
    if not 0 < target <= cap:
        problems.append(f"targetQueryValue {target:g} must be in (0, {cap}] (LLM_MAX_CONCURRENCY, WORKER_CONCURRENCY)")
    auth = render.get("TriggerAuthentication", (trig.get("authenticationRef") or {}).get("name", ""))
    refs = {(r["parameter"], f"secret {r['name']}/{r['key']}") for r in (auth or {}).get("spec", {}).get("secretTargetRef", [])}
    if ("password", sources.get("DEARME_DB_PASSWORD")) not in refs:
        problems.append("the TriggerAuthentication's password is not the app's (DEARME_DB_PASSWORD's secret)")
    return problems, (f"{so['spec'].get('minReplicaCount')}-{so['spec'].get('maxReplicaCount')} workers, "
                      f"one per {target:g} queued or running jobs, on {meta.get('host')}")


def image_tag(image):
    name, _, tag = image.rpartition(":")
    return tag if "/" not in tag else ""


def check_release(render):
    problems = []
    release_cm = render.get("ConfigMap", "dearme-release")
    release = ((release_cm or {}).get("data") or {}).get("release", "")
    if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", release) or release == "unset":
        problems.append(f"release {release!r} is not set to a valid tag (lower case, digits, . and -)")
    jobs = [j for j in render.of("Job") if app_command(j["spec"]["template"]["spec"]["containers"][0]) == "migrate"]
    if len(jobs) != 1:
        return problems + [f"{len(jobs)} migration Jobs (expected 1)"], ""
    job = jobs[0]
    if job["metadata"]["name"] != f"dearme-migrate-{release}":
        problems.append(f"Job {job['metadata']['name']} is not named after the release (dearme-migrate-{release})")
    if job["spec"]["template"]["spec"].get("restartPolicy") not in ("Never", "OnFailure"):
        problems.append("the migration Job's restartPolicy must be Never or OnFailure")
    for _, _, c in render.containers():
        if app_command(c) and image_tag(c["image"]) != release:
            problems.append(f"container {c['name']} runs {c['image']}, not the release {release}")
    step = [job, release_cm] + [cm for cm in render.of("ConfigMap") if cm["metadata"]["name"].startswith("dearme-config")]
    for d in step:
        if (d or {}).get("metadata", {}).get("labels", {}).get("dearme.io/step") != "migrate":
            problems.append(f"{(d or {}).get('kind')} {(d or {}).get('metadata', {}).get('name')}: no label "
                            "dearme.io/step=migrate (the first step of a release applies these alone)")
    return problems, f"release {release}: Job {job['metadata']['name']}, every dearme image tagged {release}"


def autoscale_max(render, deployment):
    for h in render.of("HorizontalPodAutoscaler"):
        if h["spec"]["scaleTargetRef"]["name"] == deployment:
            return h["spec"]["maxReplicas"]
    for s in render.of("ScaledObject"):
        if s["spec"]["scaleTargetRef"]["name"] == deployment:
            return s["spec"].get("maxReplicaCount", 100)
    return (render.get("Deployment", deployment) or {}).get("spec", {}).get("replicas", 1)


def check_sizing(render):
    problems = []
    cluster = render.of("Cluster")[0]
    max_conn = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    apps = app_containers(render)
    env, _ = env_of(render, apps["worker"][0][2])
    workers = autoscale_max(render, apps["worker"][0][0]["metadata"]["name"])
    apis = autoscale_max(render, apps["serve"][0][0]["metadata"]["name"])
    used = {}
    for p in render.of("Pooler"):
        params = p["spec"]["pgbouncer"]["parameters"]
        n = p["spec"].get("instances", 1)
        used.setdefault(p["spec"].get("type", "rw"), []).append((n * int(params["max_db_connections"]),
                                                                n * int(params["max_client_conn"])))
    rw_server = sum(s for s, _ in used.get("rw", []))
    direct = workers * SQLX_POOL_DEFAULT + DIRECT_RESERVE
    if rw_server + direct > max_conn:
        problems.append(f"the primary may get {rw_server} (rw PgBouncers) + {direct} (direct: {workers} workers x "
                        f"{SQLX_POOL_DEFAULT} + {DIRECT_RESERVE}) connections > max_connections {max_conn}")
    clients = (apis + workers) * int(env["DB_POOL_SIZE"])
    for kind, sizes in used.items():
        if clients > sum(c for _, c in sizes):
            problems.append(f"{clients} client connections ((api {apis} + worker {workers}) x DB_POOL_SIZE) > "
                            f"the {kind} PgBouncers' max_client_conn")
    return problems, (f"primary: {rw_server} pooled + {direct} direct <= {max_conn}; "
                      f"up to {apis} api + {workers} worker pods")


# ---------------------------------------------------------------------------------------------
# Drift: the operators' fields against the compose stack's files and values

def pgbouncer_template():
    section, out = None, {}
    for line in read("pgbouncer/pgbouncer.ini.template").splitlines():
        line = line.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "pgbouncer":
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def check_pgbouncer(render, compose):
    problems, compared = [], set()
    template = pgbouncer_template()
    for svc, ptype in (("pgbouncer-rw", "rw"), ("pgbouncer-ro", "ro")):
        env = compose_env.container_env(compose.services[svc])
        values = {k: re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), "<unset " + m.group(1) + ">"), v)
                  for k, v in template.items()}
        poolers = [p for p in render.of("Pooler") if p["spec"].get("type", "rw") == ptype]
        if len(poolers) != 1:
            problems.append(f"{len(poolers)} Poolers of type {ptype} (compose has {svc})")
            continue
        spec = poolers[0]["spec"]["pgbouncer"]
        params, where = dict(spec.get("parameters") or {}), f"Pooler {poolers[0]['metadata']['name']}"
        for key, value in values.items():
            if key in PGBOUNCER_MANAGED:
                continue
            if key == "pool_mode":
                got = spec.get("poolMode")
            else:
                got = params.pop(key, None)
            compared.add(key)
            if got != value:
                problems.append(f"{where}: {key} is {got!r}, {svc} has {value!r} (pgbouncer.ini.template)")
        for key in sorted(params):
            problems.append(f"{where}: parameter {key} is not in pgbouncer/pgbouncer.ini.template")
        ignored = set(values.get("ignore_startup_parameters", "").split(","))
        if not ignored <= {"extra_float_digits", "options"}:
            problems.append(f"ignore_startup_parameters {ignored} is more than the operator sets")
    return problems, (f"{len(compared)} settings as compose's PgBouncers; the operator's own: "
                      + ", ".join(sorted(PGBOUNCER_MANAGED)))


def check_postgres(render, compose):
    problems = []
    primary = compose.services["postgres-primary"]
    cmd = primary["command"]
    settings = dict(cmd[i + 1].split("=", 1) for i in range(len(cmd) - 1) if cmd[i] == "-c")
    cluster = render.of("Cluster")[0]
    params = dict(cluster["spec"]["postgresql"]["parameters"])
    for key, value in settings.items():
        if key in POSTGRES_MANAGED:
            if key in params:
                problems.append(f"Cluster: {key} is the operator's ({POSTGRES_MANAGED[key]})")
            continue
        got = params.pop(key, None)
        if got != value:
            problems.append(f"Cluster: {key} is {got!r}, docker-compose.prod.yml has {value!r}")
    for key in sorted(params):
        problems.append(f"Cluster: {key} is not among docker-compose.prod.yml's postgres settings")
    major, source = postgres_major(primary)
    if not major:
        problems.append(f"cannot tell compose's PostgreSQL major version from {source}")
    elif not image_tag(cluster["spec"]["imageName"]).startswith(major + "."):
        problems.append(f"Cluster image {cluster['spec']['imageName']} is not PostgreSQL {major} (compose: {source})")
    managed = sorted(k for k in settings if k in POSTGRES_MANAGED)
    return problems, (f"PostgreSQL {major}, {len(settings) - len(managed)} settings as compose's; "
                      "the operator's own: " + ", ".join(managed))


def postgres_major(service):
    """The PostgreSQL major version compose runs: its image's tag, or the FROM of the Dockerfile it
    builds."""
    build = service.get("build") or {}
    if build.get("dockerfile"):
        path = os.path.join(build.get("context", REPO), build["dockerfile"])
        with open(path, encoding="utf-8") as f:
            m = re.search(r"^FROM\s+(?:docker\.io/)?(?:library/)?postgres:(\d+)", f.read(), re.M)
        return (m.group(1) if m else None), os.path.relpath(path, REPO)
    m = re.match(r"(?:docker\.io/)?(?:library/)?postgres:(\d+)", service.get("image", ""))
    return (m.group(1) if m else None), service.get("image")


def check_images(render, compose):
    problems = []
    want = {"redis": compose.services["redis"]["image"],
            "postgres-exporter": compose.monitoring["postgres-exporter-primary"]["image"],
            "redis_exporter": compose.monitoring["redis-exporter"]["image"]}
    seen = 0
    for owner, _, c in render.containers():
        for marker, image in want.items():
            if c["image"].split(":")[0].endswith(marker) and c["image"] != image:
                problems.append(f"{owner['kind']} {owner['metadata']['name']}: {c['image']}, compose runs {image}")
            seen += c["image"] == image
    return problems, f"{seen} containers on the compose stack's images ({', '.join(sorted(want.values()))})"


# ---------------------------------------------------------------------------------------------
# The Redis proxy's configuration, run for real: HAProxy in front of two local redis-servers

def redis_call(port, password, *command):
    """One command over a fresh connection (AUTH first); its reply, decoded."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        f = s.makefile("rb")
        for cmd in (("AUTH", password), command):
            s.sendall(f"*{len(cmd)}\r\n".encode() + b"".join(
                f"${len(str(a).encode())}\r\n{a}\r\n".encode() for a in cmd))
        replies = [resp_read(f) for _ in range(2)]
    return replies[1]


def resp_read(f):
    line = f.readline().decode().rstrip("\r\n")
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[0], line[1:]
    if kind in "+-:":
        return rest if kind != "-" else RuntimeError(rest)
    if kind == "$":
        return None if rest == "-1" else f.read(int(rest) + 2)[:-2].decode()
    if kind == "*":
        return [resp_read(f) for _ in range(int(rest))]
    raise ValueError(line)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proxied_port(port, password):
    try:
        reply = redis_call(port, password, "CONFIG", "GET", "port")
        return int(reply[1]) if isinstance(reply, list) else None
    except (OSError, ValueError, IndexError):
        return None


def proxied_set(port, password):
    """A write through the proxy succeeds (a connection cut by the proxy's failover is a no)."""
    try:
        return redis_call(port, password, "SET", "k", "v") == "OK"
    except (OSError, ValueError):
        return False


def wait_for(predicate, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def check_redis_proxy(haproxy, redis_server):
    if not haproxy or not redis_server:
        return None, "skipped: no haproxy or redis-server (--no-proxy, or none could be had)"
    cfg = read("deploy/kubernetes/base/redis/haproxy.cfg")
    env = dict(os.environ, REDIS_PASSWORD="check-proxy", NAMESPACE="dearme", CLUSTER_DOMAIN="cluster.local")
    out = subprocess.run([*haproxy, "-c", "-f", os.path.join(BASE, "redis/haproxy.cfg")], env=env,
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return [f"haproxy -c rejects haproxy.cfg: {line}" for line in (out.stdout + out.stderr).splitlines()
                if "ALERT" in line] or ["haproxy -c rejects haproxy.cfg"], ""
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return run_failover(cfg, haproxy, redis_server, env, tmp, procs)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()


def run_failover(cfg, haproxy, redis_server, env, tmp, procs):
    pw, a, b, front = env["REDIS_PASSWORD"], free_port(), free_port(), free_port()
    for port, extra in ((a, []), (b, ["--replicaof", "127.0.0.1", str(a)])):
        procs.append(subprocess.Popen([redis_server, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", pw,
                                       "--masterauth", pw, "--dir", tmp, "--dbfilename", f"{port}.rdb", "--save", "",
                                       "--appendonly", "no", *extra], stdout=subprocess.DEVNULL))
    # The deployed configuration with the members on loopback: the checks and routing are the same.
    cfg = cfg.replace("bind :6379", f"bind 127.0.0.1:{front}").replace(" resolvers cluster", "")
    cfg = re.sub(r'server node-0 "[^"]+"', f"server node-0 127.0.0.1:{a}", cfg)
    cfg = re.sub(r'server node-1 "[^"]+"', f"server node-1 127.0.0.1:{b}", cfg)
    cfg = re.sub(r'\n\s*server node-2 "[^"]+"', "", cfg)
    with open(os.path.join(tmp, "haproxy.cfg"), "w") as f:
        f.write(cfg)
    procs.append(subprocess.Popen([*haproxy, "-db", "-f", os.path.join(tmp, "haproxy.cfg")], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    if not wait_for(lambda: proxied_port(front, pw) == a, 15):
        return ["the proxy never reached the master"], ""
    start = time.monotonic()
    redis_call(b, pw, "REPLICAOF", "NO", "ONE")
    redis_call(a, pw, "REPLICAOF", "127.0.0.1", str(b))
    if not wait_for(lambda: proxied_port(front, pw) == b and proxied_set(front, pw), 15):
        return ["after a failover the proxy still does not reach the new master"], ""
    took = time.monotonic() - start
    if not all(proxied_port(front, pw) == b for _ in range(10)):
        return ["after the failover the proxy still sends some connections to the old master"], ""
    return [], (f"haproxy -c accepts haproxy.cfg; through it, a role change between two local redis-servers "
                f"is followed in {took:.1f} s")


def check_shell():
    shellcheck = subprocess.run(["sh", "-c", "command -v shellcheck"], capture_output=True, text=True).stdout.strip()
    if not shellcheck:
        return None, "skipped: no shellcheck (apt-get install shellcheck)"
    scripts = [os.path.join(BASE, "redis", n) for n in sorted(os.listdir(os.path.join(BASE, "redis"))) if n.endswith(".sh")]
    out = subprocess.run([shellcheck, "-s", "sh", *scripts], capture_output=True, text=True)
    out2 = subprocess.run([shellcheck, os.path.join(REPO, "scripts", "check-kubernetes")], capture_output=True, text=True)
    lines = [line for line in (out.stdout + out2.stdout).splitlines() if line.strip()]
    return (lines if out.returncode or out2.returncode else []), \
        f"shellcheck: {', '.join(os.path.basename(p) for p in scripts)}, scripts/check-kubernetes"


# ---------------------------------------------------------------------------------------------

class Report:
    def __init__(self):
        self.passed, self.failed = 0, []

    def run(self, name, fn, *args):
        try:
            problems, info = fn(*args)
        except Exception as e:  # a check that breaks is a failed check, with its reason
            problems, info = [f"{type(e).__name__}: {e}"], ""
        if problems is None:
            print(f"SKIP  {name}: {info}")
            return
        if problems:
            self.failed.append(name)
            print(f"FAIL  {name}")
            for p in problems[:25]:
                print(f"      {p}")
            if len(problems) > 25:
                print(f"      ... and {len(problems) - 25} more")
        else:
            self.passed += 1
            print(f"PASS  {name}" + (f": {info}" if info else ""))


def check(argv):
    version, binary, haproxy, redis_server, renders = argv[0], None, None, None, []
    rest = argv[1:]
    while rest:
        arg = rest.pop(0)
        if arg == "--bin":
            binary = rest.pop(0)
        elif arg == "--haproxy":
            haproxy = rest.pop(0).split()
        elif arg == "--redis-server":
            redis_server = rest.pop(0)
        else:
            name, _, path = arg.partition("=")
            renders.append(Render(name, path))
    report = Report()
    report.run("copies of the compose stack's files", check_copies)
    report.run("redis proxy (haproxy.cfg)", check_redis_proxy, haproxy, redis_server)
    report.run("shell scripts", check_shell)
    compose = Compose()
    for r in renders:
        for title, fn, args in (
            ("schema", check_schema, (r, version)),
            ("custom resources", check_custom, (r,)),
            ("references", check_references, (r,)),
            ("secrets", check_secrets, (r,)),
            ("network policies", check_network, (r,)),
            ("app environment vs compose", check_env, (r, compose)),
            ("dearme check-config", check_config, (r, binary)),
            ("probes, shutdown, ingress", check_lifecycle, (r,)),
            ("container security", check_security, (r,)),
            ("worker scaling (KEDA)", check_keda, (r,)),
            ("release and migration Job", check_release, (r,)),
            ("database connections", check_sizing, (r,)),
            ("PgBouncer vs compose", check_pgbouncer, (r, compose)),
            ("PostgreSQL vs compose", check_postgres, (r, compose)),
            ("images vs compose", check_images, (r, compose)),
        ):
            report.run(f"{r.name}: {title}", fn, *args)
    print()
    if report.failed:
        print("failed: " + ", ".join(report.failed))
    print(f"check-kubernetes: {report.passed} passed, {len(report.failed)} failed")
    return 1 if report.failed else 0


def main(argv):
    if argv[:1] == ["sync"]:
        return sync()
    if argv[:1] == ["check"] and len(argv) >= 3:
        return check(argv[1:])
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
