"""Building the cross-file completion benchmark from real repositories.

A *completion point* is a line of a source file (Python, Java, TypeScript, C#) that uses a name
defined in another file of the same repository: the name is in the API (see
``repoloom.evaluate.crossfile.analysis``) of a file the current file reaches through its
dependency edges (``repoloom.codebase.deps``, followed transitively: ``from pkg import run`` reaches
the module that defines ``run`` through ``pkg/__init__.py``), and the current file does not
define it anywhere. Import/package/using lines, comments, lines touched by a parse error, lines
longer than ``MAX_LINE_CHARS`` and names too generic to witness anything (builtins, methods of
the standard containers, keywords; ``analysis.common_names``) are skipped, as are members
``x.name`` whose receiver is an external module (Python ``import platform``) or a variable
declared with a type the repository does not define (``ByteBuffer input``, ``s: string``).

Selection is seeded and deterministic: each file's candidate lines are shuffled with
``Random(f"{seed}:{repo}:{path}")`` and cut to ``max_per_file``; files are visited in the order
of ``Random(f"{seed}:{repo}")`` round-robin until ``max_points`` points are taken; the points are
returned in (path, line) order.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from repoloom.codebase.languages import identify_language
from repoloom.codebase.repo import load_repository
from repoloom.codebase.sources import TaskOptions, expand_source, iter_repository_files
from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.steps import StepLog, decode_files
from repoloom.evaluate.crossfile.analysis import (
    SUPPORTED_LANGUAGES,
    FileNames,
    analyze,
    common_names,
)
from repoloom.evaluate.crossfile.context import DEPS_STORE_CHARS, repo_context
from repoloom.evaluate.crossfile.heldout import (
    DEFAULT_MAX_SHARED_SHARE,
    check_heldout,
    load_corpus_index,
)
from repoloom.evaluate.crossfile.point import CrossfilePoint
from repoloom.io import write_jsonl
from repoloom.progress import progress_bar

DEFAULT_LANGUAGES = ("python", "java", "typescript", "c-sharp")
MAX_LINE_CHARS = 200
MIN_NAME_CHARS = 2
_COMMENT_STARTS = ("#", "//", "/*", "*", "'''", '"""')


@dataclass
class Repository:
    name: str
    files: dict[str, str]
    languages: dict[str, str | None]


def load_source(source: str | Path) -> Repository:
    """A repository directory or archive (.tar.gz, .tgz, .zip, ...), read as the corpus
    builder reads it (``repoloom.codebase.repo.load_repository`` for directories)."""
    path = Path(source)
    if path.is_dir():
        repo = load_repository(path)
        return Repository(path.resolve().name, repo.texts, repo.languages)
    tasks = expand_source(str(source), TaskOptions())
    if len(tasks) != 1 or tasks[0].kind != "archive":
        raise ValueError(f"{source}: expected a repository directory or archive")
    config = CorpusConfig()
    task = tasks[0]
    docs = decode_files(task.name, iter_repository_files(task, config.read), config, StepLog())
    texts = {d.path: d.text for d in docs}
    languages = {
        d.path: identify_language(d.path, d.text[:256].encode("utf-8", "replace")) for d in docs
    }
    return Repository(task.name, texts, languages)


def _closure(start: str, edges: Mapping[str, Sequence[str]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    seen.discard(start)
    return seen


@dataclass
class RepoAnalysis:
    names: dict[str, FileNames]
    providers: dict[str, set[str]]  # API name -> files that define it
    edges: dict[str, list[str]]


def analyze_repository(
    repo: Repository, languages: Sequence[str] = SUPPORTED_LANGUAGES
) -> RepoAnalysis:
    """Names of every file of the supported languages, and the dependency edges."""
    names: dict[str, FileNames] = {}
    providers: dict[str, set[str]] = {}
    local_modules = frozenset(
        part.removesuffix(".py")
        for path, lang in repo.languages.items()
        if lang == "python"
        for part in path.split("/")
    )
    for path in sorted(repo.files):
        lang = repo.languages.get(path)
        if lang not in SUPPORTED_LANGUAGES:
            continue
        try:
            fn = analyze(repo.files[path], lang, path, local_modules)
        except Exception:  # a grammar failure on one odd file must not stop the build
            continue
        names[path] = fn
        for n in fn.api:
            providers.setdefault(n, set()).add(path)
    edges = repo_context(repo.files, repo.languages).edges()
    return RepoAnalysis(names=names, providers=providers, edges=edges)


def candidate_lines(
    repo: Repository, path: str, analysis: RepoAnalysis
) -> list[tuple[int, list[str], dict[str, list[str]]]]:
    """(line, cross-file names, name -> defining files) for each eligible line of ``path``."""
    fn = analysis.names.get(path)
    if fn is None:
        return []
    text = repo.files[path]
    if "\r" in text:
        return []
    reach = _closure(path, analysis.edges)
    if not reach:
        return []
    common = common_names(fn.language)
    lines = text.split("\n")
    out = []
    seen_nonblank = False
    for row, line in enumerate(lines):
        stripped = line.strip()
        if row > 0 and lines[row - 1].strip():
            seen_nonblank = True
        if row not in fn.uses or not seen_nonblank:
            continue
        if row in fn.import_lines or row in fn.error_lines:
            continue
        if not stripped or len(line) > MAX_LINE_CHARS or stripped.startswith(_COMMENT_STARTS):
            continue
        found: dict[str, list[str]] = {}
        for name, pos in zip(fn.uses[row], fn.use_positions[row], strict=True):
            if name in found or len(name) < MIN_NAME_CHARS or name in fn.defined or name in common:
                continue
            receiver = fn.receiver_types.get(pos)
            if receiver is not None and receiver not in analysis.providers:
                continue  # a member of an external module or of a type the repository lacks
            where = sorted(analysis.providers.get(name, set()) & reach)
            if where:
                found[name] = where
        if found:
            out.append((row, list(found), found))
    return out


def _generated(path: str) -> bool:
    """Declaration files and vendored code are not completion files (they still define names
    and give context)."""
    parts = path.lower().split("/")
    return parts[-1].endswith(".d.ts") or "node_modules" in parts


def select_points(
    repo: Repository,
    analysis: RepoAnalysis,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    max_points: int = 20,
    seed: int = 0,
    max_per_file: int = 5,
    skip_paths: set[str] | frozenset[str] = frozenset(),
) -> list[CrossfilePoint]:
    langs = set(languages)
    per_file: list[tuple[str, list]] = []
    for path in sorted(analysis.names):
        if path in skip_paths or repo.languages.get(path) not in langs or _generated(path):
            continue
        cands = candidate_lines(repo, path, analysis)
        if not cands:
            continue
        random.Random(f"{seed}:{repo.name}:{path}").shuffle(cands)
        per_file.append((path, cands[:max_per_file]))
    random.Random(f"{seed}:{repo.name}").shuffle(per_file)
    chosen: list[tuple[str, tuple]] = []
    depth = 0
    while len(chosen) < max_points and any(len(c) > depth for _, c in per_file):
        for path, cands in per_file:
            if depth < len(cands) and len(chosen) < max_points:
                chosen.append((path, cands[depth]))
        depth += 1
    points = []
    for path, (row, names, where) in sorted(chosen, key=lambda x: (x[0], x[1][0])):
        lines = repo.files[path].split("\n")
        points.append(
            CrossfilePoint(
                task_id=f"{repo.name}/{path}:{row + 1}",
                repo=repo.name,
                path=path,
                language=repo.languages[path] or "",
                left_context="".join(line + "\n" for line in lines[:row]),
                groundtruth=lines[row],
                right_context="\n".join(lines[row + 1 :]),
                crossfile_names=names,
                line=row,
                definitions=where,
            )
        )
    return points


def _check_languages(languages: Sequence[str]) -> None:
    bad = [lang for lang in languages if lang not in SUPPORTED_LANGUAGES]
    if bad:
        raise ValueError(
            f"unsupported language(s) {', '.join(bad)}; supported: {', '.join(SUPPORTED_LANGUAGES)}"
        )


def build_points(
    repo_root: Path,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    max_points: int = 20,
    seed: int = 0,
    *,
    max_per_file: int = 5,
) -> list[CrossfilePoint]:
    """Cross-file completion points of one repository (directory or archive); deterministic."""
    _check_languages(languages)
    repo = load_source(repo_root)
    analysis = analyze_repository(repo)
    return select_points(repo, analysis, languages, max_points, seed, max_per_file)


@dataclass
class BuildSummary:
    out: str
    points: int = 0
    by_language: dict[str, int] = field(default_factory=dict)
    repositories: dict[str, int] = field(default_factory=dict)  # name -> points
    refused: dict[str, str] = field(default_factory=dict)  # name -> why (held-out check)
    files_in_corpus: dict[str, list[str]] = field(default_factory=dict)  # skipped as in corpus
    failed: dict[str, str] = field(default_factory=dict)  # name -> error reading it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_benchmark(
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    exclude_corpus: str | Path | None = None,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    max_points: int = 20,
    max_per_file: int = 5,
    seed: int = 0,
    max_shared_share: float | None = None,
    progress: bool = True,
) -> BuildSummary:
    """Points of every repository in ``sources`` with their cross-file fragments, to ``out``
    (JSONL). With ``exclude_corpus``, repositories in that training corpus (by name or
    content) are refused and files of the corpus are not used as completion files."""
    _check_languages(languages)
    if max_points < 1 or max_per_file < 1:
        raise ValueError("--max-points-per-repo and --max-points-per-file must be >= 1")
    index = load_corpus_index(exclude_corpus) if exclude_corpus is not None else None
    share = DEFAULT_MAX_SHARED_SHARE if max_shared_share is None else max_shared_share
    summary = BuildSummary(out=str(out))
    records: list[dict[str, Any]] = []
    seen_names: set[str] = set()
    with progress_bar("{task.description}", enabled=progress) as bar:
        task = bar.add_task("crossfile: repositories", total=len(sources))
        for source in sources:
            try:
                repo = load_source(source)
            except (OSError, ValueError) as exc:
                summary.failed[str(source)] = str(exc)
                bar.advance(task)
                continue
            if repo.name in seen_names:
                summary.failed[str(source)] = f"repository name {repo.name!r} given twice"
                bar.advance(task)
                continue
            seen_names.add(repo.name)
            skip: set[str] = set()
            if index is not None:
                code = [p for p in repo.files if repo.languages.get(p) in SUPPORTED_LANGUAGES]
                verdict = check_heldout(repo.name, repo.files, index, share, paths=code)
                if not verdict.ok:
                    summary.refused[repo.name] = verdict.reason
                    bar.advance(task)
                    continue
                skip = set(verdict.shared_files)
                if skip:
                    summary.files_in_corpus[repo.name] = sorted(skip)
            analysis = analyze_repository(repo)
            points = select_points(
                repo, analysis, languages, max_points, seed, max_per_file, skip_paths=skip
            )
            ctx = repo_context(repo.files, repo.languages)
            for p in points:
                rec = p.to_record()
                rec["contexts"] = {
                    "bm25": [f.to_dict() for f in ctx.fragments(p, "bm25")],
                    "deps": [f.to_dict() for f in ctx.deps_fragments(p.path, DEPS_STORE_CHARS)],
                }
                records.append(rec)
                summary.by_language[p.language] = summary.by_language.get(p.language, 0) + 1
            summary.repositories[repo.name] = len(points)
            bar.advance(task)
    summary.points = len(records)
    write_jsonl(out, records)
    return summary
