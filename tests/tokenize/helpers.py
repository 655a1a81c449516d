"""Small real corpora for the tokenize tests: Python standard-library packages as repositories."""

from __future__ import annotations

import json as _json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

STDLIB = Path(_json.__file__).parent.parent
REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_reference() -> Path:
    return REPO_ROOT.parent / "shared" / "reference" / "deepseek-coder-tokenizer"


def stdlib_repos(
    packages: tuple[str, ...] = ("json", "email", "http", "urllib", "logging"),
) -> list[dict]:
    """One sample per stdlib package: its .py files rendered as the corpus does (`# path`)."""
    rows = []
    for pkg in packages:
        files = sorted((STDLIB / pkg).glob("*.py"))
        paths = [f"{pkg}/{f.name}" for f in files]
        texts = [f.read_text(encoding="utf-8") for f in files]
        text = "".join(f"# {p}\n{t}\n" for p, t in zip(paths, texts, strict=True))
        rows.append(
            {
                "repo": f"cpython/{pkg}",
                "sample_id": f"{pkg}-0",
                "text": text,
                "paths": paths,
                "languages": ["python"] * len(paths),
                "n_bytes": len(text.encode()),
            }
        )
    return rows


def file_docs(n: int, glob: str = "*.py") -> list[dict]:
    """Up to n single-file samples from the standard library."""
    rows = []
    for f in sorted(STDLIB.glob(glob))[:n]:
        text = f.read_text(encoding="utf-8", errors="replace")
        rows.append(
            {
                "repo": "cpython/Lib",
                "sample_id": f.name,
                "text": f"# {f.name}\n{text}\n",
                "paths": [f.name],
                "languages": ["python"],
                "n_bytes": len(text.encode()),
            }
        )
    return rows


def write_samples(
    corpus_dir: Path, rows: list[dict], row_group_size: int = 4, files: int = 1
) -> Path:
    """Write ``corpus_dir/samples/part-*.parquet`` in the corpus builder's layout."""
    out = corpus_dir / "samples"
    out.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [
            ("repo", pa.string()),
            ("sample_id", pa.string()),
            ("text", pa.string()),
            ("paths", pa.list_(pa.string())),
            ("languages", pa.list_(pa.string())),
            ("n_bytes", pa.int64()),
        ]
    )
    per = (len(rows) + files - 1) // files
    for i in range(files):
        part = rows[i * per : (i + 1) * per]
        table = pa.Table.from_pylist(part, schema=schema)
        pq.write_table(table, out / f"part-{i:05d}.parquet", row_group_size=row_group_size)
    return corpus_dir
