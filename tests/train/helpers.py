"""Shared helpers of the train tests: small synthetic token shards and configs for the `micro`
model (0.2M parameters), so that every test runs in seconds on one CPU core."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from repoloom.train.config import TrainConfig, config_from_dict


def markov_tokens(n: int, vocab: int = 1024, seed: int = 0) -> np.ndarray:
    """A learnable stream: each token is followed by one of 4 successors (entropy 2 bits per
    token once learnt, against log(vocab) for a fresh model)."""
    rng = np.random.default_rng(seed)
    succ = rng.integers(2, vocab, size=(vocab, 4))
    out = np.empty(n, dtype=np.int64)
    out[0] = 2
    choices = rng.integers(0, 4, size=n)
    for i in range(1, n):
        out[i] = succ[out[i - 1], choices[i]]
    return out


def micro_config(out: Path, data: Path, **kw: object) -> TrainConfig:
    values = {
        "model": "micro",
        "data": str(data),
        "out": str(out),
        "seq_len": 32,
        "micro_batch_size": 4,
        "grad_accum_steps": 1,
        "max_steps": 10,
        "lr": 3e-3,
        "warmup_steps": 2,
        "log_every": 1,
        "progress": False,
        "tensorboard": False,
        "export_dtype": "float32",
        "seed": 7,
    }
    values.update(kw)
    return config_from_dict(values)
