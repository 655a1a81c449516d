"""PHP: ``use A\\B\\C;`` (also grouped, aliased, ``use function``/``use const``), trait ``use``,
``require``/``include`` (``_once``) with a literal, ``__DIR__ . '...'`` or
``dirname(__FILE__) . '...'`` path, and implicit same-namespace references.

Class names resolve through an index of the repository's declarations (``namespace`` + every
``class``/``interface``/``trait``/``enum``), then through composer.json ``autoload`` /
``autoload-dev`` PSR-4 and PSR-0 prefixes (``Vendor\\Pkg\\`` -> ``src/``), so that code whose
file layout follows neither still resolves. A ``use`` of a function or constant resolves to the
file that declares the namespace's class of that name when one exists (else unresolved). Types of
the file's own namespace that occur as identifiers, and qualified names written inline
(``\\A\\B\\C``, or ``Sub\\C`` after ``use A\\B\\Sub;``), give implicit (uncounted) edges. A ``use``
of a namespace (not a class) counts as resolved without an edge of its own. Include paths
resolve relative to the including file's directory, then to the repository root (PHP's include_path ``.``); paths built from anything but
literals and ``__DIR__``/``dirname(__FILE__)``/``dirname(__DIR__, n)`` are not followed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ._base import Found, Repo, dirname, found, join, norm, starts_token

LANGUAGES = frozenset({"php"})
STYLE = "php"

_NAMESPACE = re.compile(r"namespace\s+([A-Za-z_][\w\\]*)\s*[;{]")
_DECL = re.compile(r"(?:class|interface|trait|enum)\s+([A-Za-z_]\w*)")
_USE_ITEM = r"\\?[A-Za-z_][\w\\]*(?:\s*\{[^}]{0,1000}\})?(?:\s+as\s+\w+)?"
_USE = re.compile(rf"use\s+(?:(function|const)\s+)?({_USE_ITEM}(?:\s*,\s*{_USE_ITEM})*)\s*;")
_INCLUDE = re.compile(
    r"(?:require|include)(?:_once)?\b\s*\(?\s*"
    r"(?P<base>__DIR__|dirname\s*\(\s*__FILE__\s*\)|dirname\s*\(\s*__DIR__\s*(?:,\s*(?P<lvl>\d+)\s*)?\))?"
    r"\s*\.?\s*(?P<q>['\"])"
)
_J = "_\\$>:"  # characters that make a keyword part of a longer name or member access
_QUALIFIED = re.compile(r"(?<![\w\\])\\?([A-Za-z_]\w*(?:\\[A-Za-z_]\w*)+)")


def prepare(repo: Repo) -> dict[str, Any]:
    classes: dict[str, list[str]] = {}  # lower-case FQCN -> files (PHP names are case-insensitive)
    ns_of: dict[str, str] = {}
    ns_types: dict[str, dict[str, list[str]]] = {}
    namespaces: set[str] = set()
    for path in sorted(repo.paths):
        if repo.languages.get(path) not in LANGUAGES:
            continue
        masked = repo.masked(path, STYLE)
        decls = [n for n in _NAMESPACE.finditer(masked) if starts_token(masked, n.start(), _J)]
        ns = decls[0].group(1).strip("\\") if decls else ""
        ns_of[path] = ns
        for n in decls:
            parts = n.group(1).strip("\\").lower().split("\\")
            namespaces.update("\\".join(parts[: i + 1]) for i in range(len(parts)))
        for d in _DECL.finditer(masked):
            if not starts_token(masked, d.start(), "_$:>"):
                continue
            name = d.group(1)
            fq = f"{ns}\\{name}" if ns else name
            classes.setdefault(fq.lower(), []).append(path)
            ns_types.setdefault(ns.lower(), {}).setdefault(name, []).append(path)
    psr: list[tuple[str, str, bool]] = []  # (prefix, directory, is_psr4)
    for cj in repo.by_basename.get("composer.json", []):
        try:
            data = json.loads(repo.text(cj))
        except (ValueError, RecursionError):
            continue
        if not isinstance(data, dict):
            continue
        for section in ("autoload", "autoload-dev"):
            auto = data.get(section)
            if not isinstance(auto, dict):
                continue
            for kind in ("psr-4", "psr-0"):
                table = auto.get(kind)
                if not isinstance(table, dict):
                    continue
                for prefix, dirs in table.items():
                    for d in dirs if isinstance(dirs, list) else [dirs]:
                        if isinstance(prefix, str) and isinstance(d, str):
                            base = norm(join(dirname(cj), d)) or ""
                            psr.append((prefix.strip("\\"), base, kind == "psr-4"))
    psr.sort(key=lambda t: (-len(t[0]), t[1], t[2]))
    return {
        "classes": classes,
        "ns_of": ns_of,
        "ns_types": ns_types,
        "psr": psr,
        "namespaces": frozenset(namespaces),
    }


def _class_files(repo: Repo, ctx: dict[str, Any], fq: str) -> list[str]:
    fq = fq.strip("\\")
    files = ctx["classes"].get(fq.lower())
    if files:
        return files
    for prefix, base, psr4 in ctx["psr"]:
        if prefix and not (fq == prefix or fq.startswith(prefix + "\\")):
            continue
        rel = fq[len(prefix) + 1 :] if (psr4 and prefix) else fq
        cand = join(base, rel.replace("\\", "/").replace("_", "/" if not psr4 else "_") + ".php")
        if cand in repo.paths:
            return [cand]
    return []


def _use_names(body: str) -> list[tuple[str, str]]:
    """(fully qualified name, local alias) pairs of a use clause body."""
    out: list[tuple[str, str]] = []
    items: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    for item in items:
        item = item.strip()
        if "{" in item:
            prefix, _, inner = item.partition("{")
            prefix = prefix.strip().rstrip("\\")
            for sub in inner.rstrip("}").split(","):
                out.extend(_use_names(f"{prefix}\\{sub.strip()}") if sub.strip() else [])
            continue
        parts = item.split()
        if not parts:
            continue
        name = parts[0].strip("\\")
        alias = (
            parts[2] if len(parts) >= 3 and parts[1].lower() == "as" else name.rsplit("\\", 1)[-1]
        )
        out.append((name, alias))
    return out


def resolve_file(repo: Repo, ctx: dict[str, Any], path: str) -> list[Found]:
    text = repo.text(path)
    masked = repo.masked(path, STYLE)
    ns = ctx["ns_of"].get(path, "")
    results: list[Found] = []
    aliases: dict[str, str] = {}
    for m in _USE.finditer(masked):
        if not starts_token(masked, m.start(), _J):
            continue
        kind = m.group(1)
        targets: list[str] = []
        names_ns = False
        for name, alias in _use_names(m.group(2)):
            if "\\" in name or kind:
                aliases[alias.lower()] = name
                files = _class_files(repo, ctx, name)
                if not files and kind:
                    files = _class_files(repo, ctx, name.rsplit("\\", 1)[0])
            else:
                # `use Foo;`: a global class import, or a trait used inside a class body.
                local = aliases.get(name.lower())
                files = (
                    (_class_files(repo, ctx, local) if local else [])
                    or _class_files(repo, ctx, f"{ns}\\{name}" if ns else name)
                    or _class_files(repo, ctx, name)
                )
            targets.extend(files)
            # `use Vendor\Pkg\Sub;` may import a namespace (for `Sub\Class` references later)
            names_ns = names_ns or (not files and name.lower() in ctx["namespaces"])
        results.append(Found(tuple(sorted(set(targets))), bool(targets) or names_ns))
    for m in _INCLUDE.finditer(masked):
        if not starts_token(masked, m.start(), "_$"):
            continue
        q = m.start("q")
        end = masked.find(masked[q], q + 1)
        if end < 0 or "\n" in masked[q:end]:
            continue
        # Only a literal that ends the expression (a lone string, or base . 'literal').
        after = masked[end + 1 : end + 40].lstrip()
        if after[:1] not in (";", ")", "?", ""):
            continue
        lit = text[q + 1 : end]
        base = m.group("base")
        d = dirname(path)
        if base and base.startswith("dirname") and "__DIR__" in base:
            for _ in range(int(m.group("lvl") or 1)):
                d = dirname(d)
        cands = (
            [norm(join(d, lit.lstrip("/")))]
            if base
            else [
                norm(join(d, lit)),
                norm(lit),
            ]
        )
        target = next((c for c in cands if c and c in repo.paths), None)
        results.append(found([target] if target else []))
    implicit: set[str] = set()
    own = ctx["ns_types"].get(ns.lower(), {})
    if own:
        idents = repo.identifiers(path, STYLE)
        for name, files in own.items():
            if name in idents and name.lower() not in aliases:
                implicit.update(files)
    for m in _QUALIFIED.finditer(masked):
        name = m.group(0)
        if name.startswith("\\"):
            files = _class_files(repo, ctx, name)
        else:
            head, _, rest = name.partition("\\")
            expanded = aliases.get(head.lower())
            files = (
                (_class_files(repo, ctx, f"{expanded}\\{rest}") if expanded else [])
                or _class_files(repo, ctx, f"{ns}\\{name}" if ns else name)
                or _class_files(repo, ctx, name)
            )
        implicit.update(files)
    if implicit:
        results.append(Found(tuple(sorted(implicit)), True, counted=False))
    return results
