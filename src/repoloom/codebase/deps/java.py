"""Java: ``import a.b.C;``, ``import a.b.*;``, ``import static a.b.C.m;`` and implicit references.

The index maps each fully qualified top-level type (``package`` declaration + every type declared
at brace depth 0) to its file(s). Resolution:
- single-type and static imports: the longest prefix of the name that is an indexed type
  (``a.b.C.Inner`` and ``a.b.C.member`` resolve to the file of ``a.b.C``);
- on-demand imports ``a.b.*``: the files of package ``a.b`` whose type names occur as identifiers
  in the importing file (javac and jdeps see only the classes a file uses, not the whole
  package); ``a.b.C.*`` (nested types) resolves to ``a.b.C``;
- same-package references need no import: every type of the file's own package whose simple name
  occurs as an unqualified identifier in the file's code (not after a ``.``, not in comments,
  strings, or the package/import statements) (and is not shadowed by a single-type import of another
  type with that name) gives an edge, as do fully qualified names ``a.b.C`` written inline.
  These implicit edges are not counted as statements.
Files that repeat a qualified name (several source sets) resolve to the copy closest to the
importer.
"""

from __future__ import annotations

import re
from typing import Any

from ._base import Found, Repo, closest, found, qualified_names, starts_token

LANGUAGES = frozenset({"java"})
STYLE = "java"

# `[ \t]*`, not `\s*`, at the line start: a masked licence header is thousands of blank lines.
_PACKAGE = re.compile(r"^[ \t]*(?:@[\w.]+(?:\([^)]*\))?\s*)*package\s+([\w.]+)\s*;", re.M)
_IMPORT = re.compile(r"import\s+(static\s+)?([\w$]+(?:\s*\.\s*[\w$]+)*)(\s*\.\s*\*)?\s*;")
_DECL = re.compile(r"(?:class|interface|enum|record)\s+([A-Za-z_$][\w$]*)")
# Only at the start of a dotted chain, possessive: linear time even on pathological chains.
# A simple (unqualified) name is group 1; names after a `.` (`x.Foo`, `java.lang.Deprecated`)
# match the first alternative and leave the group empty.
_SIMPLE = re.compile(r"\.\s*[A-Za-z_$][\w$]*|([A-Za-z_$][\w$]*)")
# Inline qualified names `a.b.C`: find `.C`, then read the package backwards in a bounded window.
_QUALIFIED = re.compile(r"\.([A-Z][\w$]*)")
_PKG_BEFORE = re.compile(r"(?<![\w$.])[a-z_]\w*(?:\.[a-z_]\w*)*+\Z")


def top_level_types(masked: str) -> list[str]:
    """Names of the types declared at brace depth 0 (braces counted in C, between matches)."""
    depth = 0
    last = 0
    names: list[str] = []
    for m in _DECL.finditer(masked):
        if not starts_token(masked, m.start(), "_$"):
            continue
        depth += masked.count("{", last, m.start()) - masked.count("}", last, m.start())
        last = m.start()
        if depth <= 0:
            names.append(m.group(1))
    return names


def prepare(repo: Repo) -> dict[str, Any]:
    types: dict[str, list[str]] = {}  # fq name -> files
    packages: dict[str, dict[str, list[str]]] = {}  # package -> simple name -> files
    file_pkg: dict[str, str] = {}
    for path in sorted(repo.paths):
        if repo.languages.get(path) not in LANGUAGES:
            continue
        masked = repo.masked(path, STYLE)
        m = _PACKAGE.search(masked)
        pkg = m.group(1) if m else ""
        file_pkg[path] = pkg
        names = set(top_level_types(masked))
        stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if stem != "package-info" and stem != "module-info":
            names.add(stem)
        for n in sorted(names):
            fq = f"{pkg}.{n}" if pkg else n
            types.setdefault(fq, []).append(path)
            packages.setdefault(pkg, {}).setdefault(n, []).append(path)
    return {"types": types, "packages": packages, "file_pkg": file_pkg}


def _type_file(ctx: dict[str, Any], importer: str, parts: list[str]) -> str | None:
    types = ctx["types"]
    for n in range(len(parts), 0, -1):
        files = types.get(".".join(parts[:n]))
        if files:
            return closest(importer, files)
    return None


def resolve_file(repo: Repo, ctx: dict[str, Any], path: str) -> list[Found]:
    masked = repo.masked(path, STYLE)
    # Names in the package and import statements are not references (a package segment may
    # equal a class name: sun.util.logging.resources.logging).
    body = _IMPORT.sub(lambda m: " " * len(m.group()), _PACKAGE.sub("", masked, count=1))
    idents = frozenset(_SIMPLE.findall(body))
    packages = ctx["packages"]
    results: list[Found] = []
    imported_simple: set[str] = set()
    own = set(packages.get(ctx["file_pkg"].get(path, ""), {}))
    for m in _IMPORT.finditer(masked):
        if not starts_token(masked, m.start()):
            continue
        name = re.sub(r"\s+", "", m.group(2))
        parts = name.split(".")
        if m.group(3) and not m.group(1):
            pkg_types = packages.get(name)
            if pkg_types:
                targets = [
                    closest(path, files) for simple, files in pkg_types.items() if simple in idents
                ]
                results.append(Found(tuple(sorted({t for t in targets if t})), True))
            else:
                f = _type_file(ctx, path, parts)
                results.append(found([f] if f else []))
            continue
        if not m.group(1):
            imported_simple.add(parts[-1])
        f = _type_file(ctx, path, parts)
        results.append(found([f] if f else []))
    # Implicit references: same package, then inline fully qualified names.
    implicit: set[str] = set()
    for simple in own & idents:
        if simple in imported_simple:
            continue
        f = closest(path, packages[ctx["file_pkg"][path]][simple])
        if f:
            implicit.add(f)
    types = ctx["types"]
    for pkg, name in qualified_names(masked, _QUALIFIED, _PKG_BEFORE):
        files = types.get(f"{pkg}.{name}")
        if files:
            f = closest(path, files)
            if f:
                implicit.add(f)
    if implicit:
        results.append(Found(tuple(sorted(implicit)), True, counted=False))
    return results
