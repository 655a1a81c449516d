"""Corpus-level dedup of whole samples: exact (content hash) and MinHash-LSH near-duplicates.

Runs after every repository is processed, over the per-repository sample files
(``_work/repos/<key>.samples.parquet``), in resumable stages under ``_work/dedup/``:

1. ``sign/<key>.npz``     per repository (process pool): each sample's 128-bit content digest,
                          its 256 min-hashes, byte count and id. Written atomically; skipped when
                          present, so a rerun after a kill redoes only unfinished repositories.
2. ``signatures.npy``     every signature in global sample order (repositories in task order,
                          samples in file order), streamed together from the shards; memory-mapped
                          later, never loaded whole.
3. ``buckets/part-P.bin`` (band, band hash, sample) rows, spilled to ``partitions`` shards by
                          hash, read back one shard at a time. The exact digest is one more "band".
4. ``pairs/part-P.npy``   candidate pairs of each shard: in each bucket, every member paired with
                          the bucket's first (smallest) member and with its predecessor.
5. ``clusters.npz``       pairs verified (exact: equal 128-bit digests; near: the signature
                          estimate of the Jaccard similarity >= threshold, unless verify is off),
                          clusters by union-find, one sample kept per cluster.
6. ``kept/<key>.samples.parquet`` (only repositories that lost a sample) and ``removed.parquet``.

Every stage writes to a temporary name and renames, and every stage is a pure function of the
previous ones, so a killed run started again gives exactly the output of an uninterrupted one, for
any number of workers.

Keep rule (``dedup.keep``): ``largest`` keeps the sample with the most bytes in each cluster (the
most complete version of a repository), ties broken by the global sample order (task order, then
sample order); ``first`` keeps the earliest in that order. The cluster id is the global index of
the cluster's earliest sample.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from repoloom.corpus.dedup.clusters import SparseRows, cluster_stage, resolve_clusters
from repoloom.corpus.dedup.lsh import band_rows, bucket_pairs, write_buckets, write_pairs
from repoloom.corpus.dedup.pick import (
    duplicate_file_row,
    duplicate_sample_row,
    write_file_outputs,
    write_sample_outputs,
)
from repoloom.corpus.dedup.signatures import (
    file_units,
    gather_signatures,
    resolve_bands,
    sign_all,
    sign_repository,
    sign_texts,
)
from repoloom.corpus.schema import BUCKET_ROW, FILES_SCHEMA

_ROW = BUCKET_ROW  # the old name (tests, benchmarks)
__all__ = [
    "FILES_SCHEMA",
    "DedupResult",
    "SparseRows",
    "band_rows",
    "bucket_pairs",
    "dedup_runs",
    "dedup_sequence",
    "duplicate_file_row",
    "duplicate_sample_row",
    "file_pass_stats",
    "file_units",
    "pass_stats",
    "resolve_bands",
    "resolve_clusters",
    "run_corpus_dedup",
    "settings_stats",
    "sign_repository",
    "sign_texts",
]
logger = logging.getLogger(__name__)


@dataclass
class DedupResult:
    """Where the deduplicated per-repository samples and the removed samples are."""

    work: Path
    repos_dir: Path
    changed: set[str] = field(default_factory=set)  # keys whose samples lost rows
    removed_paths: list[Path] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    before: DedupResult | None = None  # the file-level pass whose output this pass read

    def samples_path(self, key: str) -> Path:
        if key in self.changed:
            return self.work / "kept" / f"{key}.samples.parquet"
        if self.before is not None:
            return self.before.samples_path(key)
        return self.repos_dir / f"{key}.samples.parquet"


def enabled(cfg: Any) -> bool:
    return bool(cfg.exact_samples or cfg.near)


def dedup_runs(cfg: Any, n_samples: int) -> bool:
    """Whether a build's dedup runs: some pass is on and there is a sample to compare. Every
    executor asks this one question; where the answer is no, the report says ``enabled: false``."""
    return n_samples > 0 and any(enabled(c) for c in pass_configs(cfg))


def pass_configs(cfg: Any) -> tuple[Any, Any]:
    """(file-level pass, sample-level pass) settings: `exact_samples` and `near` of each."""
    files = dataclasses.replace(
        cfg, exact_samples=cfg.exact_files_across_repos, near=cfg.near and cfg.level == "file"
    )
    samples = dataclasses.replace(cfg, near=cfg.near and cfg.level == "sample")
    return files, samples


def _run_pass(
    keys: Sequence[str],
    names: Sequence[str],
    source: Any,
    work: Path,
    cfg: Any,
    config: Any,
    workers: int,
    progress: bool,
    files_dir: Path | None = None,
) -> tuple[dict, dict, set[str], Path, tuple[int, int]]:
    """Stages 1-6 over samples (or, with `files_dir`, over the files inside them)."""
    work.mkdir(parents=True, exist_ok=True)
    bands, rows = resolve_bands(cfg.threshold, cfg.num_perm, cfg.bands, cfg.rows, cfg.verify)
    sign_all(keys, source, work / "sign", cfg, workers, progress, files_dir)
    meta = gather_signatures(keys, work / "sign", work, cfg)
    buckets = write_buckets(work, meta, cfg, bands, rows)
    pair_paths = write_pairs(work, buckets, cfg.partitions)
    clusters = cluster_stage(work, meta, pair_paths, cfg)
    if files_dir is None:
        changed, removed = write_sample_outputs(
            keys, names, source, work, meta, clusters, config.output.compression
        )
    else:
        changed, removed = write_file_outputs(
            keys, names, source, files_dir, work, meta, clusters, config
        )
    return meta, clusters, changed, removed, (bands, rows)


def count_rows_and_bytes(paths: Sequence[Path]) -> tuple[int, int]:
    rows = total = 0
    for path in paths:
        table = pq.read_table(path, columns=["n_bytes"])
        rows += table.num_rows
        total += int(pc.sum(table.column("n_bytes")).as_py() or 0)
    return rows, total


def _cluster_stats(clusters: dict, cfg: Any, bands: int, rows: int) -> dict:
    """The clustering figures that close both passes' report sections (in this key order)."""
    return {
        "clusters": int(clusters["clusters"]),
        "largest_cluster": int(clusters["largest_cluster"]),
        "candidate_pairs": int(clusters["candidate_pairs"]),
        "verified_pairs": int(clusters["verified_pairs"]),
        "bands": bands if cfg.near else 0,
        "rows": rows if cfg.near else 0,
    }


def pass_stats(
    clusters: dict, units_in: int, bytes_removed: int, cfg: Any, bands: int, rows: int
) -> dict:
    """The report figures of one dedup pass (every executor reports these)."""
    exact = clusters["exact"]
    return {
        "samples_in": int(units_in),
        "exact_dup": int(exact.sum()),
        "near_dup": int((~exact).sum()),
        "bytes_removed": int(bytes_removed),
        **_cluster_stats(clusters, cfg, bands, rows),
    }


def file_pass_stats(
    clusters: dict,
    files_in: int,
    samples_in: tuple[int, int],
    samples_out: tuple[int, int],
    cfg: Any,
    bands: int,
    rows: int,
) -> dict:
    """The report figures of the file-level pass (every executor reports these); `samples_in`
    and `samples_out`: (samples, bytes) before and after it."""
    exact = clusters["exact"]
    return {
        "exact_across_repos": cfg.exact_samples,
        "near": cfg.near,
        "files_in": int(files_in),
        "files_out": int(files_in - len(clusters["dropped"])),
        "exact_dup": int(exact.sum()),
        "near_dup": int((~exact).sum()),
        "bytes_removed": int(samples_in[1] - samples_out[1]),
        "samples_in": int(samples_in[0]),
        "samples_out": int(samples_out[0]),
        **_cluster_stats(clusters, cfg, bands, rows),
    }


_SETTINGS = ("exact_samples", "near", "threshold", "num_perm", "ngram", "keep")


def settings_stats(cfg: Any) -> dict:
    return {name: getattr(cfg, name) for name in _SETTINGS}


def dedup_sequence(
    cfg: Any,
    file_pass: Callable[[Any], dict],
    sample_pass: Callable[[Any], dict],
    samples_out: Callable[[], int],
) -> dict:
    """The dedup sequence every executor runs, and its report figures: the file-level pass (when
    ``dedup.exact_files_across_repos`` or ``dedup.level: file``; `file_pass(cfg)` returns its
    figures), then the sample-level pass (exact whole samples; near-dedup when the level is
    ``sample``; `sample_pass(cfg)` returns its `pass_stats`) on what the first one left."""
    file_cfg, sample_cfg = pass_configs(cfg)
    stats: dict[str, Any] = {"enabled": True, "level": cfg.level}
    bytes_removed = 0
    if enabled(file_cfg):
        stats["files"] = file_pass(file_cfg)
        bytes_removed += stats["files"]["bytes_removed"]
    samples = {"samples_in": 0, "exact_dup": 0, "near_dup": 0, "bytes_removed": 0}
    if enabled(sample_cfg):
        samples = sample_pass(sample_cfg)
        bytes_removed += samples["bytes_removed"]
    else:
        samples.update(clusters=0, largest_cluster=0, candidate_pairs=0, verified_pairs=0)
        samples.update(bands=0, rows=0)
    samples_in = stats["files"]["samples_in"] if "files" in stats else samples["samples_in"]
    stats.update(
        {
            **settings_stats(cfg),
            **samples,
            "samples_in": samples_in,
            "samples_out": samples_out(),
            "bytes_removed": bytes_removed,
        }
    )
    return stats


def run_corpus_dedup(
    keys: Sequence[str],
    names: Sequence[str],
    repos_dir: Path,
    work: Path,
    config: Any,
    n_samples: int,
    workers: int = 1,
    progress: bool = False,
) -> DedupResult:
    """Exact and near dedup of all ``n_samples`` samples of a build, on per-repository sample
    files (resumable; see the module docstring and `dedup_sequence`). The file-level pass runs
    under ``work/files``, the same stages over the files inside the samples."""
    cfg = config.dedup
    result = DedupResult(work=work, repos_dir=repos_dir)
    if not dedup_runs(cfg, n_samples):
        result.stats = {"enabled": False}
        return result
    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    source = lambda key: repos_dir / f"{key}.samples.parquet"  # noqa: E731

    def file_pass(file_cfg: Any) -> dict:
        nonlocal source
        files = DedupResult(work=work / "files", repos_dir=repos_dir)
        meta, clusters, files.changed, removed, (bands, rows) = _run_pass(
            keys, names, source, work / "files", file_cfg, config, workers, progress, repos_dir
        )
        result.removed_paths.append(removed)
        samples_in = count_rows_and_bytes([repos_dir / f"{k}.samples.parquet" for k in keys])
        samples_out = count_rows_and_bytes([files.samples_path(k) for k in keys])
        source = files.samples_path
        result.before = files
        return file_pass_stats(
            clusters, len(meta["digests"]), samples_in, samples_out, file_cfg, bands, rows
        )

    def sample_pass(sample_cfg: Any) -> dict:
        meta, clusters, result.changed, removed, (bands, rows) = _run_pass(
            keys, names, source, work, sample_cfg, config, workers, progress
        )
        result.removed_paths.append(removed)
        return pass_stats(
            clusters,
            len(meta["digests"]),
            int(meta["n_bytes"][clusters["dropped"]].sum()),
            sample_cfg,
            bands,
            rows,
        )

    def samples_out() -> int:
        return count_rows_and_bytes([result.samples_path(k) for k in keys])[0]

    stats = dedup_sequence(cfg, file_pass, sample_pass, samples_out)
    result.stats = stats
    logger.info(
        "dedup: %d of %d samples kept (%d exact, %d near duplicate samples%s) in %.1fs",
        stats["samples_out"],
        stats["samples_in"],
        stats["exact_dup"],
        stats["near_dup"],
        (
            f"; {stats['files']['exact_dup']} exact, {stats['files']['near_dup']} near duplicate "
            "files"
            if "files" in stats
            else ""
        ),
        time.perf_counter() - started,
    )
    return result
