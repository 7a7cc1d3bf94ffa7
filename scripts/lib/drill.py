#!/usr/bin/env python3
"""The operations drills, on a native stack of their own with WAL archiving and pgBackRest
(scripts/drill starts it), the app run with the environment compose gives it (parity.py's mapping),
driven through nginx.

    scripts/lib/drill.py [BINARY]          (scripts/drill; default target/debug/dearme)

1. Restore drill. Users made by `dearme users create`, diaries and edits through the API; a full
   backup; more edits; an incremental backup; more edits; then, with writes paused, the row count
   of every table and a checksum of every diary's title and content, and the time T. More edits
   and a deletion after T. `scripts/stack restore T` into a fresh cluster must give exactly the
   counts and checksum noted at T (and not those of the live primary).
2. Failover drill. With the worker running and a writer editing diaries through nginx,
   `scripts/stack failover` promotes the replica and rebuilds one. Every acknowledged edit must
   still be there, the writer must be served again, the new replica must stream, a chat reply
   must complete (the worker reconnects) and an incremental backup must succeed on the new
   timeline.

Prints each drill's figures; exits 0 when every check holds, 1 when one fails, 2 when it cannot run.
"""

import datetime
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parity  # noqa: E402

REPO = parity.REPO
STACK = os.path.join(REPO, "scripts", "stack")
PASSWORD = "drill-password-123"
USERS = 3
OVERALL_SECS = 600


class Failed(Exception):
    pass


def log(msg):
    print(f"drill: {msg}", flush=True)


def check(cond, what):
    if not cond:
        raise Failed(what)


def stack(*args, capture=False):
    out = subprocess.run([STACK, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise Failed(f"scripts/stack {' '.join(args)} exited {out.returncode}: {out.stderr.strip()[-1500:]}")
    return out.stdout.strip()


def psql(port, sql, db="dearme"):
    run_dir = os.path.join(os.environ["STACK_DIR"], "run")
    out = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", run_dir, "-p", str(port),
                          "-U", "postgres", "-d", db, "-c", sql], capture_output=True, text=True)
    if out.returncode != 0:
        raise Failed(f"psql on port {port}: {out.stderr.strip()}")
    return out.stdout.strip()


def call(base, method, path, token=None, body=None, timeout=10, headers=None):
    """One request: (status, parsed body); status 0 when no answer came."""
    headers = {"accept": "application/json", **(headers or {})}
    data = None
    if body is not None:
        data, headers["content-type"] = json.dumps(body).encode(), "application/json"
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, None
    except OSError:
        return 0, None


def ok(base, method, path, token=None, body=None, expect=200):
    status, body_out = call(base, method, path, token, body)
    check(status == expect, f"{method} {path}: status {status}, expected {expect}")
    return body_out


# ---------------------------------------------------------------------------------------------
# Data: users, diaries, edits


class Data:
    def __init__(self, base, procs, api_env):
        self.base, self.procs, self.api_env = base, procs, api_env
        self.tokens, self.diaries, self.version = [], [], 0

    def users(self, count):
        stamp = int(time.time()) % 10**6
        for i in range(count):
            email, name = f"drill{stamp}{i}@example.com", f"drill{stamp}{i}"
            env = {**self.api_env, "DEARME_PASSWORD": PASSWORD}
            status = self.procs.run(f"create-{i}", ["users", "create", email, name], env)
            check(status == 0, f"`dearme users create` exited {status}")
            token = ok(self.base, "POST", "/auth/login/json", body={"email": email, "password": PASSWORD})
            self.tokens.append(token["access_token"])
        today = datetime.datetime.now(datetime.timezone.utc).date()
        for token in self.tokens:
            for days in range(4):
                day = (today - datetime.timedelta(days=days)).isoformat()
                diary = ok(self.base, "POST", "/diaries", token, {"title": f"drill {day}", "content": "v0",
                                                                  "mood": "happy", "diary_date": day}, expect=201)
                self.diaries.append((token, diary["id"]))

    def edit(self, count):
        """`count` edits, round robin over the diaries; each content names a new version."""
        for _ in range(count):
            self.version += 1
            token, diary_id = self.diaries[self.version % len(self.diaries)]
            ok(self.base, "PATCH", f"/diaries/{diary_id}", token, {"content": f"v{self.version}"})


def table_counts(port):
    tables = psql(port, "select format('%I.%I', table_schema, table_name) from information_schema.tables "
                        "where table_schema in ('public', 'apalis') and table_type = 'BASE TABLE' order by 1").split()
    sql = " union all ".join(f"select '{t}', count(*) from {t}" for t in tables)
    return dict(line.split("|") for line in psql(port, sql).splitlines())


def diary_checksum(port):
    return psql(port, "select md5(coalesce(string_agg(id || ':' || title || ':' || content, '|' order by id), '')) "
                      "from diaries")


def wait_archived(port):
    """Switches to a new WAL segment and waits until the archive has the finished one."""
    segment = psql(port, "select pg_walfile_name(pg_switch_wal())")
    deadline = time.monotonic() + 60
    while psql(port, "select coalesce(last_archived_wal, '') from pg_stat_archiver") < segment:
        check(time.monotonic() < deadline, f"WAL segment {segment} was not archived within 60 s")
        time.sleep(0.2)


def restore_drill(data, ports):
    primary = ports["PG_PRIMARY_PORT"]
    started = time.monotonic()
    data.users(USERS)
    data.edit(20)
    stack("backup", "full")
    data.edit(20)
    stack("backup", "incr")
    data.edit(20)
    noted_counts, noted_sum = table_counts(primary), diary_checksum(primary)
    target = psql(primary, "select clock_timestamp()")
    time.sleep(0.3)
    data.edit(20)
    token, diary_id = data.diaries.pop()
    ok(data.base, "DELETE", f"/diaries/{diary_id}", token, expect=204)
    live_counts, live_sum = table_counts(primary), diary_checksum(primary)
    wait_archived(primary)
    restore_dir = os.path.join(os.environ["STACK_DIR"], "pg", "restore")
    shutil.rmtree(restore_dir, ignore_errors=True)
    restore_started = time.monotonic()
    port = stack("restore", target, restore_dir).splitlines()[-1]
    restore_secs = time.monotonic() - restore_started
    try:
        got_counts, got_sum = table_counts(port), diary_checksum(port)
    finally:
        stack("restore-stop", restore_dir)
        shutil.rmtree(restore_dir, ignore_errors=True)
    differing = {t: (noted_counts.get(t), got_counts.get(t)) for t in set(noted_counts) | set(got_counts)
                 if noted_counts.get(t) != got_counts.get(t)}
    check(not differing, f"row counts at T differ (noted, restored): {differing}")
    check(got_sum == noted_sum, f"diary checksum at T: noted {noted_sum}, restored {got_sum}")
    check(live_sum != noted_sum and live_counts["public.diaries"] != noted_counts["public.diaries"],
          "the writes after T must change the live data (else the drill proves nothing)")
    rows = sum(int(n) for n in noted_counts.values())
    log(f"restore drill PASS: {len(noted_counts)} tables, {rows} rows and {noted_counts['public.diaries']} diaries "
        f"({data.version} edits in all, 20 after T and a deletion) restored to T exactly, checksum {noted_sum[:12]}; "
        f"restore + replay {restore_secs:.1f}s; drill {time.monotonic() - started:.1f}s")
    for line in stack("backup-info").splitlines():
        if "backup:" in line or "backup set size" in line or "wal archive" in line:
            log(f"  {line.strip()}")


# ---------------------------------------------------------------------------------------------
# Failover under writes


class Writer(threading.Thread):
    """Edits diaries through nginx in a loop; records each acknowledged version and each failure."""

    def __init__(self, data):
        super().__init__(daemon=True)
        self.data, self.stop = data, threading.Event()
        self.acked, self.failures, self.requests = {}, [], 0
        self.version = 10**6  # above every version the restore drill wrote

    def run(self):
        while not self.stop.is_set():
            self.version += 1
            token, diary_id = self.data.diaries[self.version % len(self.data.diaries)]
            status, _ = call(self.data.base, "PATCH", f"/diaries/{diary_id}", token, {"content": f"v{self.version}"})
            self.requests += 1
            if status == 200:
                self.acked[diary_id] = self.version
            else:
                self.failures.append((time.monotonic(), status))
                time.sleep(0.05)


def chat_reply(base, token):
    """A chat with the user's quiz persona and one reply streamed to its `done` event (parity.py's checks)."""
    api = parity.Api(base)
    api.token = token
    answers = [{"question_id": q, "option_id": "abcd"[q % 4]} for q in range(1, 6)]
    persona = api.request("POST", "/quiz/submit", {"answers": answers})
    chat = api.request("POST", "/chats", {"persona_id": persona["persona_id"]}, expect=201)
    chunks, _ = parity.stream_reply(api, chat["id"], "안녕, 오늘 어땠어?")
    return chunks > 0


def failover_drill(data, ports):
    primary, replica = ports["PG_PRIMARY_PORT"], ports["PG_REPLICA_PORT"]
    timeline_before = psql(primary, "select timeline_id from pg_control_checkpoint()")
    writer = Writer(data)
    writer.start()
    time.sleep(2)
    started = time.monotonic()
    stack("failover")
    failover_secs = time.monotonic() - started
    time.sleep(2)
    writer.stop.set()
    writer.join(15)
    check(writer.acked, "the writer got no edit through")
    final = dict(line.split("|") for line in psql(primary, "select id, content from diaries").splitlines())
    lost = [d for d, v in writer.acked.items() if int(final.get(str(d), "v0")[1:]) < v]
    check(not lost, f"acknowledged edits missing after the failover: diaries {lost}")
    served_after = [t for t, _ in writer.failures]
    outage = (max(served_after) - min(served_after)) if served_after else 0.0
    statuses = sorted({s for _, s in writer.failures})
    check(psql(primary, "select pg_is_in_recovery()") == "f", "the new primary is in recovery")
    timeline = psql(primary, "select timeline_id from pg_control_checkpoint()")
    check(int(timeline) > int(timeline_before), f"timeline {timeline} after the failover, {timeline_before} before")
    deadline = time.monotonic() + 60
    while int(psql(primary, "select count(*) from pg_stat_replication where state = 'streaming'")) < 1:
        check(time.monotonic() < deadline, "the rebuilt replica is not streaming")
        time.sleep(0.5)
    check(psql(replica, "select pg_is_in_recovery()") == "t", "the rebuilt replica is not a standby")
    check(chat_reply(data.base, data.diaries[0][0]), "a chat reply after the failover did not finish")
    stack("backup", "incr")
    log(f"failover drill PASS: timeline {timeline_before} -> {timeline}; failover {failover_secs:.1f}s; writer {writer.requests} edits, "
        f"{len(writer.failures)} failed ({', '.join(map(str, statuses)) or 'none'}; 0 = no answer) over "
        f"{outage:.1f}s; acknowledged edits lost: 0 of {len(writer.acked)} diaries' last versions; "
        f"replica rebuilt and streaming; chat reply by the worker ok; incremental backup on the new timeline ok")


# ---------------------------------------------------------------------------------------------


def main(argv):
    binary = os.path.abspath(argv[0] if argv else os.path.join(REPO, "target", "debug", "dearme"))
    if not os.access(binary, os.X_OK):
        print(f"drill: {binary} is not an executable", file=sys.stderr)
        return 2
    native, upstream = parity.native_stack()
    envs, hosts = parity.compose_services()
    mapped, _ = parity.Mapper(native, upstream, hosts, envs).apply(envs)
    with open(os.path.join(os.environ["STACK_DIR"], "stack.env")) as f:
        ports = dict(line.rstrip("\n").partition("=")[::2] for line in f if "=" in line)
    base = native["NGINX_URL"] + "/api/v1"

    def overdue(*_):
        raise Failed(f"the drills took over {OVERALL_SECS}s")

    signal.signal(signal.SIGALRM, overdue)
    signal.alarm(OVERALL_SECS)
    logdir = tempfile.mkdtemp(prefix="drill-")
    procs, keep = parity.Processes(binary, logdir), False
    try:
        for name in ("migrate", "dev-llm", "api"):
            if name == "migrate":
                check(procs.run(name, envs[name][0], mapped[name]) == 0, "migrate failed")
            else:
                procs.start(name, envs[name][0], mapped[name])
        parity.wait_until("the api", lambda: parity.http_get_ok(f"http://{mapped['api']['LISTEN_ADDR']}/health/live"))
        data = Data(base, procs, mapped["api"])
        restore_drill(data, ports)
        procs.start("worker", envs["worker"][0], mapped["worker"])
        parity.wait_until("the worker",
                          lambda: parity.http_get_ok(f"http://{mapped['worker']['METRICS_ADDR']}/health/live"))
        failover_drill(data, ports)
    except (Failed, parity.Failed, KeyError, ValueError, OSError) as err:
        print(f"drill: FAIL: {err}", file=sys.stderr)
        signal.alarm(0)
        procs.stop()
        procs.tails()
        print(f"drill: the processes' logs are kept in {logdir}", file=sys.stderr)
        keep = True
        return 1
    finally:
        signal.alarm(0)
        procs.stop()
        if not keep:
            shutil.rmtree(logdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main(sys.argv[1:]))
