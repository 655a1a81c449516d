"""Where a local copy of a benchmark lies (``--data-dir`` / ``REPOLOOM_DATA``), and the error
raised when neither it nor the public source has the benchmark."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from repoloom.io import read_jsonl

DATA_ENV = "REPOLOOM_DATA"


class DataNotFound(RuntimeError):
    """Neither a local copy nor the public source of a benchmark is reachable."""


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The local benchmark directory: ``explicit``, else ``$REPOLOOM_DATA``, else None.
    A file is accepted too (benchmarks made from one file, e.g. ``crossfile``)."""
    value = explicit or os.environ.get(DATA_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.exists():
        raise DataNotFound(f"data directory {path} does not exist")
    return path


def find_local(root: Path | None, *candidates: str) -> Path | None:
    """The first of ``candidates`` (relative paths) that exists under ``root``."""
    if root is None:
        return None
    for rel in candidates:
        p = root / rel
        if p.is_file():
            return p
    return None


def read_json_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """A JSON array file or a JSONL file (the PAL-math ``test.json`` files are JSONL)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("["):
        return list(json.loads(text))
    return list(read_jsonl(path))
