"""MultiPL-E's HumanEval translations (``humaneval-<key>.jsonl``: ``name``, ``prompt``,
``tests``, ``stop_tokens``): a local copy, else the public dataset ``nuprl/MultiPL-E``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import repoloom.benchdata.hub as hub
from repoloom.benchdata.local import DataNotFound, find_local
from repoloom.io import read_jsonl

MULTIPLE_HUB = "nuprl/MultiPL-E"
# Folders a benchmark directory keeps the translations in (humaneval/ first).
MULTIPLE_FOLDERS = ("humaneval/", "multipl-e/")


def multiple_file_name(key: str) -> str:
    """The file of one language (``key`` is MultiPL-E's suffix: ``cpp``, ``java``, ...)."""
    return f"humaneval-{key}.jsonl"


def local_multiple(data_dir: Path | None, key: str, top_level: bool = True) -> Path | None:
    """The local file of language ``key`` under ``humaneval/``, ``multipl-e/`` or (with
    ``top_level``) ``data_dir`` itself."""
    name = multiple_file_name(key)
    folders = (*MULTIPLE_FOLDERS, "") if top_level else MULTIPLE_FOLDERS
    return find_local(data_dir, *(folder + name for folder in folders))


def local_multiple_keys(data_dir: Path | None) -> list[str]:
    """The languages (keys, sorted) whose translation lies under ``humaneval/`` or
    ``multipl-e/`` of ``data_dir``; Python (HumanEval itself) is not a translation."""
    if data_dir is None:
        return []
    keys = set()
    for folder in MULTIPLE_FOLDERS:
        for path in (data_dir / folder).glob("humaneval-*.jsonl"):
            key = path.name.removeprefix("humaneval-").removesuffix(".jsonl")
            if key not in ("py", "python") and path.is_file():
                keys.add(key)
    return sorted(keys)


def multiple_records(
    key: str, data_dir: Path | None, what: str | None = None
) -> list[dict[str, Any]]:
    """The records of language ``key`` from the local copy, else the public hub; each has a
    name (or task_id), a prompt and tests. ``what`` names the set in errors."""
    name = multiple_file_name(key)
    local = local_multiple(data_dir, key)
    if local is not None:
        rows = list(read_jsonl(local))
    else:
        rows = hub.hub_records(
            MULTIPLE_HUB,
            f"humaneval-{key}/*",
            what or f"MultiPL-E {key}",
            f"--data-dir with humaneval/{name}",
        )
    for rec in rows:
        if not (rec.get("name") or rec.get("task_id")) or "prompt" not in rec or "tests" not in rec:
            raise DataNotFound(f"{name}: record without name/prompt/tests")
    return rows
