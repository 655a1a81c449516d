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

# ``samples/part-NNNNN.parquet``: one training sample (a repository, or a part of one).
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
# ``removed/part-NNNNN.parquet``: one file (or duplicate sample) a step dropped, and why.
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
# Where each file lies in its sample's text (``<key>.files.parquet``, written by the workers when
# a file-level dedup option is on): the units of the file-level pass.
FILES_SCHEMA = pa.schema(
    [
        ("sample", pa.int32()),
        ("path", pa.string()),
        ("language", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
    ]
)
FILE_SPAN_FIELDS = tuple(FILES_SCHEMA.names)

# One LSH bucket row of near-dedup (``_work/dedup/buckets/part-P.bin``): band number (the exact
# digest is band number ``bands``), band hash, global sample number.
BUCKET_ROW = np.dtype([("band", "<u8"), ("key", "<u8"), ("doc", "<u8")])
# Candidate pairs of near-dedup (a < b, global sample numbers).
PAIRS_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64())])

# Ray executor: rows between the read and the file-level steps.
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
# Ray executor: rows between the file-level steps and repository assembly.
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
# Ray executor, output of repository assembly: samples, removed rows and one summary per
# repository.
REPO_SCHEMA = pa.schema(
    [
        ("record", pa.string()),  # "sample" | "removed" | "summary"
        ("index", pa.int64()),  # sample number within its repository
        *[f for f in SAMPLE_SCHEMA if f.name != "n_bytes"],
        ("n_bytes", pa.int64()),
        *[f for f in REMOVED_SCHEMA if f.name not in ("repo", "n_bytes")],
        ("summary", pa.large_string()),
        ("start", pa.int64()),  # "file": where a file lies in its sample's text (FILES_SCHEMA)
        ("end", pa.int64()),
    ]
)
# Ray executor, file-level dedup: the files inside the samples, shaped like samples (``index``:
# the file's number in its repository; ``sample_id``: "<sample id>/<that number>").
UNIT_SCHEMA = pa.schema(
    [
        ("repo", pa.string()),
        ("index", pa.int64()),
        ("sample_id", pa.string()),
        ("text", pa.large_string()),
        ("paths", pa.list_(pa.string())),
        ("languages", pa.list_(pa.string())),
        ("n_bytes", pa.int64()),
    ]
)


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
