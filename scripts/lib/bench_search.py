"""The ten-year user: one account with 3,650 diaries (a diary a day for ten years, about 500
characters each, varied), and diary search measured against it through nginx: a rare word
(one diary in a hundred) and a common one (every diary), newest first and by relevance, at a
modest concurrency (a person searching, not a load test). Then chat retrieval's two statements
for that user (jobs::retrieve: the nearest sign bits with their vectors, and the word match),
with every diary embedded at 768 dimensions by the dev-llm (`dearme embeddings backfill`): as
the worker sends them, through PgBouncer to the replica, per-statement latency from pgbench's
log, and the storage an embedding takes. Used by bench.py; alone (on a bench stack, as
scripts/bench-search does): python3 bench_search.py BINARY.
"""
import hashlib
import os
import statistics
import subprocess
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


# The statements of jobs::retrieve for the ten-year user: the query's sign bits are a stored
# diary's (any vector serves to time the pass), the words those of "봄에 시험 걱정했던 거 기억나?".
NEAREST_SQL = """\\set qid random(%(first)d, %(last)d)
with c as (select e.diary_id from diary_embeddings e
  where e.user_id = %(uid)d and e.model = 'dev-embedding' and e.dim = 768
    and (not false or exists (select 1 from diaries d where d.id = e.diary_id and d.visibility = 'friends'))
  order by bit_count(e.bits # (select bits from diary_embeddings where diary_id = :qid)), e.diary_id desc limit 50)
select e.diary_id, e.vector from c join diary_embeddings e on e.diary_id = c.diary_id;
"""
LEXICAL_SQL = """select id from (select d.id, d.diary_date, (select count(*) from unnest('{봄에,시험,걱정했,걱정,기억}'::text[]) w
   where strpos(d.title, w) > 0 or strpos(d.content, w) > 0) as hits
 from diaries d where d.user_id = %(uid)d and d.visibility = any('{self,friends}')) m
 where hits > 0 order by hits desc, diary_date desc limit 10;
"""


def embed_all(b):
    """Embeds the ten-year user's diaries at 768 dimensions with the dev-llm (on LLM_PORT)."""
    uid = b.psql("select id from users where username = 'decade'")
    out = subprocess.run([b.BIN, "embeddings", "backfill", "--user", uid], env=b.env(LLM_PROVIDER="dev", EMBEDDING_MODEL="dev-embedding", EMBEDDING_DIM="768"),
                         capture_output=True, text=True, check=True).stdout.strip()
    b.log(out)


def measure_retrieval(b, rows):
    uid = int(b.psql("select id from users where username = 'decade'"))
    first, last = b.psql(f"select min(id) || ' ' || max(id) from diaries where user_id = {uid}").split()
    per_diary = float(b.psql("select pg_total_relation_size('diary_embeddings')::float / count(*) from diary_embeddings"))
    runs = [(label, sql, clients) for label, sql in [("nearest 50 by sign bits, with their vectors", NEAREST_SQL),
                                                     ("word match, top 10", LEXICAL_SQL)] for clients in (1, CONNECTIONS)]
    for label, sql, clients in runs:
        path = f"{b.WORK}/retrieval.sql"
        b.write(path, sql % {"uid": uid, "first": int(first), "last": int(last)})
        logs = f"{b.WORK}/pgbench_log"
        os.makedirs(logs, exist_ok=True)
        for f in os.listdir(logs):
            os.remove(os.path.join(logs, f))
        subprocess.run(["pgbench", "-n", "-M", "extended", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(b.DURATION), "-f", path,
                        "-l", "--log-prefix", f"{logs}/l", os.environ["DATABASE_READ_URL"]], capture_output=True, text=True, check=True)
        ms = sorted(int(line.split()[2]) / 1000 for f in os.listdir(logs) for line in open(os.path.join(logs, f)))
        p50, p99 = statistics.median(ms), ms[int(len(ms) * 0.99) - 1]
        rows.append({"name": f"retrieval for the {DECADE}-diary user: {label} (pgbench, {clients} client(s), replica)",
                     "rps": len(ms) / b.DURATION, "p50": p50, "p99": p99, "errors": 0, "rss": 0, "ceiling": None})
        b.log(f"retrieval {label}, {clients} client(s): p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    b.log(f"diary_embeddings: {per_diary:.0f} bytes per diary (768 dimensions, with its index and TOAST)")


if __name__ == "__main__":
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench as b
    b.Proc("migrate").p.wait()
    token = seed(b)
    llm = b.Proc("dev-llm")
    b.wait_http(f"http://127.0.0.1:{b.LLM_PORT}/health")
    embed_all(b)
    llm.stop()
    api = b.start_api()
    rows = []
    measure(b, f"{b.NGINX}/api/v1", token, rows, api)
    api.stop()
    measure_retrieval(b, rows)
    for r in rows:
        print(f"| {r['name']} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} | {r['rss']:.0f} |")
