"""KV-cache surgery for continuous batching: drop finished rows, stack a newly prefilled batch.

Works on transformers' plain per-layer dynamic cache (``DynamicLayer`` with ``[batch, heads,
seq, dim]`` keys and values); :func:`plain_dynamic_cache` says whether a cache is one.
"""

from __future__ import annotations

from typing import Any


def plain_dynamic_cache(cache: Any) -> bool:
    """True when every layer of ``cache`` holds plain ``[batch, heads, seq, dim]`` tensors."""
    layers = getattr(cache, "layers", None)
    if not layers:
        return False
    return all(
        type(layer).__name__ == "DynamicLayer"
        and getattr(layer, "is_initialized", False)
        and getattr(layer, "keys", None) is not None
        and layer.keys.dim() == 4
        for layer in layers
    )


def select_rows(cache: Any, mask: Any, pos: Any, keep: list[int]):
    """Keep rows ``keep`` and drop the left columns no kept row uses."""
    import torch

    idx = torch.tensor(keep, dtype=torch.long, device=mask.device)
    cache.batch_select_indices(idx)
    mask, pos = mask[idx], pos[idx]
    used = mask.any(dim=0).nonzero()
    start = int(used[0]) if len(used) else 0
    if start > 0 and plain_dynamic_cache(cache):
        for layer in cache.layers:
            layer.keys = layer.keys[:, :, start:, :]
            layer.values = layer.values[:, :, start:, :]
        mask = mask[:, start:]
    return cache, mask, pos


def join_caches(cache: Any, mask: Any, other: Any, other_mask: Any):
    """Stack two batches' caches, left-padding the shorter one (padding is masked out)."""
    import torch

    t1, t2 = mask.shape[1], other_mask.shape[1]
    width = max(t1, t2)

    def pad(x, t):  # [b, h, t, d] -> [b, h, width, d]
        if t == width:
            return x
        z = x.new_zeros((x.shape[0], x.shape[1], width - t, x.shape[3]))
        return torch.cat([z, x], dim=2)

    for a, b in zip(cache.layers, other.layers, strict=True):
        a.keys = torch.cat([pad(a.keys, t1), pad(b.keys, t2)], dim=0)
        a.values = torch.cat([pad(a.values, t1), pad(b.values, t2)], dim=0)
    m1 = torch.nn.functional.pad(mask, (width - t1, 0))
    m2 = torch.nn.functional.pad(other_mask, (width - t2, 0))
    return cache, torch.cat([m1, m2], dim=0)
