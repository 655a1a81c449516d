"""Loading one local repository as text, for tools that need a repository's view outside a
corpus build (`repoloom corpus order`, repository-aware completion in `repoloom.serve`).

It reads with the same safe reader and decoder as the corpus builder (no symlinks followed,
binary/non-UTF-8/oversized files skipped) and identifies languages the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.languages import identify_language
from repoloom.corpus.sources import RepoTask, iter_repository_files
from repoloom.corpus.steps import StepLog, decode_files


@dataclass
class LoadedRepository:
    root: Path
    texts: dict[str, str]  # repository-relative POSIX path -> text
    languages: dict[str, str | None]  # path -> release language name, None when unknown
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why it was not loaded


def load_repository(root: str | Path, config: CorpusConfig | None = None) -> LoadedRepository:
    config = config or CorpusConfig()
    root = Path(root).resolve()
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    log = StepLog()
    task = RepoTask(name=root.name, kind="dir", location=str(root))
    docs = decode_files(root.name, iter_repository_files(task, config.read), config, log)
    texts = {d.path: d.text for d in docs}
    languages = {
        d.path: identify_language(d.path, d.text[:256].encode("utf-8", "replace")) for d in docs
    }
    skipped = {r.path: r.reason for r in log.removed}
    return LoadedRepository(root=root, texts=texts, languages=languages, skipped=skipped)
