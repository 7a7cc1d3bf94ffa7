#!/usr/bin/env python3
"""The repository's documentation stands on its own: every Markdown link in a tracked `.md`
file points at a file of this repository that exists (an `#anchor` after it is allowed), or at
the running app on localhost. A link out of the repository (`../`, an absolute path, or another
host) fails, naming the file and line. Standard library only.

    python3 scripts/lib/doclinks.py
"""

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# [text](target) and [text]: target (reference definitions); images too.
INLINE = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)")
LOCAL_APP = re.compile(r"^https?://(localhost|127\.0\.0\.1)(:\d+)?(/|$)")


def problem(source, target):
    if LOCAL_APP.match(target):
        return None
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
        return "leads outside the repository"
    path = target.split("#", 1)[0]
    if not path:
        return None  # an anchor in the same file
    if path.startswith("/"):
        return "is an absolute path"
    resolved = os.path.normpath(os.path.join(os.path.dirname(source), path))
    if resolved == ".." or resolved.startswith("../"):
        return "leads outside the repository"
    if not os.path.exists(os.path.join(REPO, resolved)):
        return f"names {resolved}, which does not exist"
    return None


def main():
    files = subprocess.run(["git", "ls-files", "*.md"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    failures = []
    for name in files:
        in_code = False
        with open(os.path.join(REPO, name), encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.lstrip().startswith("```"):
                    in_code = not in_code
                    continue
                if in_code:
                    continue
                targets = INLINE.findall(line) + REFERENCE.findall(line)
                for target in targets:
                    why = problem(name, target)
                    if why:
                        failures.append(f"{name}:{number}: link {target} {why}")
    for failure in failures:
        print(failure)
    if failures:
        return 1
    print(f"doclinks: {len(files)} Markdown files, every link stays in the repository")
    return 0


if __name__ == "__main__":
    sys.exit(main())
