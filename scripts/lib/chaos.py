#!/usr/bin/env python3
"""The fault drill under load (scripts/chaos): two API instances and two workers, run with the
environment compose gives them (parity.py's mapping), behind nginx on a native stack of their own,
while mixed traffic runs through nginx: reads (me, diary list, stats, persona), diary edits, chat
replies streamed over SSE (re-attached on the other instance when a stream is cut) and persona
regenerations (asked asynchronously, then polled). Faults, one after the other:

  replica-stop      the replica stopped, then started again
  replica-pause     the replica's replay paused (past the lag bound in the long form), then resumed
  pgbouncer-rw      the read-write PgBouncer killed (SIGTERM) and started again
  pgbouncer-ro      the same for the read-only one
  redis-kill        Redis SIGKILLed, started again after the hold
  llm-429, llm-500  the dev LLM answers every completion with that status during the hold
  llm-hang          the dev LLM hangs on one completion (the LLM timeout ends it)
  worker-kill       a worker SIGKILLed with jobs in flight, started again after the hold
  rolling-restart   each API instance in turn: taken out of nginx (reload), drained (SIGTERM),
                    started again, put back

For each fault it prints the requests started from the fault's start until recovery, errors by
status (0 = no answer; 4xx answers are not errors), p99 during the fault, seconds from the heal to the
last error, and at the end: acknowledged edits missing (must be 0), accepted jobs that never
finished or failed visibly (must be 0), chat streams that never ended (must be 0). The rolling
restart must have no error at all.

    scripts/lib/chaos.py [--long] [BINARY]
"""

import datetime
import json
import os
import random
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
import drill  # noqa: E402
import parity  # noqa: E402
from drill import Failed, call, check, psql, stack  # noqa: E402

USERS = 4
PASSWORD = "chaos-password-123"
READ_PATHS = ("/users/me", "/diaries?page=1&per_page=10", "/diaries/stats", "/personas/me")


def log(msg):
    print(f"chaos: {msg}", flush=True)


class Recorder:
    def __init__(self):
        self.requests = []  # (start, end, kind, status)
        self.lock = threading.Lock()

    def add(self, start, kind, status):
        with self.lock:
            self.requests.append((start, time.monotonic(), kind, status))


def timed(rec, kind, base, method, path, token, body=None, headers=None, timeout=30):
    start = time.monotonic()
    status, out = call(base, method, path, token, body, timeout=timeout, headers=headers)
    rec.add(start, kind, status)
    return status, out


class Traffic:
    """The load: readers, an editor, a chat streamer and a persona requester, until stopped."""

    def __init__(self, base, users, rec):
        self.base, self.users, self.rec = base, users, rec
        self.stop = threading.Event()
        self.acked, self.version = {}, 0
        self.jobs = []
        self.streams = {"done": 0, "error": 0, "refused": 0, "failed": 0, "reattached": 0, "unended": 0}
        self.threads = [threading.Thread(target=self.reader, daemon=True) for _ in range(3)]
        self.threads += [threading.Thread(target=f, daemon=True) for f in (self.editor, self.streamer, self.persona)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(180)

    def reader(self):
        while not self.stop.is_set():
            user = random.choice(self.users)
            timed(self.rec, "read", self.base, "GET", random.choice(READ_PATHS), user["token"])
            time.sleep(0.01)

    def editor(self):
        while not self.stop.is_set():
            self.version += 1
            user = self.users[self.version % len(self.users)]
            diary = user["diaries"][self.version % len(user["diaries"])]
            status, _ = timed(self.rec, "write", self.base, "PATCH", f"/diaries/{diary}", user["token"],
                              {"content": f"v{self.version}"})
            if status == 200:
                self.acked[diary] = self.version
            time.sleep(0.02)

    def persona(self):
        while not self.stop.is_set():
            for user in self.users:
                status, out = timed(self.rec, "persona", self.base, "POST", "/personas/regenerate", user["token"],
                                    headers={"prefer": "respond-async"})
                if status == 202 and out and out.get("job_id"):
                    self.jobs.append((user["token"], out["job_id"]))
            self.stop.wait(3)

    def streamer(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            user = self.users[n % len(self.users)]
            outcome = self.stream_once(user, f"오늘 {n}번째 이야기를 들어줄래?")
            self.streams[outcome] += 1
            self.stop.wait(0.3)

    def stream_once(self, user, text):
        """done | error (the stream's end event) | refused (a 4xx before it) | failed (no stream: a 5xx
        or no answer, counted with the requests) | unended. Re-attaches (GET .../stream) while a
        stream is cut short."""
        start = time.monotonic()
        path = f"/chats/{user['chat']}/messages/stream"
        req = urllib.request.Request(self.base + path, data=json.dumps({"content": text}).encode(), method="POST",
                                     headers={"content-type": "application/json", "authorization": f"Bearer {user['token']}"})
        message_id, end = None, None
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                self.rec.add(start, "stream", resp.status)
                message_id, end = read_events(resp)
        except urllib.error.HTTPError as err:
            self.rec.add(start, "stream", err.code)
            return "refused" if err.code < 500 else "failed"
        except OSError:
            self.rec.add(start, "stream", 0)
            return "failed"
        if end:
            return end
        if message_id is None:
            return "unended"
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            self.streams["reattached"] += 1
            status, end = reattach(self.base, user, message_id)
            if end:
                return end
            time.sleep(1)
        return "unended"


def read_events(resp):
    """(the user message's id, 'done' | 'error' | None when the stream was cut)."""
    message_id = None
    try:
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event.get("type") == "user_message":
                message_id = event["message"]["id"]
            elif event.get("type") in ("done", "error"):
                return message_id, event["type"]
    except (OSError, ValueError):
        pass
    return message_id, None


def reattach(base, user, message_id):
    req = urllib.request.Request(f"{base}/chats/{user['chat']}/messages/{message_id}/stream",
                                 headers={"authorization": f"Bearer {user['token']}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, read_events(resp)[1]
    except urllib.error.HTTPError as err:
        return err.code, None
    except OSError:
        return 0, None


# ---------------------------------------------------------------------------------------------
# The system under test


class System:
    def __init__(self, binary, logdir):
        self.native, upstream = parity.native_stack()
        self.envs, hosts = parity.compose_services()
        self.mapped, _ = parity.Mapper(self.native, upstream.split(",")[0].split()[0], hosts, self.envs).apply(self.envs)
        self.api_addrs = [a.split()[0] for a in os.environ["API_UPSTREAM"].split(",")]
        self.procs = parity.Processes(binary, logdir)
        self.stack_dir = os.environ["STACK_DIR"]
        with open(os.path.join(self.stack_dir, "stack.env")) as f:
            self.ports = dict(line.rstrip("\n").partition("=")[::2] for line in f if "=" in line)
        self.llm = "http://" + self.mapped["dev-llm"]["DEV_LLM_ADDR"]
        # The second worker's metrics listen on a port of its own.
        worker = self.mapped["worker"]
        self.worker_envs = [worker, {**worker, "METRICS_ADDR": f"127.0.0.1:{parity.free_port()}"}]
        self.base = self.native["NGINX_URL"] + "/api/v1"

    def api_env(self, i):
        return {**self.mapped["api"], "LISTEN_ADDR": self.api_addrs[i]}

    def start(self):
        check(self.procs.run("migrate", self.envs["migrate"][0], self.mapped["migrate"]) == 0, "migrate failed")
        self.procs.start("dev-llm", self.envs["dev-llm"][0], self.mapped["dev-llm"])
        for i in range(2):
            self.start_api(i)
            self.start_worker(i)

    def start_api(self, i):
        self.procs.start(f"api-{i}", self.envs["api"][0], self.api_env(i))
        parity.wait_until(f"api-{i}", lambda: parity.http_get_ok(f"http://{self.api_addrs[i]}/health/live"), secs=30)

    def start_worker(self, i):
        self.procs.start(f"worker-{i}", self.envs["worker"][0], self.worker_envs[i])
        addr = self.worker_envs[i]["METRICS_ADDR"]
        parity.wait_until(f"worker-{i}", lambda: parity.http_get_ok(f"http://{addr}/health/live"), secs=30)

    def signal(self, name, sig):
        proc = self.procs.running[name]
        proc.send_signal(sig)
        proc.wait(60)

    def llm_faults(self, faults):
        req = urllib.request.Request(self.llm + "/_control/faults", data=json.dumps(faults).encode(), method="POST",
                                     headers={"content-type": "application/json"})
        urllib.request.urlopen(req, timeout=5).close()

    def pidfile_kill(self, rel, sig):
        with open(os.path.join(self.stack_dir, rel)) as f:
            os.kill(int(f.read().split()[0]), sig)

    def nginx_upstreams(self, down=None):
        """Re-renders nginx with API instance `down` marked down (None: all up); stack reloads it."""
        servers = [a + (" down" if i == down else "") for i, a in enumerate(self.api_addrs)]
        env = {**os.environ, "API_UPSTREAM": ",".join(servers)}
        out = subprocess.run([drill.STACK, "up"], env=env, capture_output=True, text=True)
        check(out.returncode == 0, f"stack up (nginx reload): {out.stderr[-800:]}")


def users(system):
    """USERS premium users with 7 diaries (4 through the API), a quiz persona and a chat."""
    out, api_env = [], {**system.mapped["api"], "DEARME_PASSWORD": PASSWORD}
    today = datetime.datetime.now(datetime.timezone.utc).date()
    stamp = int(time.time()) % 10**6
    for i in range(USERS):
        email = f"chaos{stamp}{i}@example.com"
        check(system.procs.run(f"create-{i}", ["users", "create", email, f"chaos{stamp}{i}"], api_env) == 0,
              "users create")
        token = drill.ok(system.base, "POST", "/auth/login/json", body={"email": email, "password": PASSWORD})["access_token"]
        user_id = drill.ok(system.base, "GET", "/users/me", token)["id"]
        psql(system.ports["PG_PRIMARY_PORT"],
             f"insert into subscriptions (user_id, plan) values ({user_id}, 'premium') "
             f"on conflict (user_id) do update set plan = 'premium'; "
             f"insert into diaries (user_id, title, content, mood, diary_date) select {user_id}, '지난 일기 ' || i, "
             f"'산책을 하며 생각을 정리했다.', 'calm', current_date - 10 - i from generate_series(1, 3) i")
        diaries = []
        for days in range(4):
            day = (today - datetime.timedelta(days=days)).isoformat()
            diaries.append(drill.ok(system.base, "POST", "/diaries", token, {"title": f"chaos {day}", "content": "v0",
                                                                             "diary_date": day}, expect=201)["id"])
        answers = [{"question_id": q, "option_id": "abcd"[q % 4]} for q in range(1, 6)]
        persona = drill.ok(system.base, "POST", "/quiz/submit", token, {"answers": answers})["persona_id"]
        chat = drill.ok(system.base, "POST", "/chats", token, {"persona_id": persona}, expect=201)["id"]
        out.append({"token": token, "diaries": diaries, "chat": chat})
    return out


# ---------------------------------------------------------------------------------------------
# Faults


def faults(system, long):
    hold = 20 if long else 4
    stack_up = lambda: stack("up")  # noqa: E731  (starts whatever is stopped)
    primary, replica = system.ports["PG_PRIMARY_PORT"], system.ports["PG_REPLICA_PORT"]
    replica_dir = os.path.join(system.stack_dir, "pg", "replica")

    def stop_replica():
        subprocess.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", replica_dir,
                        "-m", "fast", "-w", "stop"], cwd="/", check=True, capture_output=True)

    def rolling_restart():
        for i in range(len(system.api_addrs)):
            system.nginx_upstreams(down=i)
            time.sleep(0.5)
            system.signal(f"api-{i}", signal.SIGTERM)
            system.start_api(i)
            system.nginx_upstreams()

    def kill_worker():
        system.procs.running["worker-0"].kill()
        system.procs.running["worker-0"].wait()

    return [
        ("replica-stop", stop_replica, stack_up, hold),
        # Long form: past REPLICA_MAX_LAG_MS (30 s in compose), so the app stops reading from it.
        ("replica-pause", lambda: psql(replica, "select pg_wal_replay_pause()"),
         lambda: psql(replica, "select pg_wal_replay_resume()"), 35 if long else hold),
        ("pgbouncer-rw", lambda: system.pidfile_kill("pgbouncer/pgbouncer-rw.pid", signal.SIGTERM), stack_up, 1),
        ("pgbouncer-ro", lambda: system.pidfile_kill("pgbouncer/pgbouncer-ro.pid", signal.SIGTERM), stack_up, 1),
        ("redis-kill", lambda: system.pidfile_kill("redis/redis.pid", signal.SIGKILL), stack_up, hold),
        ("llm-429", lambda: system.llm_faults([{"kind": "status", "status": 429, "times": 10**6}]),
         lambda: system.llm_faults([]), hold),
        ("llm-500", lambda: system.llm_faults([{"kind": "status", "status": 500, "times": 10**6}]),
         lambda: system.llm_faults([]), hold),
        ("llm-hang", lambda: system.llm_faults([{"kind": "hang", "times": 2}]), lambda: system.llm_faults([]), hold),
        ("worker-kill", kill_worker, lambda: system.start_worker(0), hold),
        ("rolling-restart", rolling_restart, lambda: None, 0),
        ("after", lambda: None, lambda: None, 3),
    ], primary


def is_error(status):
    return status == 0 or status >= 500


def run_fault(rec, name, inject, heal, hold):
    """(name, t_inject, t_heal, t_end): inject, hold, heal, then wait until 2 s pass without an error."""
    t_inject = time.monotonic()
    inject()
    time.sleep(hold)
    heal()
    t_heal = time.monotonic()
    deadline = t_heal + 60
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = time.monotonic()
        with rec.lock:
            recent = [r for r in rec.requests if r[1] > now - 2 and is_error(r[3])]
        if not recent and now - t_heal >= 2:
            break
    return name, t_inject, t_heal, time.monotonic()


def phase_row(rec, name, t_inject, t_heal, t_end):
    with rec.lock:
        mine = [r for r in rec.requests if t_inject <= r[0] < t_end]
    errors = [r for r in mine if is_error(r[3])]
    by_status = {}
    for r in errors:
        by_status[r[3]] = by_status.get(r[3], 0) + 1
    during = sorted(r[1] - r[0] for r in mine if r[0] < max(t_heal, t_inject + 1))
    p99 = during[min(len(during) - 1, int(len(during) * 0.99))] * 1000 if during else 0.0
    recover = max([r[1] - t_heal for r in errors] + [0.0])
    return {"fault": name, "requests": len(mine), "errors": len(errors),
            "by_status": ", ".join(f"{s}: {n}" for s, n in sorted(by_status.items())) or "-",
            "p99_ms": p99, "fault_s": t_heal - t_inject, "recover_s": recover}


def wait_jobs(base, jobs, secs):
    """The accepted jobs that never reached done or failed within `secs`."""
    pending, deadline = list(jobs), time.monotonic() + secs
    while pending and time.monotonic() < deadline:
        still = []
        for token, job_id in pending:
            status, out = call(base, "GET", f"/jobs/{job_id}", token)
            if not (status == 200 and out and out.get("status") in ("done", "failed")):
                still.append((token, job_id))
        pending = still
        if pending:
            time.sleep(1)
    return pending


def print_table(rows):
    print(f"{'fault':<16} {'requests':>8} {'errors':>6}  {'errors by status':<24} {'p99 ms':>8} "
          f"{'fault s':>7} {'recover s':>9}")
    for r in rows:
        print(f"{r['fault']:<16} {r['requests']:>8} {r['errors']:>6}  {r['by_status']:<24} {r['p99_ms']:>8.0f} "
              f"{r['fault_s']:>7.1f} {r['recover_s']:>9.1f}")


def main(argv):
    long = "--long" in argv
    argv = [a for a in argv if a != "--long"]
    binary = os.path.abspath(argv[0] if argv else os.path.join(drill.REPO, "target", "debug", "dearme"))
    logdir = tempfile.mkdtemp(prefix="chaos-")
    system = System(binary, logdir)
    rec = Recorder()
    failed = False
    try:
        system.start()
        people = users(system)
        traffic = Traffic(system.base, people, rec)
        traffic.start()
        rows = [phase_row(rec, *run_fault(rec, "baseline", lambda: None, lambda: None, 3))]
        plan, primary = faults(system, long)
        for name, inject, heal, hold in plan:
            rows.append(phase_row(rec, *run_fault(rec, name, inject, heal, hold)))
            log(f"{name}: {rows[-1]['errors']} errors, recovered {rows[-1]['recover_s']:.1f}s after the heal")
        traffic.finish()
        lost_jobs = wait_jobs(system.base, traffic.jobs, 200)
        final = dict(line.split("|") for line in psql(primary, "select id, content from diaries").splitlines())
        lost_writes = [d for d, v in traffic.acked.items() if int(final.get(str(d), "v0")[1:]) < v]
        print_table(rows)
        s = traffic.streams
        log(f"requests {len(rec.requests)}; chat streams: {s['done']} done, {s['error']} ended with an error event, "
            f"{s['refused']} refused, {s['failed']} failed before streaming, {s['reattached']} re-attachments, "
            f"{s['unended']} never ended; persona jobs accepted {len(traffic.jobs)}, never finished {len(lost_jobs)}; "
            f"acknowledged edits {sum(1 for _ in traffic.acked)} diaries' last versions, missing {len(lost_writes)}")
        rolling = next(r for r in rows if r["fault"] == "rolling-restart")
        check(not lost_writes, f"acknowledged edits missing: diaries {lost_writes}")
        check(not lost_jobs, f"accepted jobs never finished or failed: {lost_jobs[:5]}")
        check(s["unended"] == 0, f"{s['unended']} chat streams never ended")
        check(rolling["errors"] == 0, f"the rolling restart failed {rolling['errors']} requests ({rolling['by_status']})")
        log(f"PASS ({'long' if long else 'short'} form)")
    except (Failed, parity.Failed, KeyError, ValueError, OSError, subprocess.SubprocessError) as err:
        print(f"chaos: FAIL: {err}", file=sys.stderr)
        failed = True
    finally:
        system.procs.stop()
        if failed:
            system.procs.tails()
            print(f"chaos: the processes' logs are kept in {logdir}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main(sys.argv[1:]))
