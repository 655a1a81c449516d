"""JavaScript and TypeScript: ``import ... from``, ``import '...'``, ``export ... from``,
``require()``, dynamic ``import()``, ``import x = require()`` and ``/// <reference path>``.

Resolution of a specifier (see docs/corpus-deps.md):
- relative (``./``, ``../``): the exact file; then the file plus an extension (TypeScript
  importers try ``.ts .tsx .d.ts`` first, JavaScript importers ``.js .jsx .mjs .cjs`` first, then
  the others, then ``.json``); a ``.js``/``.mjs``/``.cjs``/``.jsx`` specifier may name the
  ``.ts``/``.mts``/``.cts``/``.tsx`` source (TypeScript's ESM convention); a directory resolves
  through its ``package.json`` ``main``/``module``/``types`` or its ``index`` file;
- non-relative: tsconfig.json/jsconfig.json ``compilerOptions.paths`` and ``baseUrl`` of the
  nearest config above the importer; then the ``name`` of a package.json inside the repository
  (workspaces and self-references). Anything else is an npm package and does not resolve.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ._base import Found, Repo, dirname, found, join, norm, starts_token

LANGUAGES = frozenset({"javascript", "typescript"})
STYLE = "js"

_SPEC = re.compile(
    r"(?:import|export)\s+(?:type\s+)?(?:[\w$]+\s*(?:,\s*)?)?"
    r"(?:\*\s*(?:as\s+[\w$]+\s*)?|\{[^{}]*\}\s*)?from\s*(['\"])"
    r"|import\s*(['\"])"
    r"|(?:require|import)\s*\(\s*(['\"])"
)
_REFERENCE = re.compile(
    r"^[ \t]*///[ \t]*<reference[ \t]+path[ \t]*=[ \t]*([\"'])([^\"'\n]+)\1", re.M
)
_TS_FIRST = (".ts", ".tsx", ".d.ts", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs", ".json")
_JS_FIRST = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".d.ts", ".mts", ".cts", ".json")
_JS_TO_TS = {
    ".js": (".ts", ".tsx", ".d.ts"),
    ".jsx": (".tsx",),
    ".mjs": (".mts",),
    ".cjs": (".cts",),
}
_CONFIGS = ("tsconfig.json", "jsconfig.json")


_JSONC = re.compile(r'("(?:\\.|[^"\\\n])*")|//[^\n]*|/\*.*?(?:\*/|\Z)', re.S)


def _load_json(text: str) -> Any:
    """JSON with comments and trailing commas (tsconfig style); None when unreadable."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        cleaned = _JSONC.sub(lambda m: m.group(1) or " ", text)
        return json.loads(re.sub(r",(\s*[}\]])", r"\1", cleaned))
    except (ValueError, RecursionError):
        return None


def prepare(repo: Repo) -> dict[str, Any]:
    configs: dict[str, dict[str, Any]] = {}
    for name in _CONFIGS:
        for p in repo.by_basename.get(name, []):
            data = _load_json(repo.text(p))
            opts = data.get("compilerOptions") if isinstance(data, dict) else None
            if not isinstance(opts, dict):
                continue
            base = opts.get("baseUrl")
            cfg_dir = dirname(p)
            base_dir = norm(join(cfg_dir, base)) if isinstance(base, str) else None
            paths = opts.get("paths") if isinstance(opts.get("paths"), dict) else {}
            configs.setdefault(cfg_dir, {"base": base_dir, "dir": cfg_dir, "paths": paths})
    packages: dict[str, str] = {}
    for p in repo.by_basename.get("package.json", []):
        data = _load_json(repo.text(p))
        if isinstance(data, dict) and isinstance(data.get("name"), str) and "node_modules" not in p:
            packages.setdefault(data["name"], dirname(p))
    return {"configs": configs, "packages": packages, "cfg_cache": {}}


def _config_for(ctx: dict[str, Any], path: str) -> dict[str, Any] | None:
    d = dirname(path)
    cache = ctx["cfg_cache"]
    if d in cache:
        return cache[d]
    cur = d
    cfg = None
    while True:
        if cur in ctx["configs"]:
            cfg = ctx["configs"][cur]
            break
        if not cur:
            break
        cur = dirname(cur)
    cache[d] = cfg
    return cfg


def _as_file(repo: Repo, base: str, exts: tuple[str, ...]) -> str | None:
    if base in repo.paths:
        return base
    for ext in exts:
        if base + ext in repo.paths:
            return base + ext
    for js_ext, ts_exts in _JS_TO_TS.items():
        if base.endswith(js_ext):
            stem = base[: -len(js_ext)]
            for ts in ts_exts:
                if stem + ts in repo.paths:
                    return stem + ts
    return None


def _as_dir(repo: Repo, base: str, exts: tuple[str, ...]) -> str | None:
    pkg = join(base, "package.json")
    if pkg in repo.paths:
        data = _load_json(repo.text(pkg))
        if isinstance(data, dict):
            for key in ("types", "typings", "module", "main"):
                entry = data.get(key)
                if isinstance(entry, str) and entry:
                    p = norm(join(base, entry))
                    if p is not None:
                        f = _as_file(repo, p, exts) or _as_index(repo, p, exts)
                        if f:
                            return f
    return _as_index(repo, base, exts)


def _as_index(repo: Repo, base: str, exts: tuple[str, ...]) -> str | None:
    for ext in exts:
        p = join(base, "index" + ext)
        if p in repo.paths:
            return p
    return None


def _resolve_path(repo: Repo, base: str | None, exts: tuple[str, ...]) -> str | None:
    if base is None:
        return None
    return _as_file(repo, base, exts) or _as_dir(repo, base, exts)


def _resolve(repo: Repo, ctx: dict[str, Any], path: str, spec: str) -> str | None:
    spec = spec.split("?", 1)[0].split("#", 1)[0].strip()
    if not spec or "\n" in spec:
        return None
    exts = _TS_FIRST if repo.languages.get(path) == "typescript" else _JS_FIRST
    if spec.startswith("./") or spec.startswith("../") or spec in (".", ".."):
        return _resolve_path(repo, norm(join(dirname(path), spec)), exts)
    if spec.startswith("/") or ":" in spec:
        return None
    cfg = _config_for(ctx, path)
    if cfg is not None:
        root = cfg["base"] if cfg["base"] is not None else cfg["dir"]
        for pattern, targets in cfg["paths"].items():
            if not isinstance(targets, list):
                continue
            if pattern.endswith("*"):
                prefix = pattern[:-1]
                if not spec.startswith(prefix):
                    continue
                rest = spec[len(prefix) :]
            elif pattern == spec:
                rest = ""
            else:
                continue
            for t in targets:
                if isinstance(t, str):
                    f = _resolve_path(repo, norm(join(root, t.replace("*", rest))), exts)
                    if f:
                        return f
        if cfg["base"] is not None:
            f = _resolve_path(repo, norm(join(cfg["base"], spec)), exts)
            if f:
                return f
    parts = spec.split("/")
    n = 2 if spec.startswith("@") else 1
    pkg_dir = ctx["packages"].get("/".join(parts[:n]))
    if pkg_dir is not None:
        sub = "/".join(parts[n:])
        return _resolve_path(repo, norm(join(pkg_dir, sub)) if sub else pkg_dir, exts)
    return None


def resolve_file(repo: Repo, ctx: dict[str, Any], path: str) -> list[Found]:
    text = repo.text(path)
    if (
        "import" not in text
        and "require" not in text
        and "export" not in text
        and "///" not in text
    ):
        return []
    masked = repo.masked(path, STYLE)
    results: list[Found] = []
    for m in _REFERENCE.finditer(text):
        ref = m.group(2).strip()
        target = _resolve(repo, ctx, path, ref if ref.startswith(".") else "./" + ref)
        results.append(found([target] if target else []))
    for m in _SPEC.finditer(masked):
        if not starts_token(masked, m.start()):
            continue
        q = m.end() - 1
        end = masked.find(masked[q], q + 1)
        if end < 0 or "\n" in masked[q:end]:
            continue
        spec = text[q + 1 : end]
        target = _resolve(repo, ctx, path, spec)
        results.append(found([target] if target else []))
    return results
