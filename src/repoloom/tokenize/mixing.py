"""Deterministic mixing of several tokenized corpora to target token shares.

Given per-corpus target shares ``s_c`` (normalised to sum 1) and the tokens ``N_c`` each corpus
produced, the target token counts are ``t_c = s_c * T`` with

* ``T = min_c N_c / s_c`` by default: the scarcest corpus relative to its share is used exactly
  once, the others are subsampled (nothing is repeated);
* ``T = mix_tokens`` when a budget is given: a corpus may then be repeated (whole epochs, then a
  partial one).

Documents are whole units: inside a partial epoch they are taken in the order of a hash of
``(seed, corpus, shard, document, epoch)`` until the target is reached (the document that crosses
it is kept when that lands closer to the target), so the achieved share differs from the target
by at most one document per corpus. All selected documents are then ordered by a second hash,
which interleaves the corpora. The order is saved as ``mix.npy`` (int64 ``[n, 2]``: manifest shard
index, document index in the shard); ``repoloom.tokenize.dataset`` streams documents in that order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from repoloom.tokenize.shards import IndexedShard

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps)."""
    with np.errstate(over="ignore"):
        z = x + _M1
        z = (z ^ (z >> np.uint64(30))) * _M2
        z = (z ^ (z >> np.uint64(27))) * _M3
        return z ^ (z >> np.uint64(31))


def hash_keys(seed: int, *parts: np.ndarray | int) -> np.ndarray:
    """A uint64 hash per element of the broadcast ``parts``."""
    arrays = np.broadcast_arrays(*[np.asarray(p, dtype=np.int64) for p in parts])
    h = _mix64(np.full(arrays[0].shape, np.uint64(seed & (2**64 - 1)), dtype=np.uint64))
    for a in arrays:
        h = _mix64(h ^ a.astype(np.uint64))
    return h


def build_mix(out: Path, manifest: dict[str, Any], settings: Any) -> dict[str, Any]:
    """Select and order documents; write ``out/mix.npy``; return the summary for the manifest."""
    corpora = settings.corpora
    shares = [c.share for c in corpora]
    if any(s is None for s in shares):
        raise ValueError("give a share for every corpus, or for none")
    if any(s < 0 for s in shares) or sum(shares) <= 0:
        raise ValueError("shares must be non-negative with a positive sum")
    total_share = float(sum(shares))
    target_share = {c.name: c.share / total_share for c in corpora}
    per_corpus: dict[str, dict[str, Any]] = {
        c.name: {"shard": [], "doc": [], "lens": []} for c in corpora
    }
    for si, sh in enumerate(manifest["shards"]):
        sizes = IndexedShard(out / sh["prefix"]).sizes.astype(np.int64)
        per_corpus[sh["corpus"]]["shard"].append(np.full(sizes.size, si, dtype=np.int64))
        per_corpus[sh["corpus"]]["lens"].append(sizes)
        per_corpus[sh["corpus"]]["doc"].append(np.arange(sizes.size, dtype=np.int64))
    n_tokens = {}
    for name, d in per_corpus.items():
        for key in ("shard", "doc", "lens"):
            d[key] = np.concatenate(d[key]) if d[key] else np.zeros(0, np.int64)
        n_tokens[name] = int(d["lens"].sum())
    budget = getattr(settings, "mix_tokens", None)
    if budget:
        total = float(budget)
    else:
        positive = [n_tokens[n] / s for n, s in target_share.items() if s > 0]
        total = min(positive) if positive else 0.0
    picks_shard, picks_doc, picks_key = [], [], []
    achieved: dict[str, int] = {}
    epochs: dict[str, float] = {}
    for ci, c in enumerate(corpora):
        d = per_corpus[c.name]
        want = target_share[c.name] * total
        if want > 0 and n_tokens[c.name] == 0:
            raise ValueError(f"corpus {c.name!r} has no tokens but a positive share")
        got = 0
        epoch = 0
        while n_tokens[c.name] and got + n_tokens[c.name] <= want:  # whole epochs
            _add(
                picks_shard,
                picks_doc,
                picks_key,
                settings.seed,
                ci,
                d,
                np.ones_like(d["lens"], bool),
                epoch,
            )
            got += n_tokens[c.name]
            epoch += 1
        rest = want - got
        if rest > 0 and d["lens"].size:
            order = np.argsort(
                hash_keys(settings.seed, 1, ci, d["shard"], d["doc"], epoch), kind="stable"
            )
            cum = np.cumsum(d["lens"][order])
            k = int(np.searchsorted(cum, rest))  # first index with cum >= rest
            if k < cum.size:
                before = int(cum[k - 1]) if k > 0 else 0
                take = k + 1 if (cum[k] - rest) <= (rest - before) else k
            else:
                take = cum.size
            mask = np.zeros(d["lens"].size, bool)
            mask[order[:take]] = True
            _add(picks_shard, picks_doc, picks_key, settings.seed, ci, d, mask, epoch)
            got += int(d["lens"][mask].sum())
        achieved[c.name] = got
        epochs[c.name] = got / n_tokens[c.name] if n_tokens[c.name] else 0.0
    if picks_key:
        keys = np.concatenate(picks_key)
        order = np.argsort(keys, kind="stable")
        table = np.stack([np.concatenate(picks_shard)[order], np.concatenate(picks_doc)[order]], 1)
    else:
        table = np.zeros((0, 2), np.int64)
    np.save(out / "mix.npy", table.astype(np.int64), allow_pickle=False)
    grand = sum(achieved.values()) or 1
    return {
        "file": "mix.npy",
        "documents": int(table.shape[0]),
        "tokens": int(sum(achieved.values())),
        "target_share": target_share,
        "achieved_share": {n: achieved[n] / grand for n in achieved},
        "achieved_tokens": achieved,
        "available_tokens": n_tokens,
        "epochs": epochs,
        "budget_tokens": int(budget) if budget else None,
    }


def _add(
    shards: list, docs: list, keys: list, seed: int, ci: int, d: dict, mask: np.ndarray, epoch: int
) -> None:
    shards.append(d["shard"][mask])
    docs.append(d["doc"][mask])
    keys.append(hash_keys(seed, 2, ci, d["shard"][mask], d["doc"][mask], epoch))
