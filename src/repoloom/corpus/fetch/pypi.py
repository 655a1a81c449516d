"""PyPI: a source distribution, ``pip download --no-binary NAME --no-deps NAME==VER``."""

from __future__ import annotations

import sys
from pathlib import Path

from repoloom.corpus.fetch.common import only_new_file, run_tool
from repoloom.corpus.fetch.manifest import Artefact


def download_sdist(a: Artefact, dest: Path) -> Path:
    """Download the pinned sdist into the empty folder ``dest``; return its path."""
    run_tool(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            a.package,
            "--disable-pip-version-check",
            "-q",
            "-d",
            str(dest),
            f"{a.package}=={a.version}",
        ],
        dest,
        a.label(),
    )
    return only_new_file(dest, a.label(), (".tar.gz", ".zip", ".tar.bz2"))
