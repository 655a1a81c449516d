"""Megatron ``MMapIndexedDataset`` token shards (``PREFIX.bin`` + ``PREFIX.idx``).

The format Megatron-LM (``megatron/core/datasets/indexed_dataset.py``) and GPT-NeoX read:

``PREFIX.bin``
    the token ids of all documents back to back, little-endian, dtype from the index.
``PREFIX.idx``
    ``b"MMIDIDX\\x00\\x00"``, ``<Q`` version (1), ``<B`` dtype code (8 = uint16, 4 = int32),
    ``<Q`` sequence count S, ``<Q`` document count D, then ``int32[S]`` sequence lengths,
    ``int64[S]`` byte offsets of each sequence in ``.bin``, ``int64[D]`` document index
    (sequence number where each document starts, first 0, last S).

repoloom writes one sequence per document (EOS included at its end), so ``D = S + 1``.
uint16 is used when every id fits (vocab <= 65536); otherwise int32: Megatron's format has no
uint32 code, and ids below 2**31 lose nothing in int32.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}
CODE_DTYPES = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    6: np.float64,
    7: np.float32,
    8: np.uint16,
}


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """uint16 when all ids fit, else int32."""
    return np.dtype(np.uint16) if vocab_size <= 65536 else np.dtype(np.int32)


def write_shard(prefix: Path, documents: Iterable[np.ndarray], dtype: np.dtype) -> tuple[int, int]:
    """Write ``prefix.bin``/``prefix.idx`` atomically (temp files, then rename).

    Returns ``(n_documents, n_tokens)``. The ``.idx`` is renamed last, so a shard whose ``.idx``
    exists is complete.
    """
    dtype = np.dtype(dtype)
    bin_path = Path(f"{prefix}.bin")
    idx_path = Path(f"{prefix}.idx")
    tmp_bin = Path(f"{prefix}.bin.tmp")
    tmp_idx = Path(f"{prefix}.idx.tmp")
    sizes: list[int] = []
    with open(tmp_bin, "wb") as f:
        for doc in documents:
            arr = np.asarray(doc)
            if arr.size and (arr.min() < 0 or arr.max() > np.iinfo(dtype).max):
                raise ValueError(f"token id out of range for {dtype}")
            f.write(arr.astype(dtype, copy=False).tobytes())
            sizes.append(int(arr.size))
    sizes_arr = np.asarray(sizes, dtype=np.int32)
    pointers = np.zeros(len(sizes), dtype=np.int64)
    if len(sizes) > 1:
        np.cumsum(sizes_arr[:-1].astype(np.int64) * dtype.itemsize, out=pointers[1:])
    doc_idx = np.arange(len(sizes) + 1, dtype=np.int64)
    with open(tmp_idx, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<Q", VERSION))
        f.write(struct.pack("<B", DTYPE_CODES[dtype]))
        f.write(struct.pack("<Q", len(sizes)))
        f.write(struct.pack("<Q", len(doc_idx)))
        f.write(sizes_arr.tobytes())
        f.write(pointers.tobytes())
        f.write(doc_idx.tobytes())
    os.replace(tmp_bin, bin_path)
    os.replace(tmp_idx, idx_path)
    return len(sizes), int(sizes_arr.sum(dtype=np.int64))


def find_shards(path: str | Path) -> list[Path]:
    """The prefixes of the Megatron shards at ``path`` (one ``.bin``/``.idx`` file, or every
    ``.idx`` below a directory, sorted by name): how bare shards written by another tool are
    read."""
    root = Path(path)
    if root.is_file() and root.suffix in (".bin", ".idx"):
        return [root.with_suffix("")]
    if not root.is_dir():
        raise FileNotFoundError(f"token data not found: {root}")
    prefixes = sorted(p.with_suffix("") for p in root.rglob("*.idx"))
    if not prefixes:
        raise FileNotFoundError(f"no .bin/.idx token shards under {root}")
    return prefixes


class IndexedShard:
    """Read-only memory-mapped view of one ``.bin``/``.idx`` pair."""

    def __init__(self, prefix: str | Path) -> None:
        self.prefix = Path(prefix)
        idx_bytes = Path(f"{prefix}.idx").read_bytes()
        if idx_bytes[:9] != MAGIC:
            raise ValueError(f"{prefix}.idx: not a Megatron MMapIndexedDataset index")
        (version,) = struct.unpack_from("<Q", idx_bytes, 9)
        if version != VERSION:
            raise ValueError(f"{prefix}.idx: unsupported version {version}")
        (code,) = struct.unpack_from("<B", idx_bytes, 17)
        self.dtype = np.dtype(CODE_DTYPES[code])
        n_seq, n_doc = struct.unpack_from("<QQ", idx_bytes, 18)
        off = 34
        self.sizes = np.frombuffer(idx_bytes, dtype=np.int32, count=n_seq, offset=off)
        off += 4 * n_seq
        self.pointers = np.frombuffer(idx_bytes, dtype=np.int64, count=n_seq, offset=off)
        off += 8 * n_seq
        self.doc_idx = np.frombuffer(idx_bytes, dtype=np.int64, count=n_doc, offset=off)
        bin_path = Path(f"{prefix}.bin")
        if bin_path.stat().st_size == 0:
            self.tokens = np.zeros(0, dtype=self.dtype)
        else:
            self.tokens = np.memmap(bin_path, dtype=self.dtype, mode="r")
        expected = int(self.sizes.sum(dtype=np.int64))
        if self.tokens.size != expected:
            raise ValueError(
                f"{prefix}.bin holds {self.tokens.size} tokens, the index says {expected}"
            )

    def __len__(self) -> int:
        return int(self.sizes.size)

    @property
    def n_tokens(self) -> int:
        return int(self.tokens.size)

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.pointers[i]) // self.dtype.itemsize
        return np.asarray(self.tokens[start : start + int(self.sizes[i])])
