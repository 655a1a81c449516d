"""Fixtures of the train tests (helpers in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.train.helpers import markov_tokens


@pytest.fixture(scope="session")
def token_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `repoloom tokenize`-style directory (manifest + Megatron shard) of 40k tokens."""
    from repoloom.train.data import write_token_shard

    root = tmp_path_factory.mktemp("tokens")
    write_token_shard(root / "shard_00000", markov_tokens(40_000), doc_len=997, manifest_eos_id=1)
    return root


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    """The models are tiny: one intra-op thread is faster and immune to a busy second core."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def release_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint in DeepSeek-Coder's released HF layout (transformers-4 config keys)."""
    from tests.train.helpers import write_release_checkpoint

    return write_release_checkpoint(tmp_path_factory.mktemp("release") / "deepseek-coder-tiny")
