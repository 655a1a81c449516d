"""The LeetCode contest problems DeepSeek released (``Evaluation/LeetCode/data/
20240121-Jul.jsonl`` and its Chinese twin ``*-zh.jsonl``); there is no hub copy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from repoloom.benchdata.local import DataNotFound
from repoloom.io import read_jsonl

# A released file is named after its version (``20240121-Jul.jsonl``, ``20240121-Jul-zh.jsonl``);
# outside a ``leetcode/`` folder only such names are taken, so a data directory holding other
# benchmarks' JSONL files is never read as LeetCode.
_RELEASED_NAME = re.compile(r"^\d{8}-[\w.-]+\.jsonl$")


def is_chinese_file(path: Path) -> bool:
    return path.name.endswith("-zh.jsonl")


def leetcode_files(data_dir: Path | None, chinese: bool) -> list[Path]:
    """The released file(s) of one language: ``data_dir`` is the ``.jsonl`` file itself, its
    ``data/`` folder, DeepSeek's repository / ``Evaluation/`` / ``LeetCode/`` tree, or a
    directory with a ``leetcode/`` folder. The first of these folders holding files of the
    language is used."""
    which = "Chinese (-zh.jsonl)" if chinese else "English"
    if data_dir is not None and data_dir.is_file():
        if is_chinese_file(data_dir) != chinese:
            other = "leetcode" if chinese else "leetcode-zh"
            raise ValueError(
                f"{data_dir} is the {'English' if chinese else 'Chinese'} LeetCode file; "
                f"this benchmark reads the {which} one (use {other} for this file)"
            )
        return [data_dir]
    if data_dir is not None:
        candidates = [
            (data_dir / "leetcode", True),
            (data_dir, False),
            (data_dir / "data", False),
            (data_dir / "LeetCode" / "data", False),
            (data_dir / "Evaluation" / "LeetCode" / "data", False),
        ]
        for folder, any_name in candidates:
            if not folder.is_dir():
                continue
            files = [
                f
                for f in sorted(folder.glob("*.jsonl"))
                if is_chinese_file(f) == chinese and (any_name or _RELEASED_NAME.match(f.name))
            ]
            if files:
                return files
    raise DataNotFound(
        f"LeetCode contest ({which}): no released file found. Pass --data-dir (or "
        "REPOLOOM_DATA) naming the released 20240121-Jul.jsonl, its data/ folder, DeepSeek-"
        "Coder's Evaluation/ tree, or a directory with a leetcode/ folder; it has no hub copy"
    )


def leetcode_records(
    data_dir: Path | None, chinese: bool
) -> Iterator[tuple[Path, Iterator[dict[str, Any]]]]:
    """(file, its records) of every released file of one language."""
    for path in leetcode_files(data_dir, chinese):
        yield path, read_jsonl(path)
