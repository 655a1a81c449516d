"""File helpers every layer shares: atomic writes, JSONL, done-markers.

A long job is killed at any moment; whatever it leaves must be either the old file or the new one,
never half of one. So every write goes to ``NAME.tmp`` beside the target and is renamed over it
(``os.replace`` is atomic on one filesystem). A stage that finished leaves ``NAME.done``; a resumed
job trusts a stage only when its marker is there.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def tmp_path(path: str | os.PathLike) -> Path:
    """The temporary name a write to ``path`` goes to before the rename."""
    return Path(f"{os.fspath(path)}.tmp")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds
    (on an exception the temporary file is removed and ``path`` is untouched)."""
    final = Path(path)
    tmp = tmp_path(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """``open`` whose result appears at ``path`` only once the block has finished."""
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as fh:
        yield fh


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = 1) -> None:
    """JSON with sorted keys (stable bytes run to run), non-ASCII kept as is."""
    write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False))


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
            yield json_record(line, f"{path}:{n}")


def json_record(line: str | bytes, where: str) -> dict[str, Any]:
    """One JSONL line as a dict; a broken line or one that is not an object is a ValueError
    naming ``where`` (``path:line``)."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg})") from None
    if isinstance(rec, dict):
        return rec
    raise ValueError(f"{where}: expected a JSON object")


def write_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> None:
    """Write every record, one JSON object a line, atomically (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def append_jsonl(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one record and flush: a log that a resumed job reads back line by line."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()


def done_marker(path: str | os.PathLike) -> Path:
    """The marker that says the stage writing ``path`` finished."""
    return Path(f"{os.fspath(path)}.done")


def is_done(path: str | os.PathLike) -> bool:
    return done_marker(path).exists()


def mark_done(path: str | os.PathLike, info: dict[str, Any] | None = None) -> None:
    write_json_atomic(done_marker(path), info or {})
