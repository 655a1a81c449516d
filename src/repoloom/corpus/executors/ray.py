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

from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.decontam import get_index
from repoloom.corpus.dedup import (
    SparseRows,
    dedup_sequence,
    duplicate_sample_row,
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
    final_samples_batch,
    pairs_group,
    plan_sources,
    read_task_files,
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
from repoloom.corpus.sources import SourceError
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
        n_samples = sum(s["samples"] for s in summaries)
        cfg = config.dedup
        if not (cfg.exact_samples or cfg.near) or not n_samples:
            return {"enabled": False}

        def file_pass(file_cfg: Any) -> dict:  # refused by build_corpus_ray
            raise BuildError("the file-level dedup pass runs on the local executor only")

        def sample_pass(sample_cfg: Any) -> dict:
            stats, self.dedup_removed, self.dropped = _dedup(
                self.samples,
                self.offsets,
                n_samples,
                sample_cfg,
                self.stages,
                self._read,
                self.cpus,
            )
            return stats

        return dedup_sequence(cfg, file_pass, sample_pass, lambda: n_samples - len(self.dropped))

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
    if config.dedup.file_pass():
        raise BuildError(
            "dedup.level: file and dedup.exact_files_across_repos run on the local executor only "
            "(the Ray executor deduplicates whole samples, the report's unit)"
        )
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
) -> tuple[dict, list[dict], np.ndarray]:
    """The sample-level dedup pass on Ray; returns (`pass_stats`, removed rows, dropped ids)."""
    bands, rows = resolve_bands(cfg.threshold, cfg.num_perm, cfg.bands, cfg.rows, cfg.verify)
    # Shuffle partitions of the bucket rows: one per core at least, and no more than ~4M rows
    # (~100 MB) each, so that one partition's candidate search fits any worker.
    n_rows = n_samples * (bands + 1)
    partitions = max(2 * cpus, -(-n_rows // 4_000_000))
    if not stages.done("signatures"):
        stages.write(
            "signatures",
            samples.map_batches(
                sign_batch, batch_format="pyarrow", fn_kwargs={"offsets": offsets, "cfg": cfg}
            ),
            pa.schema([]),  # never empty: there are samples
        )
    signed = read("signatures")
    if not stages.done("pairs"):
        candidates = (
            signed.map_batches(
                bands_batch,
                batch_format="pyarrow",
                fn_kwargs={"cfg": cfg, "bands": bands, "rows": rows, "partitions": partitions},
            )
            .groupby("part", num_partitions=partitions)
            .map_groups(pairs_group, batch_format="pyarrow")
        )
        stages.write("pairs", candidates, PAIRS_SCHEMA)
    pair_table = _collect(read("pairs"), PAIRS_SCHEMA)
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
    row_of = SparseRows(ids, np.arange(len(ids)))
    removed_rows = []
    for j, doc in enumerate(clusters["dropped"].tolist()):
        row = info[int(row_of[[doc]][0])]
        kept = info[int(row_of[[int(clusters["kept"][j])]][0])]
        removed_rows.append(
            duplicate_sample_row(
                row, clusters, j, row["sample_id"], kept["sample_id"], kept["repo"]
            )
        )
    bytes_removed = sum(r["n_bytes"] for r in removed_rows)
    stats = pass_stats(clusters, n_samples, bytes_removed, cfg, bands, rows)
    return stats, removed_rows, clusters["dropped"]


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
