"""Go: ``import "path"`` and ``import ( alias "path" ... )``.

A Go import names a package, i.e. a directory. An import path resolves through the ``module``
line of the nearest ``go.mod`` files in the repository: ``<module>/<sub>`` is the directory
``<dir of go.mod>/<sub>`` (every module of a multi-module repository is tried, longest module
path first), and ``vendor/<path>`` below a module root. The import gives an edge to every
non-test ``.go`` file of that directory (the package; ``_test.go`` files belong to test builds).
Files of the same package depend on each other without any import; the parser gives them no
edges (every pair would form a cycle that carries no order), so a package's files keep their
path order unless they import each other's packages.
"""

from __future__ import annotations

import re
from typing import Any

from ._base import Found, Repo, dirname, found, join, norm, starts_token

LANGUAGES = frozenset({"go"})
STYLE = "go"

_MODULE = re.compile(r"^\s*module\s+\"?([^\s\"/][^\s\"]*)\"?", re.M)
_IMPORT_KW = re.compile(r"import\b\s*(\()?")
_SPEC = re.compile(r"\s*(?:[\w.]+\s+)?([\"`])")


def prepare(repo: Repo) -> dict[str, Any]:
    modules: list[tuple[str, str]] = []  # (module path, directory)
    for p in repo.by_basename.get("go.mod", []):
        m = _MODULE.search(repo.text(p))
        if m:
            modules.append((m.group(1).rstrip("/"), dirname(p)))
    modules.sort(key=lambda t: (-len(t[0]), t[1]))
    return {"modules": modules, "pkg_cache": {}}


def _package_files(repo: Repo, ctx: dict[str, Any], d: str) -> list[str]:
    cache = ctx["pkg_cache"]
    if d not in cache:
        cache[d] = [
            p for p in repo.dir_files.get(d, []) if p.endswith(".go") and not p.endswith("_test.go")
        ]
    return cache[d]


def _resolve(repo: Repo, ctx: dict[str, Any], path: str, spec: str) -> list[str]:
    for mod, mod_dir in ctx["modules"]:
        if spec == mod or spec.startswith(mod + "/"):
            d = norm(join(mod_dir, spec[len(mod) + 1 :])) if spec != mod else mod_dir
            if d is not None:
                files = _package_files(repo, ctx, d)
                if files:
                    return files
    # vendored copies: vendor/<path> under the importer's module root (or any ancestor dir)
    d = dirname(path)
    while True:
        v = norm(join(d, "vendor", spec))
        if v is not None and v in repo.dir_files:
            files = _package_files(repo, ctx, v)
            if files:
                return files
        if not d:
            break
        d = dirname(d)
    return []


def _imports(text: str, masked: str) -> list[str]:
    out: list[str] = []
    for m in _IMPORT_KW.finditer(masked):
        if not starts_token(masked, m.start(), "_."):
            continue
        pos = m.end()
        if m.group(1):  # block: specs until the closing parenthesis
            end = masked.find(")", pos)
            if end < 0:
                end = len(masked)
            while True:
                s = _SPEC.match(masked, pos)
                if not s or s.start(1) >= end:
                    break
                q = s.start(1)
                close = masked.find(masked[q], q + 1)
                if close < 0 or close > end:
                    break
                out.append(text[q + 1 : close])
                pos = close + 1
                while pos < end and masked[pos] in " \t;":
                    pos += 1
        else:
            s = _SPEC.match(masked, pos)
            if s:
                q = s.start(1)
                close = masked.find(masked[q], q + 1)
                if close > q:
                    out.append(text[q + 1 : close])
    return out


def resolve_file(repo: Repo, ctx: dict[str, Any], path: str) -> list[Found]:
    text = repo.text(path)
    if "import" not in text:
        return []
    masked = repo.masked(path, STYLE)
    return [found(_resolve(repo, ctx, path, spec)) for spec in _imports(text, masked)]
