"""npm: a package tarball, ``npm pack NAME@VER``."""

from __future__ import annotations

from pathlib import Path

from repoloom.corpus.fetch.common import only_new_file, run_tool
from repoloom.corpus.fetch.manifest import Artefact


def download_tarball(a: Artefact, dest: Path) -> Path:
    """Download the pinned tarball into the empty folder ``dest``; return its path."""
    run_tool(
        [
            "npm",
            "pack",
            "--silent",
            "--pack-destination",
            str(dest),
            f"{a.package}@{a.version}",
        ],
        dest,
        a.label(),
    )
    return only_new_file(dest, a.label(), (".tgz",))
