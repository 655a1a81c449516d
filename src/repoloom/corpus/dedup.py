"""Corpus-level dedup of whole samples: exact (content hash) and MinHash-LSH near-duplicates.

Runs after every repository is processed, over the per-repository sample files
(``_work/repos/<key>.samples.parquet``), in resumable stages under ``_work/dedup/``:

1. ``sign/<key>.npz``     per repository (process pool): each sample's 128-bit content digest,
                          its 256 min-hashes, byte count and id. Written atomically; skipped when
                          present, so a rerun after a kill redoes only unfinished repositories.
2. ``signatures.npy``     every signature in global sample order (repositories in task order,
                          samples in file order), streamed together from the shards; memory-mapped
                          later, never loaded whole.
3. ``buckets/part-P.bin`` (band, band hash, sample) rows, spilled to ``partitions`` shards by
                          hash, read back one shard at a time. The exact digest is one more "band".
4. ``pairs/part-P.npy``   candidate pairs of each shard: in each bucket, every member paired with
                          the bucket's first (smallest) member and with its predecessor.
5. ``clusters.npz``       pairs verified (exact: equal 128-bit digests; near: the signature
                          estimate of the Jaccard similarity >= threshold, unless verify is off),
                          clusters by union-find, one sample kept per cluster.
6. ``kept/<key>.samples.parquet`` (only repositories that lost a sample) and ``removed.parquet``.

Every stage writes to a temporary name and renames, and every stage is a pure function of the
previous ones, so a killed run started again gives exactly the output of an uninterrupted one, for
any number of workers.

Keep rule (``dedup.keep``): ``largest`` keeps the sample with the most bytes in each cluster (the
most complete version of a repository), ties broken by the global sample order (task order, then
sample order); ``first`` keeps the earliest in that order. The cluster id is the global index of
the cluster's earliest sample.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from repoloom.corpus.minhash import (
    MinHasher,
    UnionFind,
    band_hashes,
    lsh_params,
    shingle_set,
)

logger = logging.getLogger(__name__)
_ROW = np.dtype([("band", "<u8"), ("key", "<u8"), ("doc", "<u8")])
# Where each file lies in its sample's text (``<key>.files.parquet``, written by the workers when
# a file-level option is on): the units of the file-level pass.
FILES_SCHEMA = pa.schema(
    [
        ("sample", pa.int32()),
        ("path", pa.string()),
        ("language", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
    ]
)
_CHUNK = 65_536  # signatures per banding block


@dataclass
class DedupResult:
    """Where the deduplicated per-repository samples and the removed samples are."""

    work: Path
    repos_dir: Path
    changed: set[str] = field(default_factory=set)  # keys whose samples lost rows
    removed_paths: list[Path] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    before: DedupResult | None = None  # the file-level pass whose output this pass read

    def samples_path(self, key: str) -> Path:
        if key in self.changed:
            return self.work / "kept" / f"{key}.samples.parquet"
        if self.before is not None:
            return self.before.samples_path(key)
        return self.repos_dir / f"{key}.samples.parquet"


def _enabled(cfg: Any) -> bool:
    return bool(cfg.exact_samples or cfg.near)


def _pass_configs(cfg: Any) -> tuple[Any, Any]:
    """(file-level pass, sample-level pass) settings: `exact_samples` and `near` of each."""
    import dataclasses

    files = dataclasses.replace(
        cfg, exact_samples=cfg.exact_files_across_repos, near=cfg.near and cfg.level == "file"
    )
    samples = dataclasses.replace(cfg, near=cfg.near and cfg.level == "sample")
    return files, samples


def file_units(samples_path: str, files_path: str) -> tuple[list[str], list[str], list[int]]:
    """The files of a repository's samples, in sample then file order: (texts, ids, bytes)."""
    texts = pq.read_table(samples_path, columns=["text"]).column("text").to_pylist()
    ids = pq.read_table(samples_path, columns=["sample_id"]).column("sample_id").to_pylist()
    spans = pq.read_table(files_path).to_pylist()
    units = [texts[r["sample"]][r["start"] : r["end"]] for r in spans]
    unit_ids = [f"{ids[r['sample']]}/{i}" for i, r in enumerate(spans)]
    return units, unit_ids, [len(u.encode("utf-8", "surrogatepass")) for u in units]


@lru_cache(maxsize=4)
def _hasher(num_perm: int, ngram: int, seed: int) -> MinHasher:
    return MinHasher(num_perm=num_perm, ngram=ngram, seed=seed)


@lru_cache(maxsize=16)
def resolve_bands(
    threshold: float, num_perm: int, bands: int, rows: int, verify: bool = True
) -> tuple[int, int]:
    """The configured bands and rows, else those chosen for the threshold. With verification on,
    false candidates cost only a signature comparison, so the choice weighs missed pairs 9:1
    (256 permutations at 0.85: 18 x 14, which finds a pair of Jaccard 0.90 with probability
    0.991, against 0.848 for the unweighted 13 x 19)."""
    if bands and rows:
        return bands, rows
    if verify:
        return lsh_params(threshold, num_perm, fp_weight=0.1, fn_weight=0.9)
    return lsh_params(threshold, num_perm)


def _atomic_save(path: Path, **arrays: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def sign_texts(texts: Sequence[str], cfg: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each text's 128-bit content digest (two uint64), min-hash signature (none unless near-dedup
    is on) and whether it has no shingle at all (such a text is never a near-duplicate)."""
    n = len(texts)
    digests = np.zeros((n, 2), dtype=np.uint64)
    signatures = np.zeros((n, cfg.num_perm if cfg.near else 0), dtype=np.uint64)
    empty = np.zeros(n, dtype=bool)
    hasher = _hasher(cfg.num_perm, cfg.ngram, cfg.seed)
    for i, text in enumerate(texts):
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        digests[i] = np.frombuffer(digest, dtype="<u8")
        if cfg.near:
            shingles = shingle_set(text, cfg.ngram)
            empty[i] = len(shingles) == 0
            signatures[i] = hasher.signature_of_shingles(shingles)
    return digests, signatures, empty


def sign_repository(samples_path: str, out_path: str, cfg: Any, files_path: str = "") -> int:
    """Stage 1 for one repository: digests, signatures, sizes and ids of its samples (or, given
    `files_path`, of the files inside its samples)."""
    if files_path:
        texts, ids, sizes = file_units(samples_path, files_path)
    else:
        table = pq.read_table(samples_path, columns=["sample_id", "text", "n_bytes"])
        texts = table.column("text").to_pylist()
        ids = table.column("sample_id").to_pylist()
        sizes = table.column("n_bytes").to_pylist()
    digests, signatures, empty = sign_texts(texts, cfg)
    _atomic_save(
        Path(out_path),
        digests=digests,
        signatures=signatures,
        empty=empty,
        n_bytes=np.asarray(sizes, dtype=np.int64),
        sample_ids=np.array([s.encode("utf-8", "surrogatepass") for s in ids], dtype="S32"),
    )
    return len(texts)


def _progress(enabled: bool, description: str, total: int):
    from repoloom.progress import progress_bar

    return progress_bar(description, enabled=enabled)


def _sign_all(
    keys: Sequence[str],
    source: Any,
    sign_dir: Path,
    cfg: Any,
    workers: int,
    progress: bool,
    files_dir: Path | None = None,
) -> None:
    sign_dir.mkdir(parents=True, exist_ok=True)
    todo = [k for k in keys if not (sign_dir / f"{k}.npz").exists()]
    jobs = [
        (
            str(source(k)),
            str(sign_dir / f"{k}.npz"),
            str(files_dir / f"{k}.files.parquet") if files_dir else "",
        )
        for k in todo
    ]
    label = "dedup: file signatures" if files_dir else "dedup: signatures"
    with _progress(progress, label, len(keys)) as bar:
        task = bar.add_task("sign", total=len(keys), completed=len(keys) - len(todo))
        if workers <= 1 or len(jobs) <= 1:
            for src, dst, files in jobs:
                sign_repository(src, dst, cfg, files)
                bar.advance(task)
            return
        context = multiprocessing.get_context("fork")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(sign_repository, s, d, cfg, f) for s, d, f in jobs]
            for future in cf.as_completed(futures):
                future.result()
                bar.advance(task)


def _gather(keys: Sequence[str], sign_dir: Path, work: Path, cfg: Any) -> dict[str, np.ndarray]:
    """Stage 2: concatenate the shards in global order (signatures into one memory-mapped file)."""
    meta_path = work / "meta.npz"
    sig_path = work / "signatures.npy"
    if meta_path.exists() and sig_path.exists():
        return dict(np.load(meta_path))
    counts = []
    for key in keys:
        with np.load(sign_dir / f"{key}.npz") as shard:
            counts.append(len(shard["digests"]))
    total = int(sum(counts))
    width = cfg.num_perm if cfg.near else 0
    tmp_sig = sig_path.with_name("signatures.tmp.npy")
    signatures = np.lib.format.open_memmap(
        tmp_sig, mode="w+", dtype=np.uint64, shape=(total, width)
    )
    digests = np.zeros((total, 2), dtype=np.uint64)
    empty = np.zeros(total, dtype=bool)
    n_bytes = np.zeros(total, dtype=np.int64)
    sample_ids = []
    start = 0
    for key, count in zip(keys, counts, strict=True):
        with np.load(sign_dir / f"{key}.npz") as shard:
            stop = start + count
            digests[start:stop] = shard["digests"]
            empty[start:stop] = shard["empty"]
            n_bytes[start:stop] = shard["n_bytes"]
            if width:
                signatures[start:stop] = shard["signatures"]
            sample_ids.append(shard["sample_ids"])
            start = stop
    signatures.flush()
    del signatures
    os.replace(tmp_sig, sig_path)
    meta = {
        "offsets": np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
        "digests": digests,
        "empty": empty,
        "n_bytes": n_bytes,
        "sample_ids": np.concatenate(sample_ids) if sample_ids else np.array([], dtype="S32"),
    }
    _atomic_save(meta_path, **meta)
    return meta


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
        block = np.empty(len(docs), dtype=_ROW)
        block["band"] = bands  # the exact digest is band number `bands`
        block["key"] = digests[:, 0]
        block["doc"] = docs
        blocks.append(block)
    if cfg.near and signatures is not None:
        keep = ~np.asarray(empty, dtype=bool)
        hashed = band_hashes(np.asarray(signatures)[keep], bands, rows)
        block = np.empty(hashed.size, dtype=_ROW)
        block["band"] = np.tile(np.arange(bands, dtype=np.uint64), len(hashed))
        block["key"] = hashed.reshape(-1)
        block["doc"] = np.repeat(docs[keep], bands)
        blocks.append(block)
    return np.concatenate(blocks) if blocks else np.empty(0, dtype=_ROW)


def _write_buckets(work: Path, meta: dict, cfg: Any, bands: int, rows: int) -> Path:
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


def _write_pairs(work: Path, buckets: Path, partitions: int) -> list[Path]:
    """Stage 4: candidate pairs of each shard (one shard in memory at a time)."""
    out = work / "pairs"
    out.mkdir(exist_ok=True)
    paths = []
    for p in range(partitions):
        path = out / f"part-{p:05d}.npy"
        if not path.exists():
            rows = np.fromfile(buckets / f"part-{p:05d}.bin", dtype=_ROW)
            tmp = out / f"part-{p:05d}.tmp.npy"
            np.save(tmp, bucket_pairs(rows))
            os.replace(tmp, path)
        paths.append(path)
    return paths


def _clusters(work: Path, meta: dict, pair_paths: list[Path], cfg: Any) -> dict[str, np.ndarray]:
    """Stage 5: verify the pairs, union-find, choose the kept sample of each cluster."""
    path = work / "clusters.npz"
    if path.exists():
        return dict(np.load(path))
    loaded = [np.load(p) for p in pair_paths]
    pairs = np.concatenate(loaded) if loaded else np.empty((0, 2), dtype=np.int64)
    signatures = np.load(work / "signatures.npy", mmap_mode="r") if cfg.near else None
    result = resolve_clusters(pairs, meta["digests"], meta["n_bytes"], signatures, cfg)
    _atomic_save(path, **result)
    return result


def resolve_clusters(
    pairs: np.ndarray, digests: Any, n_bytes: Any, signatures: Any, cfg: Any
) -> dict[str, np.ndarray]:
    """Verify candidate pairs (exact: equal 128-bit digests; near: the signature estimate of the
    Jaccard similarity >= threshold, unless verify is off), join them by union-find and keep one
    sample per cluster. `digests`, `n_bytes` and `signatures` are indexed by global sample number
    (arrays, memory maps or a `SparseRows` of just the samples that occur in a pair).

    The union-find runs over the samples that occur in a verified pair only, renumbered in
    order: its memory is bounded by the duplicates, not by the corpus, and since a root is always
    the smallest member, the clusters and ids are those of a union-find over every sample."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    pairs = np.unique(pairs, axis=0) if len(pairs) else pairs
    exact = np.all(digests[pairs[:, 0]] == digests[pairs[:, 1]], axis=1)
    similarity = exact.astype(np.float64)
    if cfg.near and len(pairs):
        for start in range(0, len(pairs), 50_000):
            chunk = pairs[start : start + 50_000]
            left = np.asarray(signatures[chunk[:, 0]])
            right = np.asarray(signatures[chunk[:, 1]])
            similarity[start : start + len(chunk)] = np.mean(left == right, axis=1)
    if cfg.near:
        near_ok = similarity >= cfg.threshold if cfg.verify else np.ones(len(pairs), dtype=bool)
    else:
        near_ok = np.zeros(len(pairs), dtype=bool)
    edges = pairs[(exact & cfg.exact_samples) | near_ok]
    involved = np.unique(edges) if len(edges) else np.empty(0, dtype=np.int64)
    union = UnionFind(len(involved))
    union.union_pairs(np.searchsorted(involved, edges))
    roots = involved[union.roots()] if len(involved) else np.empty(0, dtype=np.int64)
    if cfg.keep == "largest":
        order = np.lexsort((involved, -np.asarray(n_bytes[involved]), roots))
    else:
        order = np.lexsort((involved, roots))
    involved, roots = involved[order], roots[order]
    first = np.concatenate(([True], roots[1:] != roots[:-1])) if len(roots) else np.array([], bool)
    kept_of_root = dict(zip(roots[first].tolist(), involved[first].tolist(), strict=True))
    dropped = involved[~first]
    cluster = roots[~first]
    kept = np.array([kept_of_root[r] for r in cluster.tolist()], dtype=np.int64)
    if len(dropped):
        same = np.all(digests[dropped] == digests[kept], axis=1)
        if cfg.near:
            est = np.mean(np.asarray(signatures[dropped]) == np.asarray(signatures[kept]), axis=1)
        else:
            est = same.astype(np.float64)
    else:
        same = np.zeros(0, dtype=bool)
        est = np.zeros(0)
    order = np.argsort(dropped, kind="stable")
    return {
        "dropped": dropped[order],
        "kept": kept[order],
        "cluster": cluster[order],
        "exact": same[order],
        "similarity": np.where(same[order], 1.0, est[order]),
        "candidate_pairs": np.array(len(pairs)),
        "verified_pairs": np.array(len(edges)),
        "clusters": np.array(int(first.sum())),
        "largest_cluster": np.array(
            int(np.max(np.unique(roots, return_counts=True)[1])) if len(roots) else 0
        ),
    }


class SparseRows:
    """Rows of a few global sample numbers, indexable like the full array by number arrays."""

    def __init__(self, ids: np.ndarray, rows: np.ndarray) -> None:
        order = np.argsort(ids, kind="stable")
        self.ids = np.asarray(ids, dtype=np.int64)[order]
        self.rows = np.asarray(rows)[order]

    def __getitem__(self, index: Any) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        at = np.searchsorted(self.ids, index)
        if len(index) and (
            np.any(at >= len(self.ids))
            or np.any(self.ids[np.minimum(at, len(self.ids) - 1)] != index)
        ):
            raise KeyError("sample number not among the gathered rows")
        return self.rows[at]


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


def _write_outputs(
    keys: Sequence[str],
    names: Sequence[str],
    source: Any,
    work: Path,
    meta: dict,
    clusters: dict,
    compression: str,
) -> tuple[set[str], Path]:
    """Stage 6: per-repository kept samples (where any was dropped) and the removed rows."""
    from repoloom.corpus.build import REMOVED_SCHEMA, SAMPLE_SCHEMA, write_table_atomic

    kept_dir = work / "kept"
    kept_dir.mkdir(exist_ok=True)
    removed_path = work / "removed.parquet"
    offsets = meta["offsets"]
    sample_ids = meta["sample_ids"]
    dropped = clusters["dropped"]
    repo_of = np.searchsorted(offsets, dropped, side="right") - 1
    changed: set[str] = set()
    codec = None if compression == "none" else compression
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


def _write_file_outputs(
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
    from repoloom.corpus.assemble import make_sample
    from repoloom.corpus.build import REMOVED_SCHEMA, SAMPLE_SCHEMA, write_table_atomic
    from repoloom.corpus.steps import FileDoc

    kept_dir = work / "kept"
    kept_dir.mkdir(exist_ok=True)
    removed_path = work / "removed.parquet"
    offsets = meta["offsets"]
    unit_ids = meta["sample_ids"]
    dropped = clusters["dropped"]
    repo_of = np.searchsorted(offsets, dropped, side="right") - 1
    codec = None if config.output.compression == "none" else config.output.compression
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
            exact = bool(clusters["exact"][j])
            removed_rows.append(
                {
                    "repo": names[r],
                    "path": span["path"],
                    "language": span["language"] or None,
                    "n_bytes": int(meta["n_bytes"][unit]),
                    "step": "dedup",
                    "reason": "exact-dup-file" if exact else "near-dup-file",
                    "detail": json.dumps(
                        {
                            "file_id": unit_ids[unit].decode(),
                            "cluster": int(clusters["cluster"][j]),
                            "kept_file_id": unit_ids[kept].decode(),
                            "kept_repo": names[kept_repo],
                            "kept_path": kept_span["path"],
                            "similarity": round(float(clusters["similarity"][j]), 4),
                        },
                        sort_keys=True,
                    ),
                }
            )
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


def _run_pass(
    keys: Sequence[str],
    names: Sequence[str],
    source: Any,
    work: Path,
    cfg: Any,
    config: Any,
    workers: int,
    progress: bool,
    files_dir: Path | None = None,
) -> tuple[dict, dict, set[str], Path, tuple[int, int]]:
    """Stages 1-6 over samples (or, with `files_dir`, over the files inside them)."""
    work.mkdir(parents=True, exist_ok=True)
    bands, rows = resolve_bands(cfg.threshold, cfg.num_perm, cfg.bands, cfg.rows, cfg.verify)
    _sign_all(keys, source, work / "sign", cfg, workers, progress, files_dir)
    meta = _gather(keys, work / "sign", work, cfg)
    buckets = _write_buckets(work, meta, cfg, bands, rows)
    pair_paths = _write_pairs(work, buckets, cfg.partitions)
    clusters = _clusters(work, meta, pair_paths, cfg)
    if files_dir is None:
        changed, removed = _write_outputs(
            keys, names, source, work, meta, clusters, config.output.compression
        )
    else:
        changed, removed = _write_file_outputs(
            keys, names, source, files_dir, work, meta, clusters, config
        )
    return meta, clusters, changed, removed, (bands, rows)


def _count_samples(paths: Sequence[Path]) -> tuple[int, int]:
    rows = total = 0
    for path in paths:
        table = pq.read_table(path, columns=["n_bytes"])
        rows += table.num_rows
        total += int(pc.sum(table.column("n_bytes")).as_py() or 0)
    return rows, total


def pass_stats(
    clusters: dict, units_in: int, bytes_removed: int, cfg: Any, bands: int, rows: int
) -> dict:
    """The report figures of one dedup pass (every executor reports these)."""
    exact = clusters["exact"]
    return {
        "samples_in": int(units_in),
        "exact_dup": int(exact.sum()),
        "near_dup": int((~exact).sum()),
        "bytes_removed": int(bytes_removed),
        "clusters": int(clusters["clusters"]),
        "largest_cluster": int(clusters["largest_cluster"]),
        "candidate_pairs": int(clusters["candidate_pairs"]),
        "verified_pairs": int(clusters["verified_pairs"]),
        "bands": bands if cfg.near else 0,
        "rows": rows if cfg.near else 0,
    }


def settings_stats(cfg: Any) -> dict:
    return {
        "exact_samples": cfg.exact_samples,
        "near": cfg.near,
        "threshold": cfg.threshold,
        "num_perm": cfg.num_perm,
        "ngram": cfg.ngram,
        "keep": cfg.keep,
    }


def run_corpus_dedup(
    keys: Sequence[str],
    names: Sequence[str],
    repos_dir: Path,
    work: Path,
    config: Any,
    workers: int = 1,
    progress: bool = False,
) -> DedupResult:
    """Exact and near dedup of all samples of a build (resumable; see the module docstring).

    With ``dedup.exact_files_across_repos`` or ``dedup.level: file`` a file-level pass runs
    first (under ``work/files``, the same stages over the files inside the samples); the
    sample-level pass (exact whole samples; near-dedup when the level is ``sample``) then reads
    its output."""
    cfg = config.dedup
    file_cfg, sample_cfg = _pass_configs(cfg)
    result = DedupResult(work=work, repos_dir=repos_dir)
    if not (_enabled(file_cfg) or _enabled(sample_cfg)) or not keys:
        result.stats = {"enabled": False}
        return result
    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    stats: dict[str, Any] = {"enabled": True, "level": cfg.level}
    source = lambda key: repos_dir / f"{key}.samples.parquet"  # noqa: E731
    removed_paths: list[Path] = []
    bytes_removed = 0
    if _enabled(file_cfg):
        files = DedupResult(work=work / "files", repos_dir=repos_dir)
        meta, clusters, files.changed, removed, (bands, rows) = _run_pass(
            keys, names, source, work / "files", file_cfg, config, workers, progress, repos_dir
        )
        removed_paths.append(removed)
        exact = clusters["exact"]
        samples_in = _count_samples([repos_dir / f"{k}.samples.parquet" for k in keys])
        samples_out = _count_samples([files.samples_path(k) for k in keys])
        stats["files"] = {
            "exact_across_repos": file_cfg.exact_samples,
            "near": file_cfg.near,
            "files_in": int(len(meta["digests"])),
            "files_out": int(len(meta["digests"]) - len(clusters["dropped"])),
            "exact_dup": int(exact.sum()),
            "near_dup": int((~exact).sum()),
            "bytes_removed": samples_in[1] - samples_out[1],
            "samples_in": samples_in[0],
            "samples_out": samples_out[0],
            "clusters": int(clusters["clusters"]),
            "largest_cluster": int(clusters["largest_cluster"]),
            "candidate_pairs": int(clusters["candidate_pairs"]),
            "verified_pairs": int(clusters["verified_pairs"]),
            "bands": bands if file_cfg.near else 0,
            "rows": rows if file_cfg.near else 0,
        }
        bytes_removed += stats["files"]["bytes_removed"]
        source = files.samples_path
        result.before = files
    samples_pass = {"samples_in": 0, "exact_dup": 0, "near_dup": 0, "bytes_removed": 0}
    if _enabled(sample_cfg):
        meta, clusters, result.changed, removed, (bands, rows) = _run_pass(
            keys, names, source, work, sample_cfg, config, workers, progress
        )
        removed_paths.append(removed)
        samples_pass = pass_stats(
            clusters,
            len(meta["digests"]),
            int(meta["n_bytes"][clusters["dropped"]].sum()),
            sample_cfg,
            bands,
            rows,
        )
        bytes_removed += samples_pass["bytes_removed"]
    else:
        samples_pass.update(clusters=0, largest_cluster=0, candidate_pairs=0, verified_pairs=0)
        samples_pass.update(bands=0, rows=0)
    result.removed_paths = removed_paths
    samples_in = stats["files"]["samples_in"] if "files" in stats else samples_pass["samples_in"]
    samples_out = _count_samples([result.samples_path(k) for k in keys])[0]
    stats.update(
        {
            **settings_stats(cfg),
            **samples_pass,
            "samples_in": samples_in,
            "samples_out": samples_out,
            "bytes_removed": bytes_removed,
        }
    )
    result.stats = stats
    logger.info(
        "dedup: %d of %d samples kept (%d exact, %d near duplicate samples%s) in %.1fs",
        samples_out,
        samples_in,
        stats["exact_dup"],
        stats["near_dup"],
        (
            f"; {stats['files']['exact_dup']} exact, {stats['files']['near_dup']} near duplicate "
            "files"
            if "files" in stats
            else ""
        ),
        time.perf_counter() - started,
    )
    return result


# ---------------------------------------------------------------------------------------------
# Report


def report_section(extra: dict, report: dict) -> dict:
    """The report.json entries of issue 3: dedup figures, contamination hits per benchmark."""
    section: dict[str, Any] = {}
    decontam = dict(extra.get("decontamination") or {})
    if decontam:
        step = next((s for s in report.get("steps", []) if s["step"] == "decontam"), None)
        hits: dict[str, int] = {}
        tasks: dict[str, int] = {}
        for reason, n in (step or {}).get("dropped", {}).items():
            parts = reason.split(":", 2)
            if len(parts) == 3 and parts[0] == "decontam":
                hits[parts[1]] = hits.get(parts[1], 0) + n
                tasks[f"{parts[1]}:{parts[2]}"] = n
        decontam["hits"] = {b: hits.get(b, 0) for b in (*decontam.get("benchmarks", {}), *hits)}
        decontam["files_removed"] = sum(hits.values())
        decontam["tasks_hit"] = len(tasks)
        section["decontamination"] = decontam
        section["warnings"] = list(report.get("warnings", [])) + list(decontam.get("warnings", []))
    dedup = dict(extra.get("dedup") or {})
    if dedup:
        section["dedup"] = dedup
        if dedup.get("enabled"):
            before = dict(report.get("samples", {}))
            section["samples"] = {
                "count": dedup["samples_out"],
                "bytes": before.get("bytes", 0) - dedup["bytes_removed"],
                "before_dedup": before,
            }
    return section


def render_section(report: dict) -> str:
    """The HTML part of issue 3 (warnings first, then dedup and contamination tables)."""
    import html

    def table(rows: list[tuple[Any, Any]]) -> str:
        body = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        return f"<table>{body}</table>"

    parts = []
    for warning in report.get("warnings", []):
        parts.append(f'<p style="color:#b00;font-weight:bold">WARNING: {html.escape(warning)}</p>')
    dedup = report.get("dedup") or {}
    if dedup.get("enabled"):
        parts.append("<h2>Dedup (whole samples)</h2>")
        parts.append(
            table(
                [
                    ("samples in", dedup["samples_in"]),
                    ("exact duplicates removed", dedup["exact_dup"]),
                    ("near duplicates removed", dedup["near_dup"]),
                    ("samples out", dedup["samples_out"]),
                    ("MB removed", f"{dedup['bytes_removed'] / 1e6:.2f}"),
                    ("duplicate clusters", dedup["clusters"]),
                    ("largest cluster", dedup["largest_cluster"]),
                    (
                        "MinHash",
                        f"{dedup['num_perm']} permutations, {dedup['ngram']}-gram shingles, "
                        f"{dedup['bands']} bands x {dedup['rows']} rows, threshold {dedup['threshold']}",
                    ),
                    (
                        "LSH candidate pairs / verified",
                        f"{dedup['candidate_pairs']} / {dedup['verified_pairs']}",
                    ),
                ]
            )
        )
    files = dedup.get("files") or {}
    if files:
        parts.append("<h2>Dedup (files, before whole samples)</h2>")
        parts.append(
            table(
                [
                    ("files in", files["files_in"]),
                    ("exact duplicate files removed", files["exact_dup"]),
                    ("near duplicate files removed", files["near_dup"]),
                    ("files out", files["files_out"]),
                    ("samples in / out", f"{files['samples_in']} / {files['samples_out']}"),
                    ("MB removed", f"{files['bytes_removed'] / 1e6:.2f}"),
                    ("duplicate clusters", files["clusters"]),
                    ("largest cluster", files["largest_cluster"]),
                ]
            )
        )
    decontam = report.get("decontamination") or {}
    if decontam.get("enabled"):
        parts.append("<h2>Decontamination</h2>")
        rows = [
            (f"{b} ({decontam['benchmarks'].get(b, 0)} strings indexed)", f"{n} files removed")
            for b, n in decontam.get("hits", {}).items()
        ]
        rows += [(m, "NOT FOUND") for m in decontam.get("missing", [])]
        parts.append(table(rows))
    return "\n".join(parts)
