"""Training data: fixed-length token windows for pretraining, and the micro-batch iterator.

The trainer consumes any iterable of windows, dicts with LongTensor ``input_ids`` and ``labels``
of the same length where ``labels[t]`` is the target of position ``t`` (already shifted; -100 is
ignored). They come from the tokenize part's ``repoloom.tokenize.dataset.TokenWindowDataset``,
which reads a ``repoloom tokenize`` output (a directory with ``manifest.json``) or a directory of
bare Megatron ``.bin/.idx`` shards without a manifest (e.g. written by another tool).

The contract: global window ``g`` is tokens ``[g*L, g*L + L + 1)`` of the stream;
the windows ``g >= start_index`` are dealt round robin, rank ``r`` of ``W`` getting
``start_index + r + k*W``. So a global batch of a W-process run holds exactly the windows of the
same global batch of a 1-process run, and the data position to resume from is one number, the
global windows consumed (``start_index``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Window = dict[str, Any]
DatasetFactory = Callable[[int, int, int, int], Iterable[Window]]
"""``factory(rank, world_size, start_index, epoch)`` -> that rank's windows from ``start_index``."""


def window_order(n_windows: int, seed: int, epoch: int) -> np.ndarray:
    """The pretraining shuffle: a permutation of the windows, fixed by (seed, epoch), so every
    rank and every resumed run computes the same one."""
    return np.random.default_rng([seed, epoch]).permutation(n_windows)


def token_dataset_factory(
    path: str | Path, seq_len: int, shuffle_seed: int | None = None
) -> DatasetFactory:
    """Factory of per-rank window datasets (``TokenWindowDataset``) over a token directory: a
    ``repoloom tokenize`` output (``manifest.json``) or bare shards.

    ``shuffle_seed``: read each epoch's windows in the order :func:`window_order` gives (packed
    samples are long: a repository-level sample fills hundreds of consecutive windows, which in
    stream order would make whole batches of one repository); None: stream order."""
    from repoloom.tokenize.dataset import TokenWindowDataset

    root = Path(path)
    probe = TokenWindowDataset(root, seq_len)
    n_windows = len(probe)
    if n_windows == 0:
        raise ValueError(f"{root}: fewer than {seq_len + 1} tokens, no training window")
    orders: dict[int, np.ndarray] = {}

    def make(rank: int, world_size: int, start_index: int, epoch: int = 0) -> Iterable[Window]:
        if n_windows < world_size:
            raise ValueError(
                f"{root}: {probe.stream.n_tokens} tokens make {n_windows} windows of {seq_len}; "
                f"need at least one per process ({world_size})"
            )
        order = None
        if shuffle_seed is not None:
            if epoch not in orders:
                orders.clear()  # one epoch's permutation in memory at a time
                orders[epoch] = window_order(n_windows, shuffle_seed, epoch)
            order = orders[epoch]
        return TokenWindowDataset(
            root, seq_len, rank=rank, world_size=world_size, start_index=start_index, order=order
        )

    return make


class BatchStream:
    """Endless micro-batches for one rank: stacks ``micro_batch_size`` windows, restarts the
    dataset at index 0 (next epoch) when it runs out, and counts the windows it handed out so a
    checkpoint can store the exact position (``epoch``, ``index`` = windows this rank consumed in
    the epoch; every rank consumes the same number, so ``index * world_size`` windows are done
    globally, the ``start_index`` to resume from)."""

    def __init__(
        self,
        factory: DatasetFactory,
        rank: int,
        world_size: int,
        micro_batch_size: int,
        epoch: int = 0,
        index: int = 0,
        collate: Callable[[list[Window]], dict[str, Any]] | None = None,
    ) -> None:
        self.factory = factory
        self.rank, self.world_size = rank, world_size
        self.micro_batch_size = micro_batch_size
        self.epoch, self.index = epoch, index
        self.collate = collate or stack_windows
        self._it: Iterator[Window] | None = None

    def _next_window(self) -> Window:
        for _attempt in range(2):
            if self._it is None:
                start = self.index * self.world_size
                self._it = iter(self.factory(self.rank, self.world_size, start, self.epoch))
            try:
                window = next(self._it)
                self.index += 1
                return window
            except StopIteration:
                if self.index == 0:
                    break
                log.info(
                    "rank %d: data epoch %d done after %d windows",
                    self.rank,
                    self.epoch,
                    self.index,
                )
                self.epoch += 1
                self.index = 0
                self._it = None
        raise ValueError("the training data yields no windows")

    def next_batch(self) -> dict[str, Any]:
        return self.collate([self._next_window() for _ in range(self.micro_batch_size)])

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}


def stack_windows(windows: list[Window]) -> dict[str, Any]:
    """Stack equal-length windows into ``[batch, seq]`` LongTensors."""
    import torch

    input_ids = torch.stack([torch.as_tensor(w["input_ids"], dtype=torch.long) for w in windows])
    labels = torch.stack([torch.as_tensor(w["labels"], dtype=torch.long) for w in windows])
    if input_ids.shape != labels.shape:
        raise ValueError(f"input_ids {tuple(input_ids.shape)} vs labels {tuple(labels.shape)}")
    return {"input_ids": input_ids, "labels": labels}


def write_token_shard(
    prefix: str | Path, tokens: np.ndarray, doc_len: int = 0, manifest_eos_id: int | None = None
) -> None:
    """Write tokens as a Megatron shard (documents of ``doc_len`` tokens, or one document), and
    with ``manifest_eos_id`` a one-shard ``manifest.json``; for tests and benchmarks that need
    shards without running ``repoloom tokenize``."""
    from repoloom.tokenize.shards import dtype_for_vocab, write_shard

    tokens = np.asarray(tokens)
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    if manifest_eos_id is not None:  # make the directory a minimal `repoloom tokenize` output
        manifest = {
            "format": "megatron-mmap-v1",
            "eos_id": int(manifest_eos_id),
            "shards": [{"prefix": Path(prefix).name}],
        }
        (Path(prefix).parent / "manifest.json").write_text(json.dumps(manifest))
    docs = (
        [tokens[i : i + doc_len] for i in range(0, tokens.size, doc_len)] if doc_len else [tokens]
    )
    write_shard(Path(prefix), docs, dtype_for_vocab(int(tokens.max()) + 1 if tokens.size else 1))
