"""Every table the corpus pipeline writes or passes between stages, and how it writes them.

The output columns (``samples/``, ``removed/``) are the contract with users; the others are
between stages of a build (``_work/``) and between the steps of the Ray executor. Every Parquet
file is written under a temporary name and renamed (`write_table_atomic`): a kill never leaves
half a file.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from repoloom.io import atomic_path

# Every column of every table, declared once: a name has one type wherever it stands.
COLUMN_TYPES: dict[str, pa.DataType] = {
    # samples/ (the user's contract): one training sample, a repository or a part of one
    "repo": pa.string(),
    "sample_id": pa.string(),
    "text": pa.large_string(),
    "paths": pa.list_(pa.string()),
    "languages": pa.list_(pa.string()),
    "n_bytes": pa.int64(),
    "kind": pa.string(),
    # removed/ (the user's contract): one file (or duplicate sample) a step dropped, and why
    "path": pa.string(),
    "language": pa.string(),
    "step": pa.string(),
    "reason": pa.string(),
    "detail": pa.string(),
    # where a file lies in its sample's text; ``sample``: the sample's number in its part
    "sample": pa.int32(),
    "start": pa.int64(),
    "end": pa.int64(),
    # near-dedup candidate pairs (a < b, global sample numbers)
    "a": pa.int64(),
    "b": pa.int64(),
    # the Ray executor's rows between its steps
    "source": pa.int64(),  # rank of the source (local task order: repos dirs, then sources)
    "task": pa.int64(),  # rank of the repository within its source (-1: by name)
    "order": pa.int64(),  # the file's position in its repository (-1: the marker row)
    "data": pa.large_binary(),
    "size": pa.int64(),
    "skip_reason": pa.string(),
    "error": pa.string(),  # marker row: why the repository could not be read
    "record": pa.string(),  # which kind of row: "doc" | "log" | "marker", "sample" | ...
    "kept": pa.bool_(),
    "log": pa.large_string(),  # "log": the StepLog of one repository's slice of a batch
    "summary": pa.large_string(),
    "index": pa.int64(),  # sample (or file) number within its repository
}


def table_schema(columns: str) -> pa.Schema:
    """The schema of the space-separated ``columns``, in that order (types from COLUMN_TYPES)."""
    return pa.schema([(name, COLUMN_TYPES[name]) for name in columns.split()])


# ``samples/part-NNNNN.parquet``: one training sample (a repository, or a part of one).
SAMPLE_SCHEMA = table_schema("repo sample_id text paths languages n_bytes kind")
# ``removed/part-NNNNN.parquet``: one file (or duplicate sample) a step dropped, and why.
REMOVED_SCHEMA = table_schema("repo path language n_bytes step reason detail")
# Where each file lies in its sample's text (``<key>.files.parquet``, written by the workers when
# a file-level dedup option is on): the units of the file-level pass.
FILES_SCHEMA = table_schema("sample path language start end")
FILE_SPAN_FIELDS = tuple(FILES_SCHEMA.names)

# One LSH bucket row of near-dedup (``_work/dedup/buckets/part-P.bin``): band number (the exact
# digest is band number ``bands``), band hash, global sample number.
BUCKET_ROW = np.dtype([("band", "<u8"), ("key", "<u8"), ("doc", "<u8")])
# Candidate pairs of near-dedup (a < b, global sample numbers).
PAIRS_SCHEMA = table_schema("a b")

# Ray executor: rows between the read and the file-level steps.
RAW_SCHEMA = table_schema("repo source task order path data size skip_reason detail error")
# Ray executor: rows between the file-level steps and repository assembly (``record``: "doc",
# "log" or "marker").
DOC_SCHEMA = table_schema("record repo source task order path text n_bytes language kept error log")
# Ray executor, output of repository assembly: samples, removed rows, one summary per repository
# and, for file-level dedup, where each file lies in its sample (``record``: "sample", "removed",
# "summary" or "file").
REPO_SCHEMA = table_schema(
    "record index repo sample_id text paths languages kind n_bytes "
    "path language step reason detail summary start end"
)
# Ray executor, file-level dedup: the files inside the samples, shaped like samples (``index``:
# the file's number in its repository; ``sample_id``: "<sample id>/<that number>").
UNIT_SCHEMA = table_schema("repo index sample_id text paths languages n_bytes")


class BuildError(RuntimeError):
    """The build cannot go on (for example: --out holds a different build)."""


def parquet_codec(compression: str | None) -> str | None:
    """The config's ``output.compression`` as pyarrow takes it (``none``: no codec)."""
    return None if compression in (None, "none") else compression


def write_table_atomic(table: pa.Table, path: str | os.PathLike, compression: str | None) -> None:
    """Write a Parquet file under a temporary name, then rename: a kill never leaves half a file."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression=parquet_codec(compression))


def write_rows(
    rows: list[dict], schema: pa.Schema, path: str | os.PathLike, compression: str | None
) -> None:
    """`write_table_atomic` of rows (dicts keyed by the schema's names)."""
    write_table_atomic(pa.Table.from_pylist(rows, schema=schema), path, compression)
