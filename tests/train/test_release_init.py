"""`init_from` a checkpoint in DeepSeek-Coder's released layout (transformers-4 config keys,
LlamaTokenizerFast files, sharded safetensors): RoPE settings, weights, tokenizer ids survive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from repoloom.prompts import RELEASE_SPECIAL_IDS, SPECIAL_TOKENS
from repoloom.train.model import build_llama_config, build_model, current_rope
from repoloom.train.train import train
from tests.train.helpers import micro_config

TEXT = "def add(a, b):\n    return a + b  # 12 ½\nclass Stack:"


def _release_ids(release_dir: Path, text: str) -> list[int]:
    from tokenizers import Tokenizer  # the file itself, no transformers in between (adds BOS)

    return Tokenizer.from_file(str(release_dir / "tokenizer.json")).encode(text).ids


def test_release_config_rope_and_weights(release_dir: Path, token_dir: Path, tmp_path) -> None:
    cfg = micro_config(tmp_path / "run", token_dir, init_from=str(release_dir))
    config = build_llama_config(cfg)
    assert current_rope(config) == (100000.0, 4.0)
    assert config.max_position_embeddings == 16384
    assert (config.hidden_size, config.vocab_size) == (32, 32256)
    model = build_model(cfg, config)
    # the rotary embedding really is linear x4 on base 1e5 (not the default 10000 / no scaling)
    head_dim = config.hidden_size // config.num_attention_heads
    expected = 1.0 / (1e5 ** (torch.arange(0, head_dim, 2).float() / head_dim)) / 4.0
    torch.testing.assert_close(model.model.rotary_emb.inv_freq, expected)
    # every tensor equals the (bf16) release file's, read through the sharded index
    from safetensors.torch import load_file

    saved = {}
    for shard in release_dir.glob("model-*.safetensors"):
        saved.update(load_file(shard))
    state = model.state_dict()
    assert state.keys() == saved.keys()
    for name, tensor in state.items():
        assert tensor.dtype == torch.float32  # fp32 master weights
        assert torch.equal(tensor, saved[name].float()), name
    # long-context overrides still apply on top of the release keys
    cfg2 = micro_config(
        tmp_path / "run2", token_dir, init_from=str(release_dir), rope_theta=5e5, seq_len=64
    )
    assert current_rope(build_llama_config(cfg2)) == (5e5, 4.0)


def test_release_tokenizer_ids_survive_training_and_export(
    release_dir: Path, token_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    run = tmp_path / "run"
    # no tokenizer= : the checkpoint's own tokenizer files are used and exported
    cfg = micro_config(run, token_dir, init_from=str(release_dir), max_steps=2)
    summary = train(cfg)
    assert summary["steps"] == 2
    assert json.loads((run / "config.json").read_text())["tokenizer"] == str(release_dir)
    for directory in (release_dir, run / "hf"):
        tok = AutoTokenizer.from_pretrained(directory)
        assert tok.convert_tokens_to_ids(list(SPECIAL_TOKENS)) == [
            RELEASE_SPECIAL_IDS[t] for t in SPECIAL_TOKENS
        ], directory
        ids = tok(TEXT)["input_ids"]
        assert ids[0] == 32013 and ids == _release_ids(release_dir, TEXT), directory
        fim = "<｜fim▁begin｜>def f():<｜fim▁hole｜>\n<｜fim▁end｜>"
        assert tok(fim, add_special_tokens=False)["input_ids"][0] == 32016
        assert (tok.bos_token_id, tok.eos_token_id) == (32013, 32014)
    exported = json.loads((run / "hf" / "config.json").read_text())
    assert (exported["bos_token_id"], exported["eos_token_id"]) == (32013, 32014)
    assert exported["max_position_embeddings"] == 16384
    from transformers import AutoConfig

    assert current_rope(AutoConfig.from_pretrained(run / "hf")) == (100000.0, 4.0)


def test_release_checkpoint_mismatch_is_a_clear_error(
    release_dir: Path, token_dir: Path, tmp_path: Path
) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(release_dir, broken)
    index = json.loads((broken / "model.safetensors.index.json").read_text())
    del index["weight_map"]["model.norm.weight"]
    (broken / "model.safetensors.index.json").write_text(json.dumps(index))
    cfg = micro_config(tmp_path / "run", token_dir, init_from=str(broken))
    with pytest.raises(ValueError, match="no tensor 'model.norm.weight'"):
        build_model(cfg, build_llama_config(cfg))


def test_pytorch_bin_checkpoint_loads_whole(
    release_dir: Path, token_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Checkpoints with `pytorch_model.bin` only (no safetensors) load through transformers, whole
    in every process, with a warning that says how to get the sharded start."""
    import shutil

    from safetensors.torch import load_file

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(release_dir / name, bin_dir / name)
    saved = {}
    for shard in release_dir.glob("model-*.safetensors"):
        saved.update(load_file(shard))
    torch.save(saved, bin_dir / "pytorch_model.bin")
    cfg = micro_config(tmp_path / "run", token_dir, init_from=str(bin_dir))
    with caplog.at_level("WARNING", logger="repoloom.train.model"):
        model = build_model(cfg, build_llama_config(cfg))
    assert "no safetensors files" in caplog.text
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, saved[name].float()), name
