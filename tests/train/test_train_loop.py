"""The training loop on the `micro` model: learning, logs, export, exact resume, data contract."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from repoloom.tokenize.dataset import TokenWindowDataset
from repoloom.train.data import BatchStream, token_dataset_factory, write_token_shard
from repoloom.train.train import train
from tests.train.helpers import markov_tokens, micro_config


def test_learns_logs_and_exports(tmp_path: Path, token_dir: Path) -> None:
    cfg = micro_config(
        tmp_path / "run", token_dir, max_steps=60, log_every=5, tensorboard=True, save_every=0
    )
    summary = train(cfg)
    losses = [loss for _, loss in summary["losses"]]
    # unigram entropy of the stream: the model must beat it (it learns the successor table)
    counts = np.bincount(markov_tokens(40_000), minlength=1024)
    p = counts[counts > 0] / counts.sum()
    unigram = float(-(p * np.log(p)).sum())
    assert losses[0] > math.log(1024) - 0.5
    assert losses[-1] < unigram - 0.5, (losses[-1], unigram)

    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(5, 61, 5))
    for key in ("loss", "lr", "grad_norm", "tokens_per_s", "mfu", "memory_gb"):
        assert all(math.isfinite(r[key]) for r in records), key
    assert all(0 < r["mfu"] < 1 for r in records)
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))

    # the export is a plain HF LlamaForCausalLM that reproduces the trained model's logits
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "hf")
    assert type(hf).__name__ == "LlamaForCausalLM"
    ids = torch.from_numpy(markov_tokens(40_000)[:32]).unsqueeze(0)
    out = hf.generate(ids, max_new_tokens=8, do_sample=False)
    assert out.shape == (1, 40)
    with torch.no_grad():
        logits = hf(ids).logits[0, :-1]
    nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:]).item()
    assert nll < unigram, "exported weights do not carry the training"


def test_resume_gives_the_uninterrupted_loss_sequence(tmp_path: Path, token_dir: Path) -> None:
    full = train(micro_config(tmp_path / "full", token_dir, max_steps=8, save_every=0))
    first = train(micro_config(tmp_path / "split", token_dir, max_steps=8, stop_at_step=3))
    assert first["stopped_early"] and first["steps"] == 3
    assert not (tmp_path / "split" / "hf").exists()
    second = train(micro_config(tmp_path / "split", token_dir, max_steps=8))
    assert [s for s, _ in second["losses"]] == [4, 5, 6, 7, 8]
    resumed = first["losses"] + second["losses"]
    assert [s for s, _ in resumed] == [s for s, _ in full["losses"]]
    np.testing.assert_allclose([v for _, v in resumed], [v for _, v in full["losses"]], rtol=1e-6)
    records = [
        json.loads(x) for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in records] == list(range(1, 9))


def test_grad_accumulation_equals_the_large_batch(tmp_path: Path, token_dir: Path) -> None:
    big = train(micro_config(tmp_path / "a", token_dir, max_steps=4, micro_batch_size=4))
    acc = train(
        micro_config(tmp_path / "b", token_dir, max_steps=4, micro_batch_size=2, grad_accum_steps=2)
    )
    np.testing.assert_allclose(
        [v for _, v in acc["losses"]], [v for _, v in big["losses"]], rtol=1e-5
    )


def test_data_contract_and_epochs(tmp_path: Path, token_dir: Path) -> None:
    toks = np.arange(2, 2 + 33 * 10 + 1) % 1000
    write_token_shard(tmp_path / "bare" / "s0", toks)  # no manifest: bare shards
    bare = TokenWindowDataset(tmp_path / "bare", 33)
    assert len(bare) == 10
    w = next(iter(bare))
    assert torch.equal(w["labels"][:-1], w["input_ids"][1:])
    # the tokenize part's dataset (manifest directory) and bare shards agree window for window
    write_token_shard(tmp_path / "man" / "s0", toks, manifest_eos_id=1)
    real = list(token_dataset_factory(tmp_path / "man", 33)(1, 2, 4, 0))
    mine = list(token_dataset_factory(tmp_path / "bare", 33)(1, 2, 4, 0))
    assert len(real) == len(mine) == 3
    for a, b in zip(real, mine, strict=True):
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])
    # two ranks see disjoint windows; the stream wraps into a new epoch
    streams = [BatchStream(token_dataset_factory(tmp_path / "man", 33), r, 2, 1) for r in (0, 1)]
    seen = [[int(s.next_batch()["input_ids"][0, 0]) for _ in range(5)] for s in streams]
    assert set(seen[0]).isdisjoint(seen[1]) and len(set(seen[0] + seen[1])) == 10
    streams[0].next_batch()
    assert streams[0].state() == {"epoch": 1, "index": 1}
    with pytest.raises(FileNotFoundError):
        token_dataset_factory(tmp_path / "missing", 33)
    # more processes than windows: every reader refuses up front (a rank with no window would
    # leave the others waiting in the first collective)
    for layout in ("man", "bare"):
        with pytest.raises(ValueError, match="need at least one per process"):
            token_dataset_factory(tmp_path / layout, 33)(0, 11, 0, 0)


def test_shuffled_windows_are_a_seeded_permutation_per_epoch(tmp_path: Path) -> None:
    toks = np.arange(2, 2 + 33 * 10 + 1) % 1000
    for name, manifest in (("man", 1), ("bare", None)):
        write_token_shard(tmp_path / name / "s0", toks, manifest_eos_id=manifest)
        factory = token_dataset_factory(tmp_path / name, 33, shuffle_seed=7)
        stream = [
            int(w["input_ids"][0]) for w in token_dataset_factory(tmp_path / name, 33)(0, 1, 0, 0)
        ]
        epoch0 = [int(w["input_ids"][0]) for w in factory(0, 1, 0, 0)]
        assert sorted(epoch0) == sorted(stream) and epoch0 != stream  # every window once, shuffled
        assert epoch0 == [int(w["input_ids"][0]) for w in factory(0, 1, 0, 0)]  # seeded
        assert epoch0 != [int(w["input_ids"][0]) for w in factory(0, 1, 0, 1)]  # new epoch order
        # ranks deal positions of the same permutation; resuming at a position continues it
        ranks = [[int(w["input_ids"][0]) for w in factory(r, 2, 0, 0)] for r in (0, 1)]
        assert [x for pair in zip(*ranks, strict=True) for x in pair] == epoch0
        assert [int(w["input_ids"][0]) for w in factory(0, 1, 4, 0)] == epoch0[4:]


def test_activation_checkpointing_keeps_the_losses(tmp_path: Path, token_dir: Path) -> None:
    plain = train(micro_config(tmp_path / "a", token_dir, max_steps=3, export=False))
    ac = train(
        micro_config(
            tmp_path / "b", token_dir, max_steps=3, export=False, activation_checkpointing=True
        )
    )
    np.testing.assert_allclose(
        [v for _, v in ac["losses"]], [v for _, v in plain["losses"]], rtol=1e-5
    )


def test_token_ids_beyond_the_vocabulary_are_a_clear_error(tmp_path: Path) -> None:
    write_token_shard(tmp_path / "big" / "s0", np.arange(2000) + 1000, manifest_eos_id=1)
    with pytest.raises(ValueError, match="vocabulary"):
        train(micro_config(tmp_path / "run", tmp_path / "big", max_steps=1))
