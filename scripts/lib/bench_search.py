"""The ten-year user: one account with 3,650 diaries (a diary a day for ten years, about 500
characters each, varied), and diary search measured against it through nginx: a rare word
(one diary in a hundred) and a common one (every diary), newest first and by relevance, at a
modest concurrency (a person searching, not a load test). Used by bench.py; alone (on a bench
stack with the schema migrated, as scripts/bench-search does): python3 bench_search.py BINARY.
"""
import hashlib
import urllib.parse

DECADE = 3650
CONNECTIONS = 4
SENTENCES = ["오늘은 회사에서 회의가 길어서 피곤했다.", "저녁에 친구와 떡볶이를 먹으며 수다를 떨었다.",
             "비가 와서 집에서 책을 읽고 음악을 들었다.", "아침 일찍 일어나 한강을 따라 산책했다.",
             "엄마와 전화로 한참 이야기했다. 건강하셨으면 좋겠다.", "프로젝트 마감이 다가와서 마음이 조급하다.",
             "새로 산 운동화를 신고 동네를 한 바퀴 돌았다.", "Coffee with Jimin at the new cafe downtown."]


def seed(b):
    """Creates the ten-year user and returns its bearer token."""
    pool = "array[" + ",".join("'" + s.replace("'", "''") + "'" for s in SENTENCES) + "]"
    uid = b.psql(f"""
        with u as (insert into users (email, username, password_hash, email_verified)
                   values ('decade@bench.local', 'decade', 'unused', true) returning id),
             s as (insert into sessions (id, user_id, expires_at) select md5('decade'), id, now() + interval '2 days' from u),
             d as (insert into diaries (user_id, title, content, mood, weather, diary_date)
                   select u.id, '일기 ' || n,
                          (select string_agg(({pool})[1 + (n * 7 + k * 3) % {len(SENTENCES)}], ' ') from generate_series(1, 14) k)
                          || case when n % 100 = 0 then ' 벚꽃이 지기 전에 시험 걱정을 했다.' else '' end,
                          'calm', 'sunny', current_date - 4 - n
                   from u, generate_series(0, {DECADE - 1}) n)
        select id from u""")
    b.psql("vacuum analyze diaries")
    return b.jwt(int(uid), hashlib.md5(b"decade").hexdigest())


def measure(b, base, token, rows, sampler_proc=None):
    """Appends a row per query to `rows` (bench.py's table shape)."""
    b.write(f"{b.WORK}/decade_token.txt", token)
    for label, query in [("rare word, 37 hits", "벚꽃"), ("common word, every diary", "산책"),
                         ("two words, by relevance", "벚꽃 시험&order=relevance")]:
        q = urllib.parse.quote(query, safe="&=")
        path = f"/api/v1/diaries/search?q={q}"
        script = b.lua(f"search_{len(rows)}", b.GET_BODY % {"path": path}, "decade_token.txt")
        b.wrk(f"{base}/diaries/search", script, duration=2, connections=CONNECTIONS)
        sampler = b.Sampler(sampler_proc) if sampler_proc else None
        r = b.wrk(f"{base}/diaries/search", script, connections=CONNECTIONS)
        r.update(name=f"GET /diaries/search, {DECADE} diaries, {label} ({CONNECTIONS} connections)", ceiling=None,
                 rss=sampler.stop() if sampler else 0)
        rows.append(r)
        b.log(f"search {label}: {r['rps']:.0f} rps, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, {r['errors']} errors")


if __name__ == "__main__":
    import os
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench as b
    b.Proc("migrate").p.wait()
    token = seed(b)
    api = b.start_api()
    rows = []
    measure(b, f"{b.NGINX}/api/v1", token, rows, api)
    api.stop()
    for r in rows:
        print(f"| {r['name']} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} | {r['rss']:.0f} |")
