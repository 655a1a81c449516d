"""Moved: benchmark data lookup lives in :mod:`repoloom.benchdata` (JSONL helpers in
:mod:`repoloom.io`). This module re-exports the old names for one release."""

from repoloom.benchdata.local import (
    DATA_ENV,
    DataNotFound,
    data_dir,
    find_local,
    read_json_records,
)
from repoloom.io import append_jsonl, read_jsonl, write_jsonl

__all__ = [
    "DATA_ENV",
    "DataNotFound",
    "append_jsonl",
    "data_dir",
    "find_local",
    "read_json_records",
    "read_jsonl",
    "write_jsonl",
]
