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


# ----------------------------------------------------------------------------------------------
# a tiny checkpoint in the layout of DeepSeek-Coder's released HF directories

# The release's config.json keys (deepseek-coder-*-base, written by transformers 4.3x): RoPE as
# `rope_theta` + `rope_scaling {"type": ...}`, not transformers 5's `rope_parameters`.
RELEASE_STYLE_CONFIG: dict[str, object] = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "bos_token_id": 32013,
    "eos_token_id": 32014,
    "hidden_act": "silu",
    "initializer_range": 0.02,
    "max_position_embeddings": 16384,
    "model_type": "llama",
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-06,
    "rope_scaling": {"factor": 4.0, "type": "linear"},
    "rope_theta": 100000,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.33.1",
    "use_cache": True,
    "vocab_size": 32256,
}

_CORPUS = "def add(a, b):\n    return a + b\n\nclass Stack:\n    def push(self, x):\n        pass\n"


def _release_tokenizer_json() -> str:
    """A byte-level BPE (the release pre-tokenizer) whose base vocabulary is filled up to 32013
    entries, so the release's added tokens land on their release ids 32013..32021 with the
    release's flags: BOS and EOS special, the FIM / chat tokens added but not special."""
    import json as _json

    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers

    from repoloom.prompts import BOS, EOS, SPECIAL_TOKENS
    from repoloom.tokenize.release import finish_tokenizer, release_pre_tokenizer

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = release_pre_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator([_CORPUS] * 8, trainer=trainer)
    data = _json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    for i in range(len(vocab), 32013):
        vocab[f"<filler_{i}>"] = i
    tok = Tokenizer.from_str(_json.dumps(data))
    tok.add_tokens(
        [AddedToken(t, special=t in (BOS, EOS), normalized=False) for t in SPECIAL_TOKENS]
    )
    finish_tokenizer(tok)
    return tok.to_str()


def write_release_checkpoint(
    out: Path, hidden_size: int = 32, layers: int = 2, seed: int = 0, shards: int = 2
) -> Path:
    """A tiny DeepSeek-Coder-layout directory written file by file: config.json with the
    transformers-4 keys above, bf16 safetensors in the sharded index layout, and the
    LlamaTokenizerFast files (tokenizer.json, tokenizer_config.json, special_tokens_map.json)."""
    import json as _json

    import torch
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    from repoloom.prompts import BOS, CHAT_TEMPLATE, EOS

    out.mkdir(parents=True, exist_ok=True)
    shape = {
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 11 // 4,
        "num_attention_heads": 4,
        "num_hidden_layers": layers,
        "num_key_value_heads": 2,
    }
    config = {**RELEASE_STYLE_CONFIG, **shape}
    (out / "config.json").write_text(_json.dumps(config, indent=2))
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**{**shape, "vocab_size": 32256}))
    tensors = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    names = sorted(tensors)
    weight_map = {}
    for i in range(shards):
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[i::shards]}
        save_file(part, str(out / fname), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, fname))
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    (out / "model.safetensors.index.json").write_text(
        _json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2)
    )

    (out / "tokenizer.json").write_text(_release_tokenizer_json())

    def added(content: str) -> dict[str, object]:
        return {
            "__type": "AddedToken",
            "content": content,
            "lstrip": False,
            "normalized": True,
            "rstrip": False,
            "single_word": False,
        }

    tokenizer_config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": added(BOS),
        "clean_up_tokenization_spaces": False,
        "eos_token": added(EOS),
        "legacy": True,
        "model_max_length": 16384,
        "pad_token": added(EOS),
        "sp_model_kwargs": {},
        "unk_token": None,
        "tokenizer_class": "LlamaTokenizerFast",
        "chat_template": CHAT_TEMPLATE,
    }
    (out / "tokenizer_config.json").write_text(
        _json.dumps(tokenizer_config, ensure_ascii=False, indent=2)
    )
    special = {"bos_token": added(BOS), "eos_token": added(EOS), "pad_token": added(EOS)}
    (out / "special_tokens_map.json").write_text(_json.dumps(special, ensure_ascii=False))
    return out
