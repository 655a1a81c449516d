"""Go: ``import "path"`` and ``import ( alias "path" ... )``, and the files of one package.

A Go import names a package, i.e. a directory. An import path resolves through the ``module``
line of the nearest ``go.mod`` files in the repository: ``<module>/<sub>`` is the directory
``<dir of go.mod>/<sub>`` (every module of a multi-module repository is tried, longest module
path first), and ``vendor/<path>`` below a module root. The import gives an edge to every
non-test ``.go`` file of that directory (the package; ``_test.go`` files belong to test builds).

Files of one package (same directory, same ``package`` clause) use each other's names without
any import. As for Java's same-package references, a file gets an implicit edge to each sibling
file that declares, at top level, a ``func``/``type``/``var``/``const`` name the file uses
unqualified (not after a ``.``, not in comments or strings, not one it declares itself). A
non-test file sees only non-test siblings; a ``_test.go`` file of ``package m`` sees the whole
test build (``m``'s files and its other test files), one of ``package m_test`` the other
``m_test`` files (it reaches ``m`` through its import). Mutual uses are cycles, which the
ordering breaks as any other (docs/corpus-deps.md).

A ``_test.go`` file (``package m`` or ``package m_test``) also gets an edge to every non-test
file of ``m`` in its directory: the package is compiled into its test binary, so the test joins
the package's sample and comes after its files (never the reverse: no package file depends on a
test). These implicit edges are not counted as statements.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from ._base import Found, Repo, dirname, found, join, norm, starts_token

LANGUAGES = frozenset({"go"})
STYLE = "go"

_MODULE = re.compile(r"^\s*module\s+\"?([^\s\"/][^\s\"]*)\"?", re.M)
_IMPORT_KW = re.compile(r"import\b\s*(\()?")
_SPEC = re.compile(r"\s*(?:[\w.]+\s+)?([\"`])")
_PACKAGE = re.compile(r"^[ \t]*package[ \t]+(\w+)", re.M)
# A top-level declaration starts a line; brace depth (counted between matches) tells top level.
_DECL = re.compile(r"^[ \t]*(func|type|var|const)\b[ \t]*", re.M)
_FUNC_NAME = re.compile(r"(\w+)\s*[\[(]")  # not a method: `func (r T) M(` starts with `(`
# A spec's names: not the start of a continued expression (`pkg.Name |`, `f(`) in a group.
_NAME_LIST = re.compile(r"[ \t]*(\w++(?:[ \t]*,[ \t]*\w++)*+)(?![ \t]*[.(])")
_SIMPLE = re.compile(r"\.\s*\w+|(\w+)")  # group 1: an identifier not after a `.`
_NOT_LINKS = frozenset({"_", "init", "main"})  # declared many times, never referenced by name
_WORD = re.compile(r"\w+")
_BRACKET = re.compile(r"[()\[\]{}]")
_BRACKET_NL = re.compile(r"[()\[\]{}\n]")
_METHOD_NAME = re.compile(r"(?<![\w.])func[ \t]*\([^()\n]*\)[ \t]*(\w+)")
# A composite-literal key; a `case A, B:` clause is matched whole first (group empty).
_KEY_OR_CASE = re.compile(r"(?m)^[ \t]*case\b[^:\n]*:|[{,][ \t\n]*(\w+)[ \t]*:(?!=)")
_SHORT_DECL = re.compile(r"(?<![\w,])(?<!, )(\w++(?:[ \t]*,[ \t]*\w++)*+)[ \t]*:=")
# A parameter/result/receiver name: followed by its type (bounded look-ahead: linear).
_PARAM = re.compile(r"[(\[,][ \t]*(\w+)(?=(?:[ \t]*,[ \t]*\w+){0,16}[ \t]+[\w*\[.])")
_VAR_CONST = re.compile(r"(?<![\w.])(?:var|const)[ \t]+(\w+(?:[ \t]*,[ \t]*\w+)*)")
_BODY_OPEN = re.compile(r"(?<![\w.])(?:struct|interface)[ \t]*\{")
# A field `A, B T` or `A T`, or an interface method `M(`; an embedded type alone is a use.
_MEMBER_LINE = re.compile(r"[ \t]*(\w+(?:[ \t]*,[ \t]*\w+)*)(?=[ \t]+[^\s/]|\()")
_CASE = re.compile(r"[ \t]*(?:case|default)\b")
_ALIAS = re.compile(r"(?m)^[ \t]*(?:import[ \t]+)?(\w+)[ \t]+[\"`]")  # `alias "path"`


def prepare(repo: Repo) -> dict[str, Any]:
    modules: list[tuple[str, str]] = []  # (module path, directory)
    for p in repo.by_basename.get("go.mod", []):
        m = _MODULE.search(repo.text(p))
        if m:
            modules.append((m.group(1).rstrip("/"), dirname(p)))
    modules.sort(key=lambda t: (-len(t[0]), t[1]))
    # Same-package index: (directory, package clause) -> name -> files declaring it.
    packages: dict[tuple[str, str], dict[str, list[str]]] = {}
    file_pkg: dict[str, str] = {}
    declared: dict[str, frozenset[str]] = {}
    for path in sorted(repo.paths):
        if repo.languages.get(path) not in LANGUAGES or not path.endswith(".go"):
            continue
        masked = repo.masked(path, STYLE)
        m = _PACKAGE.search(masked)
        if not m:
            continue
        file_pkg[path] = m.group(1)
        names = top_level_names(masked) - _NOT_LINKS
        declared[path] = names
        table = packages.setdefault((dirname(path), m.group(1)), {})
        for name in names:
            table.setdefault(name, []).append(path)
    return {
        "modules": modules,
        "pkg_cache": {},
        "packages": packages,
        "file_pkg": file_pkg,
        "declared": declared,
    }


def _outer_lines(masked: str, start: int, end: int) -> list[tuple[int, str]]:
    """(offset, line) of the lines of `masked[start:end]` that start outside any bracket opened
    inside that span: the specs of a declaration group, the members of a struct body."""
    starts = [start]
    depth = 0
    for m in _BRACKET_NL.finditer(masked, start, end):  # only brackets and newlines: C speed
        c = m.group()
        if c == "\n":
            if depth == 0:
                starts.append(m.end())
        elif c in "([{":
            depth += 1
        else:
            depth -= 1
    lines = []
    for offset in starts:
        stop = masked.find("\n", offset, end)
        lines.append((offset, masked[offset : end if stop < 0 else stop]))
    return lines


def top_level_names(masked: str) -> set[str]:
    """The func (not method), type, var and const names declared at top level of a Go file."""
    names: set[str] = set()
    depth = 0
    last = 0
    for m in _DECL.finditer(masked):
        if m.start() < last:  # inside a group already read
            continue
        depth += masked.count("{", last, m.start()) - masked.count("}", last, m.start())
        last = m.start()
        if depth > 0:
            continue
        kind, pos = m.group(1), m.end()
        if kind == "func":
            f = _FUNC_NAME.match(masked, pos)
            if f:
                names.add(f.group(1))
            continue
        if masked.startswith("(", pos):  # a group: one spec per line at the group's own depth
            end = _balanced(masked, pos)
            for _, line in _outer_lines(masked, pos + 1, end - 1):
                spec = _NAME_LIST.match(line)
                if spec:
                    names.update(n.strip() for n in spec.group(1).split(","))
            last = end  # braces inside the group are balanced: skip them
            continue
        spec = _NAME_LIST.match(masked, pos)
        if spec:
            found_names = [n.strip() for n in spec.group(1).split(",")]
            names.update(found_names[:1] if kind == "type" else found_names)
    return {n for n in names if n and not n[0].isdigit()}


def _balanced(masked: str, start: int) -> int:
    """Index just past the bracket group opening at `start` (end of text if it never closes)."""
    depth = 0
    for m in _BRACKET.finditer(masked, start):
        if m.group() in "([{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.end()
    return len(masked)


def _local_names(body: str) -> set[str]:
    """Names the file declares inside functions: `:=` left-hand sides, parameter, result and
    receiver names (`(a, b T`), `var`/`const` names. A use of such a name is taken as the local
    one: shadowing is file-wide, not scoped (an approximation, measured in BENCHMARKS.md)."""
    names: set[str] = set()
    for group in _SHORT_DECL.findall(body) + _VAR_CONST.findall(body):
        names.update(n.strip() for n in group.split(","))
    names.update(_PARAM.findall(body))
    return names


def _member_counts(body: str, names: set[str]) -> Counter[str]:
    """How often each of `names` is declared as a member, not used: a method's name
    (`func (r T) Name`), a field or method name in a `struct {...}` / `interface {...}` body, a
    composite-literal key (`T{Name: v}`; a `case A, B:` clause is skipped whole)."""
    counts: Counter[str] = Counter(n for n in _METHOD_NAME.findall(body) if n in names)
    counts.update(n for n in _KEY_OR_CASE.findall(body) if n in names)
    for m in _BODY_OPEN.finditer(body):
        start = m.end() - 1
        for _, line in _outer_lines(body, start + 1, _balanced(body, start) - 1):
            member = _MEMBER_LINE.match(line)
            if member:
                counts.update(n for n in _WORD.findall(member.group(1)) if n in names)
    return counts


def _import_names(spec: str) -> list[str]:
    """Names an import path may bind: its last element, the one before a `/vN` suffix, and the
    part before a `.vN` (gopkg.in/yaml.v3); an alias is read from the import itself."""
    parts = spec.split("/")
    names = [parts[-1], parts[-1].split(".", 1)[0]]
    if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]):
        names.append(parts[-2])
    return names


def used_package_names(
    masked: str, imported: Iterable[str] = (), wanted: Iterable[str] | None = None
) -> set[str]:
    """Identifiers a Go file uses that may name a package-level declaration of a sibling:
    unqualified (not after a `.`), not a member's declared name, not a local name, not the name
    of a package the file imports (Go forbids a package-level name equal to a file's import).
    `wanted`: only these names matter (the siblings' declarations); nothing more is done for a
    file that uses none of them."""
    body = _PACKAGE.sub(lambda m: " " * len(m.group()), masked, count=1)
    occurrences = Counter(_SIMPLE.findall(body))  # C-speed scans and counts throughout
    names = set(occurrences) - set(imported)
    names.discard("")
    if wanted is not None:
        names &= set(wanted)
    if names:
        names -= _local_names(body)
    if not names:
        return names
    members = _member_counts(body, names)
    # Used: some occurrence is not a member's declaration.
    return {n for n in names if occurrences[n] > members[n]}


def _same_package(repo: Repo, ctx: dict[str, Any], path: str) -> list[str]:
    """Siblings this file depends on without an import (see the module docstring)."""
    pkg = ctx["file_pkg"].get(path)
    if pkg is None:
        return []
    d = dirname(path)
    is_test = path.endswith("_test.go")
    targets: set[str] = set()
    if is_test:  # the package under test is compiled into this test: all of its files first
        base = pkg[: -len("_test")] if pkg.endswith("_test") else pkg
        targets.update(p for p in _package_files(repo, ctx, d) if ctx["file_pkg"].get(p) == base)
    table = ctx["packages"].get((d, pkg))
    # Only names declared elsewhere can link this file to a sibling (most packages of one file
    # and files that declare everything they use are done here).
    if table and not ctx["declared"].get(path, frozenset()).issuperset(table):
        text = repo.text(path)
        masked = repo.masked(path, STYLE)
        imports = _imports(text, masked) if "import" in text else []
        imported = {name for spec in imports for name in _import_names(spec)}
        first = _DECL.search(masked)  # imports precede every declaration
        imported.update(_ALIAS.findall(masked, 0, first.start() if first else len(masked)))
        own = ctx["declared"].get(path, frozenset())
        used = used_package_names(masked, imported, table.keys() - own)
        siblings = set().union(*(table[name] for name in used))
        targets.update(f for f in siblings if is_test or not f.endswith("_test.go"))
    targets.discard(path)
    return sorted(targets)


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
    results: list[Found] = []
    if "import" in text:
        masked = repo.masked(path, STYLE)
        results = [found(_resolve(repo, ctx, path, spec)) for spec in _imports(text, masked)]
    implicit = _same_package(repo, ctx, path)
    if implicit:
        results.append(Found(tuple(implicit), True, counted=False))
    return results
