"""MBPP's records (``task_id``, ``text``, ``code``, ``test_list``, ...): a local copy, else the
public dataset."""

from __future__ import annotations

from pathlib import Path

import repoloom.benchdata.hub as hub
from repoloom.benchdata.local import find_local
from repoloom.io import read_jsonl

MBPP_HUB = "google-research-datasets/mbpp"


def local_mbpp(data_dir: Path | None) -> Path | None:
    return find_local(data_dir, "mbpp/mbpp.jsonl", "mbpp/mbpp.jsonl.gz", "mbpp.jsonl")


def load_mbpp_records(data_dir: Path | None) -> list[dict]:
    """Every MBPP record (all fields), from the local copy or else the public hub."""
    local = local_mbpp(data_dir)
    if local is not None:
        return list(read_jsonl(local))
    return hub.hub_records(MBPP_HUB, "full/*", "MBPP", "--data-dir with mbpp/mbpp.jsonl")
