#!/usr/bin/env python3
"""Compose parity smoke: the app processes of docker-compose.prod.yml, run natively with exactly
the environment compose gives them, driven through nginx over a whole user flow.

    scripts/lib/parity.py [BINARY]        (scripts/parity-smoke; default target/debug/dearme)

Needs a running native stack with its environment loaded (`eval "$(scripts/stack env)"`, so
STACK_DIR names it). Steps:

1. Render docker-compose.prod.yml with compose's own loader and the placeholder .env that
   scripts/lib/compose_env.py uses; take the environment of `migrate`, `api`, `worker` and
   `dev-llm` (over the image's own `ENV` from the Dockerfile's final stage, as a container sees it).
2. Map host names to the native stack, and nothing else: a URL (or bare host:port) naming a
   compose data service gets the native stack's credentials and host:port (`scripts/stack env`);
   one naming an app service gets that service's native listen address; a listen address
   0.0.0.0:PORT becomes 127.0.0.1:PORT' (the API's is the API_UPSTREAM nginx proxies to, the others
   free ports). A reference to any other compose host fails: a new service cannot slip through
   unmapped. Every other variable is passed exactly as compose renders it. Each process gets that
   environment plus PATH and nothing else.
3. Run migrate (must exit 0), then dev-llm, worker and api, each with compose's command; wait until
   they are healthy.
4. Through $NGINX_URL/api/v1: register; login refused until verified (403 `Email not verified`);
   `BINARY users verify EMAIL` under the api's environment (the operator path without SMTP); login;
   diaries on the four allowed dates (today-3 .. today, UTC: the current week always has one); a
   quiz persona and its upgrade from the diaries (both made by the worker with the dev LLM); a chat
   reply streamed over SSE; the mental analyses the worker makes for each diary; the weekly and
   monthly reports (built on demand by the worker).

Exits 0 with one PASS line, 1 on a failed check (with the end of every process's log), 2 when it
cannot run. Standard library only.
"""

import datetime
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the tree for the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compose_env  # noqa: E402
import procs as processes  # noqa: E402

REPO = compose_env.REPO
# Started in this order; `migrate` runs to completion first.
SERVICES = ("migrate", "dev-llm", "worker", "api")
# A compose data service's host:port -> the `scripts/stack env` variable naming its native URL.
NATIVE_URL_VARS = {
    ("pgbouncer-rw", 6432): "DATABASE_URL",
    ("pgbouncer-ro", 6432): "DATABASE_READ_URL",
    ("postgres-primary", 5432): "DATABASE_DIRECT_URL",
    ("postgres-replica", 5432): "DATABASE_REPLICA_DIRECT_URL",
    ("redis", 6379): "REDIS_URL",
}
DEFAULT_PORTS = {"http": 80, "https": 443, "postgres": 5432, "postgresql": 5432, "redis": 6379, "rediss": 6379}
# Each process's health endpoint, on the native address of its listen variable.
HEALTH = {"dev-llm": ("DEV_LLM_ADDR", "/health"), "worker": ("METRICS_ADDR", "/health/live"),
          "api": ("LISTEN_ADDR", "/health/live")}
LISTEN_RE = re.compile(r"^(?:0\.0\.0\.0|\[::\]):(\d+)$")
URL_RE = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://([^/?#\s,]*)")
PASSWORD = "parity-password-123"
# The flow's LLM jobs: quiz persona, its upgrade, the chat reply, 4 diary analyses, 2 reports.
LLM_JOBS = 9
STARTUP_SECS = 30
HTTP_TIMEOUT = 30
# The whole run, processes started to PASS (it takes seconds; a hang must not stall CI).
OVERALL_SECS = 120


class Failed(Exception):
    """A check failed: the message says which."""


def die(msg):
    print(f"parity: {msg}", file=sys.stderr)
    sys.exit(2)


def log(msg):
    print(f"parity: {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# The native stack and the compose environment


def native_stack():
    """`scripts/stack env`'s variables, and the API_UPSTREAM its nginx proxies to."""
    if not os.environ.get("STACK_DIR"):
        die('load the stack environment first: eval "$(scripts/stack env)"')
    out = subprocess.run([os.path.join(REPO, "scripts", "stack"), "env"], capture_output=True, text=True)
    if out.returncode != 0:
        die(f"scripts/stack env failed: {out.stderr.strip()}")
    stack = {}
    for line in out.stdout.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            stack[name] = value
    saved = os.path.join(os.environ["STACK_DIR"], "stack.env")
    upstream = os.environ.get("API_UPSTREAM")
    if os.path.exists(saved):
        with open(saved) as f:
            upstream = dict(line.rstrip("\n").partition("=")[::2] for line in f if "=" in line).get("API_UPSTREAM", upstream)
    missing = [name for name in (*NATIVE_URL_VARS.values(), "NGINX_URL") if not stack.get(name)]
    if missing or not upstream:
        die(f"scripts/stack env gave no {', '.join(missing) or 'API_UPSTREAM'}")
    return stack, upstream


def image_env():
    """The `ENV` of the Dockerfile's final stage: what every app container starts with."""
    with open(os.path.join(REPO, "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    env = {}
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if not words:
            continue
        if words[0].upper() == "FROM":
            env = {}
        elif words[0].upper() == "ENV" and len(words) == 2:
            for word in shlex.split(words[1], comments=True):
                name, sep, value = word.partition("=")
                if not sep:
                    die(f"Dockerfile: cannot read `ENV {words[1]}`")
                env[name] = value
    return env


def compose_services():
    """(service -> (command args after `dearme`, environment)), and every compose host name."""
    services = compose_env.rendered_services()
    hosts = set(services)
    for service in services.values():
        hosts.update(filter(None, (service.get("hostname"), service.get("container_name"))))
        for network in (service.get("networks") or {}).values():
            hosts.update((network or {}).get("aliases") or [])
    base = image_env()
    picked = {}
    for name in SERVICES:
        if name not in services:
            die(f"{compose_env.COMPOSE_FILE} has no service {name}")
        command = services[name].get("command") or []
        if isinstance(command, str):
            command = shlex.split(command)
        if not command or os.path.basename(command[0]) != "dearme":
            die(f"service {name} does not run dearme: {command}")
        picked[name] = (command[1:], {**base, **compose_env.container_env(services[name])})
    return picked, hosts


# ---------------------------------------------------------------------------------------------
# Host mapping


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def split_authority(authority):
    userinfo, at, hostport = authority.rpartition("@")
    match = re.fullmatch(r"(\[[^\]]*\]|[^:]*)(?::(\d*))?", hostport)
    host, port = match.group(1), match.group(2)
    return (userinfo + at), host, (int(port) if port else None)


def mask(value):
    """A value for printing: a URL's password hidden."""
    return URL_RE.sub(lambda m: f"{m.group(1)}://" + re.sub(r"(:)[^:@]*@", r"\1***@", m.group(2)), value)


class Mapper:
    """Compose host:port -> native address, for the data services and the app processes' listeners."""

    def __init__(self, stack, api_upstream, hosts, envs):
        self.hosts = hosts
        self.targets = {}  # (host, port) -> (native userinfo@ or "" or None to keep, "127.0.0.1:P")
        for key, var in NATIVE_URL_VARS.items():
            parts = urllib.parse.urlsplit(stack[var])
            self.targets[key] = ((parts.netloc.rpartition("@")[0] + "@") if "@" in parts.netloc else "",
                                 f"{parts.hostname}:{parts.port}")
        # Every listener an app service is told to open: its native address.
        for service, (_, env) in envs.items():
            for value in env.values():
                match = LISTEN_RE.match(value)
                if match and (service, int(match.group(1))) not in self.targets:
                    port = int(match.group(1))
                    addr = api_upstream if (service, port) == ("api", 8000) else f"127.0.0.1:{free_port()}"
                    self.targets[(service, port)] = (None, addr)

    def target(self, service, var, host, port):
        if (host, port) not in self.targets:
            known = ", ".join(f"{h}:{p}" for h, p in sorted(self.targets))
            raise Failed(f"{service} {var}: {host}:{port} is a compose host this check does not map "
                         f"(known: {known}); add it to scripts/lib/parity.py")
        return self.targets[(host, port)]

    def map_value(self, service, var, value):
        match = LISTEN_RE.match(value)
        if match:
            return self.targets[(service, int(match.group(1)))][1]

        def url(m):
            scheme, authority = m.group(1), m.group(2)
            userinfo, host, port = split_authority(authority)
            if host not in self.hosts:
                return m.group(0)
            port = port or DEFAULT_PORTS.get(scheme.lower())
            native_userinfo, addr = self.target(service, var, host, port)
            return f"{scheme}://{userinfo if native_userinfo is None else native_userinfo}{addr}"

        mapped = URL_RE.sub(url, value)
        # Outside URLs: a bare `host` or `host:port` token naming a compose host.
        for token in re.split(r"[\s,;]+", URL_RE.sub(" ", mapped)):
            host, _, port = token.partition(":")
            if host in self.hosts:
                if not port.isdigit():
                    raise Failed(f"{service} {var}={value!r} names the compose host {host} without a port: cannot map it")
                addr = self.target(service, var, host, int(port))[1]
                mapped = re.sub(rf"(?<![\w.-]){re.escape(token)}(?![\w.-])", addr, mapped)
        return mapped

    def apply(self, envs):
        """The mapped environments, and the printable lines of what changed."""
        mapped, changes = {}, {}
        for service, (_, env) in envs.items():
            mapped[service] = {}
            for var, value in env.items():
                new = self.map_value(service, var, value)
                mapped[service][var] = new
                if new != value:
                    changes.setdefault((var, mask(value), mask(new)), []).append(service)
        lines = [f"  {var}: {old} -> {new}  ({', '.join(services)})"
                 for (var, old, new), services in sorted(changes.items())]
        return mapped, lines


# ---------------------------------------------------------------------------------------------
# Processes


class Processes(processes.Processes):
    """The app's processes, with nothing of this shell's environment but PATH."""

    def start(self, name, args, env):
        super().start(name, args, {**env, "PATH": os.environ.get("PATH", "/usr/bin:/bin")})

    def run(self, name, args, env, timeout=60):
        """Runs to completion; its exit status."""
        self.start(name, args, env)
        try:
            return self.running[name].wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failed(f"{name} did not finish within {timeout}s")

    def check_alive(self):
        for name, proc in self.running.items():
            if proc.poll() is not None and name in HEALTH:
                raise Failed(f"{name} exited with status {proc.returncode}")


def http_get_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (OSError, ValueError):
        return False


def listening(addr):
    host, _, port = addr.rpartition(":")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) == 0


# ---------------------------------------------------------------------------------------------
# The user flow, through nginx


class Api:
    def __init__(self, base):
        self.base, self.token = base, None

    def request(self, method, path, body=None, expect=200, stream=False):
        headers = {"accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        for attempt in range(15):
            try:
                resp = urllib.request.urlopen(req, timeout=HTTP_TIMEOUT)
                break
            except urllib.error.HTTPError as err:
                resp = err
                break
            except urllib.error.URLError as err:
                # nginx restarting: the request never arrived, so trying again is safe.
                if not isinstance(err.reason, ConnectionRefusedError) or attempt == 14:
                    raise Failed(f"{method} {path}: {err.reason}")
                time.sleep(0.2)
            except OSError as err:
                raise Failed(f"{method} {path}: {type(err).__name__}: {err}")
        if resp.status != expect:
            if resp.status == 429 and path.startswith("/auth/"):
                raise Failed(f"{method} {path}: 429: compose enables the auth rate limits, per client address and "
                             "minute, and through the native nginx every run is 127.0.0.1 (a run makes 1 register "
                             "and 2 logins: at most 2 runs a minute); try again in a minute")
            raise Failed(f"{method} {path}: status {resp.status}, expected {expect}: {resp.read()[:500].decode(errors='replace')}")
        if stream:
            return resp
        raw = resp.read()
        resp.close()
        return json.loads(raw) if raw else None


def check(cond, what):
    if not cond:
        raise Failed(what)


def wait_until(what, probe, secs=30, every=0.25):
    deadline = time.monotonic() + secs
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {secs}s waiting for {what}")
        time.sleep(every)


def stream_reply(api, chat_id, text):
    resp = api.request("POST", f"/chats/{chat_id}/messages/stream", {"content": text}, stream=True)
    check(resp.headers.get("content-type", "").startswith("text/event-stream"),
          f"stream content-type {resp.headers.get('content-type')}")
    events = []
    with resp:
        for raw in resp:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1].get("type") in ("done", "error"):
                    break
    types = [e.get("type") for e in events]
    check(types and types[0] == "user_message", f"SSE: first event is not user_message: {types}")
    check(events[0]["message"]["is_user"] is True and events[0]["message"]["content"] == text,
          f"SSE user_message: {events[0]}")
    check(types[-1] == "done", f"SSE: the stream did not end with done: {events[-1] if events else None}")
    chunks = [e["content"] for e in events if e.get("type") == "chunk"]
    check(chunks and types[1:-1] == ["chunk"] * len(chunks), f"SSE: expected chunks between: {types}")
    done = events[-1]["message"]
    check(done["is_user"] is False and done["content"] == "".join(chunks),
          "SSE: done's message is not the concatenated chunks")
    return len(chunks), done


def check_report(api, kind, start, end):
    report = api.request("GET", f"/mental/reports/{kind}")
    check(report["report_type"] == kind, f"{kind} report type {report['report_type']}")
    check((report["period_start"], report["period_end"]) == (start.isoformat(), end.isoformat()),
          f"{kind} report period {report['period_start']}..{report['period_end']}, expected {start}..{end}")
    for axis in ("emotional_stability", "vitality", "self_esteem", "positivity", "social_connection", "resilience"):
        score = report[f"avg_{axis}_score"]
        check(isinstance(score, int) and 0 <= score <= 100, f"{kind} report avg_{axis}_score {score!r}")
    check(report["trend"] in ("improving", "stable", "declining"), f"{kind} report trend {report['trend']}")
    check(report["insights"] and report["recommendations"], f"{kind} report without insights/recommendations: {report}")


def sign_up(api, procs, api_env):
    """Register; login refused until verified; the operator's CLI verifies; login. The username."""
    stamp = f"{int(time.time() * 1000) % 10**10}{os.getpid() % 10**5}"
    user, email = f"parity{stamp}", f"parity{stamp}@example.com"
    body = api.request("POST", "/auth/register", {"email": email, "username": user, "password": PASSWORD}, expect=201)
    check(body["email"] == email and body["username"] == user and body["id"] > 0, f"register: {body}")
    refused = api.request("POST", "/auth/login/json", {"email": email, "password": PASSWORD}, expect=403)
    check(refused == {"detail": "Email not verified"}, f"unverified login: {refused}")

    status = procs.run("users-verify", ["users", "verify", email], api_env)
    with open(os.path.join(procs.logdir, "users-verify.log")) as f:
        said = f.read().strip()
    check(status == 0 and "verified" in said, f"`dearme users verify` exited {status}: {said}")
    token = api.request("POST", "/auth/login/json", {"email": email, "password": PASSWORD})
    check(token["token_type"] == "bearer" and token["access_token"].count(".") == 2, f"login: {token}")
    api.token = token["access_token"]
    me = api.request("GET", "/users/me")
    check(me["email"] == email and me["email_verified"] is True, f"users/me: {me}")
    return user


def write_diaries(api, today):
    """One diary on each date the contract allows (today-3 .. today): the current week always has
    one, and three are enough for a persona upgrade. Their ids."""
    ids = []
    for back, mood in zip(range(3, -1, -1), ["happy", "calm", "grateful", "tired"]):
        date = (today - datetime.timedelta(days=back)).isoformat()
        body = {"title": f"패리티 {date}", "content": f"{date}의 일기: 산책을 하고 친구와 저녁을 먹었다.",
                "mood": mood, "weather": "sunny", "diary_date": date}
        diary = api.request("POST", "/diaries", body, expect=201)
        check(diary["diary_date"] == date and diary["mood"] == mood, f"diary: {diary}")
        ids.append(diary["id"])
    listed = api.request("GET", "/diaries")
    check(listed["total"] == len(ids), f"diaries total {listed['total']}, expected {len(ids)}")
    return ids


def persona_and_chat(api):
    """A quiz persona, its upgrade from the diaries (both jobs of the worker), a streamed reply."""
    answers = [{"question_id": q, "option_id": "abcd"[q % 4]} for q in range(1, 6)]
    quiz = api.request("POST", "/quiz/submit", {"answers": answers})
    check(quiz["success"] is True and quiz["persona_level"] == "temporary" and quiz["persona_name"], f"quiz: {quiz}")
    upgraded = api.request("POST", "/quiz/upgrade-persona")
    check(upgraded["success"] is True and upgraded["new_level"] == "basic", f"upgrade-persona: {upgraded}")
    persona = api.request("GET", "/personas/me")
    check(persona["id"] == quiz["persona_id"] and persona["level"] == "basic" and persona["personality"],
          f"personas/me: {persona}")

    chat = api.request("POST", "/chats", {"persona_id": persona["id"]}, expect=201)
    check(chat["persona_id"] == persona["id"] and chat["is_own_persona"] is True, f"chat: {chat}")
    chunks, reply = stream_reply(api, chat["id"], "오늘 하루 어땠어?")
    stored = api.request("GET", f"/chats/{chat['id']}")
    check([m["is_user"] for m in stored["messages"]] == [True, False] and stored["messages"][1]["id"] == reply["id"],
          f"chat messages after the stream: {stored['messages']}")
    return chunks


def analyses_and_reports(api, today, diary_ids):
    """The worker's analysis of every diary (its job commits with the diary), then the current
    week's and month's reports (built by the worker on demand). The number of analyses."""
    def all_analysed():
        history = api.request("GET", "/mental/history?days=7")
        return history if history["total"] >= len(diary_ids) else None

    history = wait_until("the worker's mental analysis of every diary", all_analysed)
    check(history["total"] == len(diary_ids), f"mental history: {history['total']} analyses for {len(diary_ids)} diaries")
    current = api.request("GET", "/mental/current")
    check(current["diary_id"] in diary_ids and current["overall_status"] in ("good", "neutral", "concerning", "critical")
          and current["feedback"]["message"], f"mental/current: {current}")

    monday = today - datetime.timedelta(days=today.weekday())
    check_report(api, "weekly", monday, monday + datetime.timedelta(days=6))
    first = today.replace(day=1)
    check_report(api, "monthly", first, (first + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1))
    return history["total"]


def user_flow(api, procs, api_env):
    """The whole flow; the user's name and what was done."""
    user = sign_up(api, procs, api_env)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    diary_ids = write_diaries(api, today)
    chunks = persona_and_chat(api)
    analyses = analyses_and_reports(api, today, diary_ids)
    return user, ["register, login refused unverified, verify by CLI, login", f"{len(diary_ids)} diaries",
                  "quiz persona + upgrade by the worker", f"SSE reply ({chunks} chunks)",
                  f"{analyses} analyses", "weekly + monthly reports"]


def dev_llm_used(addr):
    """Every LLM answer came from the dev-llm process (reached at the mapped LLM_DEV_URL), not
    from a fallback: one completion at least per job of the flow."""
    with urllib.request.urlopen(f"http://{addr}/_control/stats", timeout=5) as resp:
        served = json.load(resp)["requests"]
    check(served >= LLM_JOBS, f"dev-llm served {served} completions; the flow's jobs need at least {LLM_JOBS}")
    return f"dev-llm served {served} completions"


# ---------------------------------------------------------------------------------------------


def start_stack(procs, envs, mapped):
    for name in SERVICES:
        args = envs[name][0]
        if name == "migrate":
            status = procs.run(name, args, mapped[name])
            if status != 0:
                raise Failed(f"migrate exited with status {status}")
            continue
        procs.start(name, args, mapped[name])
    for name, (var, path) in HEALTH.items():
        url = f"http://{mapped[name][var]}{path}"

        def healthy():
            procs.check_alive()
            return http_get_ok(url)

        wait_until(f"{name} at {url}", healthy, secs=STARTUP_SECS, every=0.1)


def main(argv):
    if len(argv) > 1:
        die("usage: parity.py [BINARY]")
    binary = os.path.abspath(argv[0] if argv else os.path.join(REPO, "target", "debug", "dearme"))
    if not os.access(binary, os.X_OK):
        die(f"{binary} is not an executable (cargo build --bin dearme)")
    started = time.monotonic()
    stack, upstream = native_stack()
    envs, hosts = compose_services()
    try:
        mapper = Mapper(stack, upstream, hosts, envs)
        mapped, lines = mapper.apply(envs)
    except Failed as err:
        print(f"parity: FAIL: {err}", file=sys.stderr)
        return 1
    log(f"compose environment of {', '.join(SERVICES)} ({', '.join(f'{n}: {len(e[1])}' for n, e in envs.items())} "
        "variables, image ENV under compose's); host mapping applied:")
    print("\n".join(lines), flush=True)
    if listening(upstream):
        die(f"something already listens on API_UPSTREAM {upstream}: stop it first")

    def overdue(*_):
        raise Failed(f"the run took over {OVERALL_SECS}s")

    signal.signal(signal.SIGALRM, overdue)
    signal.alarm(OVERALL_SECS)
    logdir = tempfile.mkdtemp(prefix="parity-")
    procs, keep_logs = Processes(binary, logdir), False
    try:
        start_stack(procs, envs, mapped)
        log(f"migrate ok; dev-llm, worker, api healthy after {time.monotonic() - started:.1f}s")
        user, done = user_flow(Api(stack["NGINX_URL"] + "/api/v1"), procs, mapped["api"])
        done.append(dev_llm_used(mapped["dev-llm"]["DEV_LLM_ADDR"]))
        procs.check_alive()
    except (Failed, KeyError, TypeError, ValueError, OSError) as err:
        # A missing JSON field or an unparsable body is a failed check too.
        print(f"parity: FAIL: {err if isinstance(err, Failed) else f'{type(err).__name__}: {err}'}", file=sys.stderr)
        signal.alarm(0)
        procs.stop()
        procs.tails()
        print(f"parity: the processes' logs are kept in {logdir}", file=sys.stderr)
        keep_logs = True
        return 1
    finally:
        signal.alarm(0)
        procs.stop()
        if not keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)
    log(f"PASS in {time.monotonic() - started:.1f}s: compose env through nginx as {user}: {'; '.join(done)}")
    return 0


if __name__ == "__main__":
    # SIGTERM (a CI timeout) must still stop the processes (the finally above).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main(sys.argv[1:]))
