"""Python: ``import a.b``, ``from a.b import c``, ``from . import x``, ``from ..a import b``.

Resolution (see docs/corpus-deps.md):
- relative imports resolve from the importer's package directory (``level`` dots go up
  ``level - 1`` directories);
- absolute imports are looked up under the *import roots*: the directory of the importer when it
  is not a package (a script or test directory: Python puts it first on ``sys.path``), then every
  directory that contains a top-level package (a package directory whose parent holds no
  ``__init__.py``; this finds ``src/`` layouts and nested projects), ``src/`` and the repository
  root. Roots above the importer come first (deepest first), then the others in path order;
- ``import a.b.c`` gives an edge to the module ``a.b.c`` (``a/b/c.py`` or ``a/b/c/__init__.py``;
  ``.pyi`` stubs when no ``.py`` exists); when it does not exist, to its longest existing prefix;
- ``from a.b import c`` gives an edge to the submodule ``a.b.c`` when it exists, else to ``a.b``
  (the way grimp records it); parent packages' ``__init__.py`` are not added.
"""

from __future__ import annotations

import re
from typing import Any

from ._base import Found, Repo, dirname, found, join, starts_token

LANGUAGES = frozenset({"python"})

_STMT = re.compile(
    r"from[ \t]+(?P<base>\.*[ \t]*[\w.]*)[ \t]+import\b[ \t]*(?P<names>\([^)]{0,20000}\)|[^\n;]*)"
    r"|import[ \t]+(?P<mods>[^\n;]+)"
)
_NAME = re.compile(r"^[^\W\d]\w*(?:\.[^\W\d]\w*)*$")


def _module_file(repo: Repo, base_dir: str, parts: list[str]) -> str | None:
    key = ("py", base_dir, *parts)
    memo = repo.memo
    if key in memo:
        return memo[key]
    rel = "/".join(p for p in (base_dir, *parts) if p)
    pkg = f"{rel}/" if rel else ""
    found_file = None
    for cand in (rel + ".py", pkg + "__init__.py", rel + ".pyi", pkg + "__init__.pyi"):
        if cand in repo.paths:
            found_file = cand
            break
    memo[key] = found_file
    return found_file


def _is_package_dir(repo: Repo, d: str) -> bool:
    return join(d, "__init__.py") in repo.paths or join(d, "__init__.pyi") in repo.paths


def prepare(repo: Repo) -> dict[str, Any]:
    roots: set[str] = {""}
    for p in repo.paths:
        if p.endswith(("/__init__.py", "/__init__.pyi")):
            pkg = dirname(p)
            parent = dirname(pkg)
            if not _is_package_dir(repo, parent) or parent == "":
                roots.add(parent)
    for d in repo.all_dirs:
        if d == "src" or d.endswith("/src"):
            roots.add(d)
    for name in ("setup.py", "pyproject.toml", "setup.cfg"):
        for p in repo.by_basename.get(name, []):
            roots.add(dirname(p))
    return {"roots": sorted(roots), "cache": {}}


def _roots_for(repo: Repo, ctx: dict[str, Any], importer: str) -> list[str]:
    d = dirname(importer)
    cache = ctx["cache"]
    if d in cache:
        return cache[d]
    above = [r for r in ctx["roots"] if r == "" or d == r or d.startswith(r + "/")]
    above.sort(key=lambda r: -len(r))
    others = [r for r in ctx["roots"] if r not in above]
    order = ([] if _is_package_dir(repo, d) else [d]) + above + others
    seen: list[str] = []
    for r in order:
        if r not in seen:
            seen.append(r)
    cache[d] = seen
    return seen


def _absolute(repo: Repo, roots: list[str], parts: list[str]) -> tuple[str | None, int]:
    """File of the longest prefix of ``parts`` found under the first root that has one."""
    for n in range(len(parts), 0, -1):
        for r in roots:
            f = _module_file(repo, r, parts[:n])
            if f is not None:
                return f, n
    return None, 0


def _split_names(raw: str) -> list[str]:
    raw = raw.strip().strip("()").replace("\\\n", " ")
    out = []
    for item in raw.split(","):
        name = item.strip().split()
        if name and name[0] != "*" and _NAME.match(name[0]):
            out.append(name[0])
        elif name and name[0] == "*":
            out.append("*")
    return out


def resolve_file(repo: Repo, ctx: dict[str, Any], path: str) -> list[Found]:
    masked = repo.masked(path, "python").replace("\\\n", "  ")
    results: list[Found] = []
    roots: list[str] | None = None
    pkg_dir = dirname(path)
    for m in _STMT.finditer(masked):
        if not starts_token(masked, m.start(), "_."):
            continue
        if m.group("mods") is not None:
            # import a.b, c as d
            for item in m.group("mods").split(","):
                words = item.strip().split()
                if not words or not _NAME.match(words[0]):
                    continue
                roots = roots or _roots_for(repo, ctx, path)
                f, _ = _absolute(repo, roots, words[0].split("."))
                results.append(found([f] if f else []))
            continue
        base = m.group("base").replace(" ", "").replace("\t", "")
        names = _split_names(m.group("names") or "")
        level = len(base) - len(base.lstrip("."))
        mod = base[level:]
        if mod and not _NAME.match(mod):
            continue
        mod_parts = mod.split(".") if mod else []
        targets: list[str] = []
        if level:
            d = pkg_dir
            ok = True
            for _ in range(level - 1):
                if not d:
                    ok = False
                    break
                d = dirname(d)
            if not ok:
                results.append(found([]))
                continue
            base_file = _module_file(repo, d, mod_parts) if mod_parts else None
            if not mod_parts:
                base_file = _module_file(repo, d, []) if _is_package_dir(repo, d) else None
            for n in names:
                sub = _module_file(repo, d, [*mod_parts, n]) if n != "*" else None
                if sub is not None:
                    targets.append(sub)
                elif base_file is not None:
                    targets.append(base_file)
            if not names and base_file:
                targets.append(base_file)
        else:
            if not mod_parts:
                continue
            roots = roots or _roots_for(repo, ctx, path)
            for r in roots:
                base_file = _module_file(repo, r, mod_parts)
                subs = [_module_file(repo, r, [*mod_parts, n]) for n in names if n != "*"]
                hits = [s for s in subs if s is not None]
                if base_file or hits:
                    targets.extend(hits)
                    if base_file and (len(hits) < len(names) or not names):
                        targets.append(base_file)
                    break
            else:
                f, _ = _absolute(repo, roots, mod_parts)
                if f:
                    targets.append(f)
        results.append(found(targets))
    return results
