"""The benchmark driver behind scripts/bench: seeds, measures ceilings, runs the scenarios
with wrk through nginx, samples the API's memory, and prints the table."""

import asyncio, atexit, base64, datetime, hashlib, hmac, json, os, platform, re, signal, socket, subprocess, sys, tempfile, threading, time, urllib.request

import bench_search
import bench_streams

BIN = sys.argv[1]
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "128"))
USERS = int(os.environ.get("BENCH_USERS", "10000"))
DIARIES = int(os.environ.get("BENCH_DIARIES", "30"))
IDLE = int(os.environ.get("BENCH_IDLE_CONNECTIONS", "10000"))
# Runs of each cached row, each between two measurements of the proxied ceiling.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuv"
API = os.environ["API_UPSTREAM"]
NGINX = os.environ["NGINX_URL"]
DIRECT = os.environ["DATABASE_DIRECT_URL"]
WORK = tempfile.mkdtemp(prefix="dearme-bench-")
LLM_PORT, WORKER_PORT, CEILING_PORT = 61090, 61100, 61081
ADJACENT_UPSTREAM = "127.0.0.1:61082"
# The last BURST users have no persona: the persona-generation burst is theirs.
BURST = min(200, USERS // 2)


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


def with_db(url, db):
    return url.rsplit("/", 1)[0] + "/" + db


def psql(sql, url=DIRECT):
    return subprocess.run(["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True, text=True).stdout.strip()


def env(**extra):
    # Logging as compose runs it (info, JSON lines): what logging costs a request is paid at that level.
    e = dict(os.environ, JWT_SECRET=SECRET, LISTEN_ADDR=API, RATE_LIMIT_ENABLED="false", RUST_LOG="info", LOG_FORMAT="json",
             LLM_BASE_URL=f"http://127.0.0.1:{LLM_PORT}/v1", METRICS_ADDR=f"127.0.0.1:{WORKER_PORT}", DEV_LLM_ADDR=f"127.0.0.1:{LLM_PORT}",
             DEV_LLM_TOKEN_LATENCY_MS="20")
    e.update(extra)
    return e


STARTED = []
# Killed (SIGTERM), the run still stops what it started (atexit).
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


@atexit.register
def stop_all():
    """However the run ends, no API, worker or dev-llm is left holding its port."""
    for p in STARTED:
        if p.poll() is None:
            p.kill()


class Proc:
    def __init__(self, *args, **extra):
        self.p = subprocess.Popen([BIN, *args], env=env(**extra), stdout=subprocess.DEVNULL, stderr=open(f"{WORK}/{args[0]}.log", "a"))
        STARTED.append(self.p)

    def rss_mb(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=30)


def wait_http(url, tries=200):
    for _ in range(tries):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def refuse_taken(address):
    """Stops the run if something already listens on `address` (a server left by a killed run
    would answer in place of the one about to start, and its numbers would be taken for it)."""
    host, port = address.rsplit(":", 1)
    with socket.socket() as s:
        if s.connect_ex((host, int(port))) == 0:
            raise SystemExit(f"something already listens on {address}: a server left by an earlier run? Stop it first.")


def start_api(**extra):
    refuse_taken(API)
    api = Proc("serve", **extra)
    wait_http(f"http://{API}/health/live")
    if api.p.poll() is not None:
        raise SystemExit(f"the API exited ({api.p.returncode}); is another process on {API}?")
    return api


class Sampler:
    """The API's peak resident memory while a scenario runs."""

    def __init__(self, proc):
        self.proc, self.peak, self.running = proc, 0.0, True
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while self.running:
            self.peak = max(self.peak, self.proc.rss_mb())
            time.sleep(0.05)

    def stop(self):
        self.running = False
        self.t.join()
        return self.peak


def jwt(user_id, sid):
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    now = int(time.time())
    head = b64(b'{"alg":"HS256","typ":"JWT"}')
    body = b64(json.dumps({"sub": str(user_id), "sid": sid, "iat": now, "exp": now + 2 * 86400}).encode())
    sig = b64(hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def seed():
    log(f"seeding {USERS} users x {DIARIES} diaries, personas, friendships, sessions")
    started = time.time()
    psql(f"""
        insert into users (email, username, password_hash, email_verified)
          select 'user' || i || '@bench.local', 'user' || i, 'unused', true from generate_series(1, {USERS}) i;
        insert into diaries (user_id, title, content, mood, weather, diary_date)
          select u.id, '일기 ' || d, repeat('오늘은 산책을 하고 친구를 만났다. ', 12),
                 (array['happy','sad','calm','excited','tired','grateful','anxious','hopeful','lonely','angry'])[1 + (u.id + d) % 10],
                 'sunny', current_date - 4 - d
          from users u, generate_series(0, {DIARIES - 1}) d;
        insert into personas (user_id, name, personality, traits)
          select id, 'persona ' || id, '따뜻하고 호기심 많은 성격', '{{따뜻한,차분한,유쾌한}}' from users where id <= {USERS - BURST};
        insert into friendships (requester_id, addressee_id, status)
          select id, id + 1, 'accepted' from users where id % 2 = 1 and id < {USERS};
        insert into sessions (id, user_id, expires_at) select md5('s' || id), id, now() + interval '2 days' from users;""")
    # As autovacuum would have on a long-lived database: statistics and the visibility map
    # (index-only counts). VACUUM cannot run in psql -c's implicit transaction, hence its own call.
    psql("vacuum analyze")
    tokens = [jwt(i, hashlib.md5(f"s{i}".encode()).hexdigest()) for i in range(1, USERS + 1)]
    with_persona = tokens[: USERS - BURST]
    write(f"{WORK}/tokens.txt", "\n".join(tokens))
    write(f"{WORK}/persona_tokens.txt", "\n".join(with_persona))
    log(f"seeded in {time.time() - started:.1f}s")
    return tokens


def write(path, text):
    with open(path, "w") as f:
        f.write(text + "\n")


LUA = """
local tokens = {}
for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
local counter = 0
local dates = {%(dates)s}
local next_id = 0
-- Runs in the main state: gives each thread's state a global `tid` (0, 1, ...).
setup = function(thread) thread:set("tid", next_id); next_id = next_id + 1 end
request = function()
%(body)s
end
"""

GET_BODY = '  return wrk.format("GET", "%(path)s", {["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]})'
POST_DIARY = """  local i = counter * 2 + (tid or 0)
  counter = counter + 1
  local user = (i % #tokens) + 1
  local date = dates[(math.floor(i / #tokens) % #dates) + 1]
  local body = '{"title":"bench","content":"벤치마크 일기","mood":"happy","diary_date":"' .. date .. '"}'
  return wrk.format("POST", "/api/v1/diaries", {["Authorization"] = "Bearer " .. tokens[user], ["Content-Type"] = "application/json"}, body)"""
MIXED = """  local r = math.random(100)
  local t = tokens[math.random(#tokens)]
  local h = {["Authorization"] = "Bearer " .. t}
  if r <= 45 then return wrk.format("GET", "/api/v1/diaries?page=1&per_page=10", h)
  elseif r <= 65 then return wrk.format("GET", "/api/v1/users/me", h)
  elseif r <= 75 then return wrk.format("GET", "/api/v1/notifications/unread-count", h)
  elseif r <= 85 then return wrk.format("GET", "/api/v1/diaries/stats", h)
  elseif r <= 95 then return wrk.format("GET", "/api/v1/personas/me", h)
  else
%(post)s
  end"""


def lua(name, body, tokens="tokens.txt"):
    today = datetime.date.today()
    dates = ",".join(f'"{today - datetime.timedelta(days=d)}"' for d in range(4))
    path = f"{WORK}/{name}.lua"
    write(path, LUA % {"tokens": f"{WORK}/{tokens}", "dates": dates, "body": body})
    # The warm-up variant walks the tokens in order (each thread its half).
    warm = body.replace("tokens[math.random(#tokens)]", "tokens[((counter * 2 + (tid or 0)) % #tokens) + 1]")
    warm = warm.replace("  return wrk.format", "  counter = counter + 1\n  return wrk.format", 1) if "math.random" in body else warm
    # Each thread stops once it has had an answer for each of its tokens, so that every user is
    # warm however fast the misses run (a fixed time left some cold when the box was slow), and
    # leaves a mark: wrk itself runs out its duration whatever its threads do (`warm` below).
    stop = "local answered = 0\nresponse = function()\n  answered = answered + 1\n" \
           "  if answered == math.ceil(#tokens / 2) then\n" \
           f"    io.open('{WORK}/warm-' .. tid .. '.done', 'w'):close()\n" \
           "    wrk.thread:stop()\n  end\nend"
    write(path.replace(".lua", "_warm.lua"), LUA % {"tokens": f"{WORK}/{tokens}", "dates": dates, "body": warm} + stop)
    return path


def warm(url, script):
    """Runs `script`'s warm-up variant (every user once, in order) until both its threads are
    done, bounded in time."""
    marks = [f"{WORK}/warm-{i}.done" for i in range(2)]
    for m in marks:
        if os.path.exists(m):
            os.remove(m)
    bound = max(10, USERS // 100)
    p = subprocess.Popen(["wrk", "-t2", "-c32", f"-d{bound}s", "--timeout", "10s", "-s", script.replace(".lua", "_warm.lua"), url],
                         stdout=subprocess.DEVNULL)
    try:
        while p.poll() is None and not all(os.path.exists(m) for m in marks):
            time.sleep(0.1)
        if p.poll() is None:
            p.send_signal(signal.SIGINT)  # wrk stops at once and reports
        p.wait()
    finally:
        if p.poll() is None:
            p.kill()
    if p.returncode != 0:
        raise SystemExit(f"the warm-up of {url} failed (wrk exited {p.returncode})")
    if not all(os.path.exists(m) for m in marks):
        log(f"warning: the warm-up of {url} ran out its {bound}s before every user was read once")


def cache_counts(metric):
    """One of the API's cache counters so far, per (cache, result)."""
    text = urllib.request.urlopen(f"http://{API}/metrics").read().decode()
    return {(c, r): int(n) for c, r, n in re.findall(rf'{metric}\{{cache="(\w+)",result="(\w+)"\}} (\d+)', text)}


def hit_ratios():
    """Cache hit ratio per cache from the API's own counters."""
    counts = cache_counts("cache_requests_total")
    ratios = {}
    for cache in {c for c, _ in counts}:
        hit, miss = counts.get((cache, "hit"), 0), counts.get((cache, "miss"), 0)
        if hit + miss:
            ratios[cache] = hit / (hit + miss)
    return ratios


def local_counts():
    """The API's first-level cache lookups so far, per (cache, result)."""
    return cache_counts("cache_local_requests_total")


def local_hits(before, after):
    """First-level hit ratio per cache between two `local_counts()`, for caches looked up."""
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    caches = {c for c, _ in delta}
    looked = {c: sum(n for (c2, _), n in delta.items() if c2 == c) for c in caches}
    return {c: delta.get((c, "hit"), 0) / looked[c] for c in sorted(caches) if looked[c]}


def wrk(url, script=None, duration=DURATION, connections=CONNECTIONS):
    args = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else float("nan")
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    sock = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out.split("Socket errors:")[1].split("\n")[0])) if "Socket errors:" in out else 0
    requests = int(m.group(1)) if (m := re.search(r"(\d+) requests in", out)) else 0
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "errors": non2xx + sock, "requests": requests}


def ceiling_nginx():
    conf = f"""worker_processes auto; pid {WORK}/nginx.pid; error_log {WORK}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {WORK}; proxy_temp_path {WORK}; fastcgi_temp_path {WORK};
  uwsgi_temp_path {WORK}; scgi_temp_path {WORK};
  server {{ listen 127.0.0.1:{CEILING_PORT}; location / {{ return 200 'ok'; }} }} }}"""
    write(f"{WORK}/nginx.conf", conf)
    subprocess.run(["nginx", "-c", f"{WORK}/nginx.conf", "-p", WORK], check=True)
    try:
        return wrk(f"http://127.0.0.1:{CEILING_PORT}/")
    finally:
        subprocess.run(["nginx", "-c", f"{WORK}/nginx.conf", "-p", WORK, "-s", "stop"], check=False)


def constant_upstream(address, name):
    """A minimal keep-alive upstream on `address` that returns a constant; returns its stopper."""
    conf = f"""worker_processes auto; pid {WORK}/{name}.pid; error_log {WORK}/{name}-error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 1000000; client_body_temp_path {WORK}; proxy_temp_path {WORK};
  fastcgi_temp_path {WORK}; uwsgi_temp_path {WORK}; scgi_temp_path {WORK};
  server {{ listen {address}; location / {{ default_type application/json; return 200 '{{"ok":true}}'; }} }} }}"""
    write(f"{WORK}/{name}.conf", conf)
    subprocess.run(["nginx", "-c", f"{WORK}/{name}.conf", "-p", WORK], check=True)

    def stop():
        subprocess.run(["nginx", "-c", f"{WORK}/{name}.conf", "-p", WORK, "-s", "stop"], check=False)
        time.sleep(0.5)
    return stop


def ceiling_proxied(script):
    """nginx (the stack's, with its real config) in front of a minimal keep-alive upstream that
    returns a constant, in the API's place: what every proxied request shares."""
    stop = constant_upstream(API, "upstream")
    try:
        wrk(f"{NGINX}/api/v1/users/me", script, duration=2)
        return wrk(f"{NGINX}/api/v1/users/me", script)
    finally:
        stop()


def switch_upstream(address, settle=1.0):
    """Points the stack's nginx at `address` (a graceful reload, its config otherwise unchanged),
    then waits `settle` seconds for the old workers to finish their connections and exit."""
    subprocess.run(["scripts/stack", "up"], env={**os.environ, "API_UPSTREAM": address}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(settle)


ADJACENT = {}


def adjacent_ceiling(script):
    """The proxied ceiling now, with the API left running: the stack's nginx switched to a
    constant upstream on another port, measured there, and switched back. On this VM the
    throughput drifts by a quarter within one run, so a row is compared with the ceiling measured
    right before and right after it rather than with the one at the start."""
    if "stop" not in ADJACENT:
        ADJACENT["stop"] = constant_upstream(ADJACENT_UPSTREAM, "adjacent")
        atexit.register(ADJACENT["stop"])
    switch_upstream(ADJACENT_UPSTREAM)
    try:
        wrk(f"{NGINX}/api/v1/users/me", script, duration=2)
        return wrk(f"{NGINX}/api/v1/users/me", script)["rps"]
    finally:
        switch_upstream(API)


def ceiling_pgbench():
    subprocess.run(["psql", with_db(DIRECT, "postgres"), "-qc", "create database pgbench"], check=False, capture_output=True)
    url = with_db(DIRECT, "pgbench")
    subprocess.run(["pgbench", "-i", "-q", "-s", "10", url], check=True, capture_output=True)
    time.sleep(1)  # let the replica replay the new database
    ro = with_db(os.environ["DATABASE_READ_URL"], "pgbench")
    out = subprocess.run(["pgbench", "-S", "-n", "-c", "64", "-j", "2", "-T", str(max(2, DURATION)), ro], capture_output=True, text=True, check=True).stdout
    return {"rps": float(re.search(r"tps = ([\d.]+)", out).group(1))}


# The statement GET /diaries sends (diaries::list_diaries), for a random user, as the API sends
# it: unnamed, extended protocol, through PgBouncer to the replica.
LIST_SQL = """\\set uid random(1, %(users)d)
select id, user_id, title, content, mood, weather, diary_date, created_at, updated_at,
  (select count(*) from diaries where user_id = :uid and (null::varchar is null or mood = null)) as total
  from diaries where user_id = :uid and (null::varchar is null or mood = null) order by diary_date desc limit 10 offset %(offset)d;
"""


def ceiling_list(url=None, mode="extended", offset=0):
    write(f"{WORK}/list.sql", LIST_SQL % {"users": USERS, "offset": offset})
    out = subprocess.run(["pgbench", "-n", "-M", mode, "-c", "64", "-j", "2", "-T", str(max(2, DURATION)), "-f", f"{WORK}/list.sql",
                          url or os.environ["DATABASE_READ_URL"]], capture_output=True, text=True, check=True).stdout
    return {"rps": float(re.search(r"tps = ([\d.]+)", out).group(1))}


# What POST /diaries sends the primary, for a random user, as the API sends it (unnamed,
# extended protocol, through PgBouncer): the create_diary call with three jobs, then the WAL
# position for read-your-writes. Dates far in the past, so the API's (user, date) slots stay free
# and the list never meets these rows; the jobs go to a queue no worker reads. Removed after.
# Two transactions that draw the same (user, date) abort a client (a unique violation): over
# 2.3 million days that is rare, and the run is repeated once if it happens.
WRITE_SQL = """\\set uid random(1, %(users)d)
\\set day random(-2000000, 300000)
\\set id random(1000000000000, 9000000000000)
select id, user_id, title, content, mood, weather, diary_date, created_at, updated_at from create_diary(
  :id::bigint, :uid::bigint, 'ceiling', '벤치마크 일기', 'happy', null, date '1000-01-01' + :day::int, null,
  array['ceil-' || :id::bigint || '-a', 'ceil-' || :id::bigint || '-s', 'ceil-' || :id::bigint || '-p'],
  array['bench.ceiling', 'bench.ceiling', 'bench.ceiling'],
  array[convert_to('{"DiaryAnalysis":{"job_id":"ceil-' || :id::bigint || '-a","user_id":' || :uid::bigint || ',"diary_id":' || :id::bigint || '}}', 'UTF8'),
        convert_to('{"WeeklySummary":{"job_id":"ceil-' || :id::bigint || '-s","user_id":' || :uid::bigint || ',"week_start":"2026-11-30"}}', 'UTF8'),
        convert_to('{"PromptSuggestions":{"job_id":"ceil-' || :id::bigint || '-p","user_id":' || :uid::bigint || ',"day":"2026-12-02"}}', 'UTF8')],
  array[null, 'weekly:' || :uid::bigint || ':' || :day::bigint || ':' || :id::bigint, 'prompts:' || :uid::bigint || ':' || :day::bigint],
  array[:uid::bigint, :uid::bigint, :uid::bigint]::bigint[], array['diary_analysis', 'weekly_summary', 'prompt_suggestions'],
  array[:id::bigint, null, null]::bigint[], array[true, false, false]);
select pg_current_wal_insert_lsn()::text as value;
"""


def ceiling_write():
    """The database's own rate for the write's statements, with the API's pool size (16)."""
    write(f"{WORK}/write.sql", WRITE_SQL % {"users": USERS})
    for attempt in (1, 2):
        try:
            run = subprocess.run(["pgbench", "-n", "-M", "extended", "-c", "16", "-j", "2", "-T", str(max(2, DURATION)), "-f", f"{WORK}/write.sql",
                                  os.environ["DATABASE_URL"]], capture_output=True, text=True)
        finally:
            psql("delete from apalis.jobs where job_type = 'bench.ceiling'; delete from ai_jobs where id like 'ceil-%'; "
                 "delete from diaries where title = 'ceiling'")
            psql("vacuum analyze diaries, ai_jobs, apalis.jobs")
        if run.returncode == 0:
            return {"rps": float(re.search(r"tps = ([\d.]+)", run.stdout).group(1))}
        log(f"write ceiling: pgbench failed (attempt {attempt}): {run.stderr.strip()[-400:]}")
        if attempt == 2 or "duplicate key" not in run.stderr:
            raise subprocess.CalledProcessError(run.returncode, run.args, run.stdout, run.stderr)


def ceiling_redis():
    port = os.environ["REDIS_URL"].rsplit(":", 1)[1].strip("/")
    out = subprocess.run(["redis-benchmark", "-p", port, "-t", "get", "-c", "128", "-n", str(max(100_000, 20_000 * DURATION)), "-q"],
                         capture_output=True, text=True, check=True).stdout
    return {"rps": float(re.search(r"GET: ([\d.]+) requests per second", out.replace("\r", "\n")).group(1))}


async def hold_idle(n):
    """Opens `n` keep-alive connections to the API, makes one request on each, and holds them."""
    host, port = API.split(":")
    conns = []
    for i in range(0, n, 500):
        batch = await asyncio.gather(*(asyncio.open_connection(host, int(port)) for _ in range(min(500, n - i))))
        for r, w in batch:
            w.write(b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n")
        await asyncio.gather(*(w.drain() for _, w in batch))
        await asyncio.gather(*(r.readuntil(b"healthy\"}") for r, _ in batch))
        conns.extend(batch)
    return conns


def named_statements(rows, ceilings, url):
    """The diary list with unnamed and with named prepared statements (DB_NAMED_STATEMENTS), on
    direct connections to the replica and the primary (Debian's PgBouncer 1.18 cannot keep named
    ones), in turns: off, on, off, on; each row is the mean of its two runs."""
    replica = os.environ["DATABASE_REPLICA_DIRECT_URL"]
    ceilings["list_direct"] = ceiling_list(replica, offset=10)
    ceilings["list_direct_prepared"] = ceiling_list(replica, "prepared", offset=10)
    log(f"ceilings: the list statement direct to the replica, unnamed {ceilings['list_direct']['rps']:,.0f}/s, "
        f"named {ceilings['list_direct_prepared']['rps']:,.0f}/s")
    # The second page: the first one is cached (in Redis and in the API), this one is read every time.
    script = lua("diaries_page2", GET_BODY % {"path": "/api/v1/diaries?page=2&per_page=10"})
    runs = {"false": [], "true": []}
    for named in ("false", "true", "false", "true"):
        api = start_api(DATABASE_URL=DIRECT, DATABASE_READ_URL=replica, DB_NAMED_STATEMENTS=named)
        wrk(url, script, duration=2)
        sampler = Sampler(api)
        r = wrk(url, script)
        r["rss"] = sampler.stop()
        runs[named].append(r)
        api.stop()
    for named, label, ceiling in (("false", "unnamed statements", "list_direct"), ("true", "named prepared statements", "list_direct_prepared")):
        two = runs[named]
        r = {k: sum(x[k] for x in two) / 2 for k in ("rps", "p50", "p99")}
        r.update(errors=sum(x["errors"] for x in two), rss=max(x["rss"] for x in two), ceiling=ceiling,
                 name=f"GET /diaries?page=2&per_page=10 (not cached), direct to the replica (and primary), {label} (mean of 2 alternating runs: "
                      + " / ".join(f"{x['rps']:,.0f}" for x in two) + ")")
        rows.append(r)
        log(f"{r['name']}: {r['rps']:.0f} rps")


def main():
    machine = f"{os.cpu_count()} cores, {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, {platform.platform()}"
    log("machine:", machine)
    Proc("migrate").p.wait()
    seed()
    refuse_taken(f"127.0.0.1:{LLM_PORT}")
    llm = Proc("dev-llm")
    wait_http(f"http://127.0.0.1:{LLM_PORT}/health")
    rows, ceilings = [], {}

    log("ceilings: nginx constant, pgbench -S, the list statement and the write's through PgBouncer, redis-benchmark GET")
    ceilings["nginx"] = ceiling_nginx()
    ceilings["proxied"] = ceiling_proxied(lua("me", GET_BODY % {"path": "/api/v1/users/me"}))
    ceilings["pgbench"] = ceiling_pgbench()
    ceilings["list"] = ceiling_list()
    ceilings["write"] = ceiling_write()
    ceilings["redis"] = ceiling_redis()
    log("ceilings (req/s): " + ", ".join(f"{k} {v['rps']:,.0f}" for k, v in ceilings.items()))

    decade = bench_search.seed(sys.modules[__name__])
    api = start_api()
    time.sleep(1)
    idle_rss = api.rss_mb()

    def scenario(name, url, script, ceiling="nginx", warmup=True, adjacent=False):
        if warmup:
            # Every user once, in order, so "cache hit" rows measure hits.
            started = time.time()
            warm(url, script)
            log(f"{name}: warmed in {time.time() - started:.1f}s")
        # With `adjacent`, ROUNDS runs, each between two measurements of the proxied ceiling
        # (each measurement shared by the runs on either side of it); the row is the run whose
        # share of its own ceiling is the median.
        before = adjacent_ceiling(script) if adjacent else None
        sampler, counts, runs = Sampler(api), local_counts(), []
        for _ in range(ROUNDS if adjacent else 1):
            if warmup or adjacent:
                wrk(url, script, duration=2)  # a short burst first: nginx's upstream connections open
            r = wrk(url, script)
            if adjacent:
                after = adjacent_ceiling(script)
                r.update(adjacent=(before, after), share=r["rps"] / ((before + after) / 2))
                before = after
            runs.append(r)
        r = sorted(runs, key=lambda x: x.get("share", x["rps"]))[len(runs) // 2]
        r.update(name=name, ceiling=ceiling, rss=sampler.stop(), local=local_hits(counts, local_counts()),
                 errors=sum(x["errors"] for x in runs), runs=runs)
        rows.append(r)
        log(f"{name}: {r['rps']:.0f} rps, p99 {r['p99']:.1f} ms, {r['errors']} errors"
            + (", share of the proxied ceiling around each run " + ", ".join(f"{x['share']:.1%}" for x in runs) if adjacent else ""))
        return r

    base = f"{NGINX}/api/v1"
    # A floor under every API row: the API's outer middleware (request context, request id, CORS,
    # compression, panics, errors), without routing's per-route metrics, a session or a cache.
    scenario("GET /health (the API's outer middleware, nothing behind it)", f"{NGINX}/health", lua("health", GET_BODY % {"path": "/health"}), warmup=False, adjacent=True)
    scenario("GET /users/me (session from cache)", f"{base}/users/me", lua("me", GET_BODY % {"path": "/api/v1/users/me"}), adjacent=True)
    scenario("GET /personas/me (cache hit)", f"{base}/personas/me", lua("persona", GET_BODY % {"path": "/api/v1/personas/me"}, "persona_tokens.txt"), adjacent=True)
    scenario("GET /diaries/stats (cache hit)", f"{base}/diaries/stats", lua("stats", GET_BODY % {"path": "/api/v1/diaries/stats"}), adjacent=True)
    scenario("GET /friends (cache hit)", f"{base}/friends", lua("friends", GET_BODY % {"path": "/api/v1/friends"}), adjacent=True)
    diaries = scenario("GET /diaries?page=1&per_page=10 (first page: cached; on a miss the replica via PgBouncer)", f"{base}/diaries", lua("diaries", GET_BODY % {"path": "/api/v1/diaries?page=1&per_page=10"}), "list")
    ratios = hit_ratios()
    local = [(r["name"].split(" (")[0], r["local"]) for r in rows if r.get("local")]
    log("cache hit ratios over the cached scenarios (warm-up included):", ratios)
    bench_search.measure(sys.modules[__name__], base, decade, rows, api)
    bench_search.embed_all(sys.modules[__name__])
    bench_search.measure_retrieval(sys.modules[__name__], rows)
    api.stop()
    api = start_api(CACHE_ENABLED="false")
    scenario("GET /diaries/stats (cache off)", f"{base}/diaries/stats", lua("stats_off", GET_BODY % {"path": "/api/v1/diaries/stats"}), "pgbench")
    api.stop()
    named_statements(rows, ceilings, f"{base}/diaries")
    api = start_api()
    scenario("POST /diaries (+ 3 jobs, in one statement)", f"{base}/diaries", lua("post", POST_DIARY), "write", warmup=False)
    jobs = int(psql("select count(*) from apalis.jobs"))
    log(f"{jobs} jobs enqueued by the write scenario")

    # Mixed: the seed's traffic shape, with the worker running and chat streams open.
    psql("delete from diaries where diary_date >= current_date - 3; delete from apalis.jobs; delete from ai_jobs;"
         "insert into subscriptions (user_id, plan, status, expires_at) select id, 'premium', 'active', now() + interval '30 days' from users where id <= 16;"
         "insert into chats (user_id, persona_id, is_own_persona) select p.user_id, p.id, true from personas p where p.user_id <= 16;")
    worker = Proc("worker")
    wait_http(f"http://127.0.0.1:{WORKER_PORT}/health/live")
    chats = psql("select user_id || ' ' || id from chats order by user_id").splitlines()
    stop_streams = threading.Event()
    streams_done = [0]

    def stream_loop(user, chat):
        token = jwt(int(user), hashlib.md5(f"s{user}".encode()).hexdigest())
        while not stop_streams.is_set():
            out = subprocess.run(["curl", "-sN", "--max-time", "30", "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
                                  "-d", '{"content":"오늘 어땠어?"}', f"{base}/chats/{chat}/messages/stream"], capture_output=True, text=True).stdout
            if '"type":"done"' in out:
                streams_done[0] += 1

    threads = [threading.Thread(target=stream_loop, args=c.split(), daemon=True) for c in chats]
    for t in threads:
        t.start()
    mixed = scenario("mixed: 45% list, 20% me, 10% unread, 10% stats, 10% persona, 5% write; 16 chat streams open",
                     f"{base}/diaries", lua("mixed", MIXED % {"post": POST_DIARY.replace("  ", "    ")}, "persona_tokens.txt"), warmup=False)
    stop_streams.set()
    for t in threads:
        t.join()
    mixed["name"] += f" ({streams_done[0]} streams completed)"

    # Issue 3: 200 persona generations (LLM latency 3 s) must not slow the diary list.
    req = urllib.request.Request(f"http://127.0.0.1:{LLM_PORT}/_control/config", data=b'{"latency_ms":3000,"token_latency_ms":20}',
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req)
    burst_tokens = [jwt(i, hashlib.md5(f"s{i}".encode()).hexdigest()) for i in range(USERS - BURST + 1, USERS + 1)]
    # A fair comparison: the queue drained, the worker idle, then the diary list alone and
    # the diary list during the burst.
    psql("delete from apalis.jobs; delete from ai_jobs;")
    time.sleep(2)
    diaries = wrk(f"{base}/diaries", lua("diaries_quiet", GET_BODY % {"path": "/api/v1/diaries?page=1&per_page=10"}))
    diaries.update(name="GET /diaries with the worker running, queue empty (baseline for the next row)", ceiling="list", rss=api.rss_mb())
    rows.append(diaries)

    def burst():
        procs = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}\n", "-X", "POST", "-H", f"Authorization: Bearer {t}",
                                   "-H", "Prefer: respond-async", f"{base}/personas/generate"], stdout=subprocess.PIPE, text=True) for t in burst_tokens]
        return [p.communicate()[0].strip() for p in procs]

    codes = []
    burster = threading.Thread(target=lambda: codes.extend(burst()))
    sampler = Sampler(api)
    burster.start()
    during = wrk(f"{base}/diaries", lua("diaries_burst", GET_BODY % {"path": "/api/v1/diaries?page=1&per_page=10"}))
    burster.join()
    during.update(name=f"GET /diaries during a burst of {len(burst_tokens)} POST /personas/generate (Prefer: respond-async, LLM 3 s; {codes.count('202')} x 202)",
                  ceiling="list", rss=sampler.stop())
    rows.append(during)
    log(f"burst: {during['rps']:.0f} rps vs {diaries['rps']:.0f} before; p99 {during['p99']:.1f} vs {diaries['p99']:.1f} ms")
    worker.stop()

    # Idle connections held by one API process.
    api.stop()
    api = start_api()
    time.sleep(1)
    before = api.rss_mb()
    loop = asyncio.new_event_loop()
    started = time.time()
    conns = loop.run_until_complete(hold_idle(IDLE))
    time.sleep(2)
    held = api.rss_mb()
    for _, w in conns:
        w.close()
    # Closed for real before the next scenario opens as many again (file descriptors).
    async def closed():
        await asyncio.gather(*(w.wait_closed() for _, w in conns), return_exceptions=True)

    loop.run_until_complete(closed())
    loop.close()
    rows.append({"name": f"{IDLE} idle keep-alive connections held by one API process (opened in {time.time() - started:.1f}s)",
                 "rps": None, "p50": None, "p99": None, "errors": IDLE - len(conns), "rss": held, "ceiling": None})
    api.stop()
    bench_streams.measure(sys.modules[__name__], rows)
    llm.stop()

    # The table.
    head = (f"Machine: {machine}. Date: {datetime.date.today()}. wrk -t2 -c{CONNECTIONS} -d{DURATION}s through nginx, on the same machine. {USERS} users x {DIARIES} diaries. "
            f"The cached rows and /health: {ROUNDS} runs each, each between two measurements of the proxied ceiling; the median run.")
    lines = [head, "", "| scenario | req/s | p50 ms | p99 ms | errors | API peak RSS MB | share of ceiling | share of proxied ceiling | share of the proxied ceiling around it (before / after), the median run |",
             "|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        share, proxied, around = "", "", ""
        if r["ceiling"] and r["rps"]:
            c = ceilings[r["ceiling"]]["rps"]
            share = f"{r['rps'] / c:.0%} of {r['ceiling']} ({c:,.0f}/s)"
        if r["rps"]:
            proxied = f"{r['rps'] / ceilings['proxied']['rps']:.1%}"
        if "adjacent" in r:
            others = ", ".join(format(x["share"], ".1%") for x in r["runs"] if x is not r)
            around = f"**{r['share']:.1%}** ({r['adjacent'][0]:,.0f} / {r['adjacent'][1]:,.0f})" + (f"; other runs {others}" if others else "")
        fmt = lambda v, f: "—" if v is None else format(v, f)
        lines.append(f"| {r['name']} | {fmt(r['rps'], ',.0f')} | {fmt(r['p50'], '.1f')} | {fmt(r['p99'], '.1f')} | {r['errors']} | {r['rss']:.0f} | {share} | {proxied} | {around} |")
    lines.append(f"| API idle RSS | — | — | — | — | {idle_rss:.0f} | | | |")
    lines.append(f"| ceiling: nginx returning a constant | {ceilings['nginx']['rps']:,.0f} | {ceilings['nginx']['p50']:.1f} | {ceilings['nginx']['p99']:.1f} | {ceilings['nginx']['errors']} | — | | | |")
    p = ceilings["proxied"]
    lines.append(f"| ceiling: nginx in front of a keep-alive upstream returning a constant (GET /api/v1/users/me, the stack's nginx config) | {p['rps']:,.0f} | {p['p50']:.1f} | {p['p99']:.1f} | {p['errors']} | — | {p['rps'] / ceilings['nginx']['rps']:.0%} of nginx | 100% | |")
    lines.append(f"| ceiling: pgbench -S through PgBouncer (replica, 64 clients) | {ceilings['pgbench']['rps']:,.0f} | — | — | — | — | | | |")
    lines.append(f"| ceiling: the list statement alone, pgbench through PgBouncer (replica, 64 clients) | {ceilings['list']['rps']:,.0f} | — | — | — | — | | | |")
    lines.append(f"| ceiling: the write's statements alone (create_diary with 3 jobs, then the WAL position), pgbench through PgBouncer (primary, 16 clients) | {ceilings['write']['rps']:,.0f} | — | — | — | — | | | |")
    for key, what in (("list_direct", "unnamed (-M extended)"), ("list_direct_prepared", "named (-M prepared)")):
        if key in ceilings:
            lines.append(f"| ceiling: the list statement alone (second page), {what}, pgbench direct to the replica (64 clients) | {ceilings[key]['rps']:,.0f} | — | — | — | — | | | |")
    lines.append(f"| ceiling: redis-benchmark GET (128 clients) | {ceilings['redis']['rps']:,.0f} | — | — | — | — | | | |")
    lines.append("")
    lines.append("Cache hit ratio over the cached scenarios, warm-up included: " + ", ".join(f"{c} {r:.1%}" for c, r in sorted(ratios.items())) + ".")
    lines.append("First-level (in-process) hit ratio during each cached row: "
                 + "; ".join(f"{row}: " + ", ".join(f"{c} {r:.1%}" for c, r in hits.items()) for row, hits in local) + ".")
    table = "\n".join(lines)
    print(table)
    if os.environ.get("BENCH_OUT"):
        write(os.environ["BENCH_OUT"], table)


if __name__ == "__main__":
    main()
