"""Stack-layout tables (Parquet, JSON lines) as sources: one repository per distinct repo name.

Expanding a table groups its rows by the repository column (`RepoTask.rows` holds Parquet
(row group, row) pairs or JSONL byte offsets); reading a task yields the rows' files.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from repoloom.codebase.config import ReadConfig
from repoloom.codebase.files import (
    RawFile,
    RepoTask,
    SourceError,
    TaskOptions,
    checked_file,
    name_problem,
    safe_member_path,
    unique_name,
)
from repoloom.io import json_record

TABLE_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")

# Column names of The Stack (v1 uses the max_stars_* triple) and of common re-exports.
REPO_COLUMNS = ("repo_name", "max_stars_repo_name", "repo", "repository_name", "repository")

PATH_COLUMNS = ("path", "max_stars_repo_path", "file_path", "filepath", "filename")

CONTENT_COLUMNS = ("content", "text", "code")


def pick_column(
    names: Sequence[str], wanted: str | None, candidates: Sequence[str], role: str, where: str
) -> str:
    if wanted:
        if wanted not in names:
            raise SourceError(f"{where}: no column {wanted!r} (columns: {', '.join(names)})")
        return wanted
    for candidate in candidates:
        if candidate in names:
            return candidate
    raise SourceError(
        f"{where}: cannot find the {role} column (tried {', '.join(candidates)}; "
        f"columns: {', '.join(names)}); name it with --{role}-column"
    )


def parquet_tasks(path: Path, options: TaskOptions) -> list[RepoTask]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise SourceError(f"{path}: not a readable Parquet file: {exc}") from exc
    names = parquet.schema_arrow.names
    repo_col = pick_column(names, options.table_columns[0], REPO_COLUMNS, "repo", str(path))
    path_col = pick_column(names, options.table_columns[1], PATH_COLUMNS, "path", str(path))
    content_col = pick_column(
        names, options.table_columns[2], CONTENT_COLUMNS, "content", str(path)
    )
    rows: dict[str, list[tuple[int, int]]] = {}
    for group in range(parquet.num_row_groups):
        repos = parquet.read_row_group(group, columns=[repo_col]).column(0).to_pylist()
        for row, repo in enumerate(repos):
            rows.setdefault(str(repo), []).append((group, row))
    columns = (repo_col, path_col, content_col)
    return [
        RepoTask(unique_name(repo, options), "parquet", str(path.resolve()), tuple(r), columns)
        for repo, r in sorted(rows.items())
    ]


def _open_text_table(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def jsonl_tasks(path: Path, options: TaskOptions) -> list[RepoTask]:
    rows: dict[str, list[int]] = {}
    columns: tuple[str, str, str] | None = None
    with _open_text_table(path) as handle:
        offset = 0
        for number, line in enumerate(handle, 1):
            start, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                record = json_record(line, f"{path}:{number}")
            except ValueError as exc:
                raise SourceError(str(exc)) from exc
            if columns is None:
                names = list(record)
                columns = (
                    pick_column(names, options.table_columns[0], REPO_COLUMNS, "repo", str(path)),
                    pick_column(names, options.table_columns[1], PATH_COLUMNS, "path", str(path)),
                    pick_column(
                        names, options.table_columns[2], CONTENT_COLUMNS, "content", str(path)
                    ),
                )
            rows.setdefault(str(record.get(columns[0])), []).append(start)
    if columns is None:
        return []
    return [
        RepoTask(unique_name(repo, options), "jsonl", str(path.resolve()), tuple(r), columns)
        for repo, r in sorted(rows.items())
    ]


def table_file(path: str, size: int, content, config: ReadConfig) -> RawFile:
    if isinstance(path, bytes):  # a binary path column: bytes as a directory entry's name
        path = path.decode("utf-8", "surrogateescape")
    rel = safe_member_path(str(path or ""))
    if rel is None:
        return checked_file(RawFile(str(path), 0, skip_reason="unsafe-path"))
    problem = name_problem(rel)
    if problem is not None:
        return checked_file(RawFile(rel, 0))
    if content is None:
        return RawFile(rel, 0, skip_reason="unreadable", detail="null content")
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else bytes(content)
    if len(data) > config.max_file_bytes:
        return RawFile(rel, len(data), skip_reason="too-large", detail=str(len(data)))
    return RawFile(rel, len(data), data=data)


def iter_parquet_rows(task: RepoTask, config: ReadConfig) -> Iterator[RawFile]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(task.location)
    _, path_col, content_col = task.columns
    by_group: dict[int, list[int]] = {}
    for group, row in task.rows:
        by_group.setdefault(group, []).append(row)
    for group in sorted(by_group):
        table = parquet.read_row_group(group, columns=[path_col, content_col])
        taken = table.take(by_group[group])
        for path, content in zip(
            taken.column(0).to_pylist(), taken.column(1).to_pylist(), strict=True
        ):
            yield table_file(path, 0, content, config)


def iter_jsonl_rows(task: RepoTask, config: ReadConfig) -> Iterator[RawFile]:
    _, path_col, content_col = task.columns
    with _open_text_table(Path(task.location)) as handle:
        for offset in task.rows:
            handle.seek(offset)
            record = json.loads(handle.readline())
            yield table_file(record.get(path_col), 0, record.get(content_col), config)
