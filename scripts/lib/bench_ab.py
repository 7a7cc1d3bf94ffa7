"""Interleaved A/B of two API binaries on the hot reads, direct to each API (no nginx).

Both binaries serve the same seeded database at once, on two ports; each scenario alternates
short wrk runs between them (A, B, B, A, ...), so the machine's drift hits both alike, and prints
the median of the paired after/before ratios. The schema is the newer binary's (migrations only
add). The write scenario (POST /diaries, the last three days' slots) starts each run from empty
slots and an empty queue; so does the mixed one (the bench's mix, 5 % writes).
AB_SCENARIOS=post,list runs only those, in that order (of me, persona, stats, friends, list,
post, mixed); AB_ROUNDS (6) sets the pairs per scenario. Run through scripts/bench-ab.

The app's environment per side: AB_ENV_BEFORE / AB_ENV_AFTER ("NAME=value,NAME=value"), e.g. the
same binary twice with AB_ENV_AFTER="CACHE_LOCAL_MAX_BYTES=0"; separated by ";" instead when a
value has commas ("RUST_LOG=info,dearme=debug;LOG_FORMAT=json").

A server setting instead of a build: AB_PG_BEFORE and AB_PG_AFTER ("name=value,name=value",
reloadable settings) are applied to the primary (ALTER SYSTEM, reload) before each side's runs,
e.g. the same binary twice with AB_PG_AFTER="commit_delay=100,commit_siblings=5".

AB_PERF=DIR records a CPU profile (perf, cpu-clock) of each side's API during its first run of
each scenario, with its top frames in DIR/<scenario>-<side>.txt. The release build keeps no frame
pointers: AB_PERF_DWARF=1 records call stacks from DWARF instead (larger files, slower report),
and the report then ranks frames by their inclusive share.

AB_NGINX=1 sends every measured run through the stack's nginx instead, its upstream switched to
the side's API (a reload) before each run: what the bench measures, with nginx's share of the
cores in it. With AB_CEILING=1 as well, each round also measures the proxied ceiling (nginx in
front of a constant upstream, as in scripts/bench) and prints each side's median share of it.

Every scenario also prints each side's API CPU time per request (user + system, all its
threads, from /proc): less noisy than throughput on a shared machine, and what a share of the
ceiling comes down to when the cores are saturated.
"""
import os
import re
import statistics
import subprocess
import sys

before, after = sys.argv[1], sys.argv[2]
# bench reads its binary from argv at import.
sys.argv = [sys.argv[0], before]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as b
b.BIN = after
b.Proc("migrate").p.wait()
b.seed()
ports = {"before": "127.0.0.1:61000", "after": "127.0.0.1:61001"}
procs = []
for name, binary in (("before", before), ("after", after)):
    b.BIN = binary
    given = os.environ.get(f"AB_ENV_{name.upper()}", "")
    extra = dict(kv.split("=", 1) for kv in given.split(";" if ";" in given else ",") if kv)
    if bad := [k for k in extra if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", k)]:
        raise SystemExit(f"AB_ENV_{name.upper()}: {bad} are not variable names; separate settings with ';' when a value has commas")
    b.refuse_taken(ports[name])
    procs.append(b.Proc("serve", LISTEN_ADDR=ports[name], **extra))
    b.wait_http(f"http://{ports[name]}/health/live")
    if procs[-1].p.poll() is not None:
        raise SystemExit(f"the {name} API exited; is another process on {ports[name]}?")
scripts = {
    "me": b.lua("me", b.GET_BODY % {"path": "/api/v1/users/me"}),
    "persona": b.lua("persona", b.GET_BODY % {"path": "/api/v1/personas/me"}, "persona_tokens.txt"),
    "stats": b.lua("stats", b.GET_BODY % {"path": "/api/v1/diaries/stats"}),
    "friends": b.lua("friends", b.GET_BODY % {"path": "/api/v1/friends"}),
    "list": b.lua("diaries", b.GET_BODY % {"path": "/api/v1/diaries?page=1&per_page=10"}),
    "post": b.lua("post", b.POST_DIARY),
    "mixed": b.lua("mixed", b.MIXED % {"post": b.POST_DIARY.replace("  ", "    ")}, "persona_tokens.txt"),
}
if only := os.environ.get("AB_SCENARIOS"):
    # In the order given: the VM drifts over a run, so order can matter when comparing scenarios.
    scripts = {k: scripts[k] for k in only.split(",") if k in scripts}
paths = {"me": "users/me", "persona": "personas/me", "stats": "diaries/stats", "friends": "friends", "list": "diaries", "post": "diaries", "mixed": "diaries"}


def server_settings(side):
    """Applies AB_PG_BEFORE / AB_PG_AFTER (see above) for `side`; resets them when unset."""
    wanted = os.environ.get(f"AB_PG_{side.upper()}", "")
    other = os.environ.get(f"AB_PG_{'AFTER' if side == 'before' else 'BEFORE'}", "")
    names = {kv.split("=", 1)[0] for kv in (wanted + "," + other).split(",") if kv}
    if not names:
        return
    values = dict(kv.split("=", 1) for kv in wanted.split(",") if kv)
    # One call each: ALTER SYSTEM cannot run in the implicit transaction of several statements.
    # As the superuser, over the primary's unix socket (the app's role may not ALTER SYSTEM).
    admin = ["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", "-h", f"{os.environ['STACK_DIR']}/run",
             "-p", os.environ["PG_PRIMARY_PORT"], "-U", "postgres", "-d", "postgres", "-c"]
    for n in sorted(names):
        subprocess.run(admin + [f"alter system set {n} = '{values[n]}'" if n in values else f"alter system reset {n}"], check=True)
    subprocess.run(admin + ["select pg_reload_conf()"], check=True, capture_output=True)


def reset_writes():
    b.psql("delete from diaries where diary_date >= current_date - 3; delete from apalis.jobs; delete from ai_jobs;")


def api_pid(side):
    return procs[0 if side == "before" else 1].p.pid


def cpu_seconds(side):
    """The API process's CPU time so far (user + system, all threads)."""
    with open(f"/proc/{api_pid(side)}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(label, side):
    """With AB_PERF=DIR: a CPU profile of `side`'s API during its first run of `label`
    (DIR/label-side.data; `perf report -i` it, or see its top frames in DIR/label-side.txt)."""
    out = os.environ.get("AB_PERF")
    if not out:
        return None
    os.makedirs(out, exist_ok=True)
    data = f"{out}/{label}-{side}.data"
    pid = api_pid(side)
    dwarf = os.environ.get("AB_PERF_DWARF") == "1"
    stacks = ["--call-graph", "dwarf,16384", "-F", "499"] if dwarf else ["-g", "-F", "999"]
    record = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", *stacks, "-p", str(pid), "-o", data, "--", "sleep", "3"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ranking = ["--children", "-g", "none", "--percent-limit", "2"] if dwarf else ["--no-children", "-g", "none", "--percent-limit", "1"]

    class Done:
        def wait(self):
            record.wait()
            with open(f"{out}/{label}-{side}.txt", "w") as f:
                subprocess.run(["perf", "report", "-i", data, "--stdio", *ranking],
                               stdout=f, stderr=subprocess.DEVNULL)
    return Done()


VIA_NGINX = os.environ.get("AB_NGINX") == "1"


def url(side, label):
    """Where `side`'s runs of `label` go; through nginx, its upstream switched to `side` first."""
    if not VIA_NGINX:
        return f"http://{ports[side]}/api/v1/{paths[label]}"
    b.switch_upstream(ports[side], settle=0)
    return f"{b.NGINX}/api/v1/{paths[label]}"


CEILING = VIA_NGINX and os.environ.get("AB_CEILING") == "1"


def ceiling():
    """The proxied ceiling now: the stack's nginx in front of a constant upstream on a third port."""
    return b.adjacent_ceiling(scripts.get("me") or b.lua("me", b.GET_BODY % {"path": "/api/v1/users/me"}))


res = {}
for label, script in scripts.items():
    errors = {}
    for name in ("before", "after"):
        if label == "post":
            break
        # Stops once every user was read (the duration is only a bound).
        b.warm(f"http://{ports[name]}/api/v1/{paths[label]}", script)
    for rnd in range(int(os.environ.get("AB_ROUNDS", "6"))):
        order = ("before", "after") if rnd % 2 == 0 else ("after", "before")
        if CEILING:
            res.setdefault((label, "ceiling"), []).append(ceiling())
        for name in order:
            server_settings(name)
            if label in ("post", "mixed"):
                reset_writes()
            target = url(name, label)
            perf = profile(label, name) if rnd == 0 else None
            cpu = cpu_seconds(name)
            r = b.wrk(target, script, duration=4)
            cpu = cpu_seconds(name) - cpu
            if perf:
                perf.wait()
            res.setdefault((label, name), []).append(r["rps"])
            if not perf:
                # perf's sampling would count as the API's own CPU.
                res.setdefault((label, name, "cpu"), []).append(cpu * 1e6 / max(r["requests"], 1))
            errors[name] = errors.get(name, 0) + r["errors"]
    bf, af = res[(label, "before")], res[(label, "after")]
    ratios = [a / x for a, x in zip(af, bf)]
    print(f"{label}: before median {statistics.median(bf):.0f} after median {statistics.median(af):.0f} "
          f"paired ratio median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}), "
          f"errors before {errors.get('before', 0)} after {errors.get('after', 0)}", flush=True)
    bc, ac = res.get((label, "before", "cpu"), [float("nan")]), res.get((label, "after", "cpu"), [float("nan")])
    print(f"{label}: API CPU per request, median: before {statistics.median(bc):.1f} us after {statistics.median(ac):.1f} us, "
          f"paired ratio median {statistics.median(a / x for a, x in zip(ac, bc)):.3f}", flush=True)
    if CEILING:
        ceilings = res[(label, "ceiling")]
        print(f"{label}: proxied ceiling median {statistics.median(ceilings):.0f}; share of the round's ceiling, median: "
              f"before {statistics.median(x / c for x, c in zip(bf, ceilings)):.1%} "
              f"after {statistics.median(x / c for x, c in zip(af, ceilings)):.1%}", flush=True)
for p in procs:
    p.stop()
