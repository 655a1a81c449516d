"""Readers that turn corpora into documents, cut into deterministic work chunks.

Kinds (``detect_kind`` picks one from the path):

``samples``
    the corpus builder's ``DIR/samples/*.parquet`` (``repo``, ``sample_id``, ``text``, ``paths``,
    ``languages``); one chunk per Parquet row group.
``text``
    Parquet or JSONL (``.jsonl``, ``.jsonl.gz``) files with a ``text`` column (optional ``id``);
    a file or a directory of such files. Parquet: one chunk per row group; JSONL: one per file.
``stackexchange``
    a StackExchange data-dump ``Posts.xml``: each question (title + body) and each answer is a
    document, HTML reduced to text with code kept; one chunk per file.
``markdown``
    ``*.md``/``*.markdown`` files under a directory (for example the checked-out repositories of
    a corpus); symlinks, ``.git``, non-UTF-8 and files over 1 MiB are skipped and counted; one
    chunk per 256 files.

Every document carries a stable ``doc_id`` (FIM draws are keyed by it) and a language label
for the report.
"""

from __future__ import annotations

import gzip
import html
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("samples", "text", "stackexchange", "markdown")
MARKDOWN_SUFFIXES = (".md", ".markdown")
MARKDOWN_MAX_BYTES = 1 << 20
MARKDOWN_FILES_PER_CHUNK = 256
#: A Parquet row group holding more (uncompressed) bytes is cut into row ranges of about this
#: size, so that one big row group still spreads over workers and resumes in small steps.
PARQUET_CHUNK_BYTES = 4 << 20


@dataclass
class Document:
    doc_id: str
    text: str
    languages: list[str] = field(default_factory=list)  # per file of `paths`, or one label
    paths: list[str] | None = None


@dataclass(frozen=True)
class Chunk:
    """One unit of work: a slice of one input file."""

    corpus: str
    kind: str
    path: str
    part: int  # row group (Parquet) or file group (markdown); 0 otherwise
    root: str  # corpus root, for relative ids
    start: int = 0  # Parquet: first row of the row group in this chunk
    stop: int | None = None  # Parquet: end row (exclusive); None = to the end


@dataclass
class ReadStats:
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


class CorpusError(ValueError):
    """A corpus path that cannot be read as the requested kind."""


def detect_kind(path: Path) -> str:
    if path.is_dir():
        if (path / "samples").is_dir():
            return "samples"
        if any(path.rglob("*.parquet")) or any(path.rglob("*.jsonl*")):
            return "text"
        return "markdown"
    name = path.name.lower()
    if name.endswith(".xml"):
        return "stackexchange"
    if name.endswith((".parquet", ".jsonl", ".jsonl.gz")):
        return "text"
    if name.endswith(MARKDOWN_SUFFIXES):
        return "markdown"
    raise CorpusError(f"{path}: cannot tell the corpus kind; pass KIND:PATH")


def _files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes))


def list_chunks(corpus: str, kind: str, root: Path) -> list[Chunk]:
    """The chunks of one corpus in a deterministic order."""

    if not root.exists():
        raise CorpusError(f"{root}: no such file or directory")
    chunks: list[Chunk] = []
    if kind == "samples":
        files = sorted((root / "samples").glob("*.parquet"))
        if not files:
            raise CorpusError(f"{root}/samples: no *.parquet files")
        for f in files:
            chunks += _parquet_chunks(corpus, kind, f, root)
    elif kind == "text":
        files = _files(root, (".parquet", ".jsonl", ".jsonl.gz"))
        if not files:
            raise CorpusError(f"{root}: no .parquet/.jsonl files")
        for f in files:
            if f.name.endswith(".parquet"):
                chunks += _parquet_chunks(corpus, kind, f, root)
            else:
                chunks.append(Chunk(corpus, kind, str(f), 0, str(root)))
    elif kind == "stackexchange":
        files = _files(root, ("posts.xml",)) if root.is_dir() else [root]
        if not files:
            raise CorpusError(f"{root}: no Posts.xml")
        chunks += [Chunk(corpus, kind, str(f), 0, str(root)) for f in files]
    elif kind == "markdown":
        n = len(_markdown_files(root))
        if n == 0:
            raise CorpusError(f"{root}: no Markdown files")
        for part in range((n + MARKDOWN_FILES_PER_CHUNK - 1) // MARKDOWN_FILES_PER_CHUNK):
            chunks.append(Chunk(corpus, kind, str(root), part, str(root)))
    else:
        raise CorpusError(f"unknown corpus kind {kind!r} (one of {', '.join(KINDS)})")
    return chunks


def _parquet_chunks(corpus: str, kind: str, f: Path, root: Path) -> list[Chunk]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(f).metadata
    out = []
    for rg in range(meta.num_row_groups):
        rows = meta.row_group(rg).num_rows
        pieces = max(1, min(rows, -(-meta.row_group(rg).total_byte_size // PARQUET_CHUNK_BYTES)))
        bounds = [rows * i // pieces for i in range(pieces + 1)]
        for a, b in zip(bounds, bounds[1:], strict=False):
            out.append(Chunk(corpus, kind, str(f), rg, str(root), a, b))
    return out


def _read_row_group(path: str, chunk: Chunk, columns: list[str]):  # -> pyarrow.Table
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path).read_row_group(chunk.part, columns=columns)
    stop = table.num_rows if chunk.stop is None else chunk.stop
    return table.slice(chunk.start, stop - chunk.start)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix() if root.is_dir() else path.name
    except ValueError:
        return path.as_posix()


def read_chunk(chunk: Chunk, stats: ReadStats) -> Iterator[Document]:
    """The documents of one chunk; bad records are counted in ``stats`` and skipped."""
    readers = {
        "samples": _read_samples,
        "text": _read_text,
        "stackexchange": _read_posts,
        "markdown": _read_markdown,
    }
    if chunk.kind not in readers:
        raise CorpusError(f"unknown corpus kind {chunk.kind!r} (one of {', '.join(KINDS)})")
    yield from readers[chunk.kind](chunk, stats)


def _read_samples(chunk: Chunk, stats: ReadStats) -> Iterator[Document]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(chunk.path)
    names = set(pf.schema_arrow.names)
    if "text" not in names:
        raise CorpusError(f"{chunk.path}: no 'text' column")
    cols = [c for c in ("repo", "sample_id", "text", "paths", "languages") if c in names]
    table = _read_row_group(chunk.path, chunk, cols)
    rel = _rel(Path(chunk.path), Path(chunk.root))
    data = {c: table.column(c).to_pylist() for c in cols}
    for row in range(table.num_rows):
        text = data["text"][row]
        if not isinstance(text, str) or not text:
            stats.skip("empty or null text")
            continue
        sid = data.get("sample_id", [None] * table.num_rows)[row]
        repo = data.get("repo", [None] * table.num_rows)[row]
        doc_id = f"{repo}#{sid}" if sid is not None else f"{rel}:{chunk.part}:{chunk.start + row}"
        paths = data.get("paths", [None] * table.num_rows)[row]
        langs = data.get("languages", [None] * table.num_rows)[row]
        yield Document(doc_id, text, [str(x) for x in langs or []] or ["unknown"], paths)


def _read_text(chunk: Chunk, stats: ReadStats) -> Iterator[Document]:
    path = Path(chunk.path)
    rel = _rel(path, Path(chunk.root))
    label = chunk.corpus
    if path.name.endswith(".parquet"):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        names = set(pf.schema_arrow.names)
        if "text" not in names:
            raise CorpusError(f"{path}: no 'text' column")
        cols = ["text"] + (["id"] if "id" in names else [])
        table = _read_row_group(str(path), chunk, cols)
        texts = table.column("text").to_pylist()
        ids = table.column("id").to_pylist() if "id" in names else [None] * len(texts)
        for row, (text, did) in enumerate(zip(texts, ids, strict=True)):
            if not isinstance(text, str) or not text:
                stats.skip("empty or null text")
                continue
            yield Document(
                str(did) if did is not None else f"{rel}:{chunk.part}:{chunk.start + row}",
                text,
                [label],
            )
        return
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="strict") as f:
        row = -1
        while True:
            try:
                line = f.readline()
            except UnicodeDecodeError:
                stats.skip("invalid UTF-8 (rest of file)")
                return
            if not line:
                return
            row += 1
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                stats.skip("invalid JSON line")
                continue
            text = rec.get("text") if isinstance(rec, dict) else None
            if not isinstance(text, str) or not text:
                stats.skip("empty or null text")
                continue
            did = rec.get("id")
            yield Document(str(did) if did is not None else f"{rel}:{row}", text, [label])


_PRE_CODE = re.compile(r"<pre[^>]*>\s*<code[^>]*>(.*?)</code>\s*</pre>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")


def html_to_text(body: str) -> str:
    """StackExchange post HTML to plain text: code blocks kept verbatim, tags dropped."""
    parts = []
    pos = 0
    for m in _PRE_CODE.finditer(body):
        parts.append(html.unescape(_TAG.sub("", body[pos : m.start()])))
        parts.append("\n```\n" + html.unescape(m.group(1)).rstrip("\n") + "\n```\n")
        pos = m.end()
    parts.append(html.unescape(_TAG.sub("", body[pos:])))
    text = "".join(parts)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _read_posts(chunk: Chunk, stats: ReadStats) -> Iterator[Document]:
    import xml.etree.ElementTree as ET

    try:
        for _, elem in ET.iterparse(chunk.path, events=("end",)):
            if elem.tag != "row":
                continue
            attrs = elem.attrib
            post_type = attrs.get("PostTypeId")
            body = attrs.get("Body", "")
            pid = attrs.get("Id")
            elem.clear()
            if post_type not in ("1", "2") or pid is None:
                stats.skip("post is not a question or answer")
                continue
            text = html_to_text(body)
            if post_type == "1" and attrs.get("Title"):
                text = html.unescape(attrs["Title"]) + "\n\n" + text
            if not text.strip():
                stats.skip("empty post")
                continue
            yield Document(f"se:{Path(chunk.path).parent.name}:{pid}", text, ["stackexchange"])
    except ET.ParseError as exc:
        stats.skip(f"XML parse error ({exc.__class__.__name__}; rest of file)")


def _markdown_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if name.lower().endswith(MARKDOWN_SUFFIXES) and not p.is_symlink():
                out.append(p)
    return sorted(out)


def _read_markdown(chunk: Chunk, stats: ReadStats) -> Iterator[Document]:
    root = Path(chunk.root)
    files = _markdown_files(root)
    lo = chunk.part * MARKDOWN_FILES_PER_CHUNK
    for p in files[lo : lo + MARKDOWN_FILES_PER_CHUNK]:
        try:
            if p.stat().st_size > MARKDOWN_MAX_BYTES:
                stats.skip("markdown file over 1 MiB")
                continue
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            stats.skip("markdown file not UTF-8")
            continue
        except OSError:
            stats.skip("markdown file unreadable")
            continue
        if not text.strip():
            stats.skip("empty or null text")
            continue
        yield Document(f"md:{_rel(p, root)}", text, ["markdown"])
