"""Stages 1-2 of corpus dedup: content digests and MinHash signatures of each repository's samples
(or of the files inside them), then gathered in global sample order."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import multiprocessing
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from repoloom.corpus.minhash import MinHasher, lsh_params, shingle_set
from repoloom.io import atomic_open, atomic_path
from repoloom.progress import progress_bar


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez`` under a temporary name, then renamed."""
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


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
    save_arrays(
        Path(out_path),
        digests=digests,
        signatures=signatures,
        empty=empty,
        n_bytes=np.asarray(sizes, dtype=np.int64),
        sample_ids=np.array([s.encode("utf-8", "surrogatepass") for s in ids], dtype="S32"),
    )
    return len(texts)


def sign_all(
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
    with progress_bar(label, enabled=progress) as bar:
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


def gather_signatures(
    keys: Sequence[str], sign_dir: Path, work: Path, cfg: Any
) -> dict[str, np.ndarray]:
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
    digests = np.zeros((total, 2), dtype=np.uint64)
    empty = np.zeros(total, dtype=bool)
    n_bytes = np.zeros(total, dtype=np.int64)
    sample_ids = []
    start = 0
    with atomic_path(sig_path) as tmp_sig:
        signatures = np.lib.format.open_memmap(
            tmp_sig, mode="w+", dtype=np.uint64, shape=(total, width)
        )
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
    meta = {
        "offsets": np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
        "digests": digests,
        "empty": empty,
        "n_bytes": n_bytes,
        "sample_ids": np.concatenate(sample_ids) if sample_ids else np.array([], dtype="S32"),
    }
    save_arrays(meta_path, **meta)
    return meta
