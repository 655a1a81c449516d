"""Rust: ``mod x;`` (with ``#[path = "..."]``) and ``use`` paths (``crate::``, ``self::``,
``super::``, workspace crates, and child modules named directly).

The module tree is rebuilt the way rustc finds files: from every crate root (``lib.rs``,
``main.rs``, ``build.rs`` and the files under ``src/bin``, ``examples``, ``tests`` and
``benches`` next to a ``Cargo.toml``), ``mod x;`` in a file ``F`` loads ``D/x.rs`` or
``D/x/mod.rs``, where ``D`` is ``F``'s directory for ``mod.rs``/``lib.rs``/``main.rs``/crate roots
and ``F``'s directory plus its stem otherwise; ``#[path = "p"]`` loads ``p`` relative to ``F``'s
directory. A ``use`` path gives an edge to the file of its longest prefix that is a module (so
``use crate::a::b::Item`` depends on ``a/b.rs``, and ``use crate::Item`` on the crate root).
Crate names come from ``Cargo.toml`` (``[lib] name`` or ``[package] name`` with ``-`` -> ``_``).
``mod x { ... }`` blocks do not open a new directory for their nested ``mod`` declarations
(documented limitation).
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from ._base import Found, Repo, dirname, found, join, norm, starts_token

LANGUAGES = frozenset({"rust"})
STYLE = "rust"

_MOD = re.compile(
    r"((?:#\s*\[[^\]]{0,500}\]\s*)*)(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+(?:r#)?([A-Za-z_]\w*)\s*;"
)
_PATH_ATTR = re.compile(r"#\s*\[\s*path\s*=\s*\"")
_USE = re.compile(r"use\s")
_MAX_USE_CHARS = 4000
_TOML_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$", re.M)
_TOML_NAME = re.compile(r"^\s*name\s*=\s*\"([^\"]+)\"", re.M)


def _crate_names(repo: Repo) -> dict[str, str]:
    """Crate name -> library root file, from Cargo.toml files."""
    names: dict[str, str] = {}
    for toml in repo.by_basename.get("Cargo.toml", []):
        text = repo.text(toml)
        d = dirname(toml)
        sections: dict[str, str] = {}
        bounds = [(m.group(1).strip(), m.end()) for m in _TOML_SECTION.finditer(text)]
        for i, (sec, start) in enumerate(bounds):
            end = bounds[i + 1][1] if i + 1 < len(bounds) else len(text)
            sections.setdefault(sec, text[start:end])
        name = None
        for sec in ("lib", "package"):
            m = _TOML_NAME.search(sections.get(sec, "").split("\n[", 1)[0])
            if m:
                name = m.group(1)
                break
        lib = join(d, "src/lib.rs")
        if name and lib in repo.paths:
            names.setdefault(name.replace("-", "_"), lib)
    return names


def _roots(repo: Repo) -> list[str]:
    roots: set[str] = set()
    for p in repo.paths:
        if repo.languages.get(p) not in LANGUAGES:
            continue
        base = p.rsplit("/", 1)[-1]
        parts = p.split("/")

        def cargo_at(n: int, parts: list[str] = parts) -> bool:
            """A Cargo.toml in the directory ``n`` levels above the file's directory."""
            return "/".join([*parts[: len(parts) - 1 - n], "Cargo.toml"]) in repo.paths

        if base in ("lib.rs", "main.rs", "build.rs"):
            roots.add(p)
        # Cargo's target directories: tests/, examples/, benches/ beside Cargo.toml, src/bin/.
        if len(parts) >= 2 and parts[-2] in ("examples", "tests", "benches") and cargo_at(1):
            roots.add(p)
        if len(parts) >= 3 and parts[-2] == "bin" and parts[-3] == "src" and cargo_at(2):
            roots.add(p)
    return sorted(roots)


def _mod_decls(repo: Repo, path: str) -> list[tuple[str, str | None]]:
    text = repo.text(path)
    masked = repo.masked(path, STYLE)
    out: list[tuple[str, str | None]] = []
    for m in _MOD.finditer(masked):
        attr_path = None
        attrs = m.group(1)
        if attrs:
            a = _PATH_ATTR.search(attrs)
            if a:
                q = m.start(1) + a.end() - 1
                end = masked.find('"', q + 1)
                if end > q:
                    attr_path = text[q + 1 : end]
        out.append((m.group(2), attr_path))
    return out


def _child_file(
    repo: Repo, path: str, is_dir_owner: bool, name: str, attr: str | None
) -> str | None:
    d = dirname(path)
    if attr is not None:
        p = norm(join(d, attr))
        return p if p in repo.paths else None
    own = d if is_dir_owner else join(d, path.rsplit("/", 1)[-1][:-3])
    for cand in (join(own, name + ".rs"), join(own, name, "mod.rs")):
        if cand in repo.paths:
            return cand
    return None


def prepare(repo: Repo) -> dict[str, Any]:
    modules: dict[tuple[str, tuple[str, ...]], str] = {}
    file_mod: dict[str, tuple[str, tuple[str, ...]]] = {}
    roots = _roots(repo)
    root_set = set(roots)
    for root in roots:
        stack = [(root, ())]
        while stack:
            f, mpath = stack.pop()
            if f in file_mod:
                continue
            file_mod[f] = (root, mpath)
            modules[(root, mpath)] = f
            owner = f in root_set or f.rsplit("/", 1)[-1] == "mod.rs"
            for name, attr in _mod_decls(repo, f):
                child = _child_file(repo, f, owner, name, attr)
                if child is not None and child not in file_mod:
                    stack.append((child, (*mpath, name)))
    return {
        "modules": modules,
        "file_mod": file_mod,
        "crates": _crate_names(repo),
        "root_set": root_set,
    }


def _expand(tree: str) -> list[list[str]]:
    """``a::{b, c::{d, e}}`` -> [[a, b], [a, c, d], [a, c, e]] (aliases and globs dropped)."""
    tree = re.sub(r"\s+", "", tree)
    out: list[list[str]] = []

    def walk(prefix: list[str], s: str) -> None:
        brace = s.find("{")
        if brace < 0:
            segs = [x for x in s.split("::") if x]
            segs = [x for x in segs if x != "*"]
            if prefix or segs:
                out.append(prefix + segs)
            return
        head = [x for x in s[:brace].split("::") if x]
        depth = 0
        items: list[str] = []
        start = brace + 1
        for i in range(brace, len(s)):
            ch = s[i]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    items.append(s[start:i])
                    break
            elif ch == "," and depth == 1:
                items.append(s[start:i])
                start = i + 1
        for item in items:
            if item:
                walk(prefix + head, item)

    walk([], tree)
    return out


def resolve_file(repo: Repo, ctx: dict[str, Any], path: str) -> list[Found]:
    results: list[Found] = []
    info = ctx["file_mod"].get(path)
    owner = path in ctx["root_set"] or path.rsplit("/", 1)[-1] == "mod.rs"
    for name, attr in _mod_decls(repo, path):
        child = _child_file(repo, path, owner, name, attr)
        results.append(found([child] if child else []))
    masked = repo.masked(path, STYLE)
    modules = ctx["modules"]
    semis = [i for i, ch in enumerate(masked) if ch == ";"] if "use" in masked else []
    for m in _USE.finditer(masked):
        if not starts_token(masked, m.start(), "_:"):
            continue
        k = bisect.bisect_left(semis, m.end())
        if k == len(semis) or semis[k] - m.end() > _MAX_USE_CHARS:
            continue
        body = masked[m.end() : semis[k]].replace("\n", " ")
        # Raw "as" handling: remove " as name" so that segments stay clean.
        body = re.sub(r"\s+as\s+\w+", "", body)
        targets: list[str] = []
        for segs in _expand(body):
            t = _resolve_use(ctx, info, segs, modules)
            if t:
                targets.append(t)
        results.append(found(targets))
    return results


def _resolve_use(
    ctx: dict[str, Any],
    info: tuple[str, tuple[str, ...]] | None,
    segs: list[str],
    modules: dict[tuple[str, tuple[str, ...]], str],
) -> str | None:
    if not segs:
        return None
    segs = [s.removeprefix("r#") for s in segs]
    if segs[0] == "":
        segs = segs[1:]
    first = segs[0]
    if first in ("crate", "self", "super") or first == "$crate":
        if info is None:
            return None
        root, cur = info
        if first in ("crate", "$crate"):
            base: tuple[str, ...] = ()
            rest = segs[1:]
        else:
            base = cur
            rest = segs
            while rest and rest[0] in ("self", "super"):
                if rest[0] == "super":
                    if not base:
                        return None
                    base = base[:-1]
                rest = rest[1:]
    elif first in ctx["crates"]:
        lib = ctx["crates"][first]
        finfo = ctx["file_mod"].get(lib)
        if finfo is None:
            return None
        root, base = finfo
        rest = segs[1:]
    elif info is not None and (info[0], (*info[1], first)) in modules:
        root, base = info
        rest = segs
    else:
        return None
    best = modules.get((root, base))
    for i in range(len(rest)):
        f = modules.get((root, (*base, *rest[: i + 1])))
        if f is None:
            break
        best = f
    return best
