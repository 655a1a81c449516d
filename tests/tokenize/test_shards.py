from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from repoloom.tokenize.shards import IndexedShard, dtype_for_vocab, write_shard


def test_dtype_choice_and_round_trip(tmp_path: Path) -> None:
    assert dtype_for_vocab(32022) == np.uint16 and dtype_for_vocab(65536) == np.uint16
    assert dtype_for_vocab(65537) == np.int32
    docs = [np.arange(5), np.array([70000]), np.array([], dtype=np.int64)]
    assert write_shard(tmp_path / "a", docs, np.int32) == (3, 6)
    shard = IndexedShard(tmp_path / "a")
    assert shard.dtype == np.int32 and len(shard) == 3
    assert [shard[i].tolist() for i in range(3)] == [[0, 1, 2, 3, 4], [70000], []]
    assert shard.pointers.tolist() == [0, 20, 24]


def test_empty_shard_and_bad_ids(tmp_path: Path) -> None:
    assert write_shard(tmp_path / "e", [], np.uint16) == (0, 0)
    shard = IndexedShard(tmp_path / "e")
    assert len(shard) == 0 and shard.n_tokens == 0 and shard.doc_idx.tolist() == [0]
    with pytest.raises(ValueError, match="out of range"):
        write_shard(tmp_path / "b", [np.array([70000])], np.uint16)
    assert not (tmp_path / "b.idx").exists()  # nothing half-written is left as a finished shard
    (tmp_path / "x.idx").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a Megatron"):
        IndexedShard(tmp_path / "x")
    write_shard(tmp_path / "t", [np.arange(10)], np.uint16)
    (tmp_path / "t.bin").write_bytes((tmp_path / "t.bin").read_bytes()[:-2])
    with pytest.raises(ValueError, match="the index says"):
        IndexedShard(tmp_path / "t")
