"""Interleaved A/B of two API binaries on the hot reads, direct to each API (no nginx).

Both binaries serve the same seeded database at once, on two ports; each scenario alternates
short wrk runs between them (A, B, B, A, ...), so the machine's drift hits both alike, and prints
the median of the paired after/before ratios. The schema is the newer binary's (migrations only
add). The write scenario (POST /diaries, the last three days' slots) starts each run from empty
slots and an empty queue. AB_SCENARIOS=post,list runs only those; AB_ROUNDS (6) sets the pairs per scenario. Run through scripts/bench-ab.
"""
import os
import statistics
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
    procs.append(b.Proc("serve", LISTEN_ADDR=ports[name]))
    b.wait_http(f"http://{ports[name]}/health/live")
scripts = {
    "me": b.lua("me", b.GET_BODY % {"path": "/api/v1/users/me"}),
    "persona": b.lua("persona", b.GET_BODY % {"path": "/api/v1/personas/me"}, "persona_tokens.txt"),
    "stats": b.lua("stats", b.GET_BODY % {"path": "/api/v1/diaries/stats"}),
    "list": b.lua("diaries", b.GET_BODY % {"path": "/api/v1/diaries?page=1&per_page=10"}),
    "post": b.lua("post", b.POST_DIARY),
}
if only := os.environ.get("AB_SCENARIOS"):
    scripts = {k: v for k, v in scripts.items() if k in only.split(",")}
paths = {"me": "users/me", "persona": "personas/me", "stats": "diaries/stats", "list": "diaries", "post": "diaries"}


def reset_writes():
    b.psql("delete from diaries where diary_date >= current_date - 3; delete from apalis.jobs; delete from ai_jobs;")


res = {}
for label, script in scripts.items():
    errors = {}
    for name in ("before", "after"):
        if label == "post":
            break
        b.wrk(f"http://{ports[name]}/api/v1/{paths[label]}", script.replace(".lua", "_warm.lua"), duration=3, connections=32)
    for rnd in range(int(os.environ.get("AB_ROUNDS", "6"))):
        order = ("before", "after") if rnd % 2 == 0 else ("after", "before")
        for name in order:
            if label == "post":
                reset_writes()
            r = b.wrk(f"http://{ports[name]}/api/v1/{paths[label]}", script, duration=4)
            res.setdefault((label, name), []).append(r["rps"])
            errors[name] = errors.get(name, 0) + r["errors"]
    bf, af = res[(label, "before")], res[(label, "after")]
    ratios = [a / x for a, x in zip(af, bf)]
    print(f"{label}: before median {statistics.median(bf):.0f} after median {statistics.median(af):.0f} "
          f"paired ratio median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}), "
          f"errors before {errors.get('before', 0)} after {errors.get('after', 0)}", flush=True)
for p in procs:
    p.stop()
