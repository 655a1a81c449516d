"""Debian: a package that carries source (``golang-*-dev``, ``librust-*-dev``, ``php-*``,
header-only C/C++ libraries), ``apt-get download NAME=VER``; its files are unpacked with
``dpkg-deb -x`` and the source tree root (``usr/share/gocode/src/<import path>``,
``usr/share/cargo/registry/<crate>``, ``usr/share/php/<package>``, ``usr/include/...``) becomes
one repository directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from repoloom.corpus.fetch.common import (
    Workspace,
    check_sha,
    fetched_entry,
    log,
    only_new_file,
    run_tool,
    safe_rmtree,
    sha256_file,
    tree_stats,
)
from repoloom.corpus.fetch.local import local_file
from repoloom.corpus.fetch.manifest import Artefact, FetchedEntry, FetchError

# Where a Debian package keeps the source tree, tried in this order.
DEB_SOURCE_BASES = (
    "usr/share/gocode/src",
    "usr/share/cargo/registry",
    "usr/share/php",
    "usr/include",
    "usr/share/java",
    "usr/src",
    "usr/lib/python3/dist-packages",
    "usr/share/javascript",
    "usr/share/nodejs",
)
# Never descend into these when looking for a package's root: they are inside a repository.
_SOURCE_DIR_NAMES = frozenset({"src", "lib", "source", "sources", "test", "tests"})

# (package, version, folder) -> the downloaded .deb; Apt.download or a test's stand-in.
DebDownload = Callable[[str, str, Path], Path]


class Apt:
    """The apt-get client of one fetch: ``apt-get update`` runs at most once, when needed."""

    def __init__(self) -> None:
        self._apt_lock = threading.Lock()
        self._apt_updated = False

    def download(self, package: str, version: str, dest: Path) -> Path:
        """``apt-get download PACKAGE=VERSION`` into ``dest``; return the .deb."""
        what = f"deb:{package}={version}"
        if shutil.which("apt-get") is None:
            raise FetchError(f"{what}: apt-get is not installed (Debian/Ubuntu only)")
        cmd = ["apt-get", "download", "-q", f"{package}={version}"]
        proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True)
        if proc.returncode != 0:
            # Missing or old package lists are the usual cause: update once, then try again.
            with self._apt_lock:
                self._apt_update(what)
            proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True)
        if proc.returncode != 0:
            have = self._apt_versions(package)
            raise FetchError(
                f"{what}: `{' '.join(cmd)}` failed ({proc.stderr.strip()[-200:]}); available "
                f"versions: {', '.join(have) or 'none'}. Debian replaces versions on updates: "
                "pin an available version and its sha256."
            )
        return only_new_file(dest, what, (".deb",))

    @staticmethod
    def _apt_versions(package: str) -> list[str]:
        if shutil.which("apt-cache") is None:
            raise FetchError(f"deb:{package}: apt-cache is not installed (Debian/Ubuntu only)")
        proc = subprocess.run(
            ["apt-cache", "madison", package], capture_output=True, text=True, check=False
        )
        versions = []
        for line in proc.stdout.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) >= 2 and parts[0] == package:
                versions.append(parts[1])
        return versions

    def _apt_update(self, what: str) -> None:
        if self._apt_updated:
            return
        self._apt_updated = True
        log.info("running apt-get update (package lists are missing or old)")
        proc = subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise FetchError(
                f"{what}: not in the package lists and `apt-get update` failed "
                f"(run it as root): {proc.stderr.strip()[-300:]}"
            )


def find_deb_source_root(tree: Path, subdir: str | None = None) -> Path:
    """The directory of an unpacked .deb that is the repository's source root.

    With ``subdir`` that directory. Otherwise the first of DEB_SOURCE_BASES that exists, descended
    while it holds exactly one entry and that entry is a directory not named like a source folder
    (``usr/share/gocode/src`` -> ``github.com/spf13/cobra``). Falls back to the whole tree without ``usr/share/doc``.
    """
    if subdir:
        root = tree / subdir
        if not root.is_dir():
            raise FetchError(f"'subdir' {subdir!r} is not a directory of the package")
        return root
    for base in DEB_SOURCE_BASES:
        root = tree / base
        if not root.is_dir():
            continue
        while True:
            children = [c for c in root.iterdir()]
            if (
                len(children) == 1
                and children[0].is_dir()
                and not children[0].is_symlink()
                and children[0].name not in _SOURCE_DIR_NAMES
            ):
                root = children[0]
            else:
                break
        if any(root.iterdir()):
            return root
    doc = tree / "usr" / "share" / "doc"
    if doc.is_dir():
        shutil.rmtree(doc)
    return tree


def _drop_escaping_symlinks(root: Path) -> int:
    """Remove symlinks that are absolute or point outside ``root``; return how many."""
    dropped = 0
    real_root = root.resolve()
    for dirpath, dirs, names in os.walk(root):
        for n in [*dirs, *names]:
            p = Path(dirpath, n)
            if not p.is_symlink():
                continue
            target = os.readlink(p)
            resolved = (p.parent / target).resolve()
            inside = not os.path.isabs(target) and (
                resolved == real_root or real_root in resolved.parents
            )
            if not inside or not resolved.exists():
                p.unlink()
                dropped += 1
    return dropped


def extract_deb(deb: Path, dest: Path, subdir: str | None = None) -> dict[str, int]:
    """Unpack a .deb's files and move its source root to ``dest`` (which must not exist)."""
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".deb-") as tmp:
        tree = Path(tmp, "tree")
        tree.mkdir()
        run_tool(["dpkg-deb", "-x", str(deb), str(tree)], tree, f"unpack {deb.name}")
        root = find_deb_source_root(tree, subdir)
        dropped = _drop_escaping_symlinks(root)
        if not any(root.iterdir()):
            raise FetchError(f"{deb.name}: the package has no source files")
        os.replace(root, dest)
    return {"symlinks_dropped": dropped}


def cached_deb(
    ws: Workspace, download: DebDownload, package: str, version: str, sha: str | None, what: str
) -> Path:
    """A verified .deb in the cache: reuse it when it matches the pin, else download."""
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", f"{package}_{version}.deb")
    cached = ws.cache / safe
    if cached.is_file() and sha is not None and sha256_file(cached) == sha:
        return cached
    with tempfile.TemporaryDirectory(dir=ws.tmp, prefix="deb-") as tmp:
        got = download(package, version, Path(tmp))
        check_sha(got, sha, what, ws.allow_unpinned)
        os.replace(got, cached)
    return cached


def fetch_deb(ws: Workspace, download: DebDownload, a: Artefact) -> FetchedEntry:
    """A ``deb`` (or ``local`` .deb) entry: the package's source root becomes one directory."""
    if a.source == "local":
        deb = local_file(a)
        sha = check_sha(deb, a.sha256, a.label(), ws.allow_unpinned)
    else:
        deb = cached_deb(ws, download, a.package, a.version, a.sha256, a.label())
        sha = sha256_file(deb)
    final = ws.out / a.name
    safe_rmtree(final)
    extra = extract_deb(deb, final, a.subdir)
    return fetched_entry(
        a, name=a.name, sha=sha, artefact=deb, outputs=[a.name], kind="directory",
        stats=tree_stats(final), extra=extra,
    )  # fmt: skip
