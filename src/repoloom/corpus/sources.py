"""Where repositories come from, and reading their files safely.

A *source* on the command line expands to one or more `RepoTask`s (small, picklable
descriptions); a worker process turns one task into a stream of `RawFile`s with
`iter_repository_files`. Nothing is ever extracted to disk: archive members are read into memory
(each capped at `read.max_file_bytes`), so a hostile archive cannot write outside anything.
Everything that is not read (symlinks, unsafe archive paths, oversized files, unreadable files)
still yields a `RawFile` with a `skip_reason`, so it is counted and lands in `removed/`.

A file *name* that is not UTF-8 (a directory entry or tar member with stray bytes, a zip member
without the UTF-8 flag whose bytes do not decode, a lone surrogate escaped in JSON) or that holds
a control character (newline, tab, ESC, U+2028, ...) is never read: it is removed as
`path-not-utf8` / `path-control-char`, and every name that leaves this module (paths, repository
names, details) is in its `printable_name` form, which is valid UTF-8 and one line, so no
writer (Arrow, JSON, a sample header) can fail on it or split it.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import json
import lzma
import os
import re
import shutil
import stat
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from repoloom.corpus.config import ReadConfig

ARCHIVE_SUFFIXES = (
    ".tar.gz",
    ".tgz",
    ".tar.xz",
    ".txz",
    ".tar.bz2",
    ".tbz2",
    ".tar",
    ".zip",
    ".crate",
)
TABLE_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")
VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr"})
_GIT_URL = re.compile(r"^(https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")

# Column names of The Stack (v1 uses the max_stars_* triple) and of common re-exports.
REPO_COLUMNS = ("repo_name", "max_stars_repo_name", "repo", "repository_name", "repository")
PATH_COLUMNS = ("path", "max_stars_repo_path", "file_path", "filepath", "filename")
CONTENT_COLUMNS = ("content", "text", "code")


# Characters that end or break a line or are not text: C0/C1 controls (str.splitlines splits on
# \n \r \v \f \x1c-\x1e \x85), the Unicode line/paragraph separators, and surrogates (what
# os.fsdecode and tar's surrogateescape make of non-UTF-8 bytes, or a JSON "\ud800").
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def name_problem(name: str) -> str | None:
    """Why a file name cannot stand in a sample (None: it can)."""
    match = _UNPRINTABLE.search(name)
    if match is None:
        return None
    if any("\ud800" <= c <= "\udfff" for c in name):
        return "path-not-utf8"
    return "path-control-char"


def printable_name(name: str) -> str:
    """`name` as valid one-line UTF-8: bytes that were not UTF-8 as `\\xNN`, controls as `\\n`,
    `\\x1b`, `\\u2028`. Names without such characters are returned unchanged."""
    if _UNPRINTABLE.search(name) is None:
        return name
    out = []
    for c in name:
        code = ord(c)
        if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif _UNPRINTABLE.match(c):
            escaped = c.encode("unicode_escape", "backslashreplace").decode("ascii")
            out.append(escaped if code < 0xD800 or code > 0xDFFF else f"\\u{code:04x}")
        else:
            out.append(c)
    return "".join(out)


def checked_file(raw: RawFile) -> RawFile:
    """`raw` with a name every writer accepts; an unprintable name makes it a skipped file."""
    problem = name_problem(raw.path)
    if problem is None:
        if raw.detail and _UNPRINTABLE.search(raw.detail):
            raw.detail = printable_name(raw.detail)
        return raw
    path = printable_name(raw.path)
    if raw.skip_reason:  # already not read (a symlink, an unsafe path): keep that reason
        return RawFile(
            path, raw.size, skip_reason=raw.skip_reason, detail=printable_name(raw.detail)
        )
    return RawFile(path, raw.size, skip_reason=problem, detail="name escaped")


class SourceError(ValueError):
    """A source given by the user cannot be used (missing, unsupported, malformed)."""


@dataclass(frozen=True)
class RepoTask:
    """One repository to process: where it is and how to read it."""

    name: str
    kind: str  # "dir" | "archive" | "git" | "parquet" | "jsonl"
    location: str
    # Table sources: which rows (parquet: (row_group, row) pairs; jsonl: byte offsets).
    rows: tuple = ()
    columns: tuple[str, str, str] = ("", "", "")


@dataclass
class RawFile:
    path: str  # repository-relative POSIX path
    size: int  # size on disk / declared in the archive (may exceed len(data))
    data: bytes | None = None  # None when not read
    skip_reason: str | None = None
    detail: str = ""


@dataclass
class TaskOptions:
    table_columns: tuple[str | None, str | None, str | None] = (None, None, None)
    names_seen: dict[str, int] = field(default_factory=dict)


def _strip_suffix(name: str, suffixes: Sequence[str]) -> str:
    lower = name.lower()
    for suffix in suffixes:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_git_url(source: str) -> bool:
    return bool(_GIT_URL.match(source)) or (source.endswith(".git") and not Path(source).is_dir())


def _unique(name: str, options: TaskOptions) -> str:
    # Two sources may carry the same name (two "src" directories): keep both, distinguishably.
    # A repository name lands in every row of the output: printable, like file names.
    name = printable_name(name)
    count = options.names_seen.get(name, 0) + 1
    options.names_seen[name] = count
    return name if count == 1 else f"{name}~{count}"


def expand_source(source: str, options: TaskOptions) -> list[RepoTask]:
    """The repositories one command-line source stands for."""
    if is_git_url(source):
        name = _strip_suffix(source.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1], (".git",))
        return [RepoTask(_unique(name, options), "git", source)]
    path = Path(source)
    if not path.exists():
        raise SourceError(f"source not found: {source}")
    lower = path.name.lower()
    if path.is_dir():  # a working tree or a plain directory: either way one repository
        return [RepoTask(_unique(path.resolve().name, options), "dir", str(path.resolve()))]
    if lower.endswith(ARCHIVE_SUFFIXES):
        return [
            RepoTask(
                _unique(_strip_suffix(path.name, ARCHIVE_SUFFIXES), options),
                "archive",
                str(path.resolve()),
            )
        ]
    if lower.endswith(".parquet"):
        return _parquet_tasks(path, options)
    if lower.endswith(TABLE_SUFFIXES):
        return _jsonl_tasks(path, options)
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


def _pick_column(
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


def _parquet_tasks(path: Path, options: TaskOptions) -> list[RepoTask]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise SourceError(f"{path}: not a readable Parquet file: {exc}") from exc
    names = parquet.schema_arrow.names
    repo_col = _pick_column(names, options.table_columns[0], REPO_COLUMNS, "repo", str(path))
    path_col = _pick_column(names, options.table_columns[1], PATH_COLUMNS, "path", str(path))
    content_col = _pick_column(
        names, options.table_columns[2], CONTENT_COLUMNS, "content", str(path)
    )
    rows: dict[str, list[tuple[int, int]]] = {}
    for group in range(parquet.num_row_groups):
        repos = parquet.read_row_group(group, columns=[repo_col]).column(0).to_pylist()
        for row, repo in enumerate(repos):
            rows.setdefault(str(repo), []).append((group, row))
    columns = (repo_col, path_col, content_col)
    return [
        RepoTask(_unique(repo, options), "parquet", str(path.resolve()), tuple(r), columns)
        for repo, r in sorted(rows.items())
    ]


def _open_text_table(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _jsonl_tasks(path: Path, options: TaskOptions) -> list[RepoTask]:
    rows: dict[str, list[int]] = {}
    columns: tuple[str, str, str] | None = None
    with _open_text_table(path) as handle:
        offset = 0
        for number, line in enumerate(handle, 1):
            start, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SourceError(f"{path}:{number}: not valid JSON: {exc.msg}") from exc
            if not isinstance(record, dict):
                raise SourceError(f"{path}:{number}: expected a JSON object per line")
            if columns is None:
                names = list(record)
                columns = (
                    _pick_column(names, options.table_columns[0], REPO_COLUMNS, "repo", str(path)),
                    _pick_column(names, options.table_columns[1], PATH_COLUMNS, "path", str(path)),
                    _pick_column(
                        names, options.table_columns[2], CONTENT_COLUMNS, "content", str(path)
                    ),
                )
            rows.setdefault(str(record.get(columns[0])), []).append(start)
    if columns is None:
        return []
    return [
        RepoTask(_unique(repo, options), "jsonl", str(path.resolve()), tuple(r), columns)
        for repo, r in sorted(rows.items())
    ]


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


def safe_member_path(name: str) -> str | None:
    """A normalised relative POSIX path, or None for absolute paths and '..' escapes."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def _common_top_dir(paths: Sequence[str]) -> str | None:
    """The single top-level directory all members share (sdists, npm's package/), if any."""
    tops = {p.split("/", 1)[0] for p in paths}
    if len(tops) == 1 and all("/" in p for p in paths):
        return tops.pop()
    return None


def _is_vcs_path(path: str) -> bool:
    return any(part in VCS_DIRS for part in path.split("/")[:-1])


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


def _open_decompressed(path: Path):
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if magic == b"\xfd7zXZ\x00":
        return lzma.open(path, "rb")
    if magic[:3] == b"BZh":
        return bz2.open(path, "rb")
    return open(path, "rb")


def _tar_number(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256 for values that do not fit in octal
        return int.from_bytes(field[1:], "big")
    digits = field.split(b"\0", 1)[0].strip(b" \0")
    return int(digits, 8) if digits else 0


def _pax_records(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        length = int(data[pos:space])
        if length <= 0:
            break
        key, _, value = data[space + 1 : pos + length - 1].partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def _read_tar_entries(
    path: Path, config: ReadConfig
) -> Iterator[tuple[str, str, int, bytes | None, str]]:
    """(name, kind, size, data, linkname) of each member, in one sequential pass.

    A small ustar/GNU/PAX header parser: Python's tarfile spends ~0.5 ms per member in header
    objects, which made reading an sdist slower than parsing its dependencies. Only regular
    files that fit the cap are read; everything else is skipped without keeping its bytes.
    """
    overrides: dict[str, str] = {}
    total = 0
    count = 0
    with _open_decompressed(path) as stream:
        while True:
            header = stream.read(512)
            if len(header) < 512 or header == b"\0" * 512:
                return
            stored = _tar_number(header[148:156])
            if stored != sum(header[:148]) + 256 + sum(header[156:]):
                raise SourceError(f"{path}: broken archive (bad tar header checksum)")
            count += 1
            if count > config.max_archive_members:
                raise SourceError(f"{path}: more than {config.max_archive_members} members")
            typeflag = header[156:157]
            size = _tar_number(header[124:136])
            if typeflag in (b"x", b"g", b"L", b"K"):
                meta = stream.read((size + 511) // 512 * 512)[:size]
                if typeflag == b"x":
                    overrides.update(_pax_records(meta))
                elif typeflag == b"L":
                    overrides["path"] = meta.rstrip(b"\0").decode("utf-8", "surrogateescape")
                elif typeflag == b"K":
                    overrides["linkpath"] = meta.rstrip(b"\0").decode("utf-8", "surrogateescape")
                continue
            name = header[:100].split(b"\0", 1)[0]
            if header[257:262] == b"ustar" and header[345:500].strip(b"\0"):
                name = header[345:500].split(b"\0", 1)[0] + b"/" + name
            name_str = overrides.get("path") or name.decode("utf-8", "surrogateescape")
            link = overrides.get("linkpath") or header[157:257].split(b"\0", 1)[0].decode(
                "utf-8", "surrogateescape"
            )
            if "size" in overrides:
                size = int(overrides["size"])
            overrides = {}
            padded = (size + 511) // 512 * 512
            total += padded
            if total > config.max_archive_bytes:
                raise SourceError(
                    f"{path}: more than {config.max_archive_bytes} bytes uncompressed (bomb guard)"
                )
            if typeflag in (b"0", b"\0", b"7"):
                kind = "file"
            elif typeflag == b"5":
                kind = "dir"
            elif typeflag in (b"1", b"2"):
                kind = "link"
            else:
                kind = "other"
            data = None
            if kind == "file" and size <= config.max_file_bytes:
                block = stream.read(padded)
                if len(block) < size:
                    raise SourceError(f"{path}: broken archive (truncated member {name_str})")
                data = block[:size]
            else:
                while padded:  # skip without keeping the bytes
                    chunk = stream.read(min(padded, 1 << 20))
                    if not chunk:
                        break
                    padded -= len(chunk)
            yield name_str, kind, size, data, link


def iter_tar(path: Path, config: ReadConfig) -> Iterator[RawFile]:
    entries: list[RawFile] = []
    try:
        tar_entries = list(_read_tar_entries(path, config))
    except (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile, OSError) as exc:
        # A corrupt or truncated archive is bad input: one failed repository, a clear reason.
        raise SourceError(f"{path.name}: corrupt archive: {exc}") from exc
    for name, kind, size, data, link in tar_entries:
        if kind == "dir":
            continue
        rel = safe_member_path(name)
        if rel is None:
            entries.append(RawFile(name, size, skip_reason="unsafe-path"))
        elif kind == "link":
            entries.append(RawFile(rel, 0, skip_reason="symlink", detail=link))
        elif kind != "file":
            entries.append(RawFile(rel, 0, skip_reason="not-regular-file"))
        elif data is None:
            entries.append(RawFile(rel, size, skip_reason="too-large", detail=str(size)))
        else:
            entries.append(RawFile(rel, len(data), data=data))
    # The top directory (sdist's name-version/, npm's package/) is known only at the end.
    top = _common_top_dir([e.path for e in entries if e.skip_reason != "unsafe-path"])
    for entry in entries:
        if top and entry.skip_reason != "unsafe-path":
            entry.path = entry.path[len(top) + 1 :]
        if not _is_vcs_path(entry.path):
            yield entry


def _zip_member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as the tar and directory readers see names: UTF-8, undecodable bytes as
    surrogates. zipfile decodes a name without the UTF-8 flag (0x800) as cp437, which turns any
    bytes into some text; the bytes are recovered and decoded as UTF-8 (what Info-ZIP and most
    tools on Linux write without setting the flag), so a name that is not UTF-8 is seen as such."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        data = info.orig_filename.encode("cp437")
    except UnicodeEncodeError:  # pragma: no cover - zipfile decoded it with another codec
        return info.filename
    name = data.decode("utf-8", "surrogateescape")
    if os.sep != "/":  # pragma: no cover - as zipfile normalises separators
        name = name.replace(os.sep, "/")
    return name


def iter_zip(path: Path, config: ReadConfig) -> Iterator[RawFile]:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if len(infos) > config.max_archive_members:
            raise SourceError(f"{path}: more than {config.max_archive_members} members")
        for info in infos:
            info.filename = _zip_member_name(info)
        names = [safe_member_path(i.filename) for i in infos if not i.is_dir()]
        top = _common_top_dir([n for n in names if n])
        budget = config.max_archive_bytes
        for info in sorted(infos, key=lambda i: i.filename):
            if info.is_dir():
                continue
            rel = safe_member_path(info.filename)
            if rel is None:
                yield RawFile(info.filename, info.file_size, skip_reason="unsafe-path")
                continue
            if top:
                rel = rel[len(top) + 1 :]
            if _is_vcs_path(rel):
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                yield RawFile(rel, 0, skip_reason="symlink")
                continue
            if info.file_size > config.max_file_bytes:
                yield RawFile(
                    rel, info.file_size, skip_reason="too-large", detail=str(info.file_size)
                )
                continue
            try:
                with archive.open(info) as handle:
                    # Never trust the declared size: read at most cap + 1 bytes.
                    data = handle.read(config.max_file_bytes + 1)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                yield RawFile(rel, info.file_size, skip_reason="unreadable", detail=str(exc))
                continue
            if len(data) > config.max_file_bytes:
                yield RawFile(rel, len(data), skip_reason="too-large", detail="declared size lied")
                continue
            budget -= len(data)
            if budget < 0:
                raise SourceError(
                    f"{path}: more than {config.max_archive_bytes} bytes uncompressed (bomb guard)"
                )
            yield RawFile(rel, len(data), data=data)


def _table_file(path: str, size: int, content, config: ReadConfig) -> RawFile:
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
            yield _table_file(path, 0, content, config)


def iter_jsonl_rows(task: RepoTask, config: ReadConfig) -> Iterator[RawFile]:
    _, path_col, content_col = task.columns
    with _open_text_table(Path(task.location)) as handle:
        for offset in task.rows:
            handle.seek(offset)
            record = json.loads(handle.readline())
            yield _table_file(record.get(path_col), 0, record.get(content_col), config)


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
