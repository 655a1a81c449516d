"""The local executor: repositories through `process_repository` in a process pool, with resume.

Stage outputs under ``OUT/_work`` (see `executors.base` for the rest of the layout)::

    repos/<key>.json            one finished repository's counters (written last: the marker)
    repos/<key>.*.parquet       its samples and removed rows (and file spans, for file dedup)
    dedup/                      the resumable stages of `repoloom.corpus.dedup`

Workers write their own repository's files, so the parent never holds sample text and memory is
bounded by the largest repository. A killed run started again with the same ``--out`` skips every
repository whose marker exists and redoes the rest; the final parts are rebuilt from the
per-repository files in task order, so the output is byte-identical to an uninterrupted run's.
The stages work on local files: with an object-store ``--out`` (``s3://``, ``gs://``, ...) they
run in a local folder named after the output and the build (resumable the same way), and the
final parts go up through the store with the report.
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
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from repoloom.codebase.sources import RepoTask
from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.dedup import DedupResult, run_corpus_dedup
from repoloom.corpus.executors.base import BuildResult, Executor, repo_summary, run_build
from repoloom.corpus.pipeline import failed_repository, process_repository
from repoloom.corpus.schema import (
    FILE_SPAN_FIELDS,
    FILES_SCHEMA,
    REMOVED_SCHEMA,
    SAMPLE_SCHEMA,
    parquet_codec,
    write_rows,
)
from repoloom.corpus.storage import Store
from repoloom.io import write_json_atomic
from repoloom.progress import progress_bar

log = logging.getLogger(__name__)


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


def run_repository(task: RepoTask, config: CorpusConfig, work_dir: str) -> dict:
    """Worker entry point: process one repository and persist its results; returns its summary."""
    started = time.perf_counter()
    try:
        result = process_repository(task, config)
    except Exception:  # a parser bug must cost one repository, not the whole run
        result = failed_repository(task.name, traceback.format_exc(limit=5))
    base = Path(work_dir) / task_key(task)
    compression = config.output.compression
    samples = [s.row() for s in result.samples]
    write_rows(samples, SAMPLE_SCHEMA, f"{base}.samples.parquet", compression)
    removed = [dataclasses.asdict(r) for r in result.log.removed]
    write_rows(removed, REMOVED_SCHEMA, f"{base}.removed.parquet", compression)
    if config.dedup.file_pass():  # file-level dedup options (repoloom.corpus.dedup)
        spans = [dict(zip(FILE_SPAN_FIELDS, span, strict=True)) for span in result.file_spans]
        write_rows(spans, FILES_SCHEMA, f"{base}.files.parquet", compression)
    summary = repo_summary(result, time.perf_counter() - started)
    write_json_atomic(f"{base}.json", summary)  # the marker: written after the data
    return summary


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
    """A directory of parts, written beside it and renamed over it whole."""
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n = 0
    codec = parquet_codec(compression)
    for n, table in enumerate(tables, 1):
        pq.write_table(table, tmp / f"part-{n - 1:05d}.parquet", compression=codec)
    if n == 0:  # an empty result still has a readable, typed part
        pq.write_table(schema.empty_table(), tmp / "part-00000.parquet", compression=codec)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return n


def _run_tasks(
    todo: Sequence[RepoTask],
    config: CorpusConfig,
    repos_dir: Path,
    workers: int,
    progress: bool,
    total: int,
) -> None:
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


class LocalExecutor(Executor):
    """Repositories in a process pool of `workers`; dedup stages in the same pool."""

    name = "local"

    def __init__(self, tasks: Sequence[RepoTask], workers: int | None, progress: bool) -> None:
        self.tasks = list(tasks)
        self.keys = [task_key(t) for t in self.tasks]
        self.workers = workers or os.cpu_count() or 1
        self.progress = progress
        self.dedup: DedupResult | None = None

    def manifest(self, config: CorpusConfig) -> dict:
        return {"sources": tasks_fingerprint(self.tasks), "n_repositories": len(self.tasks)}

    def start(self, store: Store, config: CorpusConfig) -> int:
        self.store = store
        if store.is_local:
            self.out = store.local_path()
        else:  # an object store: stages in a local folder of this output and this build
            build = json.dumps([store.uri, config.fingerprint(), tasks_fingerprint(self.tasks)])
            digest = hashlib.sha256(build.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            self.out = Path(tempfile.gettempdir()) / f"repoloom-build-{digest}"
        self.work = self.out / "_work"
        self.repos_dir = self.work / "repos"
        self.repos_dir.mkdir(parents=True, exist_ok=True)
        return self.workers

    def process_repositories(self, config: CorpusConfig) -> list[dict]:
        todo = [
            t for t, k in zip(self.tasks, self.keys, strict=True) if not self._marker(k).exists()
        ]
        n = len(self.tasks)
        log.info("%d repositories (%d already done), %d workers", n, n - len(todo), self.workers)
        _run_tasks(todo, config, self.repos_dir, self.workers, self.progress, total=n)
        return [json.loads(self._marker(k).read_text(encoding="utf-8")) for k in self.keys]

    def _marker(self, key: str) -> Path:
        return self.repos_dir / f"{key}.json"

    def deduplicate(self, config: CorpusConfig, summaries: list[dict]) -> dict:
        self.dedup = run_corpus_dedup(
            self.keys,
            [t.name for t in self.tasks],
            self.repos_dir,
            self.work / "dedup",
            config,
            n_samples=sum(s["samples"] for s in summaries),
            workers=self.workers,
            progress=self.progress,
        )
        return self.dedup.stats

    def write_outputs(self, config: CorpusConfig) -> None:
        assert self.dedup is not None
        rows, compression = config.output.rows_per_part, config.output.compression
        samples = (self.dedup.samples_path(k) for k in self.keys)
        _write_parts(
            self.out / "samples",
            _iter_parts(samples, SAMPLE_SCHEMA, rows),
            SAMPLE_SCHEMA,
            compression,
        )
        removed = itertools.chain(
            (self.repos_dir / f"{k}.removed.parquet" for k in self.keys),
            self.dedup.removed_paths,
        )
        _write_parts(
            self.out / "removed",
            _iter_parts(removed, REMOVED_SCHEMA, rows),
            REMOVED_SCHEMA,
            compression,
        )
        if not self.store.is_local:
            for name in ("samples", "removed"):
                self.store.remove(name)
                for part in sorted((self.out / name).iterdir()):
                    self.store.write_bytes(part.read_bytes(), name, part.name)

    def finish(self, keep_work: bool) -> None:
        if not self.store.is_local and not keep_work:
            shutil.rmtree(self.out, ignore_errors=True)


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
    return run_build(LocalExecutor(tasks, workers, progress), out, config, overwrite, keep_work)
