#!/usr/bin/env python3
"""Schemathesis against the live API: the served OpenAPI document, every operation, with auth and
seeded data.

    scripts/lib/schemathesis_run.py [BINARY] [--long]     (scripts/schemathesis)

Needs a running native stack with its environment loaded (`eval "$(scripts/stack env)"`). Steps:

1. Install schemathesis (pinned: PIN below) from PyPI into a virtualenv under
   $DEARME_SCHEMATHESIS_CACHE (default ~/.cache/dearme-schemathesis), reused while it holds the pin.
2. Run `BINARY migrate`, then `dev-llm`, `worker` and `serve` on free loopback ports, with the
   development LLM, auto-verified e-mail, no rate limits and a Redis prefix of their own.
3. Seed through the API (scripts/lib/schemathesis_seed.py): user A with diaries, a quiz persona, a
   chat with a reply and a pending job; user B (a friend of A, with a persona A chats with); user C,
   whose friend request A has not answered yet; the notifications all this makes.
4. Write a schemathesis.toml: A's bearer token and `Accept-Encoding: gzip` on every request
   (`POST /auth/logout` gets a session of A's own, so logging out never ends the run's session),
   the seeded ids as dictionaries bound to the path and body parameters that name them (half the
   generated values come from there, the other half stay random: 404s are tested too), the
   checks, the phases and their bounds.
5. Run `schemathesis run` on $API/api/v1/openapi.json: the examples, coverage, fuzzing and stateful
   phases. The stateful phase chains operations through OpenAPI links: those the document
   declares, and those schemathesis infers (dependency analysis of the schemas, `Location`
   headers).

Checks, every one of which fails the run: not_a_server_error (any 5xx), content_type_conformance,
response_schema_conformance (a body it cannot decode, or one that does not match the schema; SSE
events too), status_code_conformance (a status the document does not list),
response_headers_conformance, negative_data_rejection (invalid input accepted with a 2xx),
positive_data_acceptance (valid input refused with a 4xx other than 400/401/403/404/409/429),
ignored_auth (a secured operation answering without credentials), unsupported_method and
allow_header_conformance (405 with `Allow`), missing_required_header, use_after_free and
ensure_resource_availability (stateful: a deleted resource still there, a created one missing). A
transport error or a response that cannot be read (a broken gzip body, a reset connection) is an
error, which fails the run too. Every distinct failure is written, with one request and its
response, to failures.txt (scripts/lib/schemathesis_failures.py).

Forms: short (default, CI): every phase with 30 examples an operation, stateful scenarios of at most
10 steps and a fixed seed (about a minute when it passes; schemathesis is stopped after
SHORT["max_secs"]). Long (--long or SCHEMATHESIS_LONG=1): 300 examples, 20 steps, a random seed
(printed), for a manual run (several minutes).

Environment, for investigating: SCHEMATHESIS_CONTINUE=1 keeps testing an operation after its first
failure (every failure, not the first of each); SCHEMATHESIS_SCHEMA_FILE=PATH tests a local copy of
the document instead of the served one (to try a change to the document before making it in the
code that generates it).

Exits 0 with a PASS line and schemathesis' counts; 1 on failures, with schemathesis' report and the
processes' logs kept under /tmp/dearme-schemathesis-*/ (named in the output); 2 when it cannot run.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schemathesis_failures  # noqa: E402
import schemathesis_seed  # noqa: E402
import procs as processes  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PIN = "4.32.5"
CACHE = os.environ.get("DEARME_SCHEMATHESIS_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dearme-schemathesis")
CHECKS = ["not_a_server_error", "content_type_conformance", "response_schema_conformance",
          "status_code_conformance", "response_headers_conformance", "negative_data_rejection",
          "positive_data_acceptance", "ignored_auth", "unsupported_method", "allow_header_conformance",
          "missing_required_header", "use_after_free", "ensure_resource_availability"]
# max_secs bounds schemathesis' own process (it is not given --max-time, which would make the fuzzing
# and stateful phases repeat until the time is spent).
SHORT = {"max_examples": 30, "seed": 20240601, "max_steps": 10, "max_secs": 240}
LONG = {"max_examples": 300, "seed": None, "max_steps": 20, "max_secs": 3600}
# Statuses a schema-valid request may get: the defaults, and 400, the contract's business rules (a
# duplicate diary date, too few diaries for a persona, ...) that no schema can express.
POSITIVE_STATUSES = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
STARTUP_SECS = 30
HEALTH = {"dev-llm": "/health", "worker": "/health/live", "serve": "/health/live"}
# What a path or body parameter of the document names -> the seeded values for it.
BINDINGS = {
    "path.diary_id": "diary_ids", "path.chat_id": "chat_ids", "path.message_id": "message_ids",
    "path.friendship_id": "friendship_ids", "path.friend_id": "friend_ids",
    "path.notification_id": "notification_ids", "path.user_id": "user_ids", "path.job_id": "job_ids",
    "path.username": "usernames", "body.persona_id": "persona_ids", "body.addressee_id": "user_ids",
    "body.analysis_id": "analysis_ids", "body.notification_ids[*]": "notification_ids",
}
BIND_PROBABILITY = 0.5
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def die(msg):
    print(f"schemathesis: {msg}", file=sys.stderr)
    sys.exit(2)


def log(msg):
    print(f"schemathesis: {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_schemathesis():
    """The pinned schemathesis executable, installed into the cached virtualenv when missing."""
    venv = os.path.join(CACHE, f"venv-{PIN}")
    exe, marker = os.path.join(venv, "bin", "schemathesis"), os.path.join(venv, "installed")
    if os.path.exists(marker) and os.access(exe, os.X_OK):
        return exe
    # No marker: none there, or an install that broke off. Start again.
    log(f"installing schemathesis=={PIN} from PyPI into {venv}")
    shutil.rmtree(venv, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--quiet", "--disable-pip-version-check",
                        f"schemathesis=={PIN}"], check=True)
    except subprocess.CalledProcessError as err:
        die(f"could not install schemathesis=={PIN}: {err}")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.strip().endswith(PIN):
        die(f"the installed schemathesis says {out.stdout.strip() or out.stderr.strip()!r}, not {PIN}")
    with open(marker, "w") as f:
        f.write(PIN + "\n")
    return exe


class Processes(processes.Processes):
    """The app processes, all with one environment."""

    def __init__(self, binary, logdir, env):
        super().__init__(binary, logdir)
        self.env = env

    def start(self, name, args):
        super().start(name, args, self.env)

    def wait_healthy(self, name, addr):
        url = f"http://{addr}{HEALTH[name]}"
        deadline = time.monotonic() + STARTUP_SECS
        while time.monotonic() < deadline:
            if self.running[name].poll() is not None:
                raise RuntimeError(f"{name} exited with status {self.running[name].returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} not healthy at {url} after {STARTUP_SECS}s")


def start_api(procs, addrs):
    out = subprocess.run([procs.binary, "migrate"], env=procs.env, cwd=procs.logdir,
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"migrate exited with status {out.returncode}: {out.stdout[-500:]}{out.stderr[-500:]}")
    for name in ("dev-llm", "worker", "serve"):
        procs.start(name, [name])
    for name in ("dev-llm", "worker", "serve"):
        procs.wait_healthy(name, addrs[name])


def toml_value(value):
    """A TOML value for str, int, float, bool, list and dict (inline table) values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def config_toml(form, seeded, reports):
    """schemathesis.toml for this run."""
    lines = [f"seed = {form['seed']}" if form["seed"] is not None else "# seed: random, printed by schemathesis",
             # One worker: with two, hypothesis' lambda descriptions race in CPython 3.11's ast module
             # ("AST constructor recursion depth mismatch"), and the API shares the two cores anyway.
             "workers = 1",
             "request-timeout = 30",
             f"continue-on-failure = {toml_value(bool(os.environ.get('SCHEMATHESIS_CONTINUE')))}",
             "max-stream-events = 64",
             "[headers]",
             f"Authorization = {toml_value('Bearer ' + seeded['token'])}",
             'Accept-Encoding = "gzip"',
             "[generation]",
             f"max-examples = {form['max_examples']}",
             'database = "none"',
             # Every string field refuses NUL (Postgres text cannot hold it) with a 422 the document
             # does not declare as a pattern: not a thing to find again on every run.
             "allow-x00 = false",
             "[checks]",
             "enabled = false"]
    lines += [f"{name}.enabled = true" for name in CHECKS]
    lines += [f"positive_data_acceptance.expected-statuses = {toml_value(POSITIVE_STATUSES)}"]
    lines += ["[phases.stateful]", f"max-steps = {form['max_steps']}",
              "[dictionaries]"]
    dictionaries = {name: values for name, values in seeded["dictionaries"].items() if values}
    lines += [f"{name} = {{ values = {toml_value(values)} }}" for name, values in sorted(dictionaries.items())]
    lines += ["[parameters]"]
    lines += [f"{json.dumps(key)} = {{ dictionary = {json.dumps(name)}, probability = {BIND_PROBABILITY} }}"
              for key, name in BINDINGS.items() if name in dictionaries]
    lines += ["[reports]", f"directory = {toml_value(reports)}",
              "json.enabled = true", f"json.path = {toml_value(os.path.join(reports, 'report.json'))}",
              "junit.enabled = true", "ndjson.enabled = true",
              # Logging out revokes the session it is sent with: never the run's own.
              "[[operations]]", 'include-path = "/api/v1/auth/logout"',
              f"headers = {toml_value({'Authorization': 'Bearer ' + seeded['logout_token']})}"]
    return "\n".join(lines) + "\n"


def summarize(report_path):
    """schemathesis' counts from its JSON report, as printable lines; whether it passed."""
    with open(report_path) as f:
        doc = json.load(f)
    ops, cases = doc.get("operations") or {}, doc["test_cases"]
    lines = [f"operations: {ops.get('tested', 0)} tested of {ops.get('selected', 0)} selected "
             f"({ops.get('total', 0)} in the document; {ops.get('errored', 0)} errored, {ops.get('skipped', 0)} skipped)",
             f"test cases: {cases['generated']} generated, {cases['with_failures']} with failures, "
             f"{cases['unique_failures']} unique failures, {cases['errored']} errored",
             "phases: " + ", ".join(f"{name} {p['status']}" for name, p in (doc.get("phases") or {}).items()),
             f"seed {doc.get('seed')}, {doc.get('running_time', 0):.0f}s, stop reason {doc.get('stop_reason')}"]
    for failure in doc["failures"]:
        lines.append(f"FAILURE {failure['title']} ({failure['code']}): {failure['count']}x in "
                     + ", ".join(failure["operations"]))
    for error in doc["errors"]:
        lines.append(f"ERROR {error['title']}: {error['count']}x")
    ok = doc["exit_code"] == 0 and not doc["failures"] and not doc["errors"] and doc.get("complete")
    return lines, ok


def run_schemathesis(exe, form, base, seeded, workdir, long_form):
    """Runs schemathesis with its config and reports; prints its counts and its distinct failures
    (all of them in failures.txt). Whether it passed."""
    reports = os.path.join(workdir, "report")
    config = os.path.join(workdir, "schemathesis.toml")
    with open(config, "w") as f:
        f.write(config_toml(form, seeded, reports))
    # SCHEMATHESIS_SCHEMA_FILE: a local document instead of the served one, to try a change to the
    # document before making it in the code that generates it.
    schema = os.environ.get("SCHEMATHESIS_SCHEMA_FILE") or f"{base}/api/v1/openapi.json"
    cmd = [exe, "--config-file", config, "run", schema, "--url", base, "--no-color"]
    log(f"{'long' if long_form else 'short'} form: {' '.join(cmd[1:])}")
    output_path = os.path.join(workdir, "schemathesis.out")
    with open(output_path, "w") as out:
        try:
            status = subprocess.run(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, timeout=form["max_secs"]).returncode
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"schemathesis did not finish within {form['max_secs']}s (its output: {output_path})")
    report = os.path.join(reports, "report.json")
    if not os.path.exists(report):
        with open(output_path, errors="replace") as f:
            print(f.read()[-5000:], file=sys.stderr)
        raise RuntimeError(f"schemathesis exited {status} without a report")
    lines, passed = summarize(report)
    for line in lines:
        log(line)
    ndjson = [os.path.join(reports, n) for n in os.listdir(reports) if n.endswith(".ndjson")]
    if ndjson:
        groups = schemathesis_failures.collect(ndjson[0])
        with open(os.path.join(workdir, "failures.txt"), "w") as f:
            f.write(schemathesis_failures.render(groups))
        for (operation, code, what), g in groups.items():
            log(schemathesis_failures.printable(f"  {operation}: {code} {g['title']} x{g['count']}: {what}")[:300])
        if groups:
            log(f"{len(groups)} distinct failures, each with a request and its response: {workdir}/failures.txt")
    if not passed or status != 0:
        with open(output_path, errors="replace") as f:
            text = f.read()
        errors = text.find("=== ERRORS ===")
        if errors >= 0:
            print(text[errors:errors + 4000], file=sys.stderr)
    return passed and status == 0


def logged_errors(workdir):
    """Errors the API and the worker logged (a failed job is no response schemathesis sees)."""
    for name in ("serve", "worker"):
        with open(os.path.join(workdir, f"{name}.log"), errors="replace") as f:
            errors = [line for line in (ANSI.sub("", raw) for raw in f) if " ERROR " in line]
        if errors:
            log(f"note: {name} logged {len(errors)} ERROR lines; the first: {errors[0].strip()[:400]}")


def main(argv):
    args = [a for a in argv if a != "--long"]
    long_form = "--long" in argv or os.environ.get("SCHEMATHESIS_LONG", "") not in ("", "0")
    if len(args) > 1 or any(a.startswith("-") for a in args):
        die("usage: schemathesis_run.py [BINARY] [--long]")
    binary = os.path.abspath(args[0] if args else os.path.join(REPO, "target", "debug", "dearme"))
    if not os.access(binary, os.X_OK):
        die(f"{binary} is not an executable (cargo build --bin dearme)")
    for var in ("DATABASE_URL", "DATABASE_READ_URL", "DATABASE_DIRECT_URL", "REDIS_URL"):
        if not os.environ.get(var):
            die(f'{var} is not set: load the stack environment first: eval "$(scripts/stack env)"')
    form = LONG if long_form else SHORT
    exe = ensure_schemathesis()
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="dearme-schemathesis-", dir="/tmp")
    addrs = {name: f"127.0.0.1:{free_port()}" for name in HEALTH}
    env = {**os.environ, "LLM_PROVIDER": "dev", "LLM_BASE_URL": f"http://{addrs['dev-llm']}/v1",
           "DEV_LLM_ADDR": addrs["dev-llm"], "METRICS_ADDR": addrs["worker"], "LISTEN_ADDR": addrs["serve"],
           "JWT_SECRET": "schemathesis-secret-0123456789abcdefghijkl", "AUTO_VERIFY_EMAIL": "true",
           "RATE_LIMIT_ENABLED": "false", "REDIS_PREFIX": f"schemathesis:{os.getpid()}:", "RUST_LOG": "warn"}
    procs, passed = Processes(binary, workdir, env), False
    try:
        start_api(procs, addrs)
        base = f"http://{addrs['serve']}"
        log(f"api {base}, worker and dev-llm healthy after {time.monotonic() - started:.1f}s")
        seeded = schemathesis_seed.seed(base + "/api/v1")
        log("seeded: " + ", ".join(f"{len(v)} {k}" for k, v in seeded["dictionaries"].items()))
        passed = run_schemathesis(exe, form, base, seeded, workdir, long_form)
        logged_errors(workdir)
    except (RuntimeError, OSError, subprocess.TimeoutExpired, schemathesis_seed.SeedFailed) as err:
        print(f"schemathesis: FAIL: {type(err).__name__}: {err}", file=sys.stderr)
    finally:
        procs.stop()
    elapsed = time.monotonic() - started
    if not passed:
        procs.tails(20)
        log(f"FAIL after {elapsed:.0f}s; schemathesis' output, reports and the processes' logs are kept in {workdir}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    log(f"PASS in {elapsed:.0f}s ({'long' if long_form else 'short'} form, schemathesis {PIN})")
    return 0


if __name__ == "__main__":
    # SIGTERM (a CI timeout) must still stop the processes (the finally above).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main(sys.argv[1:]))
