"""JDK: the JDK's ``src.zip`` (a local copy when its sha256 matches the pin, otherwise the Debian
package that ships it), split into one repository directory per JDK module."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from repoloom.corpus.fetch.common import (
    Workspace,
    add_extensions,
    check_sha,
    fetched_entry,
    log,
    run_tool,
    safe_rmtree,
    sha256_file,
    tree_stats,
)
from repoloom.corpus.fetch.debian import DebDownload, cached_deb
from repoloom.corpus.fetch.manifest import Artefact, FetchedEntry, FetchError

DEFAULT_JDK_SRC_ZIPS = (
    "/usr/lib/jvm/java-17-openjdk-amd64/lib/src.zip",
    "/usr/lib/jvm/openjdk-17/lib/src.zip",
)


def split_src_zip(
    src_zip: Path, out_dir: Path, prefix: str, modules: Iterable[str] | None = None
) -> list[str]:
    """Extract a JDK src.zip into one directory per module, ``out_dir/<prefix>-<module>``.

    Entries whose path is absolute or contains ``..`` are rejected. Returns the output names.
    """
    wanted = set(modules) if modules is not None else None
    by_module: dict[str, list[zipfile.ZipInfo]] = {}
    try:
        zf = zipfile.ZipFile(src_zip)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FetchError(f"{src_zip}: not a readable zip ({exc})") from exc
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            pure = PurePosixPath(info.filename)
            if pure.is_absolute() or ".." in pure.parts or len(pure.parts) < 2:
                raise FetchError(f"{src_zip.name}: unsafe or unexpected entry {info.filename!r}")
            module = pure.parts[0]
            if wanted is None or module in wanted:
                by_module.setdefault(module, []).append(info)
        if wanted is not None:
            missing = sorted(wanted - set(by_module))
            if missing:
                raise FetchError(f"{src_zip.name}: no module(s) {', '.join(missing)}")
        names = []
        for module in sorted(by_module):
            name = f"{prefix}-{module}"
            final = out_dir / name
            tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{name}-"))
            try:
                for info in by_module[module]:
                    rel = PurePosixPath(*PurePosixPath(info.filename).parts[1:])
                    target = tmp.joinpath(*rel.parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                safe_rmtree(final)
                os.replace(tmp, final)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp)
            names.append(name)
    return names


def fetch_jdk(ws: Workspace, download: DebDownload, a: Artefact) -> FetchedEntry:
    """The JDK's src.zip (a local copy matching the pin, else from the Debian package that
    ships it), split into one repository directory per module."""
    src_zip: Path | None = None
    cached_zip = ws.cache / f"{a.name}-src.zip"
    candidates = [a.path] if a.path else list(DEFAULT_JDK_SRC_ZIPS)
    if a.sha256 is not None:
        candidates.append(str(cached_zip))  # verified by an earlier fetch
    for cand in candidates:
        p = Path(str(cand))
        if p.is_file() and (a.sha256 is None or sha256_file(p) == a.sha256):
            src_zip = p
            break
        if p.is_file():
            log.info("%s does not match the pinned sha256; using the Debian package", p)
    extra: dict[str, Any] = {}
    if src_zip is None:
        if a.path and not Path(a.path).is_file() and a.deb_sha256 is None:
            raise FetchError(f"{a.label()}: {a.path} does not exist")
        deb = cached_deb(ws, download, a.package, a.version, a.deb_sha256, a.label())
        extra["deb_sha256"] = sha256_file(deb)
        with tempfile.TemporaryDirectory(dir=ws.tmp, prefix="jdk-") as tmp:
            run_tool(["dpkg-deb", "-x", str(deb), tmp], Path(tmp), f"unpack {deb.name}")
            found = sorted(Path(tmp).rglob("src.zip"))
            if not found:
                raise FetchError(f"{a.label()}: the package carries no src.zip")
            src_zip = cached_zip
            shutil.move(str(found[0]), src_zip)
        deb.unlink()  # the src.zip is what is kept; the .deb can be downloaded again
    extra["src_zip"] = str(src_zip)
    sha = check_sha(src_zip, a.sha256, f"{a.label()} src.zip", ws.allow_unpinned)
    names = split_src_zip(src_zip, ws.out, a.name, a.modules)
    files = size = 0
    exts: dict[str, list[int]] = {}
    for n in names:
        f, s, e = tree_stats(ws.out / n)
        files += f
        size += s
        add_extensions(exts, e)
    return fetched_entry(
        a, name=a.name, sha=sha, artefact=src_zip, outputs=names, kind="directory",
        stats=(files, size, exts), extra=extra,
    )  # fmt: skip
