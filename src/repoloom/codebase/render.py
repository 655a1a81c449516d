"""Turning a repository's ordered files into training samples (sample rendering).

Files whose language has a dependency parser are grouped by dependency component and ordered
(`repoloom.codebase.order`); each component becomes one sample. Other files follow the report:
each stays a file-level sample (``unparsed_mode: file``), or, as DeepSeek-Coder-V2 did, they are
concatenated in a seeded random order per repository (``unparsed_mode: random``).
Every file of a multi-file sample is preceded by a header line (``# <path>`` by default).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from repoloom.codebase.config import OrderConfig


class TextFile(Protocol):
    """What a sample needs of a decoded file (the corpus pipeline's `FileDoc` is one)."""

    path: str
    text: str
    n_bytes: int
    language: str | None


@dataclass
class Sample:
    repo: str
    sample_id: str
    text: str
    paths: list[str]
    languages: list[str]
    n_bytes: int
    kind: str  # "repo" (dependency-ordered component), "file", or "random" (unparsed, shuffled)

    def row(self) -> dict:
        return {
            "repo": self.repo,
            "sample_id": self.sample_id,
            "text": self.text,
            "paths": self.paths,
            "languages": self.languages,
            "n_bytes": self.n_bytes,
            "kind": self.kind,
        }


def render_file(path: str, text: str, header_template: str = "# {path}") -> str:
    """One file as it stands in a multi-file sample: header line, the text, a final newline."""
    body = text if text.endswith("\n") or not text else text + "\n"
    return header_template.format(path=path) + "\n" + body


def sample_id(repo: str, paths: Sequence[str]) -> str:
    """Content-addressed id: the same repository and file list always get the same id."""
    digest = hashlib.sha256("\0".join([repo, *paths]).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:20]


def split_by_size(docs: Sequence[TextFile], max_bytes: int) -> list[list[TextFile]]:
    """Consecutive runs of `docs`, each at most `max_bytes` (a larger single file stands alone)."""
    chunks: list[list[TextFile]] = []
    current: list[TextFile] = []
    size = 0
    for doc in docs:
        if current and size + doc.n_bytes > max_bytes:
            chunks.append(current)
            current, size = [], 0
        current.append(doc)
        size += doc.n_bytes
    if current:
        chunks.append(current)
    return chunks


def make_sample(repo: str, docs: Sequence[TextFile], kind: str, config: OrderConfig) -> Sample:
    paths = [d.path for d in docs]
    if len(docs) > 1 or config.header_single_files:
        text = "".join(render_file(d.path, d.text, config.header_template) for d in docs)
    else:
        text = docs[0].text
    return Sample(
        repo=repo,
        sample_id=sample_id(repo, paths),
        text=text,
        paths=paths,
        languages=[d.language or "" for d in docs],
        n_bytes=len(text.encode("utf-8", "surrogatepass")),
        kind=kind if len(docs) > 1 else "file",
    )


def assemble_samples(
    repo: str,
    ordered_components: Sequence[Sequence[str]],
    parsed_docs: dict[str, TextFile],
    unparsed_docs: Sequence[TextFile],
    config: OrderConfig,
) -> tuple[list[Sample], int]:
    """All samples of one repository, in a deterministic order; also the number of splits made."""
    samples: list[Sample] = []
    splits = 0
    for component in ordered_components:
        chunks = split_by_size([parsed_docs[p] for p in component], config.max_sample_bytes)
        splits += len(chunks) - 1
        samples.extend(make_sample(repo, chunk, "repo", config) for chunk in chunks)
    unparsed = sorted(unparsed_docs, key=lambda d: d.path)
    if config.unparsed_mode == "random" and unparsed:
        rng = random.Random(f"{config.seed}:{repo}")  # seeded per repository: worker-independent
        rng.shuffle(unparsed)
        chunks = split_by_size(unparsed, config.max_sample_bytes)
        splits += len(chunks) - 1
        samples.extend(make_sample(repo, chunk, "random", config) for chunk in chunks)
    else:
        samples.extend(make_sample(repo, [doc], "file", config) for doc in unparsed)
    return samples, splits
