"""One repository through the whole pipeline: read -> decode -> language -> rule filters ->
dependency parsing -> ordering -> samples.

`process_repository` is a pure function of its task and config (no global state, no output
files), so an executor can run it anywhere: the local process pool, a Ray task, or a test.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from repoloom.codebase import deps
from repoloom.codebase.order import edges_in_order, order_repository
from repoloom.codebase.render import Sample, assemble_samples
from repoloom.codebase.sources import (
    RawFile,
    RepoTask,
    SourceError,
    iter_repository_files,
    printable_name,
)
from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.decontam import decontaminate
from repoloom.corpus.quality import QUALITY_STEPS, _cached_scorer, screen_quality
from repoloom.corpus.screening import (
    SyntaxVerdict,
    dedup_repository_files,
    screen_syntax,
    syntax_verdict,
)
from repoloom.corpus.steps import (
    FileDoc,
    StepLog,
    apply_rule_filters,
    decode_files,
    identify_languages,
    run_isolated,
)

# The per-repository screening steps in the order they run (the report's funnel).
SCREEN_STEPS = ("file_dedup", "decontam", "syntax", *QUALITY_STEPS)


def screen_documents(docs: list[FileDoc], config: Any, log: StepLog) -> list[FileDoc]:
    """Syntax then quality screening of one repository's files, as the config switches them."""
    cfg = config.screening
    verdicts: dict[str, SyntaxVerdict] = {}
    if cfg.syntax:
        docs = screen_syntax(docs, cfg, log, verdicts)
    elif cfg.longest_function:
        for doc in docs:
            if doc.language in cfg.syntax_languages:
                verdict = syntax_verdict(doc, cfg.max_function_lines)
                if verdict is not None:
                    verdicts[doc.path] = verdict
    if cfg.quality:
        docs = screen_quality(docs, cfg, log, verdicts, _cached_scorer(cfg.scorer))
    return docs


@dataclass
class RepoResult:
    repo: str
    samples: list[Sample]
    log: StepLog
    stats: dict = field(default_factory=dict)  # dependency/ordering figures of this repository
    error: str | None = None  # the repository could not be read at all (counted, run goes on)
    # (sample index, path, language, start, end): where each file's text lies in its sample's
    # text; filled only when a file-level dedup option needs it (repoloom.corpus.dedup).
    file_spans: list[tuple[int, str, str, int, int]] = field(default_factory=list)


def sample_file_spans(
    samples: list[Sample], docs: dict[str, FileDoc], config: CorpusConfig
) -> list[tuple[int, str, str, int, int]]:
    """Replay `make_sample`'s rendering to find each file's text inside its sample's text."""
    spans = []
    header_template = config.order.header_template
    for index, sample in enumerate(samples):
        headed = len(sample.paths) > 1 or config.order.header_single_files
        cursor = 0
        for path, language in zip(sample.paths, sample.languages, strict=True):
            text = docs[path].text
            if headed:
                cursor += len(header_template.format(path=path)) + 1
            spans.append((index, path, language, cursor, cursor + len(text)))
            cursor += len(text) + (1 if headed and text and not text.endswith("\n") else 0)
        if cursor != len(sample.text):  # pragma: no cover - make_sample and this replay disagree
            raise AssertionError(f"file spans of sample {sample.sample_id} do not add up")
    return spans


def order_documents(
    repo: str,
    docs: list[FileDoc],
    config: CorpusConfig,
    log: StepLog,
    all_texts: dict[str, str],
    all_languages: dict[str, str | None],
):
    """Dependency parsing and ordering of the files that have a parser; returns components and stats."""
    parsed = {d.path: d for d in docs if d.language in deps.PARSED_LANGUAGES}
    started = time.perf_counter()
    result = deps.parse_dependencies(all_texts, all_languages)
    log.time("deps", time.perf_counter() - started)
    started = time.perf_counter()
    edges = [(a, b) for a, b in result.edges if a in parsed and b in parsed]
    ordered = order_repository(sorted(parsed), edges, config.order.mode)
    log.time("order", time.perf_counter() - started)
    stats = {
        "dependency_statements": result.n_statements,
        "dependency_resolved": result.n_resolved,
        "dependency_edges": len(result.edges),
        "dependency_edges_kept_files": len(ordered.edges),
        "cycles_broken": ordered.cycles_broken,
        "cyclic_groups": ordered.cyclic_groups,
        "files_in_cycles": ordered.files_in_cycles,
        "per_language_deps": result.per_language,
    }
    # How well each ordering keeps dependencies first, on this repository's own edges: the
    # report and BENCHMARKS.md compare modes from these counts.
    orders = {"path": sorted(parsed)}  # plain path order: the baseline
    for mode in ("paper", "scc"):
        components = (
            ordered.components
            if mode == config.order.mode
            else order_repository(sorted(parsed), edges, mode).components
        )
        orders[mode] = [p for c in components for p in c]
    by_language: dict[str, list[tuple[str, str]]] = {}
    for edge in edges:  # an edge counts for its importer's language
        by_language.setdefault(parsed[edge[0]].language or "", []).append(edge)
    stats["order_eval"] = {
        mode: {
            language: list(edges_in_order(flat, lang_edges))
            for language, lang_edges in sorted(by_language.items())
        }
        for mode, flat in orders.items()
    }
    return ordered.components, parsed, stats


def file_level_steps(
    repo: str, raw_files: Iterable[RawFile], config: CorpusConfig, log: StepLog
) -> tuple[list[FileDoc], list[FileDoc]]:
    """Decode, identify the language, apply the StarCoder rule filters: steps that look at one
    file at a time (the Ray executor runs them as `map_batches` over any slice of the files).
    Returns every decoded file (the dependency resolvers need them all) and the kept ones."""
    decoded = decode_files(repo, raw_files, config, log)
    started = time.perf_counter()
    docs = identify_languages(list(decoded), config, log)
    log.time("language", time.perf_counter() - started)
    return decoded, apply_rule_filters(docs, config, log)


def repository_level_steps(
    repo: str, decoded: list[FileDoc], docs: list[FileDoc], config: CorpusConfig, log: StepLog
) -> RepoResult:
    """Everything that needs a whole repository: in-repository exact dedup, decontamination,
    screening, dependency parsing, ordering and assembly into samples."""
    # The dependency resolvers need every text file (go.mod, package.json, tsconfig.json, ...),
    # including those the filters drop; the references share the strings, nothing is copied.
    all_texts = {d.path: d.text for d in decoded}
    all_languages = {d.path: d.language for d in decoded}  # None: unknown language
    # Issue 3 (repoloom.corpus.screening / decontam): in-repo exact dedup, decontamination
    # (before screening), syntax and quality screening. Each takes the whole list; a file one
    # of them raises for is removed as error:<step> and the others go on (steps.run_isolated).
    if config.dedup.exact_files_in_repo:
        docs = run_isolated(
            "file_dedup", "file_dedup", lambda b, lg: dedup_repository_files(b, lg), docs, log
        )
    if config.decontam.enabled:
        docs = run_isolated(
            "decontam", "decontam", lambda b, lg: decontaminate(b, config, lg), docs, log
        )
    # Counted under the screening's first funnel step, "syntax".
    docs = run_isolated(
        "syntax", "screening", lambda b, lg: screen_documents(b, config, lg), docs, log
    )

    components, parsed, stats = order_documents(repo, docs, config, log, all_texts, all_languages)
    started = time.perf_counter()
    unparsed = [d for d in docs if d.path not in parsed]
    samples, splits = assemble_samples(repo, components, parsed, unparsed, config.order)
    stats["components_split"] = splits
    file_spans = []
    if config.dedup.file_pass():
        file_spans = sample_file_spans(samples, {d.path: d for d in docs}, config)
    log.count("assemble", "files", len(docs))
    log.count("assemble", "samples", len(samples))
    log.time("assemble", time.perf_counter() - started)
    return RepoResult(repo=repo, samples=samples, log=log, stats=stats, file_spans=file_spans)


def failed_repository(repo: str, error: str) -> RepoResult:
    """A repository that could not be read: one counted failure, nothing else (counters of the
    files read before the failure are discarded, so every executor reports the same)."""
    log = StepLog()
    log.count("read", "dropped:repo-error")
    # The message may quote a path that is not UTF-8; the summary is written as UTF-8 JSON.
    return RepoResult(repo=repo, samples=[], log=log, error=printable_name(error))


def process_repository(task: RepoTask, config: CorpusConfig) -> RepoResult:
    """Run every step on one repository; never raises for bad input (it is counted instead)."""
    log = StepLog()
    try:
        decoded, docs = file_level_steps(
            task.name, iter_repository_files(task, config.read), config, log
        )
    except SourceError as exc:
        return failed_repository(task.name, str(exc))
    return repository_level_steps(task.name, decoded, docs, config, log)
