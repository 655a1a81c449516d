"""``local``: a file already on disk (an archive or a ``.deb``), for one's own artefacts and tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from repoloom.corpus.fetch.manifest import Artefact, FetchError


def local_file(a: Artefact) -> Path:
    """The entry's file, which must exist."""
    src = Path(str(a.path))
    if not src.is_file():
        raise FetchError(f"{a.label()}: local file {src} does not exist")
    return src


def copy_local(a: Artefact, dest: Path) -> Path:
    """Copy the entry's file into the folder ``dest``; return the copy."""
    src = local_file(a)
    target = dest / src.name
    shutil.copyfile(src, target)
    return target
