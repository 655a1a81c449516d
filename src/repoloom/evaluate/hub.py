"""Public sources for benchmark data (used when no local copy is given), via huggingface_hub.

Downloads go to the Hugging Face cache; every failure becomes a :class:`DataNotFound` that
names the local alternative (``--data-dir`` / ``REPOLOOM_DATA``).
"""

from __future__ import annotations

import fnmatch
from typing import Any

from repoloom.evaluate.data import DataNotFound, read_jsonl


def hub_records(repo_id: str, pattern: str, what: str, local_hint: str) -> list[dict[str, Any]]:
    """Rows of the files of dataset ``repo_id`` matching ``pattern`` (parquet or jsonl)."""
    try:
        from huggingface_hub import hf_hub_download, list_repo_files
    except ImportError:
        raise DataNotFound(
            f"{what}: no local copy ({local_hint}) and huggingface_hub missing"
        ) from None
    try:
        files = [
            f for f in list_repo_files(repo_id, repo_type="dataset") if fnmatch.fnmatch(f, pattern)
        ]
        if not files:
            raise DataNotFound(f"{what}: no file matching {pattern} in dataset {repo_id}")
        rows: list[dict[str, Any]] = []
        for f in sorted(files):
            path = hf_hub_download(repo_id, f, repo_type="dataset")
            if f.endswith(".parquet"):
                import pyarrow.parquet as pq

                rows += pq.read_table(path).to_pylist()
            else:
                rows += list(read_jsonl(path))
        return rows
    except DataNotFound:
        raise
    except Exception as exc:  # noqa: BLE001 - offline, 404, auth: all mean "not reachable"
        raise DataNotFound(
            f"{what}: no local copy ({local_hint}) and the public source (dataset {repo_id}) is "
            f"not reachable: {type(exc).__name__}: {exc}"
        ) from None
