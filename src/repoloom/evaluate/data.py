"""Benchmark data: where it comes from (``--data-dir`` / ``REPOLOOM_DATA`` / public source)
and JSONL helpers."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

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


def read_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file (``.gz`` too); a blank line is skipped, a broken one is an error
    naming the line."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{path}:{n}: expected a JSON object")
            yield rec


def read_json_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """A JSON array file or a JSONL file (the PAL-math ``test.json`` files are JSONL)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("["):
        return list(json.loads(text))
    return list(read_jsonl(path))


def write_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    tmp.replace(path)


def append_jsonl(path: str | os.PathLike, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
