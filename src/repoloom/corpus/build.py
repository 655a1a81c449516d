"""The local executor: repositories through `process_repository` in a process pool, with resume.

Layout of an output directory while a build runs::

    DIR/_work/manifest.json          what this build is (config + source fingerprints)
    DIR/_work/repos/<key>.json       one finished repository's counters (written last: the marker)
    DIR/_work/repos/<key>.*.parquet  its samples and removed rows

and when it is done::

    DIR/samples/part-NNNNN.parquet   columns repo, sample_id, text, paths, languages, n_bytes, kind
    DIR/removed/part-NNNNN.parquet   columns repo, path, language, n_bytes, step, reason, detail
    DIR/report.json, DIR/report.html (+ report_funnel.png, report_languages.png)

Workers write their own repository's files, so the parent never holds sample text and memory is
bounded by the largest repository. A killed run started again with the same ``--out`` skips every
repository whose marker exists and redoes the rest; the final parts are rebuilt from the
per-repository files in task order, so the output is byte-identical to an uninterrupted run's.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import shutil
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from repoloom import __version__
from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.pipeline import RepoResult, failed_repository, process_repository
from repoloom.corpus.sources import RepoTask

log = logging.getLogger(__name__)
logging.getLogger("matplotlib").setLevel(logging.WARNING)

SAMPLE_SCHEMA = pa.schema(
    [
        ("repo", pa.string()),
        ("sample_id", pa.string()),
        ("text", pa.large_string()),
        ("paths", pa.list_(pa.string())),
        ("languages", pa.list_(pa.string())),
        ("n_bytes", pa.int64()),
        ("kind", pa.string()),
    ]
)
REMOVED_SCHEMA = pa.schema(
    [
        ("repo", pa.string()),
        ("path", pa.string()),
        ("language", pa.string()),
        ("n_bytes", pa.int64()),
        ("step", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)


class BuildError(RuntimeError):
    """The build cannot go on (for example: --out holds a different build)."""


def task_key(task: RepoTask) -> str:
    digest = hashlib.sha1(task.name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in task.name)[:60]
    return f"{safe}-{digest}"


def tasks_fingerprint(tasks: Sequence[RepoTask]) -> str:
    h = hashlib.sha256()
    for t in tasks:
        h.update(
            json.dumps([t.name, t.kind, t.location, len(t.rows)]).encode("utf-8", "surrogatepass")
        )
    return h.hexdigest()[:16]


def write_table_atomic(table: pa.Table, path: Path, compression: str | None) -> None:
    """Write a Parquet file under a temporary name, then rename: a kill never leaves half a file."""
    tmp = Path(f"{path}.tmp")
    pq.write_table(table, tmp, compression=None if compression in (None, "none") else compression)
    os.replace(tmp, path)


def _write_parquet(rows: list[dict], schema: pa.Schema, path: Path, compression: str) -> None:
    write_table_atomic(pa.Table.from_pylist(rows, schema=schema), path, compression)


def _atomic_json(obj: dict, path: Path) -> None:
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def run_repository(task: RepoTask, config: CorpusConfig, work_dir: str) -> dict:
    """Worker entry point: process one repository and persist its results; returns its summary."""
    started = time.perf_counter()
    try:
        result = process_repository(task, config)
    except Exception:  # a parser bug must cost one repository, not the whole run
        result = failed_repository(task.name, traceback.format_exc(limit=5))
    key = task_key(task)
    base = Path(work_dir) / key
    removed_rows = [dataclasses.asdict(r) for r in result.log.removed]
    _write_parquet(
        [s.row() for s in result.samples],
        SAMPLE_SCHEMA,
        Path(f"{base}.samples.parquet"),
        config.output.compression,
    )
    _write_parquet(
        removed_rows, REMOVED_SCHEMA, Path(f"{base}.removed.parquet"), config.output.compression
    )
    if config.dedup.file_pass():  # file-level dedup options (repoloom.corpus.dedup)
        from repoloom.corpus.dedup import FILES_SCHEMA

        names = ("sample", "path", "language", "start", "end")
        _write_parquet(
            [dict(zip(names, span, strict=True)) for span in result.file_spans],
            FILES_SCHEMA,
            Path(f"{base}.files.parquet"),
            config.output.compression,
        )
    summary = repo_summary(result, time.perf_counter() - started)
    _atomic_json(summary, Path(f"{base}.json"))  # the marker: written after the data
    return summary


def repo_summary(result: RepoResult, seconds: float) -> dict:
    """What the report needs of one repository (every executor writes the same)."""
    return {
        "repo": result.repo,
        "counts": result.log.counts,
        "timings": result.log.timings,
        "stats": result.stats,
        "error": result.error,
        "samples": len(result.samples),
        "sample_bytes": sum(s.n_bytes for s in result.samples),
        "kept_languages": _language_mix(result),
        "seconds": seconds,
    }


def _language_mix(result: RepoResult) -> dict[str, list[int]]:
    mix: dict[str, list[int]] = {}
    for sample in result.samples:
        text_bytes = sample.n_bytes
        per_file = max(1, len(sample.paths))
        for language in sample.languages:
            entry = mix.setdefault(language, [0, 0])
            entry[0] += 1
            entry[1] += text_bytes // per_file
    return mix


@dataclass
class BuildResult:
    out: Path
    report: dict


def _check_manifest(work: Path, manifest: dict, overwrite: bool) -> None:
    path = work / "manifest.json"
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        old = {}
    same = all(old.get(k) == manifest[k] for k in ("config", "sources"))
    if same:
        return
    if not overwrite:
        raise BuildError(
            f"{work.parent} holds a build with another configuration or other sources; "
            "use a new --out, or --overwrite to discard it"
        )
    shutil.rmtree(work)


def _iter_parts(paths: Iterator[Path], schema: pa.Schema, rows_per_part: int) -> Iterator[pa.Table]:
    """Re-chunk per-repository tables into parts of exactly `rows_per_part` rows (last: fewer)."""
    pending: list[pa.Table] = []
    count = 0
    for path in paths:
        table = pq.read_table(path, schema=schema)
        while table.num_rows:
            take = min(rows_per_part - count, table.num_rows)
            pending.append(table.slice(0, take))
            table = table.slice(take)
            count += take
            if count == rows_per_part:
                yield pa.concat_tables(pending)
                pending, count = [], 0
    if pending:
        yield pa.concat_tables(pending)


def _write_parts(
    out_dir: Path, tables: Iterator[pa.Table], schema: pa.Schema, compression: str
) -> int:
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n = 0
    codec = None if compression == "none" else compression
    for n, table in enumerate(tables, 1):
        pq.write_table(table, tmp / f"part-{n - 1:05d}.parquet", compression=codec)
    if n == 0:  # an empty result still has a readable, typed part
        pq.write_table(schema.empty_table(), tmp / "part-00000.parquet", compression=codec)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return n


def build_corpus(
    tasks: Sequence[RepoTask],
    out: str | Path,
    config: CorpusConfig,
    workers: int | None = None,
    overwrite: bool = False,
    keep_work: bool = False,
    progress: bool = True,
) -> BuildResult:
    """Process every repository, then write the final parts and the report."""
    from repoloom.corpus.report import count_samples, write_report

    out = Path(out)
    work = out / "_work"
    repos_dir = work / "repos"
    manifest = {
        "repoloom": __version__,
        "config": config.fingerprint(),
        "sources": tasks_fingerprint(tasks),
        "n_repositories": len(tasks),
    }
    _check_manifest(work, manifest, overwrite)
    if not work.exists() and (out / "report.json").exists():
        previous = json.loads((out / "report.json").read_text(encoding="utf-8"))
        if (
            previous.get("manifest", {}).get("config") == manifest["config"]
            and previous.get("manifest", {}).get("sources") == manifest["sources"]
        ):
            log.info("%s is already complete for these sources and this config", out)
            return BuildResult(out=out, report=previous)
        if not overwrite:
            raise BuildError(f"{out} holds another finished build; use a new --out or --overwrite")
    repos_dir.mkdir(parents=True, exist_ok=True)
    _atomic_json({**manifest, "config_values": config.to_dict()}, work / "manifest.json")

    workers = workers or os.cpu_count() or 1
    todo = [t for t in tasks if not (repos_dir / f"{task_key(t)}.json").exists()]
    log.info(
        "%d repositories (%d already done), %d workers", len(tasks), len(tasks) - len(todo), workers
    )
    started = time.perf_counter()
    decontam_info = _prepare_decontamination(config)  # issue 3: index built once, before fork
    _run_tasks(todo, config, repos_dir, workers, progress, total=len(tasks))

    summaries = [
        json.loads((repos_dir / f"{task_key(t)}.json").read_text(encoding="utf-8")) for t in tasks
    ]
    # Issue 3: corpus-level exact and MinHash-LSH near-dedup of whole samples (resumable).
    from repoloom.corpus.dedup import run_corpus_dedup

    dedup = run_corpus_dedup(
        [task_key(t) for t in tasks],
        [t.name for t in tasks],
        repos_dir,
        work / "dedup",
        config,
        workers=workers,
        progress=progress,
    )
    wall = time.perf_counter() - started
    n_sample_parts = _write_parts(
        out / "samples",
        _iter_parts(
            (dedup.samples_path(task_key(t)) for t in tasks),
            SAMPLE_SCHEMA,
            config.output.rows_per_part,
        ),
        SAMPLE_SCHEMA,
        config.output.compression,
    )
    n_removed_parts = _write_parts(
        out / "removed",
        _iter_parts(
            itertools.chain(
                (repos_dir / f"{task_key(t)}.removed.parquet" for t in tasks), dedup.removed_paths
            ),
            REMOVED_SCHEMA,
            config.output.rows_per_part,
        ),
        REMOVED_SCHEMA,
        config.output.compression,
    )
    report = write_report(
        out,
        summaries,
        manifest,
        config,
        wall_seconds=wall,
        workers=workers,
        parts=(n_sample_parts, n_removed_parts),
        extra={"dedup": dedup.stats, "decontamination": decontam_info},
        final=count_samples(out / "samples"),
    )
    if not keep_work:
        shutil.rmtree(work)
    return BuildResult(out=out, report=report)


def _prepare_decontamination(config: CorpusConfig) -> dict:
    """Issue 3: build the benchmark n-gram index in the parent (forked workers inherit it) and
    return what the report says about it; a missing benchmark with require_all is a BuildError."""
    if not config.decontam.enabled:
        return {"enabled": False}
    from repoloom.corpus.decontam import BenchmarkNotFound, get_index

    try:
        index = get_index(config.decontam)
    except (BenchmarkNotFound, ValueError) as exc:
        raise BuildError(str(exc)) from exc
    return {
        "enabled": True,
        "ngram": config.decontam.ngram,
        "benchmarks": dict(index.strings),
        "missing": list(index.missing),
        "warnings": index.warnings,
    }


def _run_tasks(
    todo: Sequence[RepoTask],
    config: CorpusConfig,
    repos_dir: Path,
    workers: int,
    progress: bool,
    total: int,
) -> None:
    from repoloom.progress import progress_bar

    with progress_bar(
        "corpus build", "repos {task.fields[mb]:.1f} MB", enabled=progress, eta=True
    ) as bar:
        bar_task = bar.add_task("build", total=total, completed=total - len(todo), mb=0.0)
        mb = 0.0

        def done(summary: dict) -> None:
            nonlocal mb
            mb += summary["sample_bytes"] / 1e6
            bar.update(bar_task, advance=1, mb=mb)
            if summary.get("error"):
                log.warning(
                    "repository %s skipped: %s",
                    summary["repo"],
                    summary["error"].strip().splitlines()[-1],
                )

        if workers <= 1 or len(todo) <= 1:
            for task in todo:
                done(run_repository(task, config, str(repos_dir)))
            return
        # fork is cheap and inherits the imported modules; the work items are tiny descriptions.
        context = multiprocessing.get_context("fork")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending: set[cf.Future] = set()
            queue = iter(todo)
            for task in queue:
                pending.add(pool.submit(run_repository, task, config, str(repos_dir)))
                if (
                    len(pending) >= 2 * workers
                ):  # a bounded window: millions of repos never queue at once
                    finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    for future in finished:
                        done(future.result())
            for future in cf.as_completed(pending):
                done(future.result())
