"""The four human-eval-infilling sets (``infilling/<stem>.jsonl.gz``): a local copy, else the
public dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import repoloom.benchdata.hub as hub
from repoloom.benchdata.local import find_local
from repoloom.io import read_jsonl

INFILL_HUB = "loubnabnl/humaneval_infilling"


def infill_files(stem: str) -> tuple[str, ...]:
    """Where a set's official file may lie under ``--data-dir``: ``infilling/`` (a local benchmark
    directory's layout), ``data/`` (a human-eval-infilling checkout) or the top level."""
    return tuple(
        f"{folder}{stem}.jsonl{gz}" for folder in ("infilling/", "data/", "") for gz in (".gz", "")
    )


def infilling_records(stem: str, data_dir: Path | None) -> list[dict[str, Any]]:
    """The records of set ``stem`` (e.g. ``HumanEval-SingleLineInfilling``)."""
    local = find_local(data_dir, *infill_files(stem))
    if local is not None:
        return list(read_jsonl(local))
    return hub.hub_records(
        INFILL_HUB, f"*{stem}.jsonl*", stem, f"--data-dir with infilling/{stem}.jsonl.gz"
    )
