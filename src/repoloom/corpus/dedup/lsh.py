"""Stages 3-4 of corpus dedup: LSH bucket rows spilled to shards by key, and the candidate pairs of
each shard (members of a bucket paired with its smallest member and their predecessor)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from repoloom.corpus.minhash import band_hashes
from repoloom.corpus.schema import BUCKET_ROW
from repoloom.io import atomic_open

_CHUNK = 65_536  # signatures per banding block


def band_rows(
    docs: np.ndarray,
    digests: np.ndarray,
    signatures: np.ndarray | None,
    empty: np.ndarray,
    cfg: Any,
    bands: int,
    rows: int,
) -> np.ndarray:
    """The (band, key, doc) bucket rows of some samples: one per LSH band of each non-empty
    signature, and the exact digest as one more band (number `bands`). Two samples are
    candidates when they share a (band, key) bucket."""
    docs = np.asarray(docs, dtype=np.uint64)
    blocks = []
    if cfg.exact_samples:
        block = np.empty(len(docs), dtype=BUCKET_ROW)
        block["band"] = bands  # the exact digest is band number `bands`
        block["key"] = digests[:, 0]
        block["doc"] = docs
        blocks.append(block)
    if cfg.near and signatures is not None:
        keep = ~np.asarray(empty, dtype=bool)
        hashed = band_hashes(np.asarray(signatures)[keep], bands, rows)
        block = np.empty(hashed.size, dtype=BUCKET_ROW)
        block["band"] = np.tile(np.arange(bands, dtype=np.uint64), len(hashed))
        block["key"] = hashed.reshape(-1)
        block["doc"] = np.repeat(docs[keep], bands)
        blocks.append(block)
    return np.concatenate(blocks) if blocks else np.empty(0, dtype=BUCKET_ROW)


def write_buckets(work: Path, meta: dict, cfg: Any, bands: int, rows: int) -> Path:
    """Stage 3: spill (band, key, doc) rows to `partitions` shards by key."""
    final = work / "buckets"
    if final.exists():
        return final
    tmp = work / "buckets.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    handles = [open(tmp / f"part-{p:05d}.bin", "wb") for p in range(cfg.partitions)]  # noqa: SIM115
    try:
        total = len(meta["digests"])
        signatures = np.load(work / "signatures.npy", mmap_mode="r") if cfg.near else None
        for start in range(0, total, _CHUNK):
            stop = min(start + _CHUNK, total)
            docs = np.arange(start, stop, dtype=np.uint64)
            block = band_rows(
                docs,
                meta["digests"][start:stop],
                np.asarray(signatures[start:stop]) if signatures is not None else None,
                meta["empty"][start:stop],
                cfg,
                bands,
                rows,
            )
            part = (block["key"] % np.uint64(cfg.partitions)).astype(np.int64)
            order = np.argsort(part, kind="stable")
            block, part = block[order], part[order]
            bounds = np.searchsorted(part, np.arange(cfg.partitions + 1))
            for p in range(cfg.partitions):
                if bounds[p + 1] > bounds[p]:
                    block[bounds[p] : bounds[p + 1]].tofile(handles[p])
    finally:
        for handle in handles:
            handle.close()
    os.replace(tmp, final)
    return final


def bucket_pairs(rows: np.ndarray) -> np.ndarray:
    """Candidate pairs (a < b) of one shard: members of a bucket (same band and key) are paired
    with the bucket's smallest member and with their predecessor in sample order."""
    if len(rows) < 2:
        return np.empty((0, 2), dtype=np.int64)
    order = np.lexsort((rows["doc"], rows["key"], rows["band"]))
    rows = rows[order]
    same = (rows["band"][1:] == rows["band"][:-1]) & (rows["key"][1:] == rows["key"][:-1])
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    group = np.cumsum(np.concatenate(([True], ~same))) - 1
    docs = rows["doc"].astype(np.int64)
    head = docs[starts[group]]
    member = np.flatnonzero(np.concatenate(([False], same)))
    pairs = np.concatenate(
        [
            np.stack([head[member], docs[member]], axis=1),
            np.stack([docs[member - 1], docs[member]], axis=1),
        ]
    )
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs.sort(axis=1)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def write_pairs(work: Path, buckets: Path, partitions: int) -> list[Path]:
    """Stage 4: candidate pairs of each shard (one shard in memory at a time)."""
    out = work / "pairs"
    out.mkdir(exist_ok=True)
    paths = []
    for p in range(partitions):
        path = out / f"part-{p:05d}.npy"
        if not path.exists():
            rows = np.fromfile(buckets / f"part-{p:05d}.bin", dtype=BUCKET_ROW)
            with atomic_open(path, "wb") as fh:
                np.save(fh, bucket_pairs(rows))
        paths.append(path)
    return paths
