"""Where repositories come from, and reading their files safely.

A *source* on the command line expands to one or more `RepoTask`s (small, picklable
descriptions); a worker process turns one task into a stream of `RawFile`s with
`iter_repository_files`. Nothing is ever extracted to disk: archive members are read into memory
(each capped at `read.max_file_bytes`), so a hostile archive cannot write outside anything.
Everything that is not read (symlinks, unsafe archive paths, oversized files, unreadable files)
still yields a `RawFile` with a `skip_reason`, so it is counted and lands in `removed/`.
Every name that leaves it is printable (`repoloom.codebase.files`). Archives are read by
`repoloom.codebase.archives`, Stack-layout tables by `repoloom.codebase.tables`; this module
expands sources into tasks, reads directories and git clones, and dispatches a task to its reader.
"""

from __future__ import annotations

import contextlib
import lzma
import os
import re
import shutil
import stat
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from repoloom.codebase.archives import ARCHIVE_SUFFIXES, iter_tar, iter_zip
from repoloom.codebase.config import ReadConfig
from repoloom.codebase.files import (
    VCS_DIRS,
    RawFile,
    RepoTask,
    SourceError,
    TaskOptions,
    checked_file,
    unique_name,
)

# Re-exported: callers read names through this module (explicit ``as`` re-exports).
from repoloom.codebase.files import name_problem as name_problem
from repoloom.codebase.files import printable_name as printable_name
from repoloom.codebase.files import safe_member_path as safe_member_path
from repoloom.codebase.tables import (
    CONTENT_COLUMNS,
    PATH_COLUMNS,
    REPO_COLUMNS,
    TABLE_SUFFIXES,
    iter_jsonl_rows,
    iter_parquet_rows,
    jsonl_tasks,
    parquet_tasks,
    pick_column,
    table_file,
)

__all__ = [
    "ARCHIVE_SUFFIXES",
    "CONTENT_COLUMNS",
    "PATH_COLUMNS",
    "REPO_COLUMNS",
    "TABLE_SUFFIXES",
    "VCS_DIRS",
    "RawFile",
    "RepoTask",
    "SourceError",
    "TaskOptions",
    "checked_file",
    "expand_repos_dir",
    "expand_source",
    "expand_sources",
    "is_git_url",
    "iter_directory",
    "iter_jsonl_rows",
    "iter_parquet_rows",
    "iter_repository_files",
    "iter_tar",
    "iter_zip",
    "name_problem",
    "pick_column",
    "printable_name",
    "safe_member_path",
    "table_file",
]

_GIT_URL = re.compile(r"^(https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")


def _strip_suffix(name: str, suffixes: Sequence[str]) -> str:
    lower = name.lower()
    for suffix in suffixes:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_git_url(source: str) -> bool:
    return bool(_GIT_URL.match(source)) or (source.endswith(".git") and not Path(source).is_dir())


def expand_source(source: str, options: TaskOptions) -> list[RepoTask]:
    """The repositories one command-line source stands for."""
    if is_git_url(source):
        name = _strip_suffix(source.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1], (".git",))
        return [RepoTask(unique_name(name, options), "git", source)]
    path = Path(source)
    if not path.exists():
        raise SourceError(f"source not found: {source}")
    lower = path.name.lower()
    if path.is_dir():  # a working tree or a plain directory: either way one repository
        return [RepoTask(unique_name(path.resolve().name, options), "dir", str(path.resolve()))]
    if lower.endswith(ARCHIVE_SUFFIXES):
        return [
            RepoTask(
                unique_name(_strip_suffix(path.name, ARCHIVE_SUFFIXES), options),
                "archive",
                str(path.resolve()),
            )
        ]
    if lower.endswith(".parquet"):
        return parquet_tasks(path, options)
    if lower.endswith(TABLE_SUFFIXES):
        return jsonl_tasks(path, options)
    raise SourceError(
        f"unsupported source {source}: expected a directory, a git URL, an archive "
        f"({', '.join(ARCHIVE_SUFFIXES)}) or a Stack-layout table (.parquet, .jsonl)"
    )


def expand_repos_dir(directory: str, options: TaskOptions) -> list[RepoTask]:
    """`--repos-dir`: every sub-directory and archive directly inside is one repository."""
    root = Path(directory)
    if not root.is_dir():
        raise SourceError(f"--repos-dir {directory}: not a directory")
    tasks: list[RepoTask] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir() or entry.name.lower().endswith(ARCHIVE_SUFFIXES):
            tasks.extend(expand_source(str(entry), options))
    return tasks


def expand_sources(
    sources: Sequence[str],
    repos_dirs: Sequence[str] = (),
    table_columns: tuple[str | None, str | None, str | None] = (None, None, None),
) -> list[RepoTask]:
    """All repository tasks of a run, in a deterministic order (the order of the output)."""
    options = TaskOptions(table_columns=table_columns)
    tasks: list[RepoTask] = []
    for directory in repos_dirs:
        tasks.extend(expand_repos_dir(directory, options))
    for source in sources:
        tasks.extend(expand_source(source, options))
    if not tasks:
        raise SourceError("no repositories found in the given sources")
    return tasks


# ---------------------------------------------------------------------------------------------
# Reading one repository's files


def iter_directory(root: Path, config: ReadConfig) -> Iterator[RawFile]:
    """Files under a local directory, sorted; symlinks are never followed (counted instead)."""
    root = Path(root)
    errors: list[OSError] = []
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, onerror=errors.append, followlinks=False):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames.sort()
        kept_dirs = []
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if d in VCS_DIRS:
                continue
            if os.path.islink(full):
                yield RawFile(prefix + d, 0, skip_reason="symlink", detail=os.readlink(full))
                continue
            kept_dirs.append(d)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            rel = prefix + name
            full = os.path.join(dirpath, name)
            count += 1
            if count > config.max_repo_files:
                yield RawFile(
                    rel, 0, skip_reason="repo-file-limit", detail=str(config.max_repo_files)
                )
                continue
            try:
                st = os.lstat(full)
            except OSError as exc:
                yield RawFile(rel, 0, skip_reason="unreadable", detail=exc.strerror or str(exc))
                continue
            if stat.S_ISLNK(st.st_mode):
                yield RawFile(rel, 0, skip_reason="symlink", detail=_readlink(full))
                continue
            if not stat.S_ISREG(st.st_mode):
                yield RawFile(rel, 0, skip_reason="not-regular-file")
                continue
            if st.st_size > config.max_file_bytes:
                yield RawFile(rel, st.st_size, skip_reason="too-large", detail=str(st.st_size))
                continue
            try:
                # O_NOFOLLOW: the entry may have been swapped for a symlink since lstat.
                fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
                with os.fdopen(fd, "rb") as handle:
                    data = handle.read(config.max_file_bytes + 1)
            except OSError as exc:
                yield RawFile(
                    rel, st.st_size, skip_reason="unreadable", detail=exc.strerror or str(exc)
                )
                continue
            if len(data) > config.max_file_bytes:  # grew while we looked
                yield RawFile(rel, len(data), skip_reason="too-large", detail=str(len(data)))
                continue
            yield RawFile(rel, len(data), data=data)
    for exc in errors:
        where = Path(exc.filename).relative_to(root).as_posix() if exc.filename else "."
        yield RawFile(where, 0, skip_reason="unreadable", detail=exc.strerror or str(exc))


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


@contextlib.contextmanager
def _cloned(url: str) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="repoloom-git-"))
    try:
        result = subprocess.run(
            ["git", "clone", "--quiet", "--depth", "1", "--no-tags", url, str(tmp / "repo")],
            capture_output=True,
            text=True,
            timeout=3600,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
        if result.returncode != 0:
            raise SourceError(f"git clone {url} failed: {result.stderr.strip()[-500:]}")
        yield tmp / "repo"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def iter_repository_files(task: RepoTask, config: ReadConfig) -> Iterator[RawFile]:
    """Every file of one repository task, readable or not (unreadable ones carry a reason);
    every path printable (see `checked_file`)."""
    for raw in _iter_source_files(task, config):
        yield checked_file(raw)


def _iter_source_files(task: RepoTask, config: ReadConfig) -> Iterator[RawFile]:
    if task.kind == "dir":
        yield from iter_directory(Path(task.location), config)
    elif task.kind == "archive":
        lower = task.location.lower()
        try:
            if lower.endswith(".zip"):
                yield from iter_zip(Path(task.location), config)
            else:
                yield from iter_tar(Path(task.location), config)
        except SourceError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, lzma.LZMAError) as exc:
            raise SourceError(f"{task.location}: broken archive: {exc}") from exc
    elif task.kind == "git":
        with _cloned(task.location) as root:
            yield from iter_directory(root, config)
    elif task.kind == "parquet":
        yield from iter_parquet_rows(task, config)
    elif task.kind == "jsonl":
        yield from iter_jsonl_rows(task, config)
    else:  # pragma: no cover - tasks are built by expand_source
        raise SourceError(f"unknown source kind {task.kind}")
