"""Public sources for benchmark data (used when no local copy is given), via huggingface_hub.

Downloads go to the Hugging Face cache; every failure becomes a :class:`DataNotFound` that
names the local alternative (``--data-dir`` / ``REPOLOOM_DATA``).
"""

from __future__ import annotations

import fnmatch
import os
import socket
import threading
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from repoloom.benchdata.local import DataNotFound
from repoloom.io import read_jsonl


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


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hugging Face hub (``$HF_ENDPOINT``) accepts a TCP connection within `timeout`
    seconds (once per process; ``HF_HUB_OFFLINE=1`` means no), so an offline machine does not
    spend the hub client's retries (about 20 s) per benchmark."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (80 if url.scheme == "http" else 443)
    answered: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((url.hostname or "huggingface.co", port), timeout):
                answered.append(True)
        except OSError:  # DNS failure, refused, timed out
            pass

    # A thread, so that a slow DNS lookup (not covered by the socket timeout) is bounded too.
    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(timeout)
    return bool(answered)
