"""PyTorch dataset of fixed-length training windows over ``repoloom tokenize`` shards (or bare
Megatron ``.bin``/``.idx`` shards without a manifest, read in name order).

API (the training code builds on it)::

    from repoloom.tokenize.dataset import TokenWindowDataset, TokenStream

    ds = TokenWindowDataset("TOKENS", seq_len=4096, rank=0, world_size=1, start_index=0,
                            batch_size=8)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=2)
    for batch in loader:
        batch["input_ids"]  # LongTensor [8, 4096]
        batch["labels"]     # LongTensor [8, 4096] = input_ids shifted left by one token
        batch["index"]      # LongTensor [8]: global sample indices

The token stream
    ``TOKENS/manifest.json`` lists the shards (Megatron ``.bin``/``.idx``). The stream is the
    documents of all shards in manifest order, or, when the run mixed corpora, the documents in
    the order of ``TOKENS/mix.npy`` (a deterministic shuffle that also interleaves corpora).
    Every document already ends with EOS; windows run across document boundaries (packing) and a
    long document spans several windows, it is never cut away. A directory without a manifest
    (bare shards from another tool) is its ``.bin``/``.idx`` shards concatenated in name order.
Windows
    global sample ``g`` is tokens ``[g*seq_len, g*seq_len + seq_len + 1)`` of the stream (one token
    of overlap, as in Megatron): ``input_ids = w[:-1]``, ``labels = w[1:]``. There are
    ``(n_tokens - 1) // seq_len`` samples; the trailing remainder is not used.
Ranks, workers, resume
    The samples ``g >= start_index`` are dealt round robin: rank ``r`` gets
    ``g = start_index + r + k * world_size`` for ``k = 0, 1, ...``. Inside a rank, DataLoader
    worker ``w`` of ``W`` takes the rank's local samples in blocks of ``batch_size``
    (block ``b`` goes to worker ``b % W``), which is exactly the order in which the DataLoader
    returns batches, so a rank sees its samples in increasing ``k`` whatever ``W`` is. To resume
    after ``n`` optimizer steps of global batch ``B`` (summed over ranks), pass
    ``start_index = n * B``: every rank continues exactly where it stopped.
    ``seq_len`` may differ from the one given to ``repoloom tokenize`` (which is only reporting).
Fragment FIM (Megatron's "after packing" variant)
    ``fragment_fim=repoloom.tokenize.fim.FragmentFim(tokdir, fim_rate=0.5)`` applies FIM to each
    EOS-separated fragment of every window (draw keyed by sample index and fragment number);
    a window that gets shorter is padded with ``<pad>`` and those label positions are -100.
    Tokenize with ``--fim-rate 0`` when using it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from repoloom.tokenize.shards import IndexedShard, find_shards


class TokenStream:
    """Random access to the concatenated token stream of a ``repoloom tokenize`` output, or of
    bare Megatron shards without a manifest (another tool's output: the shards in name order,
    ``eos_id`` None)."""

    def __init__(self, path: str | Path, *, use_mix: bool = True) -> None:
        self.path = Path(path)
        manifest_path = self.path / "manifest.json"
        self.manifest: dict[str, Any] = {}
        self.eos_id: int | None = None
        if manifest_path.is_file():
            self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            prefixes = [self.path / s["prefix"] for s in self.manifest["shards"]]
            self.eos_id = int(self.manifest["eos_id"])
        else:
            prefixes = find_shards(self.path)
        self.shards = [IndexedShard(p) for p in prefixes]
        mix = self.manifest.get("mix")
        if use_mix and mix:
            table = np.load(self.path / mix["file"], allow_pickle=False)
            seg_shard = table[:, 0].astype(np.int64)
            first_doc = np.cumsum([0] + [len(sh) for sh in self.shards])[:-1].astype(np.int64)
            all_starts = np.concatenate(
                [sh.pointers // sh.dtype.itemsize for sh in self.shards] or [np.zeros(0, np.int64)]
            )
            all_lens = np.concatenate(
                [sh.sizes.astype(np.int64) for sh in self.shards] or [np.zeros(0, np.int64)]
            )
            flat = first_doc[seg_shard] + table[:, 1]
            starts = all_starts[flat].astype(np.int64)
            lens = all_lens[flat]
        else:  # shards are contiguous: one segment per shard
            seg_shard = np.arange(len(self.shards), dtype=np.int64)
            starts = np.zeros(len(self.shards), dtype=np.int64)
            lens = np.asarray([s.n_tokens for s in self.shards], dtype=np.int64)
        self.seg_shard = seg_shard
        self.seg_start = starts
        self.seg_len = lens
        self.offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    def read(self, start: int, stop: int) -> np.ndarray:
        """Tokens ``[start, stop)`` of the stream as int64."""
        if not 0 <= start <= stop <= self.n_tokens:
            raise IndexError(f"[{start}, {stop}) outside the stream of {self.n_tokens} tokens")
        out = np.empty(stop - start, dtype=np.int64)
        seg = int(np.searchsorted(self.offsets, start, side="right")) - 1
        pos = start
        while pos < stop:
            seg_off = pos - int(self.offsets[seg])
            take = min(stop - pos, int(self.seg_len[seg]) - seg_off)
            if take > 0:
                sh = self.shards[int(self.seg_shard[seg])]
                a = int(self.seg_start[seg]) + seg_off
                out[pos - start : pos - start + take] = sh.tokens[a : a + take]
                pos += take
            seg += 1
        return out


class TokenWindowDataset(IterableDataset):
    """Fixed-length ``(input_ids, labels)`` windows; see the module docstring for the contract."""

    def __init__(
        self,
        path: str | Path,
        seq_len: int,
        rank: int = 0,
        world_size: int = 1,
        start_index: int = 0,
        batch_size: int = 1,
        use_mix: bool = True,
        fragment_fim: Any = None,
        order: Any = None,
    ) -> None:
        super().__init__()
        if seq_len < 1 or world_size < 1 or batch_size < 1 or start_index < 0:
            raise ValueError("seq_len, world_size, batch_size must be >= 1, start_index >= 0")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of {world_size}")
        self.stream = TokenStream(path, use_mix=use_mix)
        self.seq_len = seq_len
        self.rank = rank
        self.world_size = world_size
        self.start_index = start_index
        self.batch_size = batch_size
        self.fragment_fim = fragment_fim
        self.num_samples = max(0, (self.stream.n_tokens - 1) // seq_len)
        # order[p]: the window read at position p (a permutation, e.g. the trainer's shuffle);
        # None: stream order. Ranks, start_index and resume count positions, not windows.
        self.order = order
        if order is not None and len(order) != self.num_samples:
            raise ValueError(f"order has {len(order)} entries for {self.num_samples} windows")

    def sample(self, g: int) -> dict[str, torch.Tensor]:
        """Global sample ``g``."""
        if not 0 <= g < self.num_samples:
            raise IndexError(f"sample {g} outside 0..{self.num_samples - 1}")
        w = self.stream.read(g * self.seq_len, g * self.seq_len + self.seq_len + 1)
        if self.fragment_fim is None:
            t = torch.from_numpy(w)
            return {"input_ids": t[:-1], "labels": t[1:], "index": torch.tensor(g)}
        w, keep = self.fragment_fim(w, g)
        t = torch.from_numpy(w)
        labels = t[1:].clone()
        labels[torch.from_numpy(~keep[1:])] = -100  # padding after FIM: ignored by the loss
        return {"input_ids": t[:-1], "labels": labels, "index": torch.tensor(g)}

    def rank_indices(self) -> range:
        """Global indices of this rank's samples, in order."""
        return range(self.start_index + self.rank, self.num_samples, self.world_size)

    def __len__(self) -> int:
        return len(self.rank_indices())

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker, n_workers = (info.id, info.num_workers) if info else (0, 1)
        for k, g in enumerate(self.rank_indices()):
            if (k // self.batch_size) % n_workers == worker:
                yield self.sample(g if self.order is None else int(self.order[g]))
