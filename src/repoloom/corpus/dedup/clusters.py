"""Stage 5 of corpus dedup: candidate pairs verified, joined by union-find, one sample kept per
cluster (``dedup.keep``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from repoloom.corpus.dedup.signatures import save_arrays
from repoloom.corpus.minhash import UnionFind


def cluster_stage(
    work: Path, meta: dict, pair_paths: list[Path], cfg: Any
) -> dict[str, np.ndarray]:
    """Stage 5: verify the pairs, union-find, choose the kept sample of each cluster."""
    path = work / "clusters.npz"
    if path.exists():
        return dict(np.load(path))
    loaded = [np.load(p) for p in pair_paths]
    pairs = np.concatenate(loaded) if loaded else np.empty((0, 2), dtype=np.int64)
    signatures = np.load(work / "signatures.npy", mmap_mode="r") if cfg.near else None
    result = resolve_clusters(pairs, meta["digests"], meta["n_bytes"], signatures, cfg)
    save_arrays(path, **result)
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
