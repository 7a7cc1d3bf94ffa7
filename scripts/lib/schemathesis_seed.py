"""Seed data for the schemathesis run (scripts/lib/schemathesis_run.py), made through the API so
that generated requests name things that exist and get past 404.

    seed(API_BASE) -> {"token": A's bearer token, "logout_token": a second session of A's,
                       "dictionaries": {name: [values]}}

Users A, B and C (auto-verified e-mail). A: a diary on each date the contract allows (today-3 ..
today), a quiz persona (made by the worker), a chat with it and a reply, a chat message whose reply
job is left to finish in the background (`Prefer: respond-async`: a job id). B: a quiz persona, a
friend request to A that A accepts, so A can chat with B's persona (a second chat). C: a friend
request to A left pending (a friendship A can still answer). The notifications this makes, A's
mental analyses (the worker's, one for each diary) once they exist. Standard library only.
"""

import datetime
import json
import os
import time
import urllib.error
import urllib.request

PASSWORD = "schemathesis-password-123"
HTTP_TIMEOUT = 30
ANALYSES_SECS = 30


class SeedFailed(Exception):
    """A seeding request did not answer as expected."""


class Client:
    def __init__(self, base, token=None):
        self.base, self.token = base, token

    def call(self, method, path, body=None, expect=(200,), headers=None):
        hdrs = {"accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data, hdrs["content-type"] = json.dumps(body).encode(), "application/json"
        if self.token:
            hdrs["authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        if status not in expect:
            raise SeedFailed(f"{method} {path}: {status}, expected {expect}: {raw[:300].decode(errors='replace')}")
        return json.loads(raw) if raw else None


def sign_up(base, name):
    """Registers and logs in `name`; (its client, its id)."""
    email = f"{name}@example.com"
    user = Client(base).call("POST", "/auth/register", {"email": email, "username": name, "password": PASSWORD},
                             expect=(201,))
    return Client(base, login(base, email)), user["id"]


def login(base, email):
    return Client(base).call("POST", "/auth/login/json", {"email": email, "password": PASSWORD})["access_token"]


def quiz_persona(client):
    answers = [{"question_id": q, "option_id": "abcd"[q % 4]} for q in range(1, 6)]
    return client.call("POST", "/quiz/submit", {"answers": answers})["persona_id"]


def diaries(client):
    today = datetime.datetime.now(datetime.timezone.utc).date()
    ids = []
    for back, mood in zip(range(3, -1, -1), ["happy", "calm", "grateful", "tired"]):
        date = (today - datetime.timedelta(days=back)).isoformat()
        body = {"title": f"시드 {date}", "content": f"{date}: 산책을 하고 친구와 저녁을 먹었다.", "mood": mood,
                "weather": "sunny", "diary_date": date}
        ids.append(client.call("POST", "/diaries", body, expect=(201,))["id"])
    return ids


def analyses(client, count):
    """Ids of the worker's analyses of A's diaries (waited for; the latest at least)."""
    deadline = time.monotonic() + ANALYSES_SECS
    while client.call("GET", "/mental/history?days=7")["total"] < count:
        if time.monotonic() > deadline:
            raise SeedFailed(f"the worker made fewer than {count} mental analyses in {ANALYSES_SECS}s")
        time.sleep(0.25)
    return [client.call("GET", "/mental/current")["id"]]


def seed(base):
    stamp = f"{int(time.time() * 1000) % 10**9}{os.getpid() % 10**4}"
    names = {who: f"sth{stamp}{who}" for who in "abc"}
    a, a_id = sign_up(base, names["a"])
    b, b_id = sign_up(base, names["b"])
    c, c_id = sign_up(base, names["c"])
    diary_ids = diaries(a)
    personas = [quiz_persona(a), quiz_persona(b)]

    accepted = b.call("POST", "/friends/request", {"addressee_id": a_id}, expect=(201,))["id"]
    a.call("PATCH", f"/friends/requests/{accepted}", {"status": "accepted"})
    pending = c.call("POST", "/friends/request", {"addressee_id": a_id}, expect=(201,))["id"]

    own_chat = a.call("POST", "/chats", {"persona_id": personas[0]}, expect=(201,))["id"]
    friend_chat = a.call("POST", "/chats", {"persona_id": personas[1]}, expect=(201,))["id"]
    reply = a.call("POST", f"/chats/{own_chat}/messages", {"content": "오늘 하루 어땠어?"})
    queued = a.call("POST", f"/chats/{friend_chat}/messages", {"content": "안녕"}, expect=(202,),
                    headers={"prefer": "respond-async"})
    job_id = queued.get("job_id") if isinstance(queued, dict) else None
    messages = a.call("GET", f"/chats/{own_chat}")["messages"] + a.call("GET", f"/chats/{friend_chat}")["messages"]

    notifications = [n["id"] for n in a.call("GET", "/notifications")["notifications"]]
    return {
        "token": a.token,
        "logout_token": login(base, f"{names['a']}@example.com"),
        "dictionaries": {
            "diary_ids": diary_ids,
            "chat_ids": [own_chat, friend_chat],
            "message_ids": sorted({m["id"] for m in messages} | {reply["id"]}),
            "friendship_ids": [accepted, pending],
            "friend_ids": [b_id],
            "notification_ids": notifications,
            "user_ids": [a_id, b_id, c_id],
            "job_ids": [job_id] if job_id else [],
            "usernames": list(names.values()),
            "persona_ids": personas,
            "analysis_ids": analyses(a, len(diary_ids)),
        },
    }
