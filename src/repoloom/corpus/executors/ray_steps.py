"""The Ray executor's steps: its sources (`plan_sources`) and the Ray Data functions around the
local executor's steps (each a thin adapter: `map_batches` / `map_groups` over Arrow tables).
The driver that chains them is `repoloom.corpus.executors.ray`."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from repoloom.codebase.render import make_sample
from repoloom.codebase.sources import (
    CONTENT_COLUMNS,
    PATH_COLUMNS,
    REPO_COLUMNS,
    RawFile,
    RepoTask,
    SourceError,
    TaskOptions,
    expand_repos_dir,
    expand_source,
    is_git_url,
    iter_repository_files,
    printable_name,
)
from repoloom.codebase.tables import pick_column, table_file
from repoloom.corpus import decontam
from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.dedup import band_rows, bucket_pairs, sign_texts
from repoloom.corpus.executors.base import repo_summary
from repoloom.corpus.pipeline import failed_repository, file_level_steps, repository_level_steps
from repoloom.corpus.schema import (
    BUCKET_ROW,
    DOC_SCHEMA,
    RAW_SCHEMA,
    REMOVED_SCHEMA,
    REPO_SCHEMA,
    SAMPLE_SCHEMA,
    UNIT_SCHEMA,
)
from repoloom.corpus.steps import FileDoc, Removal, StepLog

# Fault injection for the tests: with MARKER.armed present, the first file-level batch writes
# MARKER and SIGKILLs its worker.
KILL_ONCE_ENV = "REPOLOOM_TEST_KILL_WORKER_ONCE"


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
        raw = table_file(path, 0, content, config.read)
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
    data = json.loads(text)
    part = StepLog(counts=data["counts"], timings=data["timings"])
    part.removed = [Removal(**r) for r in data["removed"]]
    step_log.merge(part)


_INSTALLED_INDEX: set[str] = set()


def _install_decontam_index(config: CorpusConfig, index_ref: Any) -> None:
    """Fetch the broadcast benchmark index once per worker process into decontam's cache."""
    if index_ref is None:
        return
    key = decontam.index_key(config.decontam)
    if key not in decontam._CACHE:
        import ray

        decontam._CACHE.clear()
        decontam._CACHE[key] = ray.get(index_ref)


def repository_batch(group: pa.Table, config: CorpusConfig, index_ref: Any = None) -> pa.Table:
    """map_groups: one repository's file rows -> its samples, removed rows and summary."""
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
    names = ("index", "path", "language", "start", "end")
    out.extend(
        {"record": "file", "repo": repo, **dict(zip(names, span, strict=True))}
        for span in result.file_spans
    )
    summary = {
        **repo_summary(result, time.perf_counter() - started),
        "source": source,
        "task": task,
    }
    out.append({"record": "summary", "repo": repo, "summary": json.dumps(summary)})
    return pa.Table.from_pylist(out, schema=REPO_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Near-dedup adapters


def _spans_of(rows: list[dict]) -> tuple[dict[int, dict], list[dict]]:
    """A repository's sample rows by number and its file spans in order (the units' order)."""
    samples = {r["index"]: r for r in rows if r["record"] == "sample"}
    spans = [r for r in rows if r["record"] == "file"]
    spans.sort(key=lambda r: (r["index"], r["start"], r["end"]))
    return samples, spans


def file_units_group(group: pa.Table) -> pa.Table:
    """map_groups: one repository's samples and file spans -> its files as units (UNIT_SCHEMA),
    the units of the file-level dedup pass (`dedup.signatures.file_units` of the local one)."""
    samples, spans = _spans_of(group.to_pylist())
    out = []
    for i, span in enumerate(spans):
        sample = samples[span["index"]]
        text = sample["text"][span["start"] : span["end"]]
        out.append(
            {
                "repo": span["repo"],
                "index": i,
                "sample_id": f"{sample['sample_id']}/{i}",
                "text": text,
                "paths": [span["path"]],
                "languages": [span["language"]],
                "n_bytes": len(text.encode("utf-8", "surrogatepass")),
            }
        )
    return pa.Table.from_pylist(out, schema=UNIT_SCHEMA)


def rebuild_group(group: pa.Table, gone: dict[str, list[int]], config: CorpusConfig) -> pa.Table:
    """map_groups: one repository's samples after the file-level pass dropped its files `gone`
    (numbers of `file_units_group`): a sample that lost files is rendered again from the files
    left (`assemble.make_sample`: same headers, a new content-addressed id), one left with none
    is gone; samples are numbered again (`dedup.pick.write_file_outputs` of the local one)."""
    samples, spans = _spans_of(group.to_pylist())
    dropped = set(gone.get(group.column("repo")[0].as_py(), ()))
    survivors: dict[int, list[FileDoc]] = {}
    for i, span in enumerate(spans):
        if i not in dropped:
            text = samples[span["index"]]["text"][span["start"] : span["end"]]
            doc = FileDoc(span["repo"], span["path"], text, 0, span["language"] or None)
            survivors.setdefault(span["index"], []).append(doc)
    lost = {spans[i]["index"] for i in dropped}
    out = []
    for index in sorted(samples):
        row = samples[index]
        if index in lost:
            if index not in survivors:
                continue
            sample = make_sample(row["repo"], survivors[index], row["kind"], config.order)
            row = {"record": "sample", **sample.row()}
        out.append({**row, "index": len(out)})
    return pa.Table.from_pylist(out, schema=REPO_SCHEMA)


def sign_batch(batch: pa.Table, offsets: dict[str, int], cfg: Any) -> pa.Table:
    """map_batches: sample rows -> global number, digests, signature, size and identity."""
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
    rows = np.empty(group.num_rows, dtype=BUCKET_ROW)
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


def table_columns_of(
    names: Sequence[str], where: str, wanted: tuple[str | None, str | None, str | None]
) -> tuple[str, str, str]:
    """The (repo, path, content) columns of a Stack-layout table, as the local reader picks them."""
    return (
        pick_column(names, wanted[0], REPO_COLUMNS, "repo", where),
        pick_column(names, wanted[1], PATH_COLUMNS, "path", where),
        pick_column(names, wanted[2], CONTENT_COLUMNS, "content", where),
    )
