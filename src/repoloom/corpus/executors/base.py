"""The one corpus driver, under every executor.

``run_build`` is the whole build as both executors run it: the manifest check (resume an
unfinished build of the same config and sources, refuse a different one, return a finished one),
the benchmark index for decontamination, the stages, the dedup sequence
(`repoloom.corpus.dedup.dedup_sequence`), the final parts and the report, all through one
`Store` (a local path or a URI). An executor is a scheduler: it says what its sources are
(`Executor.manifest`) and runs the stages its way (a local process pool, `executors.local`; Ray
Data, `executors.ray`). A new executor is one subclass of `Executor`.

Layout of an output while a build runs: ``OUT/_work/manifest.json`` (what this build is), then
the executor's stage outputs under ``OUT/_work/`` (each with its finished-marker); when done:
``OUT/samples/``, ``OUT/removed/``, ``OUT/report.json``, ``OUT/report.html`` (+ its charts),
``OUT/run.json`` (timings: the only file that differs run to run).
"""

from __future__ import annotations

import logging
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from repoloom import __version__
from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.decontam import BenchmarkNotFound, get_index
from repoloom.corpus.pipeline import RepoResult
from repoloom.corpus.report import count_samples, render_report
from repoloom.corpus.schema import BuildError
from repoloom.corpus.storage import Store

log = logging.getLogger(__name__)
logging.getLogger("matplotlib").setLevel(logging.WARNING)
# Test hook: the driver raises SystemExit after the named stage (a driver killed there).
STOP_AFTER_ENV = "REPOLOOM_TEST_STOP_AFTER"


@dataclass
class BuildResult:
    out: Path
    report: dict


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


def prepare_decontamination(config: CorpusConfig) -> dict:
    """Issue 3: build the benchmark n-gram index in the driver (forked workers inherit it; Ray
    broadcasts it) and return what the report says about it; a missing benchmark with
    require_all is a BuildError."""
    if not config.decontam.enabled:
        return {"enabled": False}
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


def _same_build(old: dict, manifest: dict) -> bool:
    return all(old.get(k) == manifest[k] for k in ("config", "sources"))


def open_output(store: Store, manifest: dict, config: CorpusConfig, overwrite: bool) -> dict | None:
    """Resume markers, first of all: the report of a finished build of this very config and
    these sources (nothing to do), else None after `_work/manifest.json` says what is being
    built. An unfinished build of the same is resumed; another build is refused unless
    `overwrite` (then discarded)."""
    if store.exists("_work", "manifest.json"):
        try:
            old = store.read_json("_work", "manifest.json")
        except (OSError, ValueError):
            old = {}
        if not _same_build(old, manifest):
            if not overwrite:
                raise BuildError(
                    f"{store.uri} holds a build with another configuration or other sources; "
                    "use a new --out, or --overwrite to discard it"
                )
            store.remove("_work")
    if not store.exists("_work") and store.exists("report.json"):
        previous = store.read_json("report.json")
        if _same_build(previous.get("manifest", {}), manifest):
            return previous
        if not overwrite:
            raise BuildError(
                f"{store.uri} holds another finished build; use a new --out or --overwrite"
            )
    store.write_json({**manifest, "config_values": config.to_dict()}, "_work", "manifest.json")
    return None


class Stages:
    """Stage outputs under ``OUT/_work/<scheduler>/NAME``, reused when ``NAME.done`` exists (the
    marker is written after the output); `timings` has the seconds of the stages run now."""

    def __init__(self, store: Store, scheduler: str) -> None:
        self.store = store
        self.parts = ("_work", scheduler)
        self.timings: dict[str, float] = {}

    def done(self, name: str) -> bool:
        return self.store.is_done(*self.parts, name)

    def uri(self, name: str) -> str:
        return self.store.path(*self.parts, name)

    def write(self, name: str, dataset: Any, schema: pa.Schema) -> None:
        started = time.perf_counter()
        self.store.remove(*self.parts, name)  # a half-written stage from a killed driver
        self.store.write_dataset(dataset, schema, *self.parts, name)
        self.store.mark_done(*self.parts, name, info={"finished": time.time()})
        self.timings[name] = round(time.perf_counter() - started, 3)
        if os.environ.get(STOP_AFTER_ENV) == name:
            raise SystemExit(f"{STOP_AFTER_ENV}={name}: stopping the driver (test)")


class Executor(ABC):
    """A scheduler of the build's stages; `run_build` drives it."""

    name: str

    @abstractmethod
    def manifest(self, config: CorpusConfig) -> dict:
        """``sources`` (a fingerprint of the inputs) and ``n_repositories`` of this build."""

    @abstractmethod
    def start(self, store: Store, config: CorpusConfig) -> int:
        """Prepare to run (a pool, a cluster); returns the number of workers."""

    @abstractmethod
    def process_repositories(self, config: CorpusConfig) -> list[dict]:
        """Every repository through the steps (resuming finished ones); their summaries in
        task order (`repo_summary`)."""

    @abstractmethod
    def deduplicate(self, config: CorpusConfig, summaries: list[dict]) -> dict:
        """Corpus-level dedup (`dedup_sequence`); its report figures."""

    @abstractmethod
    def write_outputs(self, config: CorpusConfig) -> None:
        """The final ``samples/`` and ``removed/`` parts."""

    def run_info(self) -> dict | None:
        """What run.json says about this executor (None: nothing)."""
        return None

    def finish(self, keep_work: bool) -> None:  # noqa: B027 - an optional hook
        """After the report: remove what the executor kept outside the store (unless kept)."""


def write_build_report(
    store: Store,
    summaries: list[dict],
    manifest: dict,
    config: CorpusConfig,
    wall_seconds: float,
    workers: int,
    extra: dict,
    executor: dict | None = None,
) -> dict:
    """The report of the written output, through the store."""
    parts = (len(store.parquet_files("samples")), len(store.parquet_files("removed")))
    report, files = render_report(
        summaries,
        manifest,
        config,
        wall_seconds=wall_seconds,
        workers=workers,
        parts=parts,
        extra=extra,
        final=count_samples(store.path("samples"), store.fs),
        executor=executor,
    )
    for name, data in files.items():
        store.write_bytes(data, name)
    return report


def result_path(out: str | Path, store: Store) -> Path:
    return Path(out) if "://" not in str(out) else Path(store.root)


def run_build(
    executor: Executor,
    out: str | Path,
    config: CorpusConfig,
    overwrite: bool = False,
    keep_work: bool = False,
) -> BuildResult:
    """The build (see the module docstring), its stages run by `executor`."""
    store = Store(out)
    manifest = {
        "repoloom": __version__,
        "config": config.fingerprint(),
        **executor.manifest(config),
    }
    previous = open_output(store, manifest, config, overwrite)
    if previous is not None:
        log.info("%s is already complete for these sources and this config", out)
        return BuildResult(out=result_path(out, store), report=previous)
    workers = executor.start(store, config)
    started = time.perf_counter()
    decontam_info = prepare_decontamination(config)  # issue 3: index built once, before fork
    summaries = executor.process_repositories(config)
    # Issue 3: corpus-level exact and MinHash-LSH near-dedup of whole samples (resumable).
    dedup_stats = executor.deduplicate(config, summaries)
    executor.write_outputs(config)
    wall = time.perf_counter() - started
    report = write_build_report(
        store,
        summaries,
        manifest,
        config,
        wall,
        workers,
        {"dedup": dedup_stats, "decontamination": decontam_info},
        executor.run_info(),
    )
    if not keep_work:
        store.remove("_work")
    executor.finish(keep_work)
    return BuildResult(out=result_path(out, store), report=report)
