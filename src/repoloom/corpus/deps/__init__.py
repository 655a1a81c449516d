"""Intra-repository dependency parsing (DeepSeek-Coder section 2, step "dependency parsing").

``parse_dependencies(files, languages)`` finds the import/include/use/require/mod statements of
every file whose language has a parser and resolves them to files of the same repository. Each
language lives in its own module with the same two functions:

- ``prepare(repo) -> ctx``: repository-wide indexes (module roots, package/namespace tables,
  go.mod, composer.json, tsconfig.json, ...), built once per repository;
- ``resolve_file(repo, ctx, path) -> list[Found]``: the statements of one file, each with the
  repository files it resolves to.

The registry ``_REGISTRY`` maps each language name of the release to its module. Extraction is
regex-based on comment- and string-masked text (chosen by measurement over tree-sitter, see
docs/corpus-deps.md and BENCHMARKS.md). A failure inside one file is counted under
``per_language[lang]["errors"]`` and never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType

from . import c_family, csharp, go, java, javascript, kotlin, php, python, ruby, rust, scala
from ._base import MAX_PARSE_CHARS, Found, Repo

__all__ = [
    "MAX_PARSE_CHARS",
    "PARSED_LANGUAGES",
    "DependencyResult",
    "parse_dependencies",
]

_MODULES: tuple[ModuleType, ...] = (python, java, c_family, csharp, javascript, go, rust, php)
_MODULES += (kotlin, ruby, scala)
_REGISTRY: dict[str, ModuleType] = {lang: mod for mod in _MODULES for lang in mod.LANGUAGES}

PARSED_LANGUAGES: frozenset[str] = frozenset(_REGISTRY)


@dataclass
class DependencyResult:
    """Edges are ``(importer, imported)``: the importer depends on the imported file."""

    edges: list[tuple[str, str]] = field(default_factory=list)
    n_statements: int = 0
    n_resolved: int = 0
    per_language: dict[str, dict[str, int]] = field(default_factory=dict)


def parse_dependencies(
    files: Mapping[str, str], languages: Mapping[str, str | None]
) -> DependencyResult:
    """Dependency edges between the files of one repository.

    ``files``: every decodable text file of the repository (repo-relative POSIX path -> text),
    including files of no known language (go.mod, package.json, ...). ``languages``: path ->
    release language name or None. Deterministic; never raises on odd input.
    """
    repo = Repo(files=files, languages=languages)
    by_module: dict[str, list[str]] = {}
    for path in sorted(files):
        lang = languages.get(path)
        if lang in _REGISTRY and isinstance(files.get(path), str):
            by_module.setdefault(_REGISTRY[lang].__name__, []).append(path)

    edges: set[tuple[str, str]] = set()
    stats: dict[str, dict[str, int]] = {}
    n_statements = n_resolved = 0
    for mod in _MODULES:
        paths = by_module.get(mod.__name__)
        if not paths:
            continue
        try:
            ctx = mod.prepare(repo)
        except Exception:  # a malformed repository must not stop the build
            ctx = None
        for path in paths:
            lang = languages[path] or ""
            st = stats.setdefault(lang, {"statements": 0, "resolved": 0, "edges": 0, "errors": 0})
            if ctx is None:
                st["errors"] += 1
                continue
            try:
                results: list[Found] = mod.resolve_file(repo, ctx, path)
            except Exception:  # counted in per_language[...]["errors"], never raised
                st["errors"] += 1
                continue
            file_edges: set[str] = set()
            for r in results:
                if r.counted:
                    st["statements"] += 1
                    n_statements += 1
                    if r.resolved:
                        st["resolved"] += 1
                        n_resolved += 1
                for t in r.targets:
                    if t != path and t in repo.paths:
                        file_edges.add(t)
            st["edges"] += len(file_edges)
            edges.update((path, t) for t in file_edges)
    return DependencyResult(
        edges=sorted(edges),
        n_statements=n_statements,
        n_resolved=n_resolved,
        per_language={k: stats[k] for k in sorted(stats)},
    )
