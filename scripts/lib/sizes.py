#!/usr/bin/env python3
"""Checks the crate's room sizes: no Rust file in backend/src over 400 lines, no function over 60.

A function runs from its `fn` line to the first later line holding only its closing brace at the
same indentation (rustfmt's layout). Prints each offender and exits 1 if there is any; prints the
median file length and the longest function otherwise.
"""
import pathlib
import re
import statistics
import sys

SRC = pathlib.Path(__file__).resolve().parents[2] / "backend" / "src"
MAX_FILE, MAX_FN = 400, 60
FN = re.compile(r"^(\s*)(?:pub(?:\([^)]*\))? )?(?:const )?(?:async )?(?:unsafe )?fn (\w+)")


def functions(lines):
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m or line.rstrip().endswith(";"):
            continue
        close = m.group(1) + "}"
        for j in range(i, len(lines)):
            if lines[j].rstrip() == close:
                yield m.group(2), i + 1, j - i + 1
                break


def main() -> int:
    problems, sizes, longest = [], [], ("", 0)
    for path in sorted(SRC.rglob("*.rs")):
        lines = path.read_text().splitlines()
        rel = path.relative_to(SRC.parent.parent)
        sizes.append(len(lines))
        if len(lines) > MAX_FILE:
            problems.append(f"{rel}: {len(lines)} lines (max {MAX_FILE})")
        for name, line, length in functions(lines):
            if length > longest[1]:
                longest = (f"{rel}:{line} {name}", length)
            if length > MAX_FN:
                problems.append(f"{rel}:{line}: fn {name} is {length} lines (max {MAX_FN})")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"sizes: {len(sizes)} files, median {statistics.median(sizes):.0f} lines, "
          f"longest fn {longest[0]} ({longest[1]} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
