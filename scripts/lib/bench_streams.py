"""The realtime row: STREAMS (BENCH_STREAMS, 10,000) chat reply streams held open by one API
process at once, each a user's own reply in progress (re-attached with
`GET /chats/{id}/messages/{mid}/stream`, straight to the API). With all of them open it reads the
API's resident memory and how many connections Redis has, then publishes one chunk event on every
stream's channel in a single pipeline, as workers would, and times how long each event takes to
reach its client: the delay for an event to reach all of them is the slowest one's.

The clients are one Python asyncio process on the same 2 cores, so the delays include the time it
takes to read 10,000 sockets itself. Used by bench.py.
"""
import asyncio
import hashlib
import os
import re
import subprocess
import time

STREAMS = int(os.environ.get("BENCH_STREAMS", "10000"))
PAYLOAD = '{"type":"chunk","content":"안녕","seq":1}'


def seed(b):
    """A pending reply (user message + running `chat_reply` job) per stream, on users with a
    persona, at most two per user (the cap is five open streams per user and instance): as many
    streams as that allows, up to STREAMS."""
    b.psql("""
        insert into chats (user_id, persona_id, is_own_persona)
          select p.user_id, p.id, true from personas p where not exists (select 1 from chats c where c.user_id = p.user_id);""")
    per_chat = min(2, 1 + (STREAMS - 1) // int(b.psql("select count(*) from chats")))
    b.psql(f"""
        with m as (insert into chat_messages (chat_id, content, is_user)
                   select c.id, 'bench-stream', true from chats c, generate_series(1, {per_chat}) returning id, chat_id)
        insert into ai_jobs (id, user_id, kind, subject_id, status)
          select 'bench-stream-' || m.id, c.user_id, 'chat_reply', m.id, 'running' from m join chats c on c.id = m.chat_id;""")
    rows = b.psql(f"""select c.user_id, c.id, m.id from chat_messages m join chats c on c.id = m.chat_id
                      where m.content = 'bench-stream' order by m.id limit {STREAMS}""").splitlines()
    return [tuple(int(x) for x in r.split("|")) for r in rows]


def redis_cli(*args):
    url = os.environ["REDIS_URL"]
    port = url.rsplit(":", 1)[1].strip("/")
    return subprocess.run(["redis-cli", "-p", port, *args], capture_output=True, text=True, check=True).stdout


def redis_clients():
    """Connections to Redis, less redis-cli's own."""
    return int(re.search(r"connected_clients:(\d+)", redis_cli("info", "clients")).group(1)) - 1


async def open_stream(host, port, token, chat, message):
    r, w = await asyncio.open_connection(host, port)
    w.write(f"GET /api/v1/chats/{chat}/messages/{message}/stream HTTP/1.1\r\nHost: bench\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode())
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace").splitlines()[0])
    return r, w


async def hold_and_publish(b, api, streams):
    host, port = b.API.split(":")
    conns, failed = [], 0
    started = time.time()
    for i in range(0, len(streams), 500):
        batch = streams[i:i + 500]
        got = await asyncio.gather(*(open_stream(host, int(port), b.jwt(u, hashlib.md5(f"s{u}".encode()).hexdigest()), c, m)
                                     for u, c, m in batch), return_exceptions=True)
        for g in got:
            if isinstance(g, Exception):
                failed += 1
            else:
                conns.append(g)
    opened = time.time() - started
    # Each reader subscribes before its response starts, so every channel is there by now.
    channels = redis_cli("pubsub", "channels", "*:stream:*").split()
    held = {"rss": api.rss_mb(), "redis_clients": redis_clients(), "channels": len(channels)}

    received = []

    async def wait_chunk(r):
        await r.readuntil(b'"chunk"')
        received.append(time.monotonic())

    waiters = [asyncio.ensure_future(wait_chunk(r)) for r, _ in conns]
    await asyncio.sleep(0.5)
    url = os.environ["REDIS_URL"]
    rr, rw = await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/")))
    pipeline = "".join(f"*3\r\n$7\r\nPUBLISH\r\n${len(c)}\r\n{c}\r\n${len(PAYLOAD.encode())}\r\n{PAYLOAD}\r\n" for c in channels)
    t0 = time.monotonic()
    rw.write(pipeline.encode())
    await rw.drain()
    replies = [await rr.readline() for _ in channels]
    published = time.monotonic() - t0
    done, _ = await asyncio.wait(waiters, timeout=30)
    rw.close()
    for _, w in conns:
        w.close()
    await asyncio.gather(*(w.wait_closed() for _, w in conns), return_exceptions=True)
    delays = sorted((t - t0) * 1000 for t in received)
    delivered = sum(int(x[1:]) for x in replies if x.startswith(b":"))
    return {"opened_s": opened, "failed": failed, "held": held, "delays": delays, "published_ms": published * 1000,
            "delivered": delivered, "reached": len(done), "open": len(conns)}


def measure(b, rows):
    streams = seed(b)
    b.log(f"realtime: {len(streams)} streams on one API process")
    api = b.start_api(STREAM_IDLE_TIMEOUT_MS="600000")
    time.sleep(1)
    idle = {"rss": api.rss_mb(), "redis_clients": redis_clients()}
    loop = asyncio.new_event_loop()
    try:
        r = loop.run_until_complete(hold_and_publish(b, api, streams))
    finally:
        loop.close()
        api.stop()
    d = r["delays"] or [float("nan")]
    pct = lambda p: d[min(len(d) - 1, int(len(d) * p))]
    held = r["held"]
    name = (f"realtime: {r['open']:,} reply streams held by one API process (opened in {r['opened_s']:.1f}s; "
            f"connections to Redis {idle['redis_clients']} idle -> {held['redis_clients']} held, {held['channels']:,} channels; "
            f"RSS {idle['rss']:.0f} -> {held['rss']:.0f} MB, {(held['rss'] - idle['rss']) * 1024 / max(1, r['open']):.1f} KB a stream); "
            f"one event published to each ({r['published_ms']:.0f} ms to publish, {r['delivered']:,} delivered by Redis): "
            f"reached {r['reached']:,} clients, delay p50 {pct(0.5):.0f} / p99 {pct(0.99):.0f} / all {d[-1]:.0f} ms")
    b.log(name)
    rows.append({"name": name, "rps": None, "p50": pct(0.5), "p99": pct(0.99), "errors": r["failed"] + r["open"] - r["reached"],
                 "rss": held["rss"], "ceiling": None})
