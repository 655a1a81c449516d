"""The Ray Data executor: the same steps as the local process pool, on a Ray cluster.

``repoloom corpus build SOURCE... --out URI --executor ray [--address auto|ray://host:port]``

Nothing here re-implements a step: every filter, parser and decision is the function the local
executor calls (`repoloom.corpus.pipeline`, `repoloom.corpus.dedup`); this module only moves data
between them with Ray Data. The plan:

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
import signal
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from repoloom import __version__
from repoloom.corpus.build import (
    REMOVED_SCHEMA,
    SAMPLE_SCHEMA,
    BuildError,
    BuildResult,
    repo_summary,
)
from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.sources import (
    CONTENT_COLUMNS,
    PATH_COLUMNS,
    REPO_COLUMNS,
    RawFile,
    RepoTask,
    SourceError,
    TaskOptions,
    _pick_column,
    _table_file,
    expand_repos_dir,
    expand_source,
    is_git_url,
    iter_repository_files,
    printable_name,
)

log = logging.getLogger(__name__)

# Rows between the read and the file-level steps.
RAW_SCHEMA = pa.schema(
    [
        ("repo", pa.string()),
        ("source", pa.int64()),  # rank of the source (local task order: repos dirs, then sources)
        ("task", pa.int64()),  # rank of the repository within its source (-1: by name)
        ("order", pa.int64()),  # the file's position in its repository (-1: the marker row)
        ("path", pa.string()),
        ("data", pa.large_binary()),
        ("size", pa.int64()),
        ("skip_reason", pa.string()),
        ("detail", pa.string()),
        ("error", pa.string()),  # marker row: why the repository could not be read
    ]
)
# Rows between the file-level steps and repository assembly.
DOC_SCHEMA = pa.schema(
    [
        ("record", pa.string()),  # "doc" | "log" | "marker"
        ("repo", pa.string()),
        ("source", pa.int64()),
        ("task", pa.int64()),
        ("order", pa.int64()),
        ("path", pa.string()),
        ("text", pa.large_string()),
        ("n_bytes", pa.int64()),
        ("language", pa.string()),
        ("kept", pa.bool_()),
        ("error", pa.string()),
        ("log", pa.large_string()),  # "log": the StepLog of one repository's slice of a batch
    ]
)
# Output of repository assembly: samples, removed rows and one summary per repository.
REPO_SCHEMA = pa.schema(
    [
        ("record", pa.string()),  # "sample" | "removed" | "summary"
        ("index", pa.int64()),  # sample number within its repository
        *[f for f in SAMPLE_SCHEMA if f.name != "n_bytes"],
        ("n_bytes", pa.int64()),
        *[f for f in REMOVED_SCHEMA if f.name not in ("repo", "n_bytes")],
        ("summary", pa.large_string()),
    ]
)
# Fault injection for the tests: with MARKER.armed present, the first file-level batch writes
# MARKER and SIGKILLs its worker; the driver raises SystemExit after the named stage.
PAIRS_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64())])  # candidate pairs, a < b
KILL_ONCE_ENV = "REPOLOOM_TEST_KILL_WORKER_ONCE"
STOP_AFTER_ENV = "REPOLOOM_TEST_STOP_AFTER"


# ---------------------------------------------------------------------------------------------
# Storage: local paths and URIs through pyarrow.fs (fsspec filesystems wrapped)


def resolve_filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path inside it) for a local path or a URI."""
    import pyarrow.fs as pafs

    if "://" not in uri:
        return pafs.LocalFileSystem(), str(Path(uri).resolve())
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        pass
    try:  # hf://, memory://, ... through fsspec, when the user has that filesystem installed
        import fsspec
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        fs, path = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as exc:
        raise BuildError(f"no filesystem for {uri}: {exc}") from exc
    return PyFileSystem(FSSpecHandler(fs)), path


class Store:
    """The output location: small JSON files and markers, directories of Parquet parts."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.fs, self.root = resolve_filesystem(uri)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def exists(self, *parts: str) -> bool:
        import pyarrow.fs as pafs

        return self.fs.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound

    def read_json(self, *parts: str) -> dict:
        with self.fs.open_input_stream(self.path(*parts)) as handle:
            return json.loads(handle.read().decode("utf-8"))

    def write_bytes(self, data: bytes, *parts: str) -> None:
        target = self.path(*parts)
        self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        with self.fs.open_output_stream(target) as handle:
            handle.write(data)

    def write_json(self, obj: dict, *parts: str) -> None:
        self.write_bytes(json.dumps(obj, indent=1, sort_keys=True).encode("utf-8"), *parts)

    def write_parquet(
        self, dataset: Any, schema: pa.Schema, *parts: str, rows_per_file: int | None = None
    ) -> None:
        """Write a dataset as Parquet parts; an empty one still leaves one typed, empty part (Ray
        writes no file for no rows), as the local executor does."""
        import pyarrow.parquet as pq

        target = self.path(*parts)
        dataset.write_parquet(target, filesystem=self.fs, max_rows_per_file=rows_per_file)
        if not self.parquet_files(*parts):
            self.fs.create_dir(target, recursive=True)
            pq.write_table(schema.empty_table(), f"{target}/part-00000.parquet", filesystem=self.fs)

    def parquet_files(self, *parts: str) -> list[str]:
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self.path(*parts), recursive=True, allow_not_found=True)
        return sorted(
            i.path for i in self.fs.get_file_info(selector) if i.path.endswith(".parquet")
        )

    def remove(self, *parts: str) -> None:
        import pyarrow.fs as pafs

        info = self.fs.get_file_info(self.path(*parts))
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.path(*parts))
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(self.path(*parts))


# ---------------------------------------------------------------------------------------------
# Sources


def is_table_uri(source: str) -> bool:
    """Sources the Ray executor reads with read_parquet: *.parquet files, object-store URIs, and
    `file://` URIs of Parquet files or of directories holding them (other `file://` URIs and
    http(s)/ssh/git URLs are git repositories, as on the local executor)."""
    lower = source.lower()
    if lower.startswith("file://"):
        path = Path(source[len("file://") :])
        return lower.endswith(".parquet") or (
            path.is_dir() and not (path / ".git").exists() and any(path.glob("*.parquet"))
        )
    if is_git_url(source):  # http(s)://, ssh://, git://, user@host:path, *.git
        return False
    return "://" in source or lower.endswith(".parquet")


@dataclass
class RaySources:
    tasks: list[tuple[int, int, RepoTask]]  # (source rank, task rank, task)
    tables: list[tuple[int, str]]  # (source rank, parquet URI)
    table_columns: tuple[str | None, str | None, str | None] = (None, None, None)

    def fingerprint(self) -> str:
        import hashlib

        h = hashlib.sha256()
        for rank, index, task in self.tasks:
            h.update(json.dumps([rank, index, task.name, task.kind, task.location]).encode())
        for rank, uri in self.tables:
            h.update(json.dumps([rank, uri]).encode())
        return h.hexdigest()[:16]


def plan_sources(
    sources: Sequence[str],
    repos_dirs: Sequence[str] = (),
    table_columns: tuple[str | None, str | None, str | None] = (None, None, None),
) -> RaySources:
    """The sources in the local executor's order (repos dirs first, then sources)."""
    options = TaskOptions(table_columns=table_columns)
    plan = RaySources(tasks=[], tables=[], table_columns=table_columns)
    rank = 0
    for directory in repos_dirs:
        plan.tasks.extend((rank, i, t) for i, t in enumerate(expand_repos_dir(directory, options)))
        rank += 1
    for source in sources:
        if is_table_uri(source):
            plan.tables.append((rank, source))
        else:
            plan.tasks.extend((rank, i, t) for i, t in enumerate(expand_source(source, options)))
        rank += 1
    if not plan.tasks and not plan.tables:
        raise SourceError("no repositories found in the given sources")
    return plan


def read_task_files(row: dict, config: CorpusConfig) -> list[dict]:
    """flat_map: one repository task -> a marker row and one row per file (read on the worker)."""
    task = RepoTask(**json.loads(row["task_json"]))
    base = {"repo": task.name, "source": row["source"], "task": row["task"]}
    rows = []
    try:
        for order, raw in enumerate(iter_repository_files(task, config.read)):
            rows.append({**base, "order": order, **_raw_fields(raw)})
    except SourceError as exc:  # the message may quote a location that is not UTF-8
        return [{**base, "order": -1, "error": printable_name(str(exc))}]
    except Exception:  # a reader bug must cost one repository, not the whole run
        return [{**base, "order": -1, "error": printable_name(traceback.format_exc(limit=5))}]
    return [{**base, "order": -1, "error": None}, *rows]


def _raw_fields(raw: RawFile) -> dict:
    return {
        "path": raw.path,
        "data": raw.data,
        "size": raw.size,
        "skip_reason": raw.skip_reason,
        "detail": raw.detail,
    }


def table_rows_to_raw(
    batch: pa.Table, columns: tuple[str, str, str], source: int, config
) -> pa.Table:
    """map_batches: Stack-layout rows (repo, path, content) -> RAW_SCHEMA rows."""
    repo_col, path_col, content_col = columns
    repos = batch.column(repo_col).to_pylist()
    paths = batch.column(path_col).to_pylist()
    contents = batch.column(content_col).to_pylist()
    rows = []
    for repo, path, content in zip(repos, paths, contents, strict=True):
        raw = _table_file(path, 0, content, config.read)
        # Repository names as the local reader gives them (sources._unique): one printable line.
        name = printable_name(str(repo))
        rows.append({"repo": name, "source": source, "task": -1, "order": 0, **_raw_fields(raw)})
    return pa.Table.from_pylist(rows, schema=RAW_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Steps as Ray Data functions (each a thin adapter around the local executor's function)


def _maybe_die_once() -> None:
    marker = os.environ.get(KILL_ONCE_ENV)
    if marker and os.path.exists(f"{marker}.armed") and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)  # a worker dies as an OOM kill would kill it


def file_steps_batch(batch: pa.Table, config: CorpusConfig) -> pa.Table:
    """map_batches: decode, language and rule filters on each repository's slice of a batch."""
    from repoloom.corpus.pipeline import file_level_steps
    from repoloom.corpus.steps import StepLog

    _maybe_die_once()
    out: list[dict] = []
    slices: dict[str, list[dict]] = {}
    for row in batch.to_pylist():
        slices.setdefault(row["repo"], []).append(row)
    for repo, rows in slices.items():
        head = {"repo": repo, "source": rows[0]["source"], "task": rows[0]["task"]}
        files = []
        for row in rows:
            if row["order"] == -1:
                out.append({**head, "record": "marker", "order": -1, "error": row["error"]})
            else:
                files.append(row)
        if not files:
            continue
        step_log = StepLog()
        raws = [
            RawFile(r["path"], r["size"], r["data"], r["skip_reason"], r["detail"] or "")
            for r in files
        ]
        decoded, kept = file_level_steps(repo, raws, config, step_log)
        kept_ids = {id(d) for d in kept}
        order_of = {}
        for row in files:
            order_of.setdefault(row["path"], row["order"])
        for doc in decoded:
            out.append(
                {
                    **head,
                    "record": "doc",
                    "order": order_of.get(doc.path, 0),
                    "path": doc.path,
                    "text": doc.text,
                    "n_bytes": doc.n_bytes,
                    "language": doc.language,
                    "kept": id(doc) in kept_ids,
                }
            )
        out.append({**head, "record": "log", "order": -1, "log": _log_json(step_log)})
    return pa.Table.from_pylist(out, schema=DOC_SCHEMA)


def _log_json(step_log) -> str:
    return json.dumps(
        {
            "counts": step_log.counts,
            "timings": step_log.timings,
            "removed": [asdict(r) for r in step_log.removed],
        }
    )


def _merge_log(step_log, text: str) -> None:
    from repoloom.corpus.steps import Removal, StepLog

    data = json.loads(text)
    part = StepLog(counts=data["counts"], timings=data["timings"])
    part.removed = [Removal(**r) for r in data["removed"]]
    step_log.merge(part)


_INSTALLED_INDEX: set[str] = set()


def _install_decontam_index(config: CorpusConfig, index_ref: Any) -> None:
    """Fetch the broadcast benchmark index once per worker process into decontam's cache."""
    if index_ref is None:
        return
    from repoloom.corpus import decontam

    key = decontam.index_key(config.decontam)
    if key not in decontam._CACHE:
        import ray

        decontam._CACHE.clear()
        decontam._CACHE[key] = ray.get(index_ref)


def repository_batch(group: pa.Table, config: CorpusConfig, index_ref: Any = None) -> pa.Table:
    """map_groups: one repository's file rows -> its samples, removed rows and summary."""
    from repoloom.corpus.pipeline import failed_repository, repository_level_steps
    from repoloom.corpus.steps import FileDoc, StepLog

    started = time.perf_counter()
    _install_decontam_index(config, index_ref)
    rows = group.to_pylist()
    repo = rows[0]["repo"]
    source = min(r["source"] for r in rows)
    task = min(r["task"] for r in rows)
    step_log = StepLog()
    errors = [r["error"] for r in rows if r["record"] == "marker" and r["error"]]
    docs = sorted((r for r in rows if r["record"] == "doc"), key=lambda r: (r["order"], r["path"]))
    if errors:
        result = failed_repository(repo, errors[0])
    else:
        for row in rows:
            if row["record"] == "log":
                _merge_log(step_log, row["log"])
        decoded = [FileDoc(repo, r["path"], r["text"], r["n_bytes"], r["language"]) for r in docs]
        kept = [d for d, r in zip(decoded, docs, strict=True) if r["kept"]]
        try:
            result = repository_level_steps(repo, decoded, kept, config, step_log)
        except Exception:  # a parser bug must cost one repository, not the whole run
            result = failed_repository(repo, traceback.format_exc(limit=5))
    out = [{"record": "sample", "index": i, **s.row()} for i, s in enumerate(result.samples)]
    out.extend({"record": "removed", **asdict(r)} for r in result.log.removed)
    summary = {
        **repo_summary(result, time.perf_counter() - started),
        "source": source,
        "task": task,
    }
    out.append({"record": "summary", "repo": repo, "summary": json.dumps(summary)})
    return pa.Table.from_pylist(out, schema=REPO_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Near-dedup adapters


def sign_batch(batch: pa.Table, offsets: dict[str, int], cfg: Any) -> pa.Table:
    """map_batches: sample rows -> global number, digests, signature, size and identity."""
    from repoloom.corpus.dedup import sign_texts

    digests, signatures, empty = sign_texts(batch.column("text").to_pylist(), cfg)
    repos = batch.column("repo").to_pylist()
    index = batch.column("index").to_numpy()
    docs = np.array([offsets[r] for r in repos], dtype=np.int64) + index
    width = signatures.shape[1]
    return pa.table(
        {
            "doc": docs,
            "d0": digests[:, 0],
            "d1": digests[:, 1],
            "signature": pa.FixedSizeListArray.from_arrays(signatures.reshape(-1), width)
            if width
            else pa.array([None] * len(docs), pa.null()),
            "empty": empty,
            "n_bytes": batch.column("n_bytes"),
            "repo": batch.column("repo"),
            "sample_id": batch.column("sample_id"),
            "paths": batch.column("paths"),
            "languages": batch.column("languages"),
        }
    )


def _signatures(table: pa.Table, width: int) -> np.ndarray | None:
    if not width:
        return None
    return table.column("signature").combine_chunks().flatten().to_numpy().reshape(-1, width)


def bands_batch(batch: pa.Table, cfg: Any, bands: int, rows: int, partitions: int) -> pa.Table:
    """map_batches: signatures -> LSH bucket rows with their shuffle partition."""
    from repoloom.corpus.dedup import band_rows

    digests = np.stack(
        [batch.column("d0").to_numpy(), batch.column("d1").to_numpy()], axis=1
    ).astype(np.uint64)
    width = cfg.num_perm if cfg.near else 0
    block = band_rows(
        batch.column("doc").to_numpy().astype(np.uint64),
        digests,
        _signatures(batch, width),
        batch.column("empty").to_numpy(zero_copy_only=False),
        cfg,
        bands,
        rows,
    )
    return pa.table(
        {
            "part": (block["key"] % np.uint64(partitions)).astype(np.int64),
            "band": block["band"],
            "key": block["key"],
            "doc": block["doc"],
        }
    )


def pairs_group(group: pa.Table) -> pa.Table:
    """map_groups: the bucket rows of one shuffle partition -> its candidate pairs."""
    from repoloom.corpus.dedup import _ROW, bucket_pairs

    rows = np.empty(group.num_rows, dtype=_ROW)
    for name in ("band", "key", "doc"):
        rows[name] = group.column(name).to_numpy()
    pairs = bucket_pairs(rows)
    return pa.table({"a": pairs[:, 0].astype(np.int64), "b": pairs[:, 1].astype(np.int64)})


def select_docs_batch(batch: pa.Table, wanted: np.ndarray) -> pa.Table:
    """map_batches: keep the signature rows of the given global sample numbers."""
    mask = np.isin(batch.column("doc").to_numpy(), wanted)
    return batch.filter(pa.array(mask)) if len(batch) else batch


def final_samples_batch(batch: pa.Table, offsets: dict[str, int], dropped: np.ndarray) -> pa.Table:
    """map_batches: the samples that survived dedup, with the output columns."""
    if len(batch) and len(dropped):
        docs = (
            np.array([offsets[r] for r in batch.column("repo").to_pylist()])
            + batch.column("index").to_numpy()
        )
        batch = batch.filter(pa.array(~np.isin(docs, dropped)))
    return batch.select(SAMPLE_SCHEMA.names).cast(SAMPLE_SCHEMA)


def removed_batch(batch: pa.Table) -> pa.Table:
    return batch.select(REMOVED_SCHEMA.names).cast(REMOVED_SCHEMA)


# ---------------------------------------------------------------------------------------------
# The driver


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


class _Stages:
    """Stage outputs under OUT/_work/ray/NAME, reused when NAME.done exists."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.timings: dict[str, float] = {}

    def done(self, name: str) -> bool:
        return self.store.exists("_work", "ray", f"{name}.done")

    def uri(self, name: str) -> str:
        return self.store.path("_work", "ray", name)

    def write(self, name: str, dataset: Any, schema: pa.Schema) -> None:
        started = time.perf_counter()
        self.store.remove("_work", "ray", name)  # a half-written stage from a killed driver
        self.store.write_parquet(dataset, schema, "_work", "ray", name)
        self.store.write_json({"finished": time.time()}, "_work", "ray", f"{name}.done")
        self.timings[name] = round(time.perf_counter() - started, 3)
        if os.environ.get(STOP_AFTER_ENV) == name:
            raise SystemExit(f"{STOP_AFTER_ENV}={name}: stopping the driver (test)")

    def read(self, name: str):
        import ray.data

        return ray.data.read_parquet(self.uri(name), filesystem=self.store.fs)


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
        import pyarrow.dataset as pads

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


def table_columns_of(
    names: Sequence[str], where: str, wanted: tuple[str | None, str | None, str | None]
) -> tuple[str, str, str]:
    """The (repo, path, content) columns of a Stack-layout table, as the local reader picks them."""
    return (
        _pick_column(names, wanted[0], REPO_COLUMNS, "repo", where),
        _pick_column(names, wanted[1], PATH_COLUMNS, "path", where),
        _pick_column(names, wanted[2], CONTENT_COLUMNS, "content", where),
    )


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
    store = Store(out)
    manifest = {
        "repoloom": __version__,
        "config": config.fingerprint(),
        "sources": plan.fingerprint(),
        "n_repositories": len(plan.tasks) if not plan.tables else None,
    }
    if _check_store(store, manifest, overwrite):
        log.info("%s is already complete for these sources and this config", out)
        return BuildResult(out=_local_path(out, store), report=store.read_json("report.json"))
    cluster = connect(address, workers)
    log.info("Ray: %s, %s CPUs", cluster["address"], cluster["cpus"])
    started = time.perf_counter()
    stages = _Stages(store)

    from repoloom.corpus.build import _prepare_decontamination

    decontam_info = _prepare_decontamination(config)
    index_ref = None
    if config.decontam.enabled:
        import ray

        from repoloom.corpus.decontam import get_index

        index_ref = ray.put(get_index(config.decontam))  # broadcast once: fetched per worker

    if not stages.done("repos"):
        files = _read_files(plan, config)
        docs = files.map_batches(
            file_steps_batch, batch_format="pyarrow", fn_kwargs={"config": config}
        )
        # Hash-shuffle by repository: as many partitions as cores, more for many repositories.
        shuffle = max(2 * int(cluster["cpus"] or 1), min(len(plan.tasks) // 100, 1000))
        repos = docs.groupby("repo", num_partitions=shuffle).map_groups(
            repository_batch,
            batch_format="pyarrow",
            fn_kwargs={"config": config, "index_ref": index_ref},
        )
        stages.write("repos", repos, REPO_SCHEMA)
    repos = stages.read("repos")

    from ray.data.expressions import col

    summary_rows = repos.filter(expr=col("record") == "summary").select_columns(["summary"])
    summaries = [json.loads(r["summary"]) for r in summary_rows.take_all()]
    summaries.sort(key=lambda s: (s.pop("source"), s.pop("task"), s["repo"]))
    offsets: dict[str, int] = {}
    total = 0
    for s in summaries:
        offsets[s["repo"]] = total
        total += s["samples"]

    samples = repos.filter(expr=col("record") == "sample")
    dedup_stats, dedup_removed, dropped = _dedup(
        samples, offsets, summaries, config, stages, int(cluster["cpus"] or 1)
    )

    final = samples.map_batches(
        final_samples_batch,
        batch_format="pyarrow",
        fn_kwargs={"offsets": offsets, "dropped": dropped},
    )
    store.remove("samples")
    store.write_parquet(final, SAMPLE_SCHEMA, "samples", rows_per_file=config.output.rows_per_part)
    import ray.data

    removed = repos.filter(expr=col("record") == "removed").map_batches(
        removed_batch, batch_format="pyarrow"
    )
    if dedup_removed:
        removed = removed.union(
            ray.data.from_arrow(pa.Table.from_pylist(dedup_removed, schema=REMOVED_SCHEMA))
        )
    store.remove("removed")
    store.write_parquet(
        removed, REMOVED_SCHEMA, "removed", rows_per_file=config.output.rows_per_part
    )
    wall = time.perf_counter() - started
    report = _write_report(
        store,
        summaries,
        manifest,
        config,
        wall,
        cluster,
        stages.timings,
        dedup_stats,
        decontam_info,
    )
    if not keep_work:
        store.remove("_work")
    return BuildResult(out=_local_path(out, store), report=report)


def _local_path(out: str, store: Store) -> Path:
    return Path(out) if "://" not in out else Path(store.root)


def _check_store(store: Store, manifest: dict, overwrite: bool) -> bool:
    """Whether the store already holds this very build; refuse a different one."""
    if store.exists("_work", "manifest.json"):
        old = store.read_json("_work", "manifest.json")
        if all(old.get(k) == manifest[k] for k in ("config", "sources")):
            return False  # an unfinished run of this build: resume
        if not overwrite:
            raise BuildError(
                f"{store.uri} holds a build with another configuration or other sources; "
                "use a new --out, or --overwrite to discard it"
            )
        store.remove("_work")
    elif store.exists("report.json"):
        previous = store.read_json("report.json").get("manifest", {})
        if all(previous.get(k) == manifest[k] for k in ("config", "sources")):
            return True  # already complete for these sources and this config
        if not overwrite:
            raise BuildError(
                f"{store.uri} holds another finished build; use a new --out or --overwrite"
            )
    store.write_json(manifest, "_work", "manifest.json")
    return False


def _dedup(
    samples: Any, offsets: dict, summaries: list, config: Any, stages: _Stages, cpus: int
) -> tuple[dict, list[dict], np.ndarray]:
    """Exact + near dedup of whole samples on Ray; returns (stats, removed rows, dropped ids)."""
    from repoloom.corpus.dedup import (
        SparseRows,
        duplicate_sample_row,
        pass_stats,
        resolve_bands,
        resolve_clusters,
        settings_stats,
    )

    cfg = config.dedup
    if not (cfg.exact_samples or cfg.near) or not sum(s["samples"] for s in summaries):
        return {"enabled": False}, [], np.empty(0, dtype=np.int64)
    bands, rows = resolve_bands(cfg.threshold, cfg.num_perm, cfg.bands, cfg.rows, cfg.verify)
    # Shuffle partitions of the bucket rows: one per core at least, and no more than ~4M rows
    # (~100 MB) each, so that one partition's candidate search fits any worker.
    n_rows = sum(s["samples"] for s in summaries) * (bands + 1)
    partitions = max(2 * cpus, -(-n_rows // 4_000_000))
    if not stages.done("signatures"):
        stages.write(
            "signatures",
            samples.map_batches(
                sign_batch, batch_format="pyarrow", fn_kwargs={"offsets": offsets, "cfg": cfg}
            ),
            pa.schema([]),  # never empty: there are samples
        )
    signed = stages.read("signatures")
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
    pair_table = _collect(stages.read("pairs"), PAIRS_SCHEMA)
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
    n_in = sum(s["samples"] for s in summaries)
    dropped = clusters["dropped"]
    bytes_removed = sum(r["n_bytes"] for r in removed_rows)
    stats = {
        "enabled": True,
        "level": cfg.level,
        **settings_stats(cfg),
        **pass_stats(clusters, n_in, bytes_removed, cfg, bands, rows),
        "samples_out": n_in - len(dropped),
    }
    return stats, removed_rows, dropped


def _collect(dataset: Any, schema: pa.Schema | None) -> pa.Table:
    """A (small) dataset as one Arrow table on the driver."""
    tables = [t for t in dataset.iter_batches(batch_format="pyarrow", batch_size=None) if len(t)]
    if tables:
        return pa.concat_tables(tables).combine_chunks()
    if schema is None:
        schema = dataset.schema().base_schema
    return schema.empty_table()


def _write_report(
    store: Store,
    summaries: list[dict],
    manifest: dict,
    config: CorpusConfig,
    wall: float,
    cluster: dict,
    timings: dict,
    dedup_stats: dict,
    decontam_info: dict,
) -> dict:
    """The local executor's report (same aggregation), written through the store."""
    import pyarrow.fs as pafs

    from repoloom.corpus.report import count_samples, write_report

    parts = []
    for name in ("samples", "removed"):
        infos = store.fs.get_file_info(pafs.FileSelector(store.path(name), recursive=True))
        parts.append(sum(1 for i in infos if i.path.endswith(".parquet")))
    with tempfile.TemporaryDirectory(prefix="repoloom-report-") as tmp:
        report = write_report(
            Path(tmp),
            summaries,
            manifest,
            config,
            wall_seconds=wall,
            workers=int(cluster["cpus"]),
            parts=(parts[0], parts[1]),
            extra={"dedup": dedup_stats, "decontamination": decontam_info},
            final=count_samples(store.path("samples"), store.fs),
        )
        run = json.loads((Path(tmp) / "run.json").read_text(encoding="utf-8"))
        run["executor"] = {"name": "ray", **cluster, "stages": timings}
        (Path(tmp) / "run.json").write_text(json.dumps(run, indent=1) + "\n", encoding="utf-8")
        for item in sorted(Path(tmp).iterdir()):
            store.write_bytes(item.read_bytes(), item.name)
    return report


def iter_output(out: str, name: str) -> Iterator[dict]:
    """Rows of OUT/NAME/*.parquet (tests and tools), through the store's filesystem."""
    import pyarrow.dataset as pads

    store = Store(out)
    dataset = pads.dataset(store.path(name), filesystem=store.fs, format="parquet")
    yield from dataset.to_table().to_pylist()
