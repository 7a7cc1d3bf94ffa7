#!/usr/bin/env python3
"""Checks the crate's layering: a module may use only its own layer or lower ones.

Layers, lowest first (see backend/src/lib.rs): platform, llm, data, jobs, api, then the root
(startup, openapi, cli, lib, main). `openapi` is imported by nobody but `startup`. Every path a file
names (`use` trees expanded, `crate::` and `super::` paths anywhere, strings in attributes
included) is resolved to its top-level module. Prints each violation as `file: uses path` and
exits 1 if there is any; exits 0 and prints a one-line summary otherwise.
"""
import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parents[2] / "backend" / "src"
LAYERS = ["platform", "llm", "data", "jobs", "api"]
ROOT_LAYER = len(LAYERS)  # startup, openapi, cli, lib.rs, main.rs
ROOT_MODULES = ["startup", "openapi", "cli"]


def layer_of(top: str) -> int:
    return LAYERS.index(top) if top in LAYERS else ROOT_LAYER


def module_path(path: pathlib.Path) -> list[str]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def expand_use(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace < 0:
        return [tree.split(" as ")[0]]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rindex("}")]
    items, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            items.append(inner[start:i])
            start = i + 1
    items.append(inner[start:])
    out = []
    for item in filter(None, items):
        out.extend(prefix + sub for sub in expand_use(item))
    return out


def resolve(path: str, here: list[str], is_mod_file: bool) -> str | None:
    """The top-level module a path points into, or None for external crates."""
    segs = path.split("::")
    if segs[0] == "crate":
        return segs[1] if len(segs) > 1 else None
    if segs[0] in ("super", "self"):
        base = list(here) if is_mod_file else list(here)
        # In `a/b.rs` (module a::b), `super` is `a`; in `a/b/mod.rs` (module a::b) too.
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
        full = base + segs
        return full[0] if full else None
    return None


def check() -> int:
    violations, files = [], 0
    for path in sorted(SRC.rglob("*.rs")):
        files += 1
        here = module_path(path)
        own = layer_of(here[0]) if here else ROOT_LAYER
        text = strip_comments(path.read_text())
        paths = []
        for use in re.findall(r"\buse\s+([^;]+);", text):
            paths.extend(expand_use(use))
        paths.extend(re.findall(r"\b(?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+", text))
        for p in paths:
            top = resolve(p, here, path.name == "mod.rs")
            # `crate::from_row!` is platform's (a `#[macro_export]` macro lives at the root);
            # a name that is no top-level module came from a `super` inside a nested `mod`.
            top = "platform" if top == "from_row" else top
            if top is None or top not in LAYERS + ROOT_MODULES:
                continue
            used = layer_of(top)
            name = here[0] if here else path.stem
            if used > own or (top == "openapi" and name not in ("startup", "openapi")):
                violations.append(f"{path.relative_to(SRC.parent.parent)}: uses {p}")
    for v in sorted(set(violations)):
        print(v)
    if violations:
        print(f"layers: {len(set(violations))} upward imports", file=sys.stderr)
        return 1
    print(f"layers: {files} files, no module imports a higher layer")
    return 0


if __name__ == "__main__":
    sys.exit(check())
