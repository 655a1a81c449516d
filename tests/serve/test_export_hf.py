"""RUN_DIR/hf reads alike in transformers 5, transformers 4.46 and vLLM.

The export carries both RoPE layouts (transformers 5's ``rope_parameters``, the released
checkpoints' ``rope_theta`` / ``rope_scaling``) and its tokenizer in the release's
``LlamaTokenizerFast`` layout. The heavy test loads config and tokenizer in a separate
``transformers==4.46.3`` environment (no torch needed) and compares with transformers 5.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

from repoloom.testing import exported_checkpoint

from .export_models import REFERENCE, release_vectors

# The config.json keys vLLM reads for LlamaForCausalLM (vllm/model_executor/models/llama.py:
# LlamaModel/LlamaDecoderLayer/LlamaAttention/LlamaMLP; vllm/config/model.py:
# _get_and_verify_max_len; vllm/transformers_utils/config.py: patch_rope_parameters turns the
# legacy rope_theta/rope_scaling into rope_parameters when transformers 4 loads the config).
VLLM_LLAMA_KEYS = (
    "architectures",  # model registry: LlamaForCausalLM
    "model_type",
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",  # getattr(config, "head_dim", hidden_size // num_attention_heads)
    "hidden_act",  # LlamaMLP accepts only silu
    "rms_norm_eps",
    "max_position_embeddings",  # max model len (times the RoPE factor) and the RoPE cache
    "rope_parameters",  # transformers 5 / current vLLM
    "rope_theta",  # vLLM with transformers 4
    "rope_scaling",
    "attention_bias",
    "mlp_bias",
    "tie_word_embeddings",
    "torch_dtype",  # dtype="auto" (transformers 4); transformers 5 writes "dtype"
    "dtype",
    "bos_token_id",
    "eos_token_id",
)

TF4_REQUIREMENTS = ("transformers==4.46.3", "tokenizers==0.20.3", "jinja2==3.1.6")


def vllm_max_model_len(config: dict[str, Any], tokenizer_config: dict[str, Any]) -> int:
    """vLLM's derived max model length for a LLaMA config (``_get_and_verify_max_len``):
    ``min(max_position_embeddings, tokenizer model_max_length)`` times the RoPE factor."""
    length = min(config["max_position_embeddings"], tokenizer_config["model_max_length"])
    params = config["rope_parameters"]
    if params["rope_type"] not in ("su", "longrope", "llama3"):
        length *= params.get("factor", 1.0)
    return int(length)


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_config_carries_both_rope_layouts(small_hf: Path) -> None:
    config = _json(small_hf / "config.json")
    assert config["rope_parameters"] == {
        "rope_type": "linear",
        "factor": 4.0,
        "rope_theta": 100000.0,
    }
    # the released checkpoints' keys, as transformers 4.46 reads them
    assert config["rope_theta"] == 100000.0
    assert config["rope_scaling"] == {"type": "linear", "factor": 4.0}
    assert config["torch_dtype"] == config["dtype"] == "float32"
    # transformers 5 reads the file back with the same settings
    from transformers import AutoConfig

    loaded = AutoConfig.from_pretrained(str(small_hf))
    assert loaded.rope_parameters["rope_theta"] == 100000.0
    assert loaded.rope_parameters["rope_type"] == "linear"
    assert loaded.rope_parameters["factor"] == 4.0


def test_config_without_scaling_writes_null_rope_scaling(tmp_path: Path) -> None:
    from repoloom.testing import tiny_tokenizer

    tok = tiny_tokenizer()
    out = exported_checkpoint(
        tmp_path / "hf", tok, vocab_size=len(tok), rope_theta=1e4, rope_scaling_factor=None
    )
    config = _json(out / "config.json")
    assert config["rope_theta"] == 10000.0 and config["rope_scaling"] is None
    assert config["rope_parameters"] == {"rope_type": "default", "rope_theta": 10000.0}


def test_rope_settings_reads_both_layouts_and_refuses_others() -> None:
    from repoloom.train.checkpoint import rope_settings

    released = {"rope_theta": 100000, "rope_scaling": {"type": "linear", "factor": 4.0}}
    assert rope_settings(released) == (100000.0, 4.0)
    v5 = {"rope_parameters": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1e5}}
    assert rope_settings(v5) == (100000.0, 4.0)
    assert rope_settings({}) == (10000.0, None)
    with pytest.raises(ValueError, match="yarn"):
        rope_settings({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}})


def test_vllm_config_keys_present_and_consistent(small_hf: Path) -> None:
    from safetensors import safe_open

    config = _json(small_hf / "config.json")
    tok_config = _json(small_hf / "tokenizer_config.json")
    assert [k for k in VLLM_LLAMA_KEYS if k not in config] == []
    assert config["architectures"] == ["LlamaForCausalLM"] and config["model_type"] == "llama"
    assert config["hidden_act"] == "silu"
    assert not config["attention_bias"] and not config["mlp_bias"]
    heads, kv_heads, head_dim = (
        config["num_attention_heads"],
        config["num_key_value_heads"],
        config["head_dim"],
    )
    assert heads * head_dim == config["hidden_size"] and heads % kv_heads == 0
    # both RoPE layouts say the same thing
    params = config["rope_parameters"]
    assert params["rope_theta"] == config["rope_theta"]
    assert config["rope_scaling"] == {"type": params["rope_type"], "factor": params["factor"]}
    # the weights have the shapes the config announces (vLLM builds its layers from the config)
    with safe_open(str(small_hf / "model.safetensors"), framework="pt") as f:
        shapes = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}  # noqa: SIM118
        dtypes = {f.get_slice(name).get_dtype() for name in f.keys()}  # noqa: SIM118
    hidden, ffn, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    assert shapes["model.embed_tokens.weight"] == (vocab, hidden)
    assert not config["tie_word_embeddings"] and shapes["lm_head.weight"] == (vocab, hidden)
    layers = {int(n.split(".")[2]) for n in shapes if n.startswith("model.layers.")}
    assert layers == set(range(config["num_hidden_layers"]))
    for i in layers:
        p = f"model.layers.{i}."
        assert shapes[p + "self_attn.q_proj.weight"] == (heads * head_dim, hidden)
        assert shapes[p + "self_attn.k_proj.weight"] == (kv_heads * head_dim, hidden)
        assert shapes[p + "self_attn.v_proj.weight"] == (kv_heads * head_dim, hidden)
        assert shapes[p + "self_attn.o_proj.weight"] == (hidden, heads * head_dim)
        assert shapes[p + "mlp.gate_proj.weight"] == (ffn, hidden)
        assert shapes[p + "mlp.down_proj.weight"] == (hidden, ffn)
    assert dtypes == {"F32"} and config["torch_dtype"] == "float32"
    # special ids agree between config, generation config and tokenizer
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(small_hf))
    gen = _json(small_hf / "generation_config.json")
    assert config["bos_token_id"] == gen["bos_token_id"] == tok.bos_token_id
    assert config["eos_token_id"] == gen["eos_token_id"] == tok.eos_token_id
    # vLLM caps the length at the tokenizer's model_max_length before applying the RoPE factor:
    # the export writes the model's context there, so vLLM derives 16384 x 4 (the report's
    # "64K in theory"; serve with --max-model-len 16384 for the reliable range).
    assert tok_config["model_max_length"] == config["max_position_embeddings"]
    assert vllm_max_model_len(config, tok_config) == 65536


def test_tokenizer_written_in_release_layout(small_hf: Path) -> None:
    tok_config = _json(small_hf / "tokenizer_config.json")
    assert tok_config["tokenizer_class"] == "LlamaTokenizerFast"
    assert tok_config["unk_token"] is None  # else transformers 4 adds an <unk> token
    assert tok_config["add_bos_token"] is True and tok_config["add_eos_token"] is False
    assert "chat_template" in tok_config and not (small_hf / "chat_template.jinja").exists()
    assert (small_hf / "special_tokens_map.json").is_file()


def test_release_vocabulary_export_keeps_release_ids(release_hf: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(release_hf))
    cases = release_vectors()
    wrong = [t for t, ids in cases if tok.encode(t, add_special_tokens=False) != ids]
    assert wrong == []
    assert len(tok) == 32022 and tok.encode("x")[0] == 32013


# --------------------------------------------------------------------------- transformers 4.46

_TF4_PROBE = r"""
import json, sys
import transformers
from transformers import AutoConfig, AutoTokenizer
model_dir, texts = sys.argv[1], json.load(open(sys.argv[2], encoding="utf-8"))
config = AutoConfig.from_pretrained(model_dir)
tok = AutoTokenizer.from_pretrained(model_dir)
chat = [{"role": "user", "content": "Write a quick sort."}]
print(json.dumps({
    "version": transformers.__version__,
    "rope_theta": getattr(config, "rope_theta", None),
    "rope_scaling": getattr(config, "rope_scaling", None),
    "rope_parameters": getattr(config, "rope_parameters", None),
    "max_position_embeddings": config.max_position_embeddings,
    "class": type(tok).__name__,
    "len": len(tok),
    "ids": [tok.encode(t, add_special_tokens=False) for t in texts],
    "with_bos": tok.encode(texts[0]),
    "special": [tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id],
    "chat": tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True),
}))
"""


def tf4_python() -> Path:
    """A cached venv with transformers 4.46.3 (no torch), created on first use."""
    cache = Path(os.environ.get("REPOLOOM_TEST_CACHE", Path.home() / ".cache" / "repoloom-test"))
    env_dir = cache / "tf4"
    python = env_dir / "bin" / "python"
    marker = env_dir / "requirements.txt"
    if not (
        python.exists() and marker.is_file() and marker.read_text() == "\n".join(TF4_REQUIREMENTS)
    ):
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *TF4_REQUIREMENTS], check=True, timeout=900
        )
        marker.write_text("\n".join(TF4_REQUIREMENTS))
    return python


def _probe(python: Path | str, model_dir: Path, texts: list[str], tmp_path: Path) -> dict:
    texts_file = tmp_path / "texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    probe = tmp_path / "probe.py"
    probe.write_text(_TF4_PROBE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [str(python), str(probe), str(model_dir), str(texts_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.heavy
def test_transformers_446_reads_config_and_tokenizer_like_5(
    release_hf: Path, tmp_path: Path
) -> None:
    if not REFERENCE.is_dir():
        pytest.skip("../shared is absent")
    cases = release_vectors()
    texts = [t for t, _ in cases]
    tf4 = _probe(tf4_python(), release_hf, texts, tmp_path)
    tf5 = _probe(sys.executable, release_hf, texts, tmp_path)
    assert tf4["version"] == "4.46.3" and tf5["version"].startswith("5.")
    # transformers 4 reads the released checkpoints' keys: base 1e5, linear x4 (not 1e4 / none)
    assert tf4["rope_theta"] == 100000.0
    assert tf4["rope_scaling"]["type"] == "linear" and tf4["rope_scaling"]["factor"] == 4.0
    v5 = tf5["rope_parameters"]
    assert (v5["rope_theta"], v5["rope_type"], v5["factor"]) == (100000.0, "linear", 4.0)
    assert tf4["max_position_embeddings"] == tf5["max_position_embeddings"] == 16384
    assert tf4["class"] == "LlamaTokenizerFast"
    # same ids, and the release's, on every test vector; same specials and chat prompt
    assert tf4["ids"] == tf5["ids"] == [ids for _, ids in cases]
    assert tf4["len"] == tf5["len"] == 32022
    assert tf4["with_bos"] == tf5["with_bos"] and tf4["with_bos"][0] == 32013
    assert tf4["special"] == tf5["special"] == [32013, 32014, 32014, None]
    assert tf4["chat"] == tf5["chat"] and tf4["chat"].endswith("### Response:\n")
