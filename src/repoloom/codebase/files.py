"""What a repository's file is before decoding, and the names a file may carry.

A `RepoTask` says where one repository is; reading it (`repoloom.codebase.sources`) yields
`RawFile`s. A file *name* that is not UTF-8 (a directory entry or tar member with stray bytes, a
zip member without the UTF-8 flag whose bytes do not decode, a lone surrogate escaped in JSON) or
that holds a control character (newline, tab, ESC, U+2028, ...) is never read: it is removed as
`path-not-utf8` / `path-control-char`, and every name that leaves the readers (paths, repository
names, details) is in its `printable_name` form, which is valid UTF-8 and one line, so no
writer (Arrow, JSON, a sample header) can fail on it or split it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr"})

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


def unique_name(name: str, options: TaskOptions) -> str:
    # Two sources may carry the same name (two "src" directories): keep both, distinguishably.
    # A repository name lands in every row of the output: printable, like file names.
    name = printable_name(name)
    count = options.names_seen.get(name, 0) + 1
    options.names_seen[name] = count
    return name if count == 1 else f"{name}~{count}"


def safe_member_path(name: str) -> str | None:
    """A normalised relative POSIX path, or None for absolute paths and '..' escapes."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def common_top_dir(paths: Sequence[str]) -> str | None:
    """The single top-level directory all members share (sdists, npm's package/), if any."""
    tops = {p.split("/", 1)[0] for p in paths}
    if len(tops) == 1 and all("/" in p for p in paths):
        return tops.pop()
    return None


def is_vcs_path(path: str) -> bool:
    return any(part in VCS_DIRS for part in path.split("/")[:-1])


def decode_text(raw: RawFile, binary_probe_bytes: int) -> tuple[str | None, str, str]:
    """``(text, "", "")`` for a file that is UTF-8 text (a leading BOM dropped), else
    ``(None, reason, detail)``: the reader's skip reason, ``binary`` (a NUL byte in the first
    `binary_probe_bytes`) or ``invalid-utf8`` (detail: the offset of the first bad byte)."""
    if raw.skip_reason:
        return None, raw.skip_reason, raw.detail
    data = raw.data or b""
    if b"\x00" in data[:binary_probe_bytes]:
        return None, "binary", raw.detail
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, "invalid-utf8", f"byte {exc.start}"
    return (text[1:] if text.startswith("\ufeff") else text), "", ""
