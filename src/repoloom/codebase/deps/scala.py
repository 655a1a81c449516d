"""Scala 2 and 3: ``import a.b.C``, ``import a.b.{C, D => E}``, ``import a.b._`` / ``a.b.*``.

The index is built from the package clauses of each file: chained clauses (``package a`` then
``package b`` is package ``a.b``, with the members of ``a`` visible too), nested package blocks
(``package c { ... }``), and package objects (``package object p`` in package ``a`` declares the
members of package ``a.p``). It maps every fully qualified top-level definition (class, trait,
object, enum, type, and Scala 3 top-level ``def``/``val``/``given``) to its file(s). Top-level
means at the brace depth of the enclosing package and, for braceless Scala 3 code at depth 0, at
column 0 of its line (members of an indented ``object X:`` body are not top-level).

Resolution: Scala imports are relative to the scope, so a name ``b.C`` imported in package
``a.x`` is tried as ``a.x.b.C``, ``a.b.C`` and ``b.C`` (innermost first; ``_root_.`` forces the
absolute name). Each selector resolves to the file of its longest indexed prefix (``a.b.C.Inner``
and ``a.b.Obj.member`` to the file of ``a.b.C`` / ``a.b.Obj``); a wildcard (``_``, ``*``,
``given``) on a package gives edges to the files of that package whose names occur as
identifiers in the importing file, on an object to the object's file. Definitions of the file's
visible packages need no import: names that occur unqualified in the file give implicit,
uncounted edges.
"""

from __future__ import annotations

import re
from typing import Any

from ._base import Found, Repo, common_prefix_len, dirname

LANGUAGES = frozenset({"scala"})
STYLE = "java"  # //, /* */, "..." and """raw""" strings (interpolators s"", f"" keep their prefix)

_ID = r"(?:`[^`\n]+`|[A-Za-z_]\w*)"
_QUAL = rf"{_ID}(?:[ \t]*\.[ \t]*{_ID})*"
# One regex scans the structure: braces, package clauses, package objects, definitions, imports.
_SCAN = re.compile(
    r"(?P<open>\{)|(?P<close>\})|(?P<nest>[(\[])|(?P<unnest>[)\]])"
    rf"|\bpackage[ \t]+object[ \t]+(?P<pobj>{_ID})"
    rf"|\bpackage[ \t]+(?P<pkg>{_QUAL})[ \t]*(?P<pblock>\{{)?"
    rf"|\b(?:class|trait|object|enum|type|def|val|var|given)[ \t]+(?P<decl>{_ID})"
    # An import's selector braces may span lines: `import a.b.{\n  C,\n  D\n}`.
    r"|\bimport[ \t]+(?P<imp>[^\n;{]*+(?:\{[^{}]{0,5000}\}[^\n;]*+)?)"
)
_SIMPLE = re.compile(r"\.\s*[A-Za-z_]\w*|([A-Za-z_]\w*)")
_WILDCARDS = frozenset({"_", "*", "given"})


def _pick(importer: str, files: list[str]) -> list[str]:
    """The copy sharing the most leading directories with the importer; on a tie, every tied copy
    (cross-built sources: `jvm/`/`js/`/`native/` or `scala-2/`/`scala-3/` copies of one definition,
    each build of the shared importer sees one of them)."""
    if len(files) <= 1:
        return list(files)
    here = dirname(importer)
    scores = {f: common_prefix_len(here, dirname(f)) for f in files}
    best = max(scores.values())
    return sorted(f for f, score in scores.items() if score == best)


def _clean(name: str) -> str:
    return re.sub(r"[\s`]+", "", name)


def _line_indent(masked: str, pos: int) -> int:
    """Column of the first non-blank character of the line holding ``pos``; a line start more than
    1000 characters back counts as indented (a bounded look-back keeps one-line files linear)."""
    window = max(0, pos - 1000)
    newline = masked.rfind("\n", window, pos)
    if newline < 0 and window > 0:
        return 1
    line = masked[newline + 1 : pos]
    return len(line) - len(line.lstrip(" \t"))


def _scan(masked: str) -> dict[str, Any]:
    """Packages (the visible ones, innermost last), top-level definitions per package, imports."""
    depth = 0
    # (package, brace depth its members live at); a chained clause extends the current entry.
    scopes: list[tuple[str, int]] = [("", 0)]
    visible: list[str] = [""]
    defs: list[tuple[str, str]] = []
    imports: list[tuple[str, list[str]]] = []  # (raw import text, visible packages at that point)
    pobj: list[tuple[str, int]] = []  # package objects: (their package, depth of their members)
    pending_pobj: str | None = None
    nest = 0  # parentheses and brackets: `class A(val x: Int)`, `def f[F[_]]` declare nothing
    for m in _SCAN.finditer(masked):
        kind = m.lastgroup
        if kind == "nest":
            nest += 1
            continue
        if kind == "unnest":
            nest = max(0, nest - 1)
            continue
        if kind == "open":
            depth += 1
            if pending_pobj is not None:
                pobj.append((pending_pobj, depth))
                pending_pobj = None
            continue
        if kind == "close":
            depth = max(0, depth - 1)
            while len(scopes) > 1 and scopes[-1][1] > depth:
                scopes.pop()
            while pobj and pobj[-1][1] > depth:
                pobj.pop()
            continue
        pkg, pkg_depth = scopes[-1]
        if kind == "imp":
            imports.append((m.group("imp"), [s for s, _ in scopes] + visible[1:]))
            continue
        if kind in ("pkg", "pblock"):
            name = _clean(m.group("pkg"))
            full = f"{pkg}.{name}" if pkg else name
            if m.group("pblock"):
                depth += 1
                scopes.append((full, depth))
            elif depth == pkg_depth:
                scopes[-1] = (full, pkg_depth)
                visible.append(full)
            continue
        if kind == "pobj":
            name = _clean(m.group("pobj"))
            if depth == pkg_depth:
                defs.append((pkg, name))
                pending_pobj = f"{pkg}.{name}" if pkg else name
                visible.append(pending_pobj)  # its body sees the members of its package
            continue
        name = _clean(m.group("decl"))
        if nest:
            continue
        if pobj and depth == pobj[-1][1]:
            defs.append((pobj[-1][0], name))
        elif depth == pkg_depth and (depth > 0 or _line_indent(masked, m.start()) == 0):
            defs.append((pkg, name))
    packages = [s for s, _ in scopes] + visible
    if len(set(packages)) > 1:  # code in a named package does not see the empty package
        packages = [p for p in packages if p]
    return {"defs": defs, "imports": imports, "packages": sorted(set(packages))}


def prepare(repo: Repo) -> dict[str, Any]:
    decls: dict[str, list[str]] = {}  # fq name -> files
    packages: dict[str, dict[str, list[str]]] = {}  # package -> simple name -> files
    scans: dict[str, dict[str, Any]] = {}
    for path in sorted(repo.paths):
        if repo.languages.get(path) not in LANGUAGES:
            continue
        scan = _scan(repo.masked(path, STYLE))
        scans[path] = scan
        for pkg in scan["packages"]:
            packages.setdefault(pkg, {})
        for pkg, name in sorted(set(scan["defs"])):
            fq = f"{pkg}.{name}" if pkg else name
            decls.setdefault(fq, []).append(path)
            packages.setdefault(pkg, {}).setdefault(name, []).append(path)
    return {"decls": decls, "packages": packages, "scans": scans}


def _selectors(raw: str) -> list[tuple[str, list[str]]]:
    """``a.b.{C, D => E}, x.Y`` -> [("a.b", ["C", "D"]), ("x", ["Y"])]; wildcards kept as ``_``."""
    out: list[tuple[str, list[str]]] = []
    depth = 0
    item = ""
    clauses: list[str] = []
    for ch in raw:  # split on top-level commas (Scala 3 `import a.B, c.D`)
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            clauses.append(item)
            item = ""
        else:
            item += ch
    clauses.append(item)
    for clause in clauses:
        clause = clause.strip()
        brace = clause.find("{")
        if brace >= 0:
            prefix = _clean(clause[:brace]).rstrip(".")
            names = []
            for sel in clause[brace + 1 :].split("}")[0].split(","):
                first = re.split(r"=>|\bas\b", sel)[0].strip()
                first = _clean(first)
                if first:
                    names.append("_" if first in _WILDCARDS else first)
        else:
            words = re.split(r"\s+as\s+", clause)  # Scala 3 `import a.B as C`
            full = _clean(words[0])
            prefix, _, last = full.rpartition(".")
            names = ["_" if last in _WILDCARDS else last]
        if re.fullmatch(r"[\w$.]*", prefix) and all(re.fullmatch(r"[\w$]+", n) for n in names):
            out.append((prefix, names))
    return out


def _lookup(ctx: dict[str, Any], parts: list[str], min_len: int) -> list[str]:
    """Files of the longest indexed prefix of ``parts`` that is at least ``min_len`` long."""
    decls = ctx["decls"]
    for n in range(len(parts), max(min_len, 1) - 1, -1):
        files = decls.get(".".join(parts[:n]))
        if files:
            return files
    return []


def _candidates(prefix: str, visible: list[str]) -> list[tuple[str, int]]:
    """``prefix`` made absolute by each enclosing package, innermost first, then as written;
    each with the number of segments the package added (a match must go past them)."""
    if prefix.startswith("_root_"):
        return [(prefix[len("_root_") :].lstrip("."), 0)]
    out: dict[str, int] = {}
    for pkg in reversed(visible):
        if pkg:
            out.setdefault(f"{pkg}.{prefix}" if prefix else pkg, len(pkg.split(".")))
    out.setdefault(prefix, 0)
    return list(out.items())


def _blank_non_references(m: re.Match[str]) -> str:
    """Package clauses, imports and the names definitions introduce are no references (a
    `def hash` in one file is no use of an `object hash` in another)."""
    if m.lastgroup in ("imp", "pkg", "pblock"):
        return " " * len(m.group())
    if m.lastgroup == "decl":
        return m.group()[: m.start("decl") - m.start()]
    return m.group()


def resolve_file(repo: Repo, ctx: dict[str, Any], path: str) -> list[Found]:
    scan = ctx["scans"].get(path) or _scan(repo.masked(path, STYLE))
    masked = repo.masked(path, STYLE)
    body = _SCAN.sub(_blank_non_references, masked)
    idents = frozenset(_SIMPLE.findall(body))
    packages: dict[str, dict[str, list[str]]] = ctx["packages"]
    results: list[Found] = []
    for raw, visible in scan["imports"]:
        for prefix, names in _selectors(raw):
            targets: set[str] = set()
            hit = False
            for base, added in _candidates(prefix, visible):
                base_parts = base.split(".") if base else []
                for name in names:
                    if name == "_" and base in packages:
                        hit = True  # a package of the repository: the definitions used
                        for simple, files in packages[base].items():
                            if simple in idents:
                                targets.update(_pick(path, files))
                        # and a package object's file (its inherited members are imported)
                        targets.update(_pick(path, ctx["decls"].get(base, [])))
                        continue
                    parts = base_parts if name == "_" else [*base_parts, name]
                    picked = _pick(path, _lookup(ctx, parts, added + 1))
                    if picked:
                        targets.update(picked)
                        hit = True
                if hit:
                    break
            results.append(Found(tuple(sorted(targets)), hit))
    implicit: set[str] = set()
    for pkg in scan["packages"]:
        for simple, files in packages.get(pkg, {}).items():
            if simple in idents:
                implicit.update(_pick(path, files))
    implicit.discard(path)
    if implicit:
        results.append(Found(tuple(sorted(implicit)), True, counted=False))
    return results
