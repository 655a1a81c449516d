"""Kotlin: ``import a.b.C``, ``import a.b.*``, ``import a.b.C as D`` and implicit references.

The index is built from each file's ``package`` directive (not from its directory: Kotlin allows
any layout, and multiplatform projects put one package under several source sets). It maps every
fully qualified top-level declaration (class, interface, object, typealias, and top-level
``fun``/``val``/``var``, extension members included, which Kotlin imports by name) to the files
that declare it. Resolution:
- ``import a.b.C`` / ``import a.b.C as D`` / ``import a.b.C.Inner``: the longest prefix of the name
  that is an indexed declaration (a top-level function overloaded in several files of one package
  gives an edge to each);
- ``import a.b.*``: the files of package ``a.b`` whose declared names occur as identifiers in the
  importing file (kotlinc sees only what a file uses); ``import a.b.C.*`` (members of an object or
  enum) resolves to ``a.b.C``;
- same-package declarations need no import: each of the file's own package whose name occurs as an
  unqualified identifier (not after a ``.``, not shadowed by an explicit import of another
  declaration with that name) gives an implicit edge, as do inline fully qualified names ``a.b.C``.
  Implicit edges are not counted as statements.
A name declared in several files (``expect``/``actual`` in common and platform source sets)
resolves to the copy closest to the importer.
"""

from __future__ import annotations

import re
from typing import Any

from ._base import Found, Repo, closest, found, qualified_names, starts_token

LANGUAGES = frozenset({"kotlin"})
STYLE = "java"  # //, /* */, "..." with escapes and """raw""" strings: Kotlin's lexical shape

_NAME = r"(?:`[^`\n]+`|[A-Za-z_]\w*)"
# `[ \t]*` at the line start: a masked licence header is thousands of blank lines.
_PACKAGE = re.compile(rf"^[ \t]*package[ \t]+({_NAME}(?:[ \t]*\.[ \t]*{_NAME})*)", re.M)
_IMPORT = re.compile(
    rf"^[ \t]*import[ \t]+({_NAME}(?:[ \t]*\.[ \t]*{_NAME})*)([ \t]*\.[ \t]*\*)?"
    rf"(?:[ \t]+as[ \t]+({_NAME}))?",
    re.M,
)
# Top-level declarations. `fun` and `val`/`var` may have type parameters and a receiver type
# (`fun <T> List<T>.second()`): the declared name is the last identifier before `(`, `:`, `=`,
# `by`, or the end of the line.
_DECL = re.compile(
    rf"\b(?:class|interface|object|typealias)[ \t]+({_NAME})"
    rf"|\bfun[ \t]+(?:<[^(){{}}=\n]{{0,200}}?>[ \t]*)?((?:[^(){{}}=\n]{{0,200}}?\.)?{_NAME})[ \t]*\("
    rf"|\b(?:val|var)[ \t]+(?:<[^(){{}}=\n]{{0,200}}?>[ \t]*)?"
    rf"((?:[^(){{}}=:\n]{{0,200}}?\.)?{_NAME})[ \t]*[:=\n]"
)
# An unqualified name is group 1 (a backticked name, `` `-DeprecatedOkio` ``, without its ticks)
# or group 2; names after a `.` match the first alternative and leave both groups empty.
_SIMPLE = re.compile(r"\.\s*(?:`[^`\n]+`|[A-Za-z_]\w*)|`([^`\n]+)`|([A-Za-z_]\w*)")
_QUALIFIED = re.compile(r"\.([A-Za-z_]\w*)")
_PKG_BEFORE = re.compile(r"(?<![\w.])[a-z_]\w*(?:\.[a-z_]\w*)*+\Z")


def _clean(name: str) -> str:
    """A dotted name without blanks and backticks (`` `fun` `` is the identifier ``fun``)."""
    return re.sub(r"[\s`]+", "", name)


_MULTIPLATFORM = re.compile(r"\b(?:expect|actual)\b")


def top_level_declarations(masked: str) -> list[tuple[str, bool]]:
    """(name, is expect/actual) of the declarations at brace depth 0 (class and object bodies
    are depth >= 1)."""
    depth = 0
    last = 0
    names: list[tuple[str, bool]] = []
    for m in _DECL.finditer(masked):
        # Parentheses count too: `val` in a constructor's parameter list is a property, not a
        # top-level declaration (`class A(val x: Int)`).
        between = masked[last : m.start()]
        depth += between.count("{") + between.count("(")
        depth -= between.count("}") + between.count(")")
        last = m.start()
        if depth > 0:
            continue
        raw = m.group(1) or m.group(2) or m.group(3)
        name = _clean(raw).rsplit(".", 1)[-1]
        if name and not name.startswith("<"):
            # modifiers sit just before the keyword (a bounded look-back: linear on one-line files)
            line_start = masked.rfind("\n", max(0, m.start() - 200), m.start()) + 1
            start = max(line_start, m.start() - 200)
            names.append((name, bool(_MULTIPLATFORM.search(masked, start, m.start()))))
    return names


def _blank_declared_name(m: re.Match[str]) -> str:
    group = next(g for g in (1, 2, 3) if m.group(g) is not None)
    start, end = m.start(group) - m.start(), m.end(group) - m.start()
    text = m.group()
    return text[:start] + " " * (end - start) + text[end:]


def prepare(repo: Repo) -> dict[str, Any]:
    decls: dict[str, list[str]] = {}  # fq name -> files
    packages: dict[str, dict[str, list[str]]] = {}  # package -> simple name -> files
    file_pkg: dict[str, str] = {}
    multiplatform: set[str] = set()  # files with an `expect` or `actual` declaration
    for path in sorted(repo.paths):
        if repo.languages.get(path) not in LANGUAGES:
            continue
        masked = repo.masked(path, STYLE)
        m = _PACKAGE.search(masked)
        pkg = _clean(m.group(1)) if m else ""
        file_pkg[path] = pkg
        for n, platform in sorted(set(top_level_declarations(masked))):
            fq = f"{pkg}.{n}" if pkg else n
            if path not in decls.get(fq, ()):
                decls.setdefault(fq, []).append(path)
                packages.setdefault(pkg, {}).setdefault(n, []).append(path)
            if platform:
                multiplatform.add(path)
    return {
        "decls": decls,
        "packages": packages,
        "file_pkg": file_pkg,
        "multiplatform": multiplatform,
    }


def _declaration_files(ctx: dict[str, Any], parts: list[str]) -> list[str]:
    decls = ctx["decls"]
    for n in range(len(parts), 0, -1):
        files = decls.get(".".join(parts[:n]))
        if files:
            return files
    return []


def _pick(ctx: dict[str, Any], importer: str, files: list[str]) -> list[str]:
    """The files a name resolves to: every ``expect``/``actual`` copy of a multiplatform
    declaration (the common API and its implementations all precede the user), else the copy
    closest to the importer plus the overloads in the same directory."""
    platform = [f for f in files if f in ctx["multiplatform"]]
    if len(platform) > 1:
        return sorted(platform)
    best = closest(importer, files)
    if best is None:
        return []
    source_set = best.rsplit("/", 1)[0]
    return sorted({f for f in files if f.rsplit("/", 1)[0] == source_set})


def resolve_file(repo: Repo, ctx: dict[str, Any], path: str) -> list[Found]:
    masked = repo.masked(path, STYLE)
    body = _IMPORT.sub(lambda m: " " * len(m.group()), _PACKAGE.sub("", masked, count=1))
    # A declared name is no reference (an overload `fun Buffer.read()` in one file and
    # `fun Source.read()` in another are independent); its uses elsewhere in the file still are.
    idents = frozenset(a or b for a, b in _SIMPLE.findall(_DECL.sub(_blank_declared_name, body)))
    packages = ctx["packages"]
    results: list[Found] = []
    imported_simple: set[str] = set()
    for m in _IMPORT.finditer(masked):
        if not starts_token(masked, m.start()):
            continue
        name = _clean(m.group(1))
        parts = name.split(".")
        if m.group(2):
            pkg_decls = packages.get(name)
            if pkg_decls:
                targets = {
                    f
                    for simple, files in pkg_decls.items()
                    if simple in idents
                    for f in _pick(ctx, path, files)
                }
                results.append(Found(tuple(sorted(targets)), True))
            else:
                results.append(found(_pick(ctx, path, _declaration_files(ctx, parts))))
            continue
        imported_simple.add(_clean(m.group(3)) if m.group(3) else parts[-1])
        results.append(found(_pick(ctx, path, _declaration_files(ctx, parts))))
    implicit: set[str] = set()
    own_pkg = ctx["file_pkg"].get(path, "")
    own = packages.get(own_pkg, {})
    for simple in set(own) & idents:
        if simple not in imported_simple:
            implicit.update(_pick(ctx, path, own[simple]))
    decls = ctx["decls"]
    for pkg, name in qualified_names(body, _QUALIFIED, _PKG_BEFORE):
        files = decls.get(f"{pkg}.{name}")
        if files and pkg != own_pkg:
            implicit.update(_pick(ctx, path, files))
    implicit.discard(path)
    if implicit:
        results.append(Found(tuple(sorted(implicit)), True, counted=False))
    return results
