"""The held-out check: a benchmark repository must not be in the training corpus.

A ``repoloom corpus build`` output (``DIR/samples/*.parquet``: ``repo``, ``paths``, ``text``) is
indexed by repository name and by content: each sample's text is split back into its files (at
the header lines ``# <path>`` the builder writes before each file of a multi-file sample) and
every file's *normalized* text (trailing spaces and blank lines dropped) is hashed. A candidate
repository is refused when its name matches a corpus repository (case-insensitive, also the
last ``/`` component, a ``~N`` de-duplication suffix ignored), or when at least
``max_shared_share`` of its hashable files (normalized text of at least ``MIN_HASH_CHARS``
characters: a tiny ``__init__.py`` or a licence stub proves nothing) are in the corpus. That
catches a renamed copy. Files of an accepted repository that are in the corpus anyway are
excluded from point selection.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

MIN_HASH_CHARS = 64
DEFAULT_MAX_SHARED_SHARE = 0.5


def normalize(text: str) -> str:
    lines = (line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def content_hash(text: str) -> str | None:
    """sha256 of the normalized text; None when it is too short to be evidence."""
    norm = normalize(text)
    if len(norm) < MIN_HASH_CHARS:
        return None
    return hashlib.sha256(norm.encode("utf-8", "surrogatepass")).hexdigest()


def repo_key(name: str) -> str:
    name = name.strip().rstrip("/").lower()
    base, sep, suffix = name.rpartition("~")
    if sep and suffix.isdigit():
        name = base
    return name.rsplit("/", 1)[-1]


def split_sample(text: str, paths: list[str]) -> list[tuple[str, str]]:
    """A corpus sample back into ``(path, text)`` per file, at its header lines.

    A header is a line that ends with the next expected path and is at most 16 characters
    longer (``# path``, ``// path``, ...). A single-file sample without a header is the file.
    """
    if not paths:
        return []
    lines = text.split("\n")
    starts: list[int] = []
    want = 0
    for i, line in enumerate(lines):
        if want >= len(paths):
            break
        s = line.rstrip()
        p = paths[want]
        if (
            s.endswith(p)
            and len(s) <= len(p) + 16
            and (len(s) == len(p) or not s[-len(p) - 1].isalnum())
        ):
            starts.append(i)
            want += 1
    if len(starts) != len(paths):
        return [(paths[0], text)] if len(paths) == 1 else []
    out = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        out.append((paths[k], "\n".join(lines[start + 1 : end])))
    return out


@dataclass
class CorpusIndex:
    root: Path
    repos: set[str] = field(default_factory=set)
    hashes: dict[str, str] = field(default_factory=dict)  # content hash -> "repo:path"
    n_samples: int = 0
    n_unsplit: int = 0  # multi-file samples whose headers were not found (not hashed)


@dataclass
class HeldOutVerdict:
    ok: bool
    reason: str  # "" when ok, else why the repository is refused
    shared_files: dict[str, str] = field(default_factory=dict)  # path -> corpus "repo:path"
    n_hashable: int = 0

    @property
    def shared_share(self) -> float:
        return len(self.shared_files) / self.n_hashable if self.n_hashable else 0.0


def load_corpus_index(corpus_dir: str | Path) -> CorpusIndex:
    """Index a ``repoloom corpus build`` output directory (raises ValueError when it is not one)."""
    import pyarrow.parquet as pq

    root = Path(corpus_dir)
    parts = sorted((root / "samples").glob("*.parquet")) if (root / "samples").is_dir() else []
    if not parts:
        raise ValueError(
            f"--exclude-corpus {corpus_dir}: no samples/*.parquet (expected a "
            "`repoloom corpus build` output directory)"
        )
    index = CorpusIndex(root=root)
    for part in parts:
        pf = pq.ParquetFile(part)
        missing = {"repo", "paths", "text"} - set(pf.schema_arrow.names)
        if missing:
            raise ValueError(f"{part}: not a corpus samples file (missing {sorted(missing)})")
        for batch in pf.iter_batches(columns=["repo", "paths", "text"], batch_size=256):
            for row in batch.to_pylist():
                index.n_samples += 1
                repo = row["repo"] or ""
                index.repos.add(repo_key(repo))
                files = split_sample(row["text"] or "", list(row["paths"] or []))
                if not files and row["paths"]:
                    index.n_unsplit += 1
                for path, text in files:
                    h = content_hash(text)
                    if h is not None:
                        index.hashes.setdefault(h, f"{repo}:{path}")
    return index


def check_heldout(
    name: str,
    files: Mapping[str, str],
    index: CorpusIndex,
    max_shared_share: float = DEFAULT_MAX_SHARED_SHARE,
    paths: Iterable[str] | None = None,
) -> HeldOutVerdict:
    """Is repository ``name`` with ``files`` (path -> text) held out from ``index``?

    ``paths``: the files to compare (default: all); pass the source files of the benchmark's
    languages so that shared boilerplate (licences, configs) does not decide.
    """
    shared: dict[str, str] = {}
    n = 0
    for path in sorted(paths if paths is not None else files):
        h = content_hash(files[path])
        if h is None:
            continue
        n += 1
        if h in index.hashes:
            shared[path] = index.hashes[h]
    verdict = HeldOutVerdict(ok=True, reason="", shared_files=shared, n_hashable=n)
    if repo_key(name) in index.repos:
        verdict.ok, verdict.reason = False, f"repository name {name!r} is in the training corpus"
    elif n and verdict.shared_share >= max_shared_share:
        verdict.ok = False
        verdict.reason = (
            f"{len(shared)} of {n} files have the same content as training-corpus files "
            f"(e.g. {next(iter(shared.values()))}): a copy of a training repository"
        )
    return verdict
