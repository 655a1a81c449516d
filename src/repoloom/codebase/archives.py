"""Reading the files of an archive (tar in any compression, zip, .crate) into memory.

Nothing is ever extracted to disk: members are read into memory (each capped at
`read.max_file_bytes`), so a hostile archive cannot write outside anything; members that are not
read (links, unsafe paths, oversized files) still yield a `RawFile` with a `skip_reason`.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from repoloom.codebase.config import ReadConfig
from repoloom.codebase.files import (
    RawFile,
    SourceError,
    common_top_dir,
    is_vcs_path,
    safe_member_path,
)

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
    top = common_top_dir([e.path for e in entries if e.skip_reason != "unsafe-path"])
    for entry in entries:
        if top and entry.skip_reason != "unsafe-path":
            entry.path = entry.path[len(top) + 1 :]
        if not is_vcs_path(entry.path):
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
        top = common_top_dir([n for n in names if n])
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
            if is_vcs_path(rel):
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
