"""What every source's fetch shares: hashing and pin checks, running a download tool, the file
statistics of archives and trees."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from repoloom.corpus.fetch.manifest import (
    STATE_DIR,
    Artefact,
    FetchedEntry,
    FetchError,
    ShaMismatchError,
)

log = logging.getLogger("repoloom.corpus.fetch")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run_tool(cmd: list[str], cwd: Path, what: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which(cmd[0])
    if exe is None:
        raise FetchError(f"{what}: the command {cmd[0]!r} is not installed")
    log.debug("run %s (cwd %s)", " ".join(cmd), cwd)
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        raise FetchError(f"{what}: `{' '.join(cmd)}` failed:\n  " + "\n  ".join(tail))
    return proc


def only_new_file(folder: Path, what: str, suffixes: Iterable[str]) -> Path:
    files = [p for p in folder.iterdir() if p.is_file() and p.name.endswith(tuple(suffixes))]
    if len(files) != 1:
        names = ", ".join(p.name for p in folder.iterdir()) or "nothing"
        raise FetchError(f"{what}: expected one downloaded file, found {names}")
    return files[0]


def check_sha(path: Path, expected: str | None, what: str, allow_unpinned: bool) -> str:
    actual = sha256_file(path)
    if expected is None:
        if not allow_unpinned:
            raise FetchError(
                f"{what}: no sha256 pin in the manifest (downloaded sha256 is {actual}); "
                "add it, or pass --allow-unpinned to record it in the lock file only"
            )
        log.warning("%s is not pinned; its sha256 is %s", what, actual)
        return actual
    if actual != expected:
        raise ShaMismatchError(
            f"{what}: sha256 mismatch: the manifest pins {expected} but {path.name} has "
            f"{actual}. The artefact changed upstream or the pin is wrong; nothing was kept."
        )
    return actual


def archive_stats(path: Path) -> Stats:
    files = 0
    size = 0
    exts: dict[str, list[int]] = {}

    def add(name: str, n: int) -> None:
        nonlocal files, size
        files += 1
        size += n
        slot = exts.setdefault(_ext(name), [0, 0])
        slot[0] += 1
        slot[1] += n

    try:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if not info.is_dir():
                        add(info.filename, info.file_size)
        else:
            with tarfile.open(path, "r:*") as tf:
                for member in tf:
                    if member.isfile():
                        add(member.name, member.size)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FetchError(f"{path.name}: not a readable archive ({exc})") from exc
    return files, size, exts


def tree_stats(root: Path) -> Stats:
    files = 0
    size = 0
    exts: dict[str, list[int]] = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = Path(dirpath, n)
            if p.is_symlink() or not p.is_file():
                continue
            s = p.stat().st_size
            files += 1
            size += s
            slot = exts.setdefault(_ext(n), [0, 0])
            slot[0] += 1
            slot[1] += s
    return files, size, exts


Stats = tuple[int, int, dict[str, list[int]]]  # files, bytes, extension -> [files, bytes]


def add_extensions(into: dict[str, list[int]], exts: dict[str, list[int]]) -> None:
    """Add per-extension [files, bytes] counts into ``into``."""
    for k, (c, b) in exts.items():
        slot = into.setdefault(k, [0, 0])
        slot[0] += c
        slot[1] += b


def fetched_entry(
    a: Artefact,
    *,
    name: str,
    sha: str,
    artefact: Path,
    outputs: list[str],
    kind: str,
    stats: Stats,
    skipped: bool = False,
    extra: dict | None = None,
) -> FetchedEntry:
    """What fetching ``a`` produced: its outputs and their statistics."""
    n_files, n_bytes, exts = stats
    return FetchedEntry(
        name=name,
        source=a.source,
        package=a.package,
        version=a.version,
        sha256=sha,
        artefact_bytes=artefact.stat().st_size,
        outputs=outputs,
        kind=kind,
        n_files=n_files,
        n_bytes=n_bytes,
        skipped=skipped,
        extensions=exts,
        extra=extra or {},
    )


def _ext(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base.lstrip(".") else ""


def safe_rmtree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


@dataclass
class Workspace:
    """Where one fetch writes: the output directory and its hidden state (verified downloads in
    ``cache/``, one record per entry in ``state/``, downloads in progress in ``tmp/``)."""

    out: Path
    allow_unpinned: bool

    @property
    def state(self) -> Path:
        return self.out / STATE_DIR

    @property
    def cache(self) -> Path:
        return self.state / "cache"

    @property
    def records(self) -> Path:
        return self.state / "state"

    @property
    def tmp(self) -> Path:
        return self.state / "tmp"

    def create(self) -> None:
        for d in (self.cache, self.records, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
