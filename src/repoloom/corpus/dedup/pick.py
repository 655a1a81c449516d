"""Stage 6 of corpus dedup: the kept samples of each repository that lost one, and a removed/ row
for every dropped sample (or file, in the file-level pass) naming what was kept instead."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from repoloom.codebase.render import make_sample
from repoloom.corpus.schema import REMOVED_SCHEMA, SAMPLE_SCHEMA, parquet_codec, write_table_atomic
from repoloom.corpus.steps import FileDoc


def _removed_row(row: dict, reason: str, detail: dict) -> dict:
    paths = row["paths"] or [""]
    shown = paths[0] if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} files)"
    return {
        "repo": row["repo"],
        "path": shown,
        "language": (row["languages"] or [None])[0],
        "n_bytes": row["n_bytes"],
        "step": "dedup",
        "reason": reason,
        "detail": json.dumps(detail, sort_keys=True),
    }


def duplicate_sample_row(
    row: dict, clusters: dict, j: int, sample_id: str, kept_sample_id: str, kept_repo: str
) -> dict:
    """The removed/ row of the `j`-th dropped sample of `clusters` (`row`: its sample row)."""
    return _removed_row(
        row,
        "exact-dup" if bool(clusters["exact"][j]) else "near-dup",
        {
            "sample_id": sample_id,
            "cluster": int(clusters["cluster"][j]),
            "kept_sample_id": kept_sample_id,
            "kept_repo": kept_repo,
            "similarity": round(float(clusters["similarity"][j]), 4),
            "files": len(row["paths"]),
        },
    )


def duplicate_file_row(row: dict, kept: dict, clusters: dict, j: int) -> dict:
    """The removed/ row of the `j`-th dropped file of `clusters`. `row` and `kept`: the dropped
    and the kept file as units (repo, sample_id: the file id, paths: [path], languages:
    [language], n_bytes)."""
    return {
        "repo": row["repo"],
        "path": row["paths"][0],
        "language": row["languages"][0] or None,
        "n_bytes": int(row["n_bytes"]),
        "step": "dedup",
        "reason": "exact-dup-file" if bool(clusters["exact"][j]) else "near-dup-file",
        "detail": json.dumps(
            {
                "file_id": row["sample_id"],
                "cluster": int(clusters["cluster"][j]),
                "kept_file_id": kept["sample_id"],
                "kept_repo": kept["repo"],
                "kept_path": kept["paths"][0],
                "similarity": round(float(clusters["similarity"][j]), 4),
            },
            sort_keys=True,
        ),
    }


def _stage_paths(work: Path, meta: dict, clusters: dict) -> tuple[Path, Path, np.ndarray]:
    """Where stage 6 writes (kept samples, removed rows) and the repository of each dropped one."""
    kept_dir = work / "kept"
    kept_dir.mkdir(exist_ok=True)
    repo_of = np.searchsorted(meta["offsets"], clusters["dropped"], side="right") - 1
    return kept_dir, work / "removed.parquet", repo_of


def write_sample_outputs(
    keys: Sequence[str],
    names: Sequence[str],
    source: Any,
    work: Path,
    meta: dict,
    clusters: dict,
    compression: str,
) -> tuple[set[str], Path]:
    """Stage 6: per-repository kept samples (where any was dropped) and the removed rows."""
    kept_dir, removed_path, repo_of = _stage_paths(work, meta, clusters)
    offsets = meta["offsets"]
    sample_ids = meta["sample_ids"]
    dropped = clusters["dropped"]
    changed: set[str] = set()
    codec = parquet_codec(compression)
    removed_rows: list[dict] = []
    for r in np.unique(repo_of).tolist():
        key = keys[r]
        changed.add(key)
        mine = np.flatnonzero(repo_of == r)
        local = dropped[mine] - offsets[r]
        target = kept_dir / f"{key}.samples.parquet"
        table = pq.read_table(source(key), schema=SAMPLE_SCHEMA)
        mask = np.ones(table.num_rows, dtype=bool)
        mask[local] = False
        rows = table.filter(pa.array(~mask)).to_pylist()
        for j, row in zip(mine.tolist(), rows, strict=True):
            kept = int(clusters["kept"][j])
            kept_repo = int(np.searchsorted(offsets, kept, side="right") - 1)
            removed_rows.append(
                duplicate_sample_row(
                    row,
                    clusters,
                    j,
                    sample_ids[dropped[j]].decode(),
                    sample_ids[kept].decode(),
                    names[kept_repo],
                )
            )
        if not target.exists():
            write_table_atomic(table.filter(pa.array(mask)), target, codec)
    write_table_atomic(
        pa.Table.from_pylist(removed_rows, schema=REMOVED_SCHEMA), removed_path, codec
    )
    return changed, removed_path


def write_file_outputs(
    keys: Sequence[str],
    names: Sequence[str],
    source: Any,
    files_dir: Path,
    work: Path,
    meta: dict,
    clusters: dict,
    config: Any,
) -> tuple[set[str], Path]:
    """Stage 6 of the file-level pass: samples that lost files are rebuilt from the files left
    (as `assemble.make_sample` renders them: same headers, a new content-addressed id; a sample
    left with no file is gone), and every removed file is one row with the kept file's id."""
    kept_dir, removed_path, repo_of = _stage_paths(work, meta, clusters)
    offsets = meta["offsets"]
    unit_ids = meta["sample_ids"]
    dropped = clusters["dropped"]
    codec = parquet_codec(config.output.compression)
    spans_of: dict[int, list[dict]] = {}

    def spans(r: int) -> list[dict]:
        if r not in spans_of:
            spans_of[r] = pq.read_table(files_dir / f"{keys[r]}.files.parquet").to_pylist()
        return spans_of[r]

    changed: set[str] = set()
    removed_rows: list[dict] = []
    for r in np.unique(repo_of).tolist():
        key = keys[r]
        changed.add(key)
        mine = np.flatnonzero(repo_of == r)
        gone = set((dropped[mine] - offsets[r]).tolist())
        table = pq.read_table(source(key), schema=SAMPLE_SCHEMA)
        rows = table.to_pylist()
        for j in mine.tolist():
            unit = int(dropped[j])
            span = spans(r)[unit - int(offsets[r])]
            kept = int(clusters["kept"][j])
            kept_repo = int(np.searchsorted(offsets, kept, side="right") - 1)
            kept_span = spans(kept_repo)[kept - int(offsets[kept_repo])]
            row = {
                "repo": names[r],
                "sample_id": unit_ids[unit].decode(),
                "paths": [span["path"]],
                "languages": [span["language"]],
                "n_bytes": int(meta["n_bytes"][unit]),
            }
            kept_row = {
                "repo": names[kept_repo],
                "sample_id": unit_ids[kept].decode(),
                "paths": [kept_span["path"]],
            }
            removed_rows.append(duplicate_file_row(row, kept_row, clusters, j))
        target = kept_dir / f"{key}.samples.parquet"
        if target.exists():
            continue
        survivors: dict[int, list] = {}
        for i, span in enumerate(spans(r)):
            if i not in gone:
                text = rows[span["sample"]]["text"][span["start"] : span["end"]]
                doc = FileDoc(key, span["path"], text, 0, span["language"] or None)
                survivors.setdefault(span["sample"], []).append(doc)
        out_rows = []
        lost = {spans(r)[i]["sample"] for i in gone}
        for index, row in enumerate(rows):
            if index not in lost:
                out_rows.append(row)
            elif index in survivors:
                sample = make_sample(row["repo"], survivors[index], row["kind"], config.order)
                out_rows.append(sample.row())
        write_table_atomic(pa.Table.from_pylist(out_rows, schema=SAMPLE_SCHEMA), target, codec)
    write_table_atomic(
        pa.Table.from_pylist(removed_rows, schema=REMOVED_SCHEMA), removed_path, codec
    )
    return changed, removed_path
