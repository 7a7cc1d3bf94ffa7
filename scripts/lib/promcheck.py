"""Every PromQL expression the monitoring uses, asked of a running Prometheus (used by
scripts/prometheus-smoke, not run directly).

    promcheck.py BASE_URL NATIVE_JOBS     e.g. http://127.0.0.1:9090 api,worker

The expressions: each Grafana panel query (template variables filled in as scripts/check-deploy
does), each recording rule (its output series, by name), and each alert's signal: the alert's
expression cut at its top-level comparisons and `and`/`or`/`unless`, numbers dropped, and
`absent(x)` read as `x` (absent is empty exactly when the series is there). `up > 0` says
nothing when it is empty; `up` must not be.

Each expression's sources are the scrape jobs of the metric names it uses: the app's
(monitoring/app-metrics.txt: jobs api and worker), the exporters' (monitoring/exporter-metrics.txt,
whose sections name their `scrape job`), and for a recorded series, the sources of its rule.
An expression whose sources all run in this Prometheus must return at least one series: empty
is a failure, except for an alert's signal whose metrics carry every label it selects on: its
condition may be in the selector (`llm_provider_info{provider="dev"}`), so empty is just the
quiet state (listed as QUIET). One with a source that does not run here (an exporter of the
compose stack) is skipped, and listed with the reason. Prints the verdicts; exits 1 on any
failure.
"""

import json
import os
import re
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploycheck as dc  # noqa: E402  (the same parsing of rules and dashboards)

APP_JOBS = ("api", "worker")
ANY = "any"  # `up`: Prometheus writes it for whatever it scrapes


def metric_sources():
    """metric name -> set of scrape jobs that expose it."""
    sources = {n: set(APP_JOBS) for n in dc.read_names(os.path.join(dc.MON, "app-metrics.txt"))}
    job = None
    with open(os.path.join(dc.MON, "exporter-metrics.txt")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("#"):
                m = re.search(r"\(scrape job: ([\w-]+)\)", line)
                if m:
                    job = m.group(1)
            elif line:
                if job is None:
                    sys.exit(f"exporter-metrics.txt: {line} is in no section naming its `(scrape job: NAME)`")
                sources[line] = {job}
    return sources


def split_signal(expr):
    """The operands of an alert expression's top-level comparisons and set operators."""
    parts, depth, start, i, quote = [], 0, 0, 0, None
    s = expr
    while i < len(s):
        c = s[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            m = re.match(r"==|!=|>=|<=|>|<|(?:and|or|unless)\b", s[i:])
            word = m and m.group(0)[0].isalpha()
            if m and not (word and i > 0 and (s[i - 1].isalnum() or s[i - 1] in "_:")):
                parts.append(s[start:i])
                i += len(m.group(0))
                start = i
                continue
        i += 1
    parts.append(s[start:])
    out = []
    for p in parts:
        p = p.strip()
        # modifiers that follow an operator: bool, on(...), ignoring(...), group_left/right(...)
        while True:
            m = re.match(r"(?:bool\b|(?:on|ignoring|group_left|group_right)\s*\([^)]*\))\s*", p)
            if not m:
                break
            p = p[m.end():]
        if not p or re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]?Inf|NaN", p):
            continue
        m = re.fullmatch(r"absent\s*\((.*)\)", p, re.S)
        out.append(m.group(1).strip() if m else p)
    return out


def dashboard_variables(dash):
    variables = {}
    for v in dash.get("templating", {}).get("list", []):
        variables[v["name"]] = str(v.get("query", "0")) if v.get("type") in ("textbox", "constant") else ".*"
    return variables


def expressions():
    """[(where, what, promql, kind)], kind: record | alert | panel."""
    exprs = []
    for path, groups in dc.rule_groups().items():
        rel = os.path.relpath(path, dc.REPO)
        for g in groups:
            for r in g["rules"]:
                if "record" in r:
                    exprs.append((rel, f"record {r['record']}", r["record"], "record"))
                else:
                    for part in split_signal(r["expr"]):
                        exprs.append((rel, f"alert {r['alert']}", part, "alert"))
    for path in dc.dashboard_files():
        rel = os.path.relpath(path, dc.REPO)
        with open(path) as f:
            dash = json.load(f)
        variables = dashboard_variables(dash)
        for p in dc.iter_panels(dash.get("panels", [])):
            for t in p.get("targets", []):
                if t.get("expr"):
                    exprs.append((rel, f"panel '{p.get('title')}'", dc.grafana_to_promql(t["expr"], variables), "panel"))
    return exprs


def sources_of(expr, metrics, records, seen=()):
    jobs = set()
    for name in dc.promql_metric_names(expr):
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in metrics:
                base = name[: -len(suffix)]
        if base in records and base not in seen:
            jobs |= sources_of(records[base], metrics, records, seen + (base,))
        elif base in metrics:
            jobs |= metrics[base]
        else:
            jobs.add(f"?{base}")  # unknown: check-deploy's metric-names check names it
    return jobs


def selector_labels(expr):
    """(metric, label) for each positive matcher (= or =~) of the expression's selectors."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    out = []
    for m in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}", s):
        for lab in re.findall(r"(\w+)\s*=~?\s*\"", m.group(2)):
            out.append((m.group(1), lab))
    return out


def query(base, expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(body.get("error", body))
    return body["data"]["result"]


def main():
    base, native = sys.argv[1].rstrip("/"), set(filter(None, sys.argv[2].split(",")))
    metrics = metric_sources()
    records = {r["record"]: r["expr"] for gs in dc.rule_groups().values() for g in gs for r in g["rules"] if "record" in r}
    ok, quiet, skipped, failed = [], [], [], []
    for where, what, expr, kind in expressions():
        jobs = sources_of(expr, metrics, records) - {ANY}
        missing = sorted(j for j in jobs if j not in native)
        label = f"{where} {what}: {' '.join(expr.split())}"
        if missing:
            skipped.append(f"{label}\n        (not running here: scrape job{'s' if len(missing) > 1 else ''} {', '.join(missing)})")
            continue
        try:
            result = query(base, expr)
        except Exception as e:  # a query error is a failure too (promtool only checks syntax)
            failed.append(f"{label}\n        (query error: {e})")
            continue
        if result:
            ok.append(label)
            continue
        absent = [n for n in sorted(dc.promql_metric_names(expr)) if not query(base, f"count({n})")]
        if kind == "alert" and not absent:
            # An alert's condition may live in a selector (`llm_provider_info{provider="dev"}`):
            # empty is the quiet state. What must hold is that its metrics exist and carry the
            # labels it selects on.
            missing_labels = [f"{name}{{{lab}}}" for name, lab in selector_labels(expr)
                              if not query(base, f'count({name}{{{lab}!=""}})')]
            if not missing_labels:
                quiet.append(label)
                continue
            failed.append(f"{label}\n        (empty, and no series carries {', '.join(missing_labels)})")
            continue
        why = (f"no series at all named {', '.join(absent)}" if absent
               else "its metrics exist, but the selection (labels, filters) is empty")
        failed.append(f"{label}\n        (empty while {', '.join(sorted(jobs)) or 'no source'} up: {why})")
    for line in quiet:
        print(f"  QUIET {line}\n        (alert condition not met now; its metrics carry the labels it selects on)")
    for line in skipped:
        print(f"  SKIP  {line}")
    for line in failed:
        print(f"  FAIL  {line}")
    print(f"  {len(ok)} expressions returned series, {len(quiet)} alert conditions quiet, "
          f"{len(skipped)} skipped (source not running here), {len(failed)} empty or failing")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
