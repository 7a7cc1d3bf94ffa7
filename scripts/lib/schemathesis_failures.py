#!/usr/bin/env python3
"""The distinct failures of a schemathesis run, from its NDJSON event report, one example each:
operation, check, what it said, and the request and response that showed it.

    scripts/lib/schemathesis_failures.py REPORT.ndjson      (prints them; the runner writes them
                                                            to failures.txt beside the report)

Failures group by operation, check code and the message's gist (its first line and the schema
location it names), so a failing check repeated over hundreds of generated cases shows once, with
its count. Standard library only.
"""

import base64
import collections
import json
import re
import sys

MAX_BODY = 600
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text):
    """Control characters (generated bodies are full of them) escaped, so the report stays text."""
    return CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def decode(payload):
    """A request or response body from the report, as text."""
    if not payload:
        return ""
    if "$base64" in payload:
        raw = base64.b64decode(payload["$base64"])
        return raw.decode("utf-8", errors="replace")
    return payload.get("string", "") if isinstance(payload, dict) else str(payload)


def gist(message, status):
    """What makes a failure distinct: the schema location it names and the status code, else the
    message's first line (values differ from case to case; where they break the schema does not)."""
    where = re.search(r"Schema at (\S+?):", message)
    if where:
        return f"{where.group(1)} (status {status})"
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    first = re.sub(r"parameter `[^`]*`", "parameter", lines[0]) if lines else ""
    received = next((line for line in lines if line.startswith("Received:")), "")
    return f"{first} {received} (status {status})"


def collect(path):
    groups = collections.OrderedDict()
    with open(path) as f:
        for line in f:
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if not finished or finished.get("status") not in ("failure", "error"):
                continue
            recorder = finished["recorder"]
            for case_id, checks in recorder.get("checks", {}).items():
                interaction = recorder.get("interactions", {}).get(case_id) or {}
                case = (recorder.get("cases", {}).get(case_id) or {}).get("value", {})
                for check in checks:
                    if check.get("status") != "failure":
                        continue
                    failure = check["failure_info"]["failure"]
                    status = (interaction.get("response") or {}).get("status_code")
                    key = (failure.get("operation") or recorder["label"], failure["code"],
                           gist(failure["message"], status))
                    if key not in groups:
                        groups[key] = {"count": 0, "check": check["name"], "title": failure["title"],
                                       "message": failure["message"], "phase": finished["phase"],
                                       "case": case, "interaction": interaction}
                    groups[key]["count"] += 1
    return groups


def render(groups):
    out = []
    for (operation, code, _), g in groups.items():
        req, resp = g["interaction"].get("request", {}), g["interaction"].get("response") or {}
        case = g["case"]
        out.append(f"== {operation}: {code} {g['title']} [{g['check']}] x{g['count']} (first in {g['phase']})")
        out.append("   " + g["message"].strip().replace("\n", "\n   ")[:1500])
        out.append(f"   request: {req.get('method', case.get('method'))} {req.get('uri', case.get('path'))}")
        extra = {k: case[k] for k in ("query", "path_parameters") if case.get(k)}
        if extra:
            out.append(f"   case: {json.dumps(extra, ensure_ascii=False)[:MAX_BODY]}")
        body = decode(req.get("body"))
        if body:
            out.append(f"   request body: {body[:MAX_BODY]}")
        if resp:
            out.append(f"   response: {resp.get('status_code')} {decode(resp.get('content'))[:MAX_BODY]}")
        out.append("")
    return printable("\n".join(out))


def main(argv):
    if len(argv) != 1:
        print("usage: schemathesis_failures.py REPORT.ndjson", file=sys.stderr)
        return 2
    groups = collect(argv[0])
    print(render(groups))
    print(f"{len(groups)} distinct failures")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
