from __future__ import annotations

import math

import pytest

from repoloom.train.config import MODEL_REGISTRY, load_config, parse_overrides
from repoloom.train.model import count_parameters, make_llama_config
from repoloom.train.train import lr_at


@pytest.mark.parametrize(
    ("name", "expected"),
    [("deepseek-coder-1.3b", 1.3e9), ("deepseek-coder-6.7b", 6.7e9), ("deepseek-coder-33b", 33e9)],
)
def test_parameter_count_matches_name(name: str, expected: float) -> None:
    n = count_parameters(make_llama_config(MODEL_REGISTRY[name]))["total"]
    assert abs(n - expected) / expected < 0.05, f"{name}: {n / 1e9:.3f}B"


def test_tiny_is_a_few_million_and_shapes_follow_the_paper() -> None:
    tiny = count_parameters(make_llama_config(MODEL_REGISTRY["tiny"]))["total"]
    assert 1e6 < tiny < 20e6
    c33 = make_llama_config(MODEL_REGISTRY["deepseek-coder-33b"])
    assert (c33.num_attention_heads, c33.num_key_value_heads) == (56, 8)
    assert (c33.num_hidden_layers, c33.hidden_size, c33.intermediate_size) == (62, 7168, 19200)
    for name in ("deepseek-coder-1.3b", "deepseek-coder-6.7b", "deepseek-coder-33b"):
        c = make_llama_config(MODEL_REGISTRY[name])
        assert c.vocab_size == 32256 and c.rms_norm_eps == 1e-6
        assert c.tie_word_embeddings is False and c.hidden_act == "silu"


def test_long_context_rope_parameters() -> None:
    c = make_llama_config({**MODEL_REGISTRY["tiny"], "rope_theta": 1e5, "rope_scaling_factor": 4.0})
    assert c.rope_parameters == {"rope_type": "linear", "factor": 4.0, "rope_theta": 100000.0}


def test_yaml_and_overrides(tmp_path) -> None:
    cfg = load_config(
        "configs/train/longctx.yaml", ["max_steps=7", "rope_theta=1e5", "decay_points=[0.5]"]
    )
    assert cfg.max_steps == 7 and cfg.rope_theta == 1e5 and cfg.decay_points == [0.5]
    assert cfg.rope_scaling_factor == 4.0 and cfg.seq_len == 16384
    with pytest.raises(ValueError, match="max_stpes: unknown setting"):
        load_config("configs/train/tiny.yaml", ["max_stpes=3"])
    with pytest.raises(ValueError, match="integer"):
        load_config("configs/train/tiny.yaml", ["max_steps=2.5"])
    with pytest.raises(ValueError, match="tokenizer"):
        load_config("configs/train/sft.yaml", ["init_from=null"])
    load_config("configs/train/sft.yaml")  # the tokenizer may come from init_from's directory
    with pytest.raises(ValueError, match="needs init_from"):
        load_config("configs/train/adapt.yaml")  # LoRA on a released model: name it
    assert load_config("configs/train/adapt.yaml", ["init_from=ckpt"]).lora.r == 16
    assert parse_overrides(["a=1", "b=x"]) == {"a": 1, "b": "x"}
    for name in ("tiny", "pretrain-1.3b", "longctx"):
        load_config(f"configs/train/{name}.yaml")


def test_step_schedule_of_the_report() -> None:
    cfg = load_config(None, ["lr=1.0", "warmup_steps=10", "max_steps=100"])
    assert lr_at(cfg, 5) == pytest.approx(0.5)
    assert lr_at(cfg, 10) == pytest.approx(1.0)
    assert lr_at(cfg, 80) == pytest.approx(1.0)
    assert lr_at(cfg, 81) == pytest.approx(math.sqrt(0.1))
    assert lr_at(cfg, 91) == pytest.approx(0.1)  # final LR 10% of the maximum
    cos = load_config(
        None, ["lr=1.0", "warmup_steps=100", "max_steps=1100", "schedule=cosine", "min_lr_ratio=0"]
    )
    assert lr_at(cos, 100) == pytest.approx(1.0)
    assert lr_at(cos, 600) == pytest.approx(0.5)
    assert lr_at(cos, 1100) == pytest.approx(0.0, abs=1e-12)
