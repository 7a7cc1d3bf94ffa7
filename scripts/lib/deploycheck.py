"""Checks behind scripts/check-deploy (run through it, not directly).

Each sub-command exits 0 when its check passes and prints what failed otherwise. Only the
Python standard library and PyYAML (Debian: python3-yaml) are needed.

    deploycheck.py compose-policy CONFIG_JSON            policy of the merged prod+monitoring config
    deploycheck.py compose-services A_JSON B_JSON        the two configs define the same services
    deploycheck.py env-drift COMPOSE_JSON                .env.example vs backend/src vs compose env
    deploycheck.py nginx-env CONFIG_JSON                 print `NAME=value` lines the nginx image would substitute
    deploycheck.py service-env CONFIG_JSON SERVICE       print the service's environment as NAME=value lines
    deploycheck.py alert-coverage                        every alert is unit-tested firing and not firing, with its runbook
    deploycheck.py alertmanager-render TMP_DIR           the Alertmanager template renders (no receiver / all), amtool-valid, routes
    deploycheck.py dashboards OUT_RULES_FILE             validate dashboards; write their PromQL as rules for promtool
    deploycheck.py metric-names                          every metric name used is accounted for
    deploycheck.py live-metrics METRICS_FILE             every name of app-metrics.txt is exposed
    deploycheck.py dockerfile                            COPY sources exist and are not .dockerignored
    deploycheck.py env-deploy                            every ${VAR} of the compose files is in .env.example, every DEPLOYMENT variable is used
    deploycheck.py frontend-pin CONFIG_JSON              the nginx image's frontend context is pinned to a full commit
    deploycheck.py frontend-dockerfile                   deploy/frontend/Dockerfile builds with VITE_API_URL empty
    deploycheck.py frontend-root CONFIG_JSON             the Dockerfile's served root is compose's NGINX_STATIC_ROOT
    deploycheck.py frontend-overrides (JSON CTX TARGET)...  FRONTEND_SOURCE / FRONTEND_DIST resolve as documented
"""

import fnmatch
import glob
import json
import os
import re
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MON = os.path.join(REPO, "monitoring")

failures = []


def fail(msg):
    failures.append(msg)
    print(f"  - {msg}")


def done(ok_msg):
    if failures:
        sys.exit(1)
    print(f"  {ok_msg}")


def compose_str(value):
    # `docker compose config` escapes `$` as `$$` in its output (so that the output is itself
    # a valid compose file); the container sees a single `$`.
    return value.replace("$$", "$") if isinstance(value, str) else value


def load_config(path):
    with open(path) as f:
        return json.load(f)


# --------------------------------------------------------------------------------------
# compose

ONE_SHOT = {"migrate"}
# The replica side never blocks `up` (a replica still cloning, down, or promoted in a failover):
# whatever depends on it waits for its container only (service_started) and not even for that
# (required: false); reads go to the primary meanwhile. The primary stays a hard dependency.
REPLICA_SIDE = {"postgres-replica", "pgbouncer-ro"}
PRIMARY_SIDE = {"api": "pgbouncer-rw", "worker": "pgbouncer-rw", "migrate": "postgres-primary"}
# Images without a shell or HTTP client: health comes from Prometheus (`up`, *_up metrics).
NO_HEALTHCHECK_OK = {"migrate", "nginx-exporter"}


def compose_policy(config_path):
    cfg = load_config(config_path)
    services = cfg["services"]
    networks = cfg.get("networks", {})

    if not networks.get("backend", {}).get("internal"):
        fail("network `backend` must be internal (no route out)")

    for name, svc in sorted(services.items()):
        # Published ports: only nginx publicly; monitoring UIs on loopback only.
        for port in svc.get("ports", []):
            host_ip = port.get("host_ip", "")
            if name != "nginx" and host_ip not in ("127.0.0.1", "::1"):
                fail(f"{name}: publishes port {port.get('published')} on {host_ip or 'all interfaces'} "
                     "(only nginx may publish; monitoring UIs bind 127.0.0.1)")

        # A service without its own healthcheck would fall back to its image's HEALTHCHECK,
        # which compose cannot see: require an explicit one (or an explicit, allowed disable).
        hc = svc.get("healthcheck")
        test = (hc or {}).get("test") or []
        if hc is None:
            fail(f"{name}: no healthcheck")
        elif hc.get("disable") or test[:1] == ["NONE"]:
            if name not in NO_HEALTHCHECK_OK:
                fail(f"{name}: healthcheck disabled")
        elif len(test) < 2 or test[0] not in ("CMD", "CMD-SHELL"):
            fail(f"{name}: healthcheck test should be [CMD, ...] or [CMD-SHELL, ...], got {test}")

        restart = svc.get("restart", "no")
        if name in ONE_SHOT:
            if restart not in ("no", "on-failure"):
                fail(f"{name}: one-shot service must not restart forever (restart: {restart})")
        elif restart not in ("always", "unless-stopped"):
            fail(f"{name}: long-running service needs restart: unless-stopped (has {restart})")

        limits = svc.get("deploy", {}).get("resources", {}).get("limits", {})
        if not limits.get("memory") or not limits.get("cpus"):
            fail(f"{name}: deploy.resources.limits needs cpus and memory")

        if not svc.get("networks"):
            fail(f"{name}: not attached to an explicit network")
        if "backend" not in svc.get("networks", {}):
            fail(f"{name}: not on the backend network")

        for dep, cond in svc.get("depends_on", {}).items():
            if dep not in services:
                fail(f"{name}: depends on unknown service {dep}")
                continue
            if dep in REPLICA_SIDE:
                if cond.get("condition") != "service_started" or cond.get("required", True) is not False:
                    fail(f"{name}: depends_on {dep} (replica side) should be condition service_started with "
                         f"required: false (has {cond.get('condition')}, required: {cond.get('required', True)})")
                continue
            want = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            if cond.get("condition") != want:
                fail(f"{name}: depends_on {dep} should use condition {want} (has {cond.get('condition')})")

    for name, dep in PRIMARY_SIDE.items():
        if services.get(name, {}).get("depends_on", {}).get(dep, {}).get("condition") != "service_healthy":
            fail(f"{name}: must wait for {dep} to be healthy (the primary is a hard dependency)")
    # After a promotion the replica is no longer in recovery: its healthcheck must still pass.
    replica_test = compose_str(" ".join(services.get("postgres-replica", {}).get("healthcheck", {}).get("test") or []))
    if "pg_is_in_recovery()" in replica_test and "NOT pg_is_in_recovery() OR" not in replica_test:
        fail("postgres-replica: healthcheck must also pass on a promoted server (NOT pg_is_in_recovery() OR ...)")

    for name, replicas in (("api", 3), ("worker", 2)):
        got = services.get(name, {}).get("deploy", {}).get("replicas")
        if got != replicas:
            fail(f"{name}: expected {replicas} replicas by default, got {got}")
    for name in ("api", "worker"):
        if services.get(name, {}).get("depends_on", {}).get("migrate", {}).get("condition") != "service_completed_successfully":
            fail(f"{name}: must wait for migrate to complete successfully")
    for name, cmd in (("api", ["dearme", "serve"]), ("worker", ["dearme", "worker"]),
                      ("migrate", ["dearme", "migrate"]), ("dev-llm", ["dearme", "dev-llm"])):
        if services.get(name, {}).get("command") != cmd:
            fail(f"{name}: command should be {cmd}")
    done(f"{len(services)} services: ports, healthchecks, restart policies, limits, networks, depends_on, replicas")


def compose_services(a_path, b_path):
    a, b = set(load_config(a_path)["services"]), set(load_config(b_path)["services"])
    if a != b:
        fail(f"service sets differ: only in first {sorted(a - b)}, only in second {sorted(b - a)}")
    done(f"same {len(a)} services")


def env_example_sections():
    app, deploy, section = [], [], None
    with open(os.path.join(REPO, ".env.example")) as f:
        for line in f:
            if line.startswith("# APPLICATION"):
                section = app
            elif line.startswith("# DEPLOYMENT"):
                section = deploy
            m = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
            if m and section is not None:
                section.append(m.group(1))
    return app, deploy


def env_drift(config_path):
    app, _ = env_example_sections()
    documented = set(app)
    # Variables the backend reads through its settings helpers (backend/src/settings.rs).
    read = set()
    pattern = re.compile(r'\b(?:optional|required|parse_or|millis_or|list|env::var|var)\(\s*"([A-Z][A-Z0-9_]*)"')
    for path in glob.glob(os.path.join(REPO, "backend", "src", "**", "*.rs"), recursive=True):
        with open(path) as f:
            read.update(pattern.findall(f.read()))
    read.add("RUST_LOG")  # read by platform::telemetry (also matched above; kept should that change)
    for var in sorted(read - documented):
        fail(f"{var} is read by backend/src but not documented in the APPLICATION section of .env.example")

    services = load_config(config_path)["services"]
    # `dearme dev-llm` reads only DEV_LLM_* (and logging); DEV_LLM_ADDR is its own listener.
    for name in ("api", "worker", "migrate"):
        env = services.get(name, {}).get("environment", {})
        for var in sorted(documented - set(env) - {"DEV_LLM_ADDR"}):
            fail(f"{var} (.env.example) is not passed to the {name} service (x-app-env in docker-compose.prod.yml)")
    env = services.get("dev-llm", {}).get("environment", {})
    for var in sorted(v for v in documented if v.startswith("DEV_LLM_") or v in ("LOG_FORMAT", "RUST_LOG")):
        if var not in env:
            fail(f"{var} (.env.example) is not passed to the dev-llm service")
    if env.get("DEV_LLM_ADDR", "").split(":")[0] not in ("0.0.0.0", "[::]"):
        fail("dev-llm must listen on all interfaces (DEV_LLM_ADDR=0.0.0.0:8090): its default is loopback")
    done(f"{len(documented)} app variables documented; backend reads {len(read)}; all wired into api/worker/migrate (+ dev-llm's own)")


def service_env(config_path, service):
    env = load_config(config_path)["services"][service].get("environment", {})
    for k, v in sorted(env.items()):
        print(f"{k}={compose_str(v) if v is not None else ''}")


def nginx_env(config_path):
    """The variables the official nginx image's 20-envsubst-on-templates.sh would substitute:
    those defined in the container whose names match NGINX_ENVSUBST_FILTER (an awk ERE)."""
    env = {k: compose_str(v) for k, v in load_config(config_path)["services"]["nginx"].get("environment", {}).items()}
    flt = env.get("NGINX_ENVSUBST_FILTER", "")
    rx = re.compile(flt)
    for k, v in sorted(env.items()):
        if rx.search(k):
            print(f"{k}={v}")


# --------------------------------------------------------------------------------------
# prometheus rules and tests

def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def rule_groups():
    groups = {}
    for path in sorted(glob.glob(os.path.join(MON, "rules", "*.yml"))):
        groups[path] = load_yaml(path).get("groups", [])
    return groups


RUNBOOKS = os.path.join(REPO, "docs", "runbooks")
# What every runbook says, as `## ` headings, in this order.
RUNBOOK_SECTIONS = ("Meaning", "Impact", "First checks", "Resolution")
# Alerts that fire by design whatever the input (the dead man's switch): tested firing only.
ALWAYS_FIRING = {"Watchdog"}


def alert_coverage():
    alerts = [r["alert"] for gs in rule_groups().values() for g in gs for r in g["rules"] if "alert" in r]
    firing, quiet = set(), set()
    for path in glob.glob(os.path.join(MON, "tests", "*.yml")):
        for test in load_yaml(path).get("tests", []):
            for case in test.get("alert_rule_test", []) or []:
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    for a in alerts:
        if a not in firing:
            fail(f"alert {a} has no unit test where it fires")
        if a not in quiet and a not in ALWAYS_FIRING:
            fail(f"alert {a} has no unit test where it stays quiet")
    # Every alert links its own runbook, docs/runbooks/<AlertName>.md, which exists, has the
    # usual sections and is listed in the index; no runbook is left for an alert that is gone.
    index = ""
    if os.path.exists(os.path.join(RUNBOOKS, "README.md")):
        with open(os.path.join(RUNBOOKS, "README.md")) as f:
            index = f.read()
    else:
        fail("docs/runbooks/README.md (the index) does not exist")
    for gs in rule_groups().values():
        for g in gs:
            for r in g["rules"]:
                if "alert" not in r:
                    continue
                name, ann = r["alert"], r.get("annotations", {})
                want = f"docs/runbooks/{name}.md"
                if "runbook" in ann:
                    fail(f"alert {name}: use `runbook_url`, not `runbook`")
                if ann.get("runbook_url") != want:
                    fail(f"alert {name}: runbook_url should be {want} (is {ann.get('runbook_url')!r})")
                for key in ("summary", "description"):
                    if not ann.get(key):
                        fail(f"alert {name}: no {key} annotation")
                path = os.path.join(REPO, want)
                if not os.path.exists(path):
                    fail(f"alert {name}: {want} does not exist")
                    continue
                with open(path) as f:
                    text = f.read()
                if not text.startswith(f"# {name}\n"):
                    fail(f"{want}: should start with `# {name}`")
                headings = re.findall(r"^## (.+?)\s*$", text, re.M)
                if [h for h in headings if h in RUNBOOK_SECTIONS] != list(RUNBOOK_SECTIONS):
                    fail(f"{want}: needs the sections {', '.join(RUNBOOK_SECTIONS)} in that order (has {headings})")
                if f"]({name}.md)" not in index:
                    fail(f"docs/runbooks/README.md: no link to {name}.md")
    for path in glob.glob(os.path.join(RUNBOOKS, "*.md")):
        name = os.path.basename(path)[:-3]
        if name != "README" and name not in alerts:
            fail(f"docs/runbooks/{name}.md: no alert of that name")
    dupes = {a for a in alerts if alerts.count(a) > 1}
    for a in sorted(dupes):
        fail(f"alert {a} is defined more than once")
    done(f"{len(alerts)} alerts, each tested firing and not firing ({', '.join(sorted(ALWAYS_FIRING))}: "
         f"always firing), each with its runbook in docs/runbooks/")


# --------------------------------------------------------------------------------------
# Alertmanager: the template rendered by its entrypoint, with no receiver and with every one

AM_TEMPLATE = os.path.join(MON, "alertmanager.yml")
AM_ENTRYPOINT = os.path.join(MON, "alertmanager", "entrypoint.sh")
# What docker-compose.monitoring.yml gives the container, with every integration on.
AM_FULL_ENV = {
    "ALERT_WEBHOOK_URL": "https://hooks.example.com/dearme?token=a\"b\\c",
    "ALERT_EMAIL_TO": "oncall@example.com",
    "ALERT_WATCHDOG_URL": "https://heartbeat.example.com/ping/dearme",
    "SMTP_HOST": "smtp.example.com", "SMTP_PORT": "587", "SMTP_TLS": "required",
    "SMTP_USERNAME": "alerts", "SMTP_PASSWORD": "p\"w\\d", "SMTP_FROM": "DearMe <no-reply@dearme.local>",
}
# Where each kind of alert must go.
AM_ROUTES = (({"alertname": "Watchdog", "severity": "none"}, "watchdog"),
             ({"alertname": "ApiUnavailable", "severity": "critical"}, "critical"),
             ({"alertname": "DeadJobs", "severity": "warning"}, "default"))


def alertmanager_render(out_dir):
    import subprocess

    def render(name, env):
        out = os.path.join(out_dir, f"alertmanager-{name}.yml")
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ALERTMANAGER_TEMPLATE": AM_TEMPLATE, **env}
        res = subprocess.run(["sh", AM_ENTRYPOINT, "--render-only"], env=full, capture_output=True, text=True)
        if res.returncode != 0:
            fail(f"render ({name}): {res.stderr.strip()}")
            return None, None
        with open(out, "w") as f:
            f.write(res.stdout)
        chk = subprocess.run(["amtool", "check-config", out], capture_output=True, text=True)
        if chk.returncode != 0:
            fail(f"amtool check-config on the {name} rendering: {(chk.stdout + chk.stderr).strip()}")
            return None, None
        return out, yaml.safe_load(res.stdout)

    _, none = render("none", {})
    path, full = render("full", AM_FULL_ENV)
    if none is not None and none != load_yaml(AM_TEMPLATE):
        fail("with no receiver set, the rendering differs from the template itself")
    if full is not None:
        recv = {r["name"]: r for r in full.get("receivers", [])}
        for name, keys in (("default", ("webhook_configs", "email_configs")),
                           ("critical", ("webhook_configs", "email_configs")),
                           ("watchdog", ("webhook_configs",))):
            for key in keys:
                if not recv.get(name, {}).get(key):
                    fail(f"with every variable set, receiver {name} has no {key}")
        hook = recv.get("default", {}).get("webhook_configs", [{}])[0].get("url")
        if hook != AM_FULL_ENV["ALERT_WEBHOOK_URL"]:
            fail(f"ALERT_WEBHOOK_URL came out as {hook!r} (quoting)")
        mail = recv.get("default", {}).get("email_configs", [{}])[0]
        if mail.get("auth_password") != AM_FULL_ENV["SMTP_PASSWORD"] or mail.get("require_tls") is not True:
            fail(f"e-mail settings came out wrong: {mail}")
        for labels, want in AM_ROUTES:
            args = ["amtool", "config", "routes", "test", f"--config.file={path}"]
            args += [f"{k}={v}" for k, v in labels.items()]
            got = subprocess.run(args, capture_output=True, text=True).stdout.strip()
            if got != want:
                fail(f"{labels} is routed to {got!r}, expected {want}")
    # E-mail without a relay is refused at start rather than failing at the first alert.
    res = subprocess.run(["sh", AM_ENTRYPOINT, "--render-only"], capture_output=True, text=True,
                         env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ALERTMANAGER_TEMPLATE": AM_TEMPLATE,
                              "ALERT_EMAIL_TO": "oncall@example.com"})
    if res.returncode == 0:
        fail("ALERT_EMAIL_TO without SMTP_HOST was accepted")
    done("renders with no receiver (= the template) and with webhook, e-mail and watchdog (amtool OK); "
         "Watchdog, critical and warning alerts reach their receivers; e-mail without a relay refused")


# --------------------------------------------------------------------------------------
# PromQL metric-name extraction

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "atan2", "start", "end"}


def promql_metric_names(expr):
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)   # string literals
    s = re.sub(r"\$\{[^}]*\}|\$\w+", " 1 ", s)                                # Grafana variables
    s = re.sub(r"\{[^}]*\}", " ", s)                                          # label matchers
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)                                         # ranges, subqueries
    s = re.sub(r"#[^\n]*", " ", s)                                            # comments
    names = set()
    for m in re.finditer(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", s):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


GRAFANA_SUBST = {"__rate_interval": "1m", "__interval": "5m", "__range": "1h"}


def grafana_to_promql(expr, variables):
    def repl(m):
        name = m.group(1) or m.group(2)
        if name in GRAFANA_SUBST:
            return GRAFANA_SUBST[name]
        if name in variables:
            return variables[name]
        raise KeyError(name)
    return re.sub(r"\$\{(\w+)[^}]*\}|\$(\w+)", repl, expr)


def dashboard_files():
    return sorted(glob.glob(os.path.join(MON, "grafana", "dashboards", "*.json")))


def iter_panels(panels):
    for p in panels:
        yield p
        yield from iter_panels(p.get("panels", []))


def dashboards(out_rules):
    ds_uids = set()
    for path in glob.glob(os.path.join(MON, "grafana", "provisioning", "datasources", "*.yml")):
        for ds in load_yaml(path).get("datasources", []):
            ds_uids.add(ds["uid"])
    for path in glob.glob(os.path.join(MON, "grafana", "provisioning", "dashboards", "*.yml")):
        for prov in load_yaml(path).get("providers", []):
            if prov.get("options", {}).get("path") != "/etc/grafana/dashboards":
                fail(f"{path}: provider path should be /etc/grafana/dashboards (the compose mount)")

    retention = prometheus_retention()
    retention_s = duration_seconds(retention)
    uids, rules, count = {}, [], 0
    for path in dashboard_files():
        rel = os.path.relpath(path, REPO)
        try:
            with open(path) as f:
                dash = json.load(f)
        except ValueError as e:
            fail(f"{rel}: invalid JSON: {e}")
            continue
        for key in ("uid", "title", "panels", "schemaVersion"):
            if key not in dash:
                fail(f"{rel}: missing `{key}`")
        if dash.get("uid") in uids:
            fail(f"{rel}: uid {dash['uid']} also used by {uids[dash['uid']]}")
        uids[dash.get("uid")] = rel
        # Values to substitute for template variables when checking the PromQL syntax.
        variables = {}
        for v in dash.get("templating", {}).get("list", []):
            if v.get("type") == "textbox" or v.get("type") == "constant":
                variables[v["name"]] = str(v.get("query", "0"))
                try:
                    float(variables[v["name"]])
                except ValueError:
                    fail(f"{rel}: variable {v['name']} should default to a number (it multiplies)")
            else:
                variables[v["name"]] = ".*"
                ds = v.get("datasource", {})
                if ds and ds.get("uid") not in ds_uids:
                    fail(f"{rel}: variable {v['name']} uses unknown datasource {ds}")
                q = v.get("query", {})
                q = q.get("query", "") if isinstance(q, dict) else q
                m = re.match(r"label_values\((.*),\s*\w+\)$", q)
                if m:
                    rules.append({"record": f"dashboard_check:var_{len(rules)}", "expr": m.group(1)})
        ids = set()
        for p in iter_panels(dash.get("panels", [])):
            if p.get("id") in ids:
                fail(f"{rel}: duplicate panel id {p.get('id')}")
            ids.add(p.get("id"))
            gp = p.get("gridPos", {})
            if gp.get("x", 0) + gp.get("w", 0) > 24:
                fail(f"{rel}: panel '{p.get('title')}' is wider than the grid")
            if p.get("type") == "row":
                continue
            if p.get("datasource", {}).get("uid") not in ds_uids:
                fail(f"{rel}: panel '{p.get('title')}' uses unknown datasource {p.get('datasource')}")
            targets = p.get("targets", [])
            if not targets:
                fail(f"{rel}: panel '{p.get('title')}' has no query")
            for t in targets:
                expr = t.get("expr", "").strip()
                if not expr:
                    fail(f"{rel}: panel '{p.get('title')}' has an empty query")
                    continue
                try:
                    promql = grafana_to_promql(expr, variables)
                except KeyError as e:
                    fail(f"{rel}: panel '{p.get('title')}' uses undefined variable ${e.args[0]}")
                    continue
                count += 1
                rules.append({"record": f"dashboard_check:q_{len(rules)}", "expr": promql})
        # What a dashboard shows by default must still be in Prometheus.
        for where, rng in [("default time range", dash.get("time", {}).get("from", ""))] + \
                [(f"panel '{p.get('title')}' timeFrom", p["timeFrom"]) for p in iter_panels(dash.get("panels", []))
                 if p.get("timeFrom")]:
            secs = duration_seconds(rng.replace("now-", "", 1))
            if secs is None:
                fail(f"{rel}: {where} {rng!r} is not now-<duration>")
            elif secs > retention_s:
                fail(f"{rel}: {where} {rng} goes back further than Prometheus keeps data ({retention})")
    with open(out_rules, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, f, sort_keys=False)
    done(f"{len(uids)} dashboards, {count} queries (PromQL syntax: promtool next); default ranges within "
         f"the {retention} retention")


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def duration_seconds(text):
    """`15d`, `2w`, `36h` (Prometheus and Grafana units; Grafana's `M` = 30 days) in seconds."""
    m = re.fullmatch(r"(\d+)([smhdwMy])", text.strip())
    if not m:
        return None
    return int(m.group(1)) * (30 * 86400 if m.group(2) == "M" else DURATION_UNITS[m.group(2)])


def prometheus_retention():
    """The shortest retention a deployment can get: the compose default of
    --storage.tsdb.retention.time and .env.example's PROMETHEUS_RETENTION (what a .env copied
    from it says)."""
    found = []
    with open(os.path.join(REPO, "docker-compose.monitoring.yml")) as f:
        m = re.search(r"--storage\.tsdb\.retention\.time=\$\{PROMETHEUS_RETENTION:-([^}]+)\}", f.read())
    if m:
        found.append(m.group(1))
    with open(os.path.join(REPO, ".env.example")) as f:
        m = re.search(r"^PROMETHEUS_RETENTION=(\S+)", f.read(), re.M)
    if m:
        found.append(m.group(1))
    if not found:
        fail("no Prometheus retention found (docker-compose.monitoring.yml, .env.example)")
        done("")
    return min(found, key=lambda d: duration_seconds(d) or 0)


def read_names(path):
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]


def strip_histogram_suffix(name, app):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in app:
            return name[: -len(suffix)]
    return name


def metric_names():
    app = read_names(os.path.join(MON, "app-metrics.txt"))
    exporter = read_names(os.path.join(MON, "exporter-metrics.txt"))
    if len(set(app)) != len(app):
        fail("app-metrics.txt has duplicates")
    if any(n.endswith(("_bucket", "_sum", "_count")) for n in app):
        fail("app-metrics.txt must list base names (no _bucket/_sum/_count)")
    app, exporter = set(app), set(exporter)

    recorded, used = set(), {}
    exprs = []
    for path, groups in rule_groups().items():
        for g in groups:
            for r in g["rules"]:
                if "record" in r:
                    recorded.add(r["record"])
                exprs.append((os.path.relpath(path, REPO), r["expr"]))
    for path in dashboard_files():
        with open(path) as f:
            dash = json.load(f)
        for p in iter_panels(dash.get("panels", [])):
            for t in p.get("targets", []):
                exprs.append((os.path.relpath(path, REPO), t.get("expr", "")))
        for v in dash.get("templating", {}).get("list", []):
            q = v.get("query", {})
            q = q.get("query", "") if isinstance(q, dict) else ""
            m = re.match(r"label_values\((.*),\s*\w+\)$", q)
            if m:
                exprs.append((os.path.relpath(path, REPO), m.group(1)))

    for where, expr in exprs:
        for name in promql_metric_names(expr):
            used.setdefault(strip_histogram_suffix(name, app), set()).add(where)

    for name, where in sorted(used.items()):
        if name in recorded or name in app or name in exporter:
            continue
        if ":" in name:
            fail(f"{name} (used in {', '.join(sorted(where))}) looks like a recording rule but none records it")
        else:
            fail(f"{name} (used in {', '.join(sorted(where))}) is in neither app-metrics.txt nor exporter-metrics.txt")
    for name in sorted(app - set(used)):
        fail(f"{name} is listed in app-metrics.txt but used by no rule or dashboard")
    for name in sorted(exporter - set(used)):
        fail(f"{name} is listed in exporter-metrics.txt but used by no rule or dashboard")
    used_app = sorted(set(used) & app)
    done(f"{len(used)} names used in {len(exprs)} expressions: {len(used_app)} app metrics, "
         f"{len(set(used) & exporter)} exporter metrics, {len(set(used) & recorded)} recorded series")


def live_metrics(metrics_file):
    app = read_names(os.path.join(MON, "app-metrics.txt"))
    exposed = set()
    with open(metrics_file, errors="replace") as f:
        for line in f:
            m = re.match(r"#\s*(?:TYPE|HELP)\s+([A-Za-z_:][A-Za-z0-9_:]*)", line)
            if m:
                exposed.add(m.group(1))
                continue
            m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{|\s)", line)
            if m:
                exposed.add(m.group(1))
    present, missing = [], []
    for name in app:
        forms = {name, name + "_bucket", name + "_sum", name + "_count"}
        (present if forms & exposed else missing).append(name)
    print(f"  {len(present)}/{len(app)} app metrics exposed")
    if missing:
        print("  missing (not exposed yet):")
        for name in missing:
            print(f"    {name}")
        sys.exit(1)


# --------------------------------------------------------------------------------------
# Dockerfile

def dockerfile():
    ignore = []
    with open(os.path.join(REPO, ".dockerignore")) as f:
        for ln in f:
            ln = ln.strip()
            if ln and not ln.startswith("#"):
                ignore.append(ln)

    def ignored(path):
        verdict = False
        for pat in ignore:
            neg = pat.startswith("!")
            p = pat[1:] if neg else pat
            p = p.rstrip("/")
            if fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p + "/*") or path.startswith(p + "/"):
                verdict = not neg
        return verdict

    for must in ("target", ".stack", ".git"):
        if not ignored(must):
            fail(f".dockerignore should exclude {must}/")
    # Needed by the build (sqlx::migrate! embeds migrations/ at compile time).
    for need in ("Cargo.toml", "Cargo.lock", "backend/Cargo.toml", "backend/src/main.rs", "migrations", "deploy/probe"):
        if ignored(need):
            fail(f".dockerignore excludes {need}, which the build needs")
    with open(os.path.join(REPO, "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    if not any(f.startswith("rust:${RUST_VERSION}-bookworm") or f.startswith("rust:1.95-bookworm") for f in froms):
        fail("builder must be rust:1.95-bookworm")
    if "debian:bookworm-slim" not in froms:
        fail("runtime must be debian:bookworm-slim")
    for m in re.finditer(r"^COPY\s+(?!--from)(.*)$", text, re.M):
        parts = [p for p in m.group(1).split() if not p.startswith("--")]
        for src in parts[:-1]:
            if src == ".":
                continue
            if not os.path.exists(os.path.join(REPO, src)):
                fail(f"COPY source {src} does not exist")
            elif ignored(src):
                fail(f"COPY source {src} is excluded by .dockerignore")
    if not re.search(r"^USER\s+(?!root|0\b)\S+", text, re.M):
        fail("the runtime stage must switch to a non-root USER")
    if not re.search(r"^HEALTHCHECK\s", text, re.M):
        fail("no HEALTHCHECK")
    done(f"{len(froms)} stages; COPY sources present; .dockerignore keeps target/.stack/.git out")


# --------------------------------------------------------------------------------------
# Deployment variables

COMPOSE_FILES = ("docker-compose.prod.yml", "docker-compose.monitoring.yml", "compose.yaml")


def env_deploy():
    """Every ${VAR} the compose files interpolate is documented in .env.example, and every
    DEPLOYMENT variable there is used by a compose file (a stale one would mislead)."""
    used = {}
    for name in COMPOSE_FILES:
        path = os.path.join(REPO, name)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            # `$${` is an escaped dollar (the container's shell variable), not interpolation.
            for var in re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", f.read()):
                used.setdefault(var, set()).add(name)
    app, deploy = env_example_sections()
    for var in sorted(set(used) - set(app) - set(deploy)):
        fail(f"${{{var}}} ({', '.join(sorted(used[var]))}) is not documented in .env.example")
    for var in sorted(set(deploy) - set(used)):
        fail(f"{var} is in the DEPLOYMENT section of .env.example but no compose file uses it")
    done(f"{len(used)} interpolated variables, all in .env.example; {len(deploy)} DEPLOYMENT variables, all used")


# --------------------------------------------------------------------------------------
# Frontend: the nginx image built by deploy/frontend/Dockerfile

FRONTEND_DOCKERFILE = os.path.join(REPO, "deploy", "frontend", "Dockerfile")
FRONTEND_CONTEXT = "frontend"          # the named build context (compose additional_contexts)
PINNED_GIT = re.compile(r"^(?P<repo>https://\S+?\.git)#(?P<sha>[0-9a-f]{40}):(?P<subdir>[^\s:#]+)$")


def parse_dockerfile(path):
    """The stages of a Dockerfile: [{name, image, instrs: [(INSTRUCTION, args)]}], plus its
    `# syntax=` directive (or None). Line continuations joined; comments dropped."""
    with open(path) as f:
        text = f.read()
    m = re.match(r"#\s*syntax\s*=\s*(\S+)", text)
    syntax = m.group(1) if m else None
    text = re.sub(r"\\\n", " ", text)
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        instr, args = instr.upper(), args.strip()
        if instr == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append({"name": name, "image": parts[0], "instrs": []})
        elif stages:
            stages[-1]["instrs"].append((instr, args))
    return stages, syntax


def copy_parts(args):
    """COPY's flags as a dict (--exclude may repeat: a list), then its sources and destination."""
    flags, paths = {}, []
    for p in args.split():
        if p.startswith("--"):
            k, _, v = p[2:].partition("=")
            if k == "exclude":
                flags.setdefault(k, []).append(v)
            else:
                flags[k] = v
        else:
            paths.append(p)
    return flags, paths[:-1], paths[-1] if paths else ""


def nginx_service(config_path):
    return load_config(config_path)["services"].get("nginx", {})


def frontend_pin(config_path):
    svc = nginx_service(config_path)
    build = svc.get("build") or {}
    if os.path.realpath(build.get("context", "")) != os.path.realpath(os.path.join(REPO, "deploy", "frontend")):
        fail(f"nginx: build context should be deploy/frontend (is {build.get('context')})")
    if build.get("target"):
        fail(f"nginx: with FRONTEND_DIST empty no target should be set (the last stage builds from source), got {build['target']}")
    if not svc.get("image"):
        fail("nginx: no image name for the built image")
    ctx = (build.get("additional_contexts") or {}).get(FRONTEND_CONTEXT)
    if not ctx:
        fail(f"nginx: no additional context `{FRONTEND_CONTEXT}` (the frontend's source)")
        done("")
    m = PINNED_GIT.match(ctx)
    if not m:
        fail(f"nginx: the frontend context {ctx!r} is not a git URL pinned to a full 40-hex commit "
             "(REPO.git#<sha>:<subdir>): a branch or tag can move under a rebuild")
        done("")
    with open(os.path.join(REPO, "docker-compose.prod.yml")) as f:
        if ctx not in f.read():
            fail("the pinned URL comes from .env.example, not from docker-compose.prod.yml's default")
    done(f"{m.group('repo')} at {m.group('sha')}, directory {m.group('subdir')}/")


def frontend_stages():
    stages, syntax = parse_dockerfile(FRONTEND_DOCKERFILE)
    return stages, syntax, {s["name"]: s for s in stages if s["name"]}


def frontend_dockerfile():
    stages, syntax, named = frontend_stages()
    rel = os.path.relpath(FRONTEND_DOCKERFILE, REPO)
    if not stages:
        fail(f"{rel}: no stages")
        done("")
    uses_exclude = any(i == "COPY" and "--exclude=" in a for s in stages for i, a in s["instrs"])
    if uses_exclude:
        v = re.match(r"(?:docker\.io/)?docker/dockerfile:(\d+)\.(\d+)", syntax or "")
        if not v or (int(v.group(1)), int(v.group(2))) < (1, 19):
            fail(f"{rel}: COPY --exclude needs `# syntax=docker/dockerfile:1.19` or later (has {syntax})")

    # The stage that runs `npm run build`: node, npm ci, VITE_API_URL defined and empty.
    builders = [s for s in stages if any(i == "RUN" and re.search(r"\bnpm run build\b", a) for i, a in s["instrs"])]
    if len(builders) != 1:
        fail(f"{rel}: expected one stage running `npm run build`, found {len(builders)}")
        done("")
    b = builders[0]
    if not b["image"].startswith("node:20"):
        fail(f"{rel}: the build stage should use node:20 (the frontend's own choice), uses {b['image']}")
    api_url, npm_ci = None, False
    for instr, args in b["instrs"]:
        if instr == "ARG" and re.match(r"VITE_API_URL\b", args):
            fail(f"{rel}: ARG VITE_API_URL lets a --build-arg bake an API URL in; it must stay empty (ENV)")
        if instr == "ENV":
            m = re.match(r"""VITE_API_URL(?:=|\s+)(.*)$""", args)
            if m:
                api_url = m.group(1).strip()
        if instr == "RUN" and re.search(r"\bnpm ci\b", args):
            npm_ci = True
        if instr == "RUN" and re.search(r"\bnpm run build\b", args):
            inline = re.search(r"\bVITE_API_URL=(\S*)\s+npm run build", args)
            value = inline.group(1) if inline else api_url
            if value not in ('""', "''", ""):
                fail(f"{rel}: `npm run build` must run with VITE_API_URL defined and empty "
                     f"(ENV VITE_API_URL=\"\"), has {'undefined' if value is None else value}")
            break
    if not npm_ci:
        fail(f"{rel}: the build stage should install with `npm ci` (exactly the lockfile)")
    if not any(i == "COPY" and copy_parts(a)[0].get("from") == FRONTEND_CONTEXT for i, a in b["instrs"]):
        fail(f"{rel}: the build stage does not take its source from the `{FRONTEND_CONTEXT}` context")

    # The targets: from-dist (FRONTEND_DIST) and from-source, which must be the last stage
    # (compose sets no target unless FRONTEND_DIST is given).
    if stages[-1]["name"] != "from-source":
        fail(f"{rel}: the last stage (the default target) must be from-source, is {stages[-1]['name']}")
    for name, source in (("from-source", b["name"]), ("from-dist", FRONTEND_CONTEXT)):
        st = named.get(name)
        if not st:
            fail(f"{rel}: no stage {name}")
            continue
        if not re.match(r"nginx:1\.(2[89]|[3-9]\d)\b.*-alpine", st["image"]):
            fail(f"{rel}: {name} should be nginx >= 1.28 alpine (`resolve` upstreams), is {st['image']}")
        if not any(i == "COPY" and copy_parts(a)[0].get("from") == source for i, a in st["instrs"]):
            fail(f"{rel}: {name} does not copy from {source}")
        if not any(i == "RUN" and re.search(r"\bsh\s+\S*check-dist\.sh\s+/", a) for i, a in st["instrs"]):
            fail(f"{rel}: {name} does not run check-dist.sh on what it serves")
    done(f"{len(stages)} stages; {b['image']} runs npm ci and npm run build with VITE_API_URL=\"\"; "
         f"targets from-source (default) and from-dist on {named.get('from-source', {}).get('image')}, both checked by check-dist.sh")


def frontend_root(config_path):
    svc = nginx_service(config_path)
    root = compose_str((svc.get("environment") or {}).get("NGINX_STATIC_ROOT", "")).rstrip("/")
    if not root:
        fail("nginx: no NGINX_STATIC_ROOT in the compose environment")
        done("")
    _, _, named = frontend_stages()
    for name in ("from-source", "from-dist"):
        dests = [copy_parts(a)[2].rstrip("/") for i, a in named.get(name, {}).get("instrs", []) if i == "COPY"]
        if root not in dests:
            fail(f"deploy/frontend/Dockerfile: {name} copies the frontend to {dests}, nginx serves {root} (NGINX_STATIC_ROOT)")
        runs = " ".join(a for i, a in named.get(name, {}).get("instrs", []) if i == "RUN" and "check-dist.sh" in a)
        if runs and not re.search(r"check-dist\.sh\s+" + re.escape(root) + r"/?(\s|$)", runs):
            fail(f"deploy/frontend/Dockerfile: {name} runs check-dist.sh on another directory than {root}")
    # A bind mount on (or above) the root would hide the files baked into the image.
    for v in svc.get("volumes") or []:
        target = v.get("target", "").rstrip("/")
        if target and (root == target or root.startswith(target + "/")):
            fail(f"nginx: a volume at {target} hides the frontend baked into the image at {root}")
    with open(os.path.join(REPO, "nginx", "nginx.conf.template")) as f:
        roots = re.findall(r"^\s*root\s+\$\{NGINX_STATIC_ROOT\};", f.read(), re.M)
    if not roots:
        fail("nginx/nginx.conf.template: no `root ${NGINX_STATIC_ROOT};`")
    done(f"{root}: where both targets put the frontend, what the template's {len(roots)} static locations serve, no volume over it")


def frontend_overrides(*cases):
    """Triplets: a `config --format json` output, the frontend context and the target it must
    resolve to (`-` for none)."""
    if not cases or len(cases) % 3:
        fail("usage: frontend-overrides (CONFIG_JSON EXPECTED_CONTEXT EXPECTED_TARGET)...")
        done("")
    for i in range(0, len(cases), 3):
        path, want_ctx, want_target = cases[i:i + 3]
        build = nginx_service(path).get("build") or {}
        ctx = (build.get("additional_contexts") or {}).get(FRONTEND_CONTEXT)
        target = build.get("target") or "-"
        if ctx != want_ctx or target != want_target:
            fail(f"{os.path.basename(path)}: frontend context {ctx}, target {target}; expected {want_ctx}, {want_target}")
        else:
            print(f"  {os.path.basename(path)}: context {ctx}, target {target}")
    done("each override resolves to the documented context and target")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    funcs = {
        "compose-policy": compose_policy, "compose-services": compose_services, "env-drift": env_drift,
        "nginx-env": nginx_env, "service-env": service_env, "alert-coverage": alert_coverage,
        "alertmanager-render": alertmanager_render,
        "dashboards": dashboards, "metric-names": metric_names, "live-metrics": live_metrics,
        "dockerfile": dockerfile, "env-deploy": env_deploy, "frontend-pin": frontend_pin,
        "frontend-dockerfile": frontend_dockerfile, "frontend-root": frontend_root,
        "frontend-overrides": frontend_overrides,
    }
    funcs[cmd](*args)


if __name__ == "__main__":
    main()
