"""The Ray Data executor: the same steps and driver as the local process pool, on a Ray cluster.

``repoloom corpus build SOURCE... --out URI --executor ray [--address auto|ray://host:port]``

Nothing here re-implements a step: every filter, parser and decision is the function the local
executor calls (`repoloom.corpus.pipeline`, `repoloom.corpus.dedup`), and the driver is the local one's
(`executors.base.run_build`); this module and `executors.ray_steps` only move data between the
steps with Ray Data. The plan:

1. **Read.** Stack-layout Parquet (a local ``*.parquet`` or any URI: ``s3://``, ``gs://``,
   ``hf://``, ``file://``) is read by ``ray.data.read_parquet``, one row per file. Other sources
   (directories, archives, git URLs, JSONL) become one row per repository that a ``flat_map``
   expands into its files on a worker (the paths must be visible to the workers).
2. **File-level steps** (decode, language, StarCoder rules) as ``map_batches`` over Arrow batches:
   `pipeline.file_level_steps` on each repository's slice of the batch.
3. **Repository assembly** as ``groupby("repo").map_groups``: `pipeline.repository_level_steps`
   (in-repo dedup, decontamination, screening, dependencies, order, samples). The benchmark
   n-gram index for decontamination is built once by the driver, put in the object store, and
   fetched once per worker process.
4. **Near-dedup.** Signatures (`dedup.sign_texts`) and LSH bucket rows (`dedup.band_rows`) are
   computed by ``map_batches``; the bucket rows are shuffled by band key into partitions
   (``groupby("part")``) where `dedup.bucket_pairs` finds candidate pairs. The pairs go to the
   driver, with the signatures of just the samples in them, and `dedup.resolve_clusters`
   verifies them and runs a union-find over those samples only: its memory is bounded by the
   number of duplicate candidates, not by the corpus (see BENCHMARKS.md for the 798 GB estimate).
   A distributed union-find would pay several shuffle rounds for what, at the report's duplicate
   rates, fits in one machine's memory.
5. **Output**: partitioned Parquet ``samples/`` and ``removed/`` (the local executor's columns),
   ``report.json``/``report.html`` through ``pyarrow.fs`` (or fsspec) at the output URI.

Same input and config give the same samples, removed rows and report counts as the local
executor (order of rows and part files may differ; ``run.json`` timings differ). Documented
differences: a repository whose rows lie in several table files is one repository here, two
(``name`` and ``name~2``) locally; within a repository from table input, files are taken in path
order (locally: row order), which matters only when a dependency resolver finds two candidates.

Fault tolerance: Ray re-runs the tasks of a killed worker (the steps are pure functions, outputs
are written by whole blocks), and each stage's output is written under ``OUT/_work/ray/STAGE`` with
a ``STAGE.done`` marker after it: a driver started again with the same ``--out`` reuses every
finished stage.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads

from repoloom.codebase.sources import SourceError
from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.decontam import get_index
from repoloom.corpus.dedup import (
    SparseRows,
    dedup_runs,
    dedup_sequence,
    duplicate_file_row,
    duplicate_sample_row,
    file_pass_stats,
    pass_stats,
    resolve_bands,
    resolve_clusters,
)
from repoloom.corpus.executors.base import BuildResult, Executor, Stages, run_build
from repoloom.corpus.executors.ray_steps import (
    RaySources,
    _signatures,
    bands_batch,
    file_steps_batch,
    file_units_group,
    final_samples_batch,
    pairs_group,
    plan_sources,
    read_task_files,
    rebuild_group,
    removed_batch,
    repository_batch,
    select_docs_batch,
    sign_batch,
    table_columns_of,
    table_rows_to_raw,
)
from repoloom.corpus.schema import (
    PAIRS_SCHEMA,
    RAW_SCHEMA,
    REMOVED_SCHEMA,
    REPO_SCHEMA,
    SAMPLE_SCHEMA,
    BuildError,
)
from repoloom.corpus.storage import Store, resolve_filesystem

log = logging.getLogger(__name__)


def connect(address: str | None, num_cpus: int | None) -> dict:
    """Start a local Ray runtime (no address) or join a cluster; an unreachable address is an
    error, never a silent fallback to the local executor."""
    import ray

    if ray.is_initialized():
        return {"address": "existing", "cpus": ray.cluster_resources().get("CPU", 0)}
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address:
        check_reachable(address)
        try:
            ray.init(address=address, **kwargs)
        except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError by transport
            hint = ""
            if os.environ.get("RAY_AUTH_MODE") != "token":
                hint = (
                    " (a cluster with token authentication, the default of `ray start` since "
                    "Ray 2.59, needs RAY_AUTH_MODE=token here and its token in RAY_AUTH_TOKEN "
                    "or ~/.ray/auth_token)"
                )
            raise BuildError(f"cannot reach the Ray cluster at {address!r}: {exc}{hint}") from exc
    else:
        ray.init(num_cpus=num_cpus, **kwargs)
    return {"address": address or "local", "cpus": ray.cluster_resources().get("CPU", 0)}


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a host:port nobody listens on (ray.init would retry for minutes)."""
    import socket

    target = address.removeprefix("ray://")
    if target == "auto" or ":" not in target:
        return  # ray resolves "auto" from RAY_ADDRESS / the local session, and fails quickly
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        raise BuildError(f"cannot reach the Ray cluster at {address!r}: {exc}") from exc


class RayExecutor(Executor):
    """The stages as Ray Data datasets, each written under ``OUT/_work/ray/STAGE`` with its
    ``STAGE.done`` marker (a driver started again reuses every finished stage)."""

    name = "ray"

    def __init__(self, plan: RaySources, address: str | None, workers: int | None) -> None:
        self.plan = plan
        self.address = address
        self.workers = workers

    def manifest(self, config: CorpusConfig) -> dict:
        n = len(self.plan.tasks) if not self.plan.tables else None
        return {"sources": self.plan.fingerprint(), "n_repositories": n}

    def start(self, store: Store, config: CorpusConfig) -> int:
        self.store = store
        self.stages = Stages(store, "ray")
        self.cluster = connect(self.address, self.workers)
        log.info("Ray: %s, %s CPUs", self.cluster["address"], self.cluster["cpus"])
        self.cpus = int(self.cluster["cpus"] or 1)
        return int(self.cluster["cpus"])

    def _read(self, name: str) -> Any:
        import ray.data

        return ray.data.read_parquet(self.stages.uri(name), filesystem=self.store.fs)

    def process_repositories(self, config: CorpusConfig) -> list[dict]:
        index_ref = None
        if config.decontam.enabled:
            import ray

            index_ref = ray.put(get_index(config.decontam))  # broadcast once: fetched per worker
        if not self.stages.done("repos"):
            files = _read_files(self.plan, config)
            docs = files.map_batches(
                file_steps_batch, batch_format="pyarrow", fn_kwargs={"config": config}
            )
            # Hash-shuffle by repository: as many partitions as cores, more for many repositories.
            shuffle = max(2 * self.cpus, min(len(self.plan.tasks) // 100, 1000))
            repos = docs.groupby("repo", num_partitions=shuffle).map_groups(
                repository_batch,
                batch_format="pyarrow",
                fn_kwargs={"config": config, "index_ref": index_ref},
            )
            self.stages.write("repos", repos, REPO_SCHEMA)
        from ray.data.expressions import col

        self.repos = self._read("repos")
        rows = self.repos.filter(expr=col("record") == "summary").select_columns(["summary"])
        summaries = [json.loads(r["summary"]) for r in rows.take_all()]
        summaries.sort(key=lambda s: (s.pop("source"), s.pop("task"), s["repo"]))
        self.offsets: dict[str, int] = {}
        total = 0
        for s in summaries:
            self.offsets[s["repo"]] = total
            total += s["samples"]
        self.samples = self.repos.filter(expr=col("record") == "sample")
        return summaries

    def deduplicate(self, config: CorpusConfig, summaries: list[dict]) -> dict:
        self.dedup_removed: list[dict] = []
        self.dropped = np.empty(0, dtype=np.int64)
        self.n_samples = sum(s["samples"] for s in summaries)
        cfg = config.dedup
        if not dedup_runs(cfg, self.n_samples):
            return {"enabled": False}

        def file_pass(file_cfg: Any) -> dict:
            return self._file_pass(file_cfg, config, summaries)

        def sample_pass(sample_cfg: Any) -> dict:
            clusters, info, (bands, rows) = _dedup(
                self.samples,
                self.offsets,
                self.n_samples,
                sample_cfg,
                self.stages,
                self._read,
                self.cpus,
            )
            for j, doc in enumerate(clusters["dropped"].tolist()):
                row, kept = info[doc], info[int(clusters["kept"][j])]
                self.dedup_removed.append(
                    duplicate_sample_row(
                        row, clusters, j, row["sample_id"], kept["sample_id"], kept["repo"]
                    )
                )
            self.dropped = clusters["dropped"]
            bytes_removed = sum(int(info[d]["n_bytes"]) for d in self.dropped.tolist())
            return pass_stats(clusters, self.n_samples, bytes_removed, sample_cfg, bands, rows)

        samples_out = lambda: self.n_samples - len(self.dropped)  # noqa: E731
        return dedup_sequence(cfg, file_pass, sample_pass, samples_out)

    def _file_pass(self, file_cfg: Any, config: CorpusConfig, summaries: list[dict]) -> dict:
        """The file-level pass: the files inside the samples are the units (numbered in sample
        order within each repository, repositories in task order, as on the local executor);
        samples that lost files are rebuilt from the files left (`ray_steps.rebuild_group`)."""
        from ray.data.expressions import col

        order = [s["repo"] for s in summaries]
        both = self.repos.filter(expr=(col("record") == "sample") | (col("record") == "file"))
        spans = self.repos.filter(expr=col("record") == "file").select_columns(["repo"])
        units_offsets, n_units = _offsets(order, _count_by_repo(spans))
        units = both.groupby("repo").map_groups(file_units_group, batch_format="pyarrow")
        clusters, info, (bands, rows) = _dedup(
            units, units_offsets, n_units, file_cfg, self.stages, self._read, self.cpus, "file_"
        )
        gone: dict[str, list[int]] = {}
        for j, unit in enumerate(clusters["dropped"].tolist()):
            row, kept = info[unit], info[int(clusters["kept"][j])]
            gone.setdefault(row["repo"], []).append(unit - units_offsets[row["repo"]])
            self.dedup_removed.append(duplicate_file_row(row, kept, clusters, j))
        if not self.stages.done("file_kept"):
            rebuilt = both.groupby("repo").map_groups(
                rebuild_group, batch_format="pyarrow", fn_kwargs={"gone": gone, "config": config}
            )
            self.stages.write("file_kept", rebuilt, REPO_SCHEMA)
        self.samples = self._read("file_kept")
        bytes_in = sum(s["sample_bytes"] for s in summaries)
        samples_in = self.n_samples
        self.offsets, self.n_samples = _offsets(order, _count_by_repo(self.samples))
        bytes_out = int(self.samples.sum("n_bytes") or 0) if self.n_samples else 0
        before, after = (samples_in, bytes_in), (self.n_samples, bytes_out)
        return file_pass_stats(clusters, n_units, before, after, file_cfg, bands, rows)

    def write_outputs(self, config: CorpusConfig) -> None:
        import ray.data
        from ray.data.expressions import col

        final = self.samples.map_batches(
            final_samples_batch,
            batch_format="pyarrow",
            fn_kwargs={"offsets": self.offsets, "dropped": self.dropped},
        )
        rows_per_file = config.output.rows_per_part
        self.store.remove("samples")
        self.store.write_dataset(final, SAMPLE_SCHEMA, "samples", rows_per_file=rows_per_file)
        removed = self.repos.filter(expr=col("record") == "removed").map_batches(
            removed_batch, batch_format="pyarrow"
        )
        if self.dedup_removed:
            table = pa.Table.from_pylist(self.dedup_removed, schema=REMOVED_SCHEMA)
            removed = removed.union(ray.data.from_arrow(table))
        self.store.remove("removed")
        self.store.write_dataset(removed, REMOVED_SCHEMA, "removed", rows_per_file=rows_per_file)

    def run_info(self) -> dict | None:
        return {"name": "ray", **self.cluster, "stages": self.stages.timings}


def _read_files(plan: RaySources, config: CorpusConfig):
    """One dataset of RAW_SCHEMA rows from every source."""
    import ray.data

    parts = []
    if plan.tasks:
        items = [
            {"task_json": json.dumps(asdict(t)), "source": rank, "task": index}
            for rank, index, t in plan.tasks
        ]
        tasks = ray.data.from_items(items, override_num_blocks=min(len(items), 1000))
        parts.append(
            tasks.flat_map(read_task_files, fn_kwargs={"config": config}).map_batches(
                lambda b: pa.Table.from_pylist(b.to_pylist(), schema=RAW_SCHEMA),
                batch_format="pyarrow",
            )
        )
    for rank, uri in plan.tables:
        fs, path = resolve_filesystem(uri)

        try:
            names = pads.dataset(path, filesystem=fs, format="parquet").schema.names
        except (OSError, pa.ArrowInvalid) as exc:
            raise SourceError(f"{uri}: not readable as Parquet: {exc}") from exc
        wanted = table_columns_of(names, uri, plan.table_columns)
        table = ray.data.read_parquet(path, filesystem=fs).select_columns(
            list(dict.fromkeys(wanted))
        )
        parts.append(
            table.map_batches(
                table_rows_to_raw,
                batch_format="pyarrow",
                fn_kwargs={"columns": wanted, "source": rank, "config": config},
            )
        )
    dataset = parts[0]
    for other in parts[1:]:
        dataset = dataset.union(other)
    return dataset


def build_corpus_ray(
    sources: Sequence[str],
    out: str,
    config: CorpusConfig,
    repos_dirs: Sequence[str] = (),
    table_columns: tuple[str | None, str | None, str | None] = (None, None, None),
    address: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    keep_work: bool = False,
) -> BuildResult:
    """Build the corpus on Ray (see the module docstring); the output is the local executor's."""
    plan = plan_sources(sources, repos_dirs, table_columns)
    return run_build(RayExecutor(plan, address, workers), out, config, overwrite, keep_work)


def _dedup(
    samples: Any,
    offsets: dict[str, int],
    n_samples: int,
    cfg: Any,
    stages: Stages,
    read: Any,
    cpus: int,
    prefix: str = "",
) -> tuple[dict, list[dict], tuple[int, int]]:
    """One dedup pass on Ray over `samples` (rows with repo, index, sample_id, text, paths,
    languages, n_bytes; numbered by `offsets`): (clusters, rows of every sample in a verified
    pair by number, (bands, rows)). Stage names start with `prefix`."""
    bands, rows = resolve_bands(cfg.threshold, cfg.num_perm, cfg.bands, cfg.rows, cfg.verify)
    # Shuffle partitions of the bucket rows: one per core at least, and no more than ~4M rows
    # (~100 MB) each, so that one partition's candidate search fits any worker.
    n_rows = n_samples * (bands + 1)
    partitions = max(2 * cpus, -(-n_rows // 4_000_000))
    if not stages.done(f"{prefix}signatures"):
        stages.write(
            f"{prefix}signatures",
            samples.map_batches(
                sign_batch, batch_format="pyarrow", fn_kwargs={"offsets": offsets, "cfg": cfg}
            ),
            pa.schema([]),  # never empty: there are samples
        )
    signed = read(f"{prefix}signatures")
    if not stages.done(f"{prefix}pairs"):
        candidates = (
            signed.map_batches(
                bands_batch,
                batch_format="pyarrow",
                fn_kwargs={"cfg": cfg, "bands": bands, "rows": rows, "partitions": partitions},
            )
            .groupby("part", num_partitions=partitions)
            .map_groups(pairs_group, batch_format="pyarrow")
        )
        stages.write(f"{prefix}pairs", candidates, PAIRS_SCHEMA)
    pair_table = _collect(read(f"{prefix}pairs"), PAIRS_SCHEMA)
    pairs = np.stack(
        [pair_table.column("a").to_numpy(), pair_table.column("b").to_numpy()], axis=1
    ).astype(np.int64)
    involved = np.unique(pairs) if len(pairs) else np.empty(0, dtype=np.int64)
    gathered = signed.map_batches(
        select_docs_batch, batch_format="pyarrow", fn_kwargs={"wanted": involved}
    )
    gathered = _collect(gathered, None)
    ids = gathered.column("doc").to_numpy()
    width = cfg.num_perm if cfg.near else 0
    digests = np.stack(
        [gathered.column("d0").to_numpy(), gathered.column("d1").to_numpy()], axis=1
    ).astype(np.uint64)
    sig = _signatures(gathered, width) if len(gathered) else np.zeros((0, width), np.uint64)
    clusters = resolve_clusters(
        pairs,
        SparseRows(ids, digests),
        SparseRows(ids, gathered.column("n_bytes").to_numpy()),
        SparseRows(ids, sig) if width else None,
        cfg,
    )
    info = gathered.select(["repo", "sample_id", "paths", "languages", "n_bytes"]).to_pylist()
    return clusters, dict(zip(ids.tolist(), info, strict=True)), (bands, rows)


def _count_by_repo(dataset: Any) -> dict[str, int]:
    """Rows per repository of a dataset (one small row per repository reaches the driver)."""
    return {r["repo"]: int(r["count()"]) for r in dataset.groupby("repo").count().take_all()}


def _offsets(order: Sequence[str], counts: dict[str, int]) -> tuple[dict[str, int], int]:
    """Global numbers: each repository's first, in task order, and the total."""
    offsets: dict[str, int] = {}
    total = 0
    for repo in order:
        offsets[repo] = total
        total += counts.get(repo, 0)
    return offsets, total


def _collect(dataset: Any, schema: pa.Schema | None) -> pa.Table:
    """A (small) dataset as one Arrow table on the driver."""
    tables = [t for t in dataset.iter_batches(batch_format="pyarrow", batch_size=None) if len(t)]
    if tables:
        return pa.concat_tables(tables).combine_chunks()
    if schema is None:
        schema = dataset.schema().base_schema
    return schema.empty_table()


def iter_output(out: str, name: str) -> Iterator[dict]:
    """Rows of OUT/NAME/*.parquet (tests and tools), through the store's filesystem."""
    store = Store(out)
    dataset = pads.dataset(store.path(name), filesystem=store.fs, format="parquet")
    yield from dataset.to_table().to_pylist()
