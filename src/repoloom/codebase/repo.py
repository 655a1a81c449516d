"""Loading one local repository as text, for tools that need a repository's view outside a
corpus build (`repoloom corpus order`, repository-aware completion in `repoloom.serve`).

It reads with the same safe reader and decoding rule as the corpus builder (no symlinks followed,
binary/non-UTF-8/oversized files skipped) and identifies languages the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repoloom.codebase.config import ReadConfig
from repoloom.codebase.files import RepoTask, decode_text
from repoloom.codebase.languages import identify_language
from repoloom.codebase.sources import iter_repository_files


@dataclass
class LoadedRepository:
    root: Path
    texts: dict[str, str]  # repository-relative POSIX path -> text
    languages: dict[str, str | None]  # path -> release language name, None when unknown
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why it was not loaded


def load_repository(root: str | Path, config: ReadConfig | Any | None = None) -> LoadedRepository:
    """Every decodable file under `root`. `config`: the read limits (a `ReadConfig`, or a corpus
    configuration, whose ``read`` section is used); None gives the defaults."""
    read = getattr(config, "read", config) or ReadConfig()
    root = Path(root).resolve()
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    task = RepoTask(name=root.name, kind="dir", location=str(root))
    texts: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for raw in iter_repository_files(task, read):
        text, reason, _ = decode_text(raw, read.binary_probe_bytes)
        if text is None:
            skipped[raw.path] = reason
        else:
            texts[raw.path] = text
    languages = {
        path: identify_language(path, text[:256].encode("utf-8", "replace"))
        for path, text in texts.items()
    }
    return LoadedRepository(root=root, texts=texts, languages=languages, skipped=skipped)
