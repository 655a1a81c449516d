"""Benchmark files a user builds from their own repositories (no public source): the held-out
FIM points (``repoloom eval build-heldout``) and the cross-file points
(``repoloom eval crossfile-build``). ``data_dir`` is the file itself or a folder holding it."""

from __future__ import annotations

from pathlib import Path

from repoloom.benchdata.local import DataNotFound

HELDOUT_FILE = "heldout.jsonl"
CROSSFILE_FILE = "crossfile.jsonl"


def _built_file(
    data_dir: Path | None, candidates: tuple[str, ...], no_download: str, command: str
) -> Path:
    """``data_dir`` itself when it is a file, else the first of ``candidates`` (relative paths)
    in it; `no_download` and `command` word the errors."""
    if data_dir is None:
        raise DataNotFound(no_download)
    if data_dir.is_file():
        return data_dir
    for candidate in candidates:
        if (data_dir / candidate).is_file():
            return data_dir / candidate
    raise DataNotFound(f"no {candidates[0]} in {data_dir} (made by `repoloom eval {command}`)")


def heldout_file(data_dir: Path | None) -> Path:
    return _built_file(
        data_dir,
        (HELDOUT_FILE,),
        "heldout has no download: build it from your repositories with `repoloom eval "
        "build-heldout REPO... --out FILE.jsonl` and pass --data-dir FILE.jsonl",
        "build-heldout",
    )


def crossfile_file(data_dir: Path | None) -> Path:
    return _built_file(
        data_dir,
        (CROSSFILE_FILE, f"crossfile/{CROSSFILE_FILE}"),
        "crossfile has no public download: build it with `repoloom eval crossfile-build "
        "REPO... --out FILE.jsonl` and pass --data-dir FILE.jsonl",
        "crossfile-build",
    )
