"""C#: ``using Ns;``, ``global using Ns;``, ``using static Ns.Type;``, ``using Alias = Ns.Type;``.

The index records, per file, the namespaces it declares (block ``namespace A.B { }``, nested
blocks, and file-scoped ``namespace A.B;``) and the types declared directly inside them. A
``using Ns;`` is *resolved* when the repository declares ``Ns``; it gives edges to the files of
``Ns`` that declare a type whose name occurs as an identifier in the importing file (a namespace
is open to a file, but the file depends only on the types it uses; partial types give an edge to
every file that declares a part). Types of the file's own namespace and of its enclosing
namespaces, and namespaces opened by ``global using`` anywhere in the repository, are visible
without a ``using``: their referenced types give implicit (uncounted) edges. ``using static`` and
aliases resolve to the file(s) of the named type (or to the namespace when it is one).
"""

from __future__ import annotations

import re
from typing import Any

from ._base import Found, Repo

LANGUAGES = frozenset({"c-sharp"})
STYLE = "csharp"

_USING = re.compile(
    r"^[ \t]*(global[ \t]+)?using[ \t]+(static[ \t]+)?(?:([A-Za-z_]\w*)[ \t]*=[ \t]*)?"
    r"(?:global::)?([A-Za-z_][\w.]*)[ \t]*(?:<[^;>]*>)?[ \t]*;",
    re.M,
)
_DECL = re.compile(
    r"[{};]|\bnamespace\s+([A-Za-z_][\w.]*)\s*([{;])"
    r"|\b(?:class|interface|struct|enum|record(?:\s+(?:struct|class))?)\s+([A-Za-z_]\w*)"
    r"|\bdelegate\s+[\w<>\[\],.?\s]{1,300}?\s([A-Za-z_]\w*)\s*[<(]"
)


def _scan(masked: str) -> list[tuple[str, str]]:
    """(namespace, type) pairs for types declared directly in a namespace (or the global one)."""
    depth = 0
    stack: list[tuple[str, int]] = []  # (namespace, depth inside its braces)
    file_ns: str | None = None
    out: list[tuple[str, str]] = []
    namespaces: list[str] = []
    for m in _DECL.finditer(masked):
        tok = m.group()
        if tok == "{":
            depth += 1
            continue
        if tok == "}":
            depth = max(0, depth - 1)
            while stack and stack[-1][1] > depth:
                stack.pop()
            continue
        if tok == ";":
            continue
        if m.group(1):
            outer = stack[-1][0] if stack else (file_ns or "")
            ns = f"{outer}.{m.group(1)}" if outer else m.group(1)
            if m.group(2) == ";":
                file_ns = ns
            else:  # the regex consumed the namespace's opening brace
                depth += 1
                stack.append((ns, depth))
            namespaces.append(ns)
            continue
        name = m.group(3) or m.group(4)
        ns_depth = stack[-1][1] if stack else 0
        if name and depth == ns_depth:
            ns = stack[-1][0] if stack else (file_ns or "")
            out.append((ns, name))
    for ns in namespaces:
        out.append((ns, ""))
    return out


def prepare(repo: Repo) -> dict[str, Any]:
    ns_types: dict[str, dict[str, list[str]]] = {}  # namespace -> type -> files
    file_ns: dict[str, list[str]] = {}
    file_types: dict[str, frozenset[str]] = {}
    global_usings: set[str] = set()
    for path in sorted(repo.paths):
        if repo.languages.get(path) not in LANGUAGES:
            continue
        masked = repo.masked(path, STYLE)
        nss: list[str] = []
        declared = _scan(masked)
        file_types[path] = frozenset(name for _, name in declared if name)
        for ns, name in declared:
            entry = ns_types.setdefault(ns, {})
            if name:
                entry.setdefault(name, []).append(path)
            if ns not in nss:
                nss.append(ns)
        file_ns[path] = nss or [""]
        for m in _USING.finditer(masked):
            if m.group(1) and not m.group(2) and not m.group(3):
                global_usings.add(m.group(4))
    return {
        "ns_types": ns_types,
        "file_ns": file_ns,
        "file_types": file_types,
        "global": sorted(global_usings),
    }


def _used_files(ctx: dict[str, Any], ns: str, idents: frozenset[str]) -> list[str]:
    """Files of namespace ``ns`` declaring a type named in ``idents``."""
    types = ctx["ns_types"].get(ns, {})
    return sorted({f for name, files in types.items() if name in idents for f in files})


def _type_files(ctx: dict[str, Any], fq: str) -> list[str] | None:
    ns, _, name = fq.rpartition(".")
    while name:
        files = ctx["ns_types"].get(ns, {}).get(name)
        if files:
            return files
        ns, _, name = ns.rpartition(".")
    return None


def resolve_file(repo: Repo, ctx: dict[str, Any], path: str) -> list[Found]:
    masked = repo.masked(path, STYLE)
    # A file's own type names are no reference to the other parts of a partial type.
    idents = repo.identifiers(path, STYLE) - ctx["file_types"].get(path, frozenset())
    ns_types = ctx["ns_types"]
    results: list[Found] = []
    for m in _USING.finditer(masked):
        name = m.group(4)
        if m.group(2) or m.group(3):  # using static / alias: a type (or a namespace for aliases)
            files = _type_files(ctx, name)
            if files:
                results.append(Found(tuple(sorted(set(files))), True))
                continue
        if name in ns_types:
            results.append(Found(tuple(_used_files(ctx, name, idents)), True))
        else:
            results.append(Found((), False))
    implicit: set[str] = set()
    visible: list[str] = list(ctx["global"])
    for ns in ctx["file_ns"].get(path, [""]):
        parts = ns.split(".") if ns else []
        visible += [".".join(parts[:i]) for i in range(len(parts), -1, -1)]
    for ns in dict.fromkeys(visible):
        implicit.update(_used_files(ctx, ns, idents))
    if implicit:
        results.append(Found(tuple(sorted(implicit)), True, counted=False))
    return results
