"""Benchmark files a user builds from their own repositories (no public source): the held-out
FIM points (``repoloom eval build-heldout``) and the cross-file points
(``repoloom eval crossfile-build``). ``data_dir`` is the file itself or a folder holding it."""

from __future__ import annotations

from pathlib import Path

from repoloom.benchdata.local import DataNotFound

HELDOUT_FILE = "heldout.jsonl"
CROSSFILE_FILE = "crossfile.jsonl"


def heldout_file(data_dir: Path | None) -> Path:
    if data_dir is None:
        raise DataNotFound(
            "heldout has no download: build it from your repositories with `repoloom eval "
            "build-heldout REPO... --out FILE.jsonl` and pass --data-dir FILE.jsonl"
        )
    if data_dir.is_file():
        return data_dir
    if (data_dir / HELDOUT_FILE).is_file():
        return data_dir / HELDOUT_FILE
    raise DataNotFound(f"no {HELDOUT_FILE} in {data_dir} (made by `repoloom eval build-heldout`)")


def crossfile_file(data_dir: Path | None) -> Path:
    if data_dir is None:
        raise DataNotFound(
            "crossfile has no public download: build it with `repoloom eval crossfile-build "
            "REPO... --out FILE.jsonl` and pass --data-dir FILE.jsonl"
        )
    if data_dir.is_file():
        return data_dir
    for candidate in (data_dir / CROSSFILE_FILE, data_dir / "crossfile" / CROSSFILE_FILE):
        if candidate.is_file():
            return candidate
    raise DataNotFound(
        f"no {CROSSFILE_FILE} in {data_dir} (made by `repoloom eval crossfile-build`)"
    )
