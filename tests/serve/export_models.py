"""Checkpoints for the export tests, written by the training export itself (``export_hf``) so that
the tests see exactly what ``RUN_DIR/hf`` holds after ``repoloom train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import SHARED

REFERENCE = SHARED / "reference" / "deepseek-coder-tokenizer"
REFERENCE_GGUF = REFERENCE / "ggml-vocab-deepseek-coder.gguf"


def release_vectors() -> list[tuple[str, list[int]]]:
    """The release's tokenizer test vectors (text, ids); the 47th, empty entry is dropped."""
    texts = (REFERENCE / "ggml-vocab-deepseek-coder.gguf.inp").read_text(encoding="utf-8")
    ids = (REFERENCE / "ggml-vocab-deepseek-coder.gguf.out").read_text(encoding="utf-8")
    pairs = list(zip(texts.split("\n__ggml_vocab_test__\n"), ids.split("\n"), strict=True))
    assert pairs[-1] == ("", "")
    return [(t, [int(x) for x in i.split()]) for t, i in pairs[:-1]]


def release_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release vocabulary imported from ../shared (skips when it is absent)."""
    if not REFERENCE_GGUF.is_file():
        pytest.skip(f"release vocabulary not found at {REFERENCE_GGUF} (../shared is absent)")
    from repoloom.tokenize.gguf_import import import_gguf

    out = tmp_path_factory.mktemp("release_tok")
    import_gguf(REFERENCE_GGUF, out)
    return out


def export_checkpoint(
    out: Path,
    tokenizer: Any,
    *,
    vocab_size: int,
    hidden_size: int = 64,
    intermediate_size: int = 176,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    max_position_embeddings: int = 16384,
    rope_theta: float = 1e5,
    rope_scaling_factor: float | None = 4.0,
    init_std: float = 0.02,
    seed: int = 0,
) -> Path:
    """A random LLaMA (release architecture, GQA, the release's long-context RoPE by default)
    exported by ``repoloom.train.checkpoint.export_hf`` with ``tokenizer``."""
    import torch
    from transformers import LlamaForCausalLM

    from repoloom.train.checkpoint import export_hf
    from repoloom.train.model import make_llama_config

    config = make_llama_config(
        {
            "vocab_size": vocab_size,
            "hidden_size": hidden_size,
            "intermediate_size": intermediate_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": num_heads,
            "num_key_value_heads": num_kv_heads,
            "max_position_embeddings": max_position_embeddings,
            "rms_norm_eps": 1e-6,
            "tie_word_embeddings": False,
            "initializer_range": init_std,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
            "rope_theta": rope_theta,
            "rope_scaling_factor": rope_scaling_factor,
        }
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    out_dir = export_hf(out, model, config, "float32", tokenizer)
    assert out_dir is not None
    return out_dir
