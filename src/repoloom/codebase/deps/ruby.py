"""Ruby: ``require_relative``, ``require`` and ``load`` against load paths, ``autoload``.

- ``require_relative "x"``: ``x`` (``.rb`` added) from the importer's directory;
- ``require "a/b"``, ``load "a/b.rb"``, ``autoload :B, "a/b"``: the feature ``a/b.rb`` under the
  *load paths*: every ``lib/`` directory, the ``require_paths`` of each ``*.gemspec`` (relative to
  it), every ``test/`` and ``spec/`` directory (``rake test`` and RSpec put them on
  ``$LOAD_PATH``), and the repository root. A feature found under several load paths (a monorepo
  of gems, each with its ``lib/``) resolves to the copy closest to the importer;
- the usual computed paths relative to the file: ``File.expand_path("../x", __FILE__)``,
  ``File.expand_path("x", __dir__)``, ``File.join(File.dirname(__FILE__), "a", "b")``,
  ``File.join(__dir__, "x")`` and ``"#{__dir__}/x"`` (as arguments of ``require``, ``load`` and
  ``autoload``).
A feature outside the repository (``require "json"``) is an unresolved statement.
Masking: ``#`` comments, ``=begin``/``=end`` blocks, single-line strings and heredoc bodies.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from ._base import Found, Repo, _blank, _mask_string, closest, dirname, found, norm, starts_token

LANGUAGES = frozenset({"ruby"})

_TOKENS = re.compile(
    r"(?P<c>#[^\n]*+|^=begin\b.*?(?:^=end\b[^\n]*|\Z))"
    r"|(?P<h><<[~-]?(?P<q>['\"`]?)(?P<id>[A-Za-z_]\w*)(?P=q))"
    r"|(?P<s>\"(?:[^\"\\\n]++|\\.)*+\"|'(?:[^'\\\n]++|\\.)*+'"
    # %-literals on one line: %(...), %q[...], %Q{...}, %w<...> (`%(require "x")` is a string)
    r"|%[qQwWiI]?(?:\((?:[^()\\\n]++|\\.)*+\)|\[(?:[^\[\]\\\n]++|\\.)*+\]"
    r"|\{(?:[^{}\\\n]++|\\.)*+\}|<(?:[^<>\\\n]++|\\.)*+>))",
    re.S | re.M,
)
_STMT = re.compile(
    r"(?P<kw>require_relative|require|load|autoload)\b[ \t]*\(?[ \t]*"
    r"(?:(?P<const>:[A-Za-z_]\w*|[\"'][A-Za-z_:]\w*[\"'])[ \t]*,[ \t]*)?(?P<arg>[^\n;]*)"
)
_LITERAL = re.compile(r"\A([\"'])([^\"'\n]*)\1")
_INTERP_DIR = re.compile(r"\A\"#\{(?:__dir__|File\.dirname\(__FILE__\))\}/([^\"#\n]*)\"")
_EXPAND = re.compile(
    r"\AFile\.expand_path\(\s*([\"'])([^\"'\n]*)\1\s*,\s*(__FILE__|__dir__|"
    r"File\.dirname\(\s*__FILE__\s*\))\s*\)"
)
_JOIN = re.compile(
    r"\AFile\.join\(\s*(?:__dir__|File\.dirname\(\s*__FILE__\s*\))\s*((?:,\s*([\"'])[^\"'\n]*\2\s*)+)\)"
)
_DIRNAME_PLUS = re.compile(r"\AFile\.dirname\(\s*__FILE__\s*\)\s*\+\s*([\"'])([^\"'\n]*)\1")
_GEMSPEC_PATHS = re.compile(r"\.require_paths\s*=\s*(\[[^\]\n]*\]|[\"'][^\"'\n]*[\"'])")
_LOAD_PATH_DIRS = frozenset({"lib", "test", "spec"})


def mask_ruby(text: str) -> str:
    """Comments and string/heredoc contents blanked (same length, newlines kept)."""
    heredocs: set[str] = set()

    def repl(m: re.Match[str]) -> str:
        s = m.group()
        if m.lastgroup == "h":  # a heredoc opener: its body starts on the next line
            heredocs.add(m.group("id"))
            return s
        if m.lastgroup == "c":
            return _blank(s)
        opener = 1 if s[0] != "%" else 2 if s[1] in "([{<" else 3  # keep `%(` / `%q(`
        return _mask_string(s, opener, 1)

    masked = _TOKENS.sub(repl, text)
    if not heredocs:
        return masked
    # Heredoc bodies: from the line after the opener to the line holding only the identifier.
    out: list[str] = []
    pending: list[str] = []
    lines = masked.split("\n")
    for line in lines:
        if pending:
            if line.strip() == pending[0]:
                pending.pop(0)
                out.append(line)
            else:
                out.append(" " * len(line))
            continue
        out.append(line)
        for opener in re.finditer(r"<<[~-]?['\"`]?([A-Za-z_]\w*)", line):
            if opener.group(1) in heredocs:
                pending.append(opener.group(1))
    return "\n".join(out)


def _masked(repo: Repo, path: str) -> str:
    key = ("ruby-masked", path)
    m = repo.memo.get(key)
    if m is None:
        m = mask_ruby(repo.text(path))
        repo.memo[key] = m
    return m


def _gemspec_paths(repo: Repo, gemspec: str) -> list[str]:
    m = _GEMSPEC_PATHS.search(repo.text(gemspec))
    if m is None:
        return ["lib"]
    return re.findall(r"[\"']([^\"'\n]+)[\"']", m.group(1)) or ["lib"]


def prepare(repo: Repo) -> dict[str, Any]:
    roots: set[str] = {""}
    for d in repo.all_dirs:
        if d.rsplit("/", 1)[-1] in _LOAD_PATH_DIRS:
            roots.add(d)
    for p in repo.paths:
        if p.endswith(".gemspec"):
            for rp in _gemspec_paths(repo, p):
                r = norm(posixpath.join(dirname(p), rp))
                if r is not None:
                    roots.add(r)
    features: dict[str, list[str]] = {}  # "a/b.rb" -> files under some load path
    for p in sorted(repo.paths):
        if not p.endswith(".rb"):
            continue
        for r in roots:
            if r == "" or p.startswith(r + "/"):
                features.setdefault(p[len(r) + 1 :] if r else p, []).append(p)
    return {"features": features}


def _rb(feature: str) -> str:
    return feature if feature.endswith(".rb") else feature + ".rb"


def _relative(repo: Repo, base_dir: str, rel: str) -> str | None:
    p = norm(posixpath.join(base_dir, rel))
    if p is None:
        return None
    for cand in (_rb(p), p):
        if cand in repo.paths:
            return cand
    return None


def _argument(path: str, arg: str) -> tuple[str, str] | None:
    """("relative", path from the file's directory) or ("feature", name) of a require argument."""
    here = dirname(path)
    m = _INTERP_DIR.match(arg)
    if m:
        return ("relative", posixpath.join(here, m.group(1)))
    m = _LITERAL.match(arg)
    if m:
        if "#{" in m.group(2):  # an interpolated name is not known before run time
            return None
        return ("feature", m.group(2))
    m = _EXPAND.match(arg)
    if m:
        base = path if m.group(3) == "__FILE__" else here  # "../x" from __FILE__ is here/x
        return ("relative", posixpath.join(base, m.group(2)))
    m = _JOIN.match(arg)
    if m:
        parts = re.findall(r"[\"']([^\"'\n]*)[\"']", m.group(1))
        return ("relative", posixpath.join(here, *parts))
    m = _DIRNAME_PLUS.match(arg)
    if m:
        return ("relative", here + m.group(2))
    return None


def resolve_file(repo: Repo, ctx: dict[str, Any], path: str) -> list[Found]:
    masked = _masked(repo, path)
    text = repo.text(path)
    features: dict[str, list[str]] = ctx["features"]
    results: list[Found] = []
    for m in _STMT.finditer(masked):
        if not starts_token(masked, m.start(), "_$.:@") and not masked.endswith(
            "Kernel.", 0, m.start()
        ):
            continue
        kw = m.group("kw")
        if kw == "autoload" and not m.group("const"):
            continue
        if kw != "autoload" and m.group("const"):
            continue
        arg = _argument(path, text[m.start("arg") : m.end("arg")].strip())
        if arg is None:
            continue
        kind, name = arg
        if not name:
            continue
        if kind == "relative" or kw == "require_relative":
            rel = name if kind == "relative" else posixpath.join(dirname(path), name)
            target = _relative(repo, "", rel)
            results.append(found([target] if target else []))
            continue
        if kw == "load" and not name.endswith(".rb"):
            continue
        files = features.get(_rb(name.lstrip("./")) if not name.startswith("/") else "")
        target = closest(path, files) if files else None
        results.append(found([target] if target else []))
    return results
