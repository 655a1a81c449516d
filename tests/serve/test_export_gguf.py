"""`repoloom export gguf`: metadata against the release's own GGUF, tensors back to the checkpoint,
and (heavy) llama.cpp itself loading, tokenizing and generating like transformers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from repoloom.cli import main
from repoloom.serve.export_gguf import GGUFExportError, export_gguf, permute_qk

from .export_models import REFERENCE_GGUF, release_vectors


def read_gguf(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata, tensors) of a GGUF file."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    meta = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    return meta, {t.name: t for t in reader.tensors}


@pytest.fixture(scope="module")
def release_f32(release_hf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gguf") / "model-f32.gguf"
    export_gguf(release_hf, out, "f32")
    return out


def test_metadata_matches_the_release_gguf_key_by_key(release_hf: Path, release_f32: Path) -> None:
    ours, _ = read_gguf(release_f32)
    reference, _ = read_gguf(REFERENCE_GGUF)
    config = json.loads((release_hf / "config.json").read_text())
    # keys that describe the model's size: ours, from our config
    shape_keys = {
        "general.name": release_hf.name,
        "general.file_type": 0,  # all f32
        "llama.block_count": config["num_hidden_layers"],
        "llama.embedding_length": config["hidden_size"],
        "llama.feed_forward_length": config["intermediate_size"],
        "llama.attention.head_count": config["num_attention_heads"],
        "llama.attention.head_count_kv": config["num_key_value_heads"],
        "llama.rope.dimension_count": config["head_dim"],
    }
    for key, value in reference.items():
        if key in shape_keys:
            assert ours[key] == shape_keys[key], key
        elif isinstance(value, float):
            assert ours[key] == pytest.approx(value, rel=1e-6), key
        else:  # tokenizer, context length, RoPE base/scaling, vocab size, add-BOS flags
            assert ours[key] == value, key
    # what the release file leaves to llama.cpp's guesswork, written explicitly here
    extra = {k: v for k, v in ours.items() if k not in reference}
    assert extra.pop("tokenizer.chat_template").endswith("{{'### Response:'}}\n{% endif %}")
    assert extra == {
        "tokenizer.ggml.eot_token_id": 32021,  # <|EOT|>
        "tokenizer.ggml.fim_pre_token_id": 32016,  # <｜fim▁begin｜>
        "tokenizer.ggml.fim_suf_token_id": 32015,  # <｜fim▁hole｜>
        "tokenizer.ggml.fim_mid_token_id": 32017,  # <｜fim▁end｜>
    }


def _hf_tensors(model_dir: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(model_dir / "model.safetensors"))


def test_f32_tensors_are_the_checkpoint_with_qk_permuted(small_hf: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.gguf"
    assert main(["export", "gguf", str(small_hf), "--out", str(out), "--outtype", "f32"]) == 0
    meta, tensors = read_gguf(out)
    hf = _hf_tensors(small_hf)
    config = json.loads((small_hf / "config.json").read_text())
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    assert meta["tokenizer.ggml.pre"] == "gpt-2"  # the tiny tokenizer uses GPT-2's split regex
    assert meta["llama.rope.freq_base"] == 100000.0 and meta["llama.rope.scaling.factor"] == 4.0
    assert meta["llama.context_length"] == 16384
    assert len(tensors) == 3 + 9 * config["num_hidden_layers"]
    assert np.array_equal(tensors["token_embd.weight"].data, hf["model.embed_tokens.weight"])
    assert np.array_equal(tensors["output.weight"].data, hf["lm_head.weight"])
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        q = tensors[f"blk.{i}.attn_q.weight"].data
        k = tensors[f"blk.{i}.attn_k.weight"].data
        assert np.array_equal(q, permute_qk(hf[p + "self_attn.q_proj.weight"], heads))
        assert np.array_equal(k, permute_qk(hf[p + "self_attn.k_proj.weight"], kv_heads))
        assert not np.array_equal(q, hf[p + "self_attn.q_proj.weight"])  # it did move rows
        assert np.array_equal(
            tensors[f"blk.{i}.ffn_down.weight"].data, hf[p + "mlp.down_proj.weight"]
        )
        assert np.array_equal(
            tensors[f"blk.{i}.attn_norm.weight"].data, hf[p + "input_layernorm.weight"]
        )


def test_released_layout_legacy_keys_and_shards_export_the_same(
    small_hf: Path, tmp_path: Path
) -> None:
    """A checkpoint as released (transformers 4 config keys only, weights in two shards)."""
    from safetensors.numpy import save_file

    released = tmp_path / "released"
    released.mkdir()
    for f in small_hf.iterdir():
        if f.name != "model.safetensors":
            (released / f.name).write_bytes(f.read_bytes())
    config = json.loads((small_hf / "config.json").read_text())
    del config["rope_parameters"], config["dtype"]
    (released / "config.json").write_text(json.dumps(config))
    weights = _hf_tensors(small_hf)
    names = sorted(weights)
    for i, part in enumerate((names[: len(names) // 2], names[len(names) // 2 :])):
        save_file(
            {n: weights[n] for n in part}, str(released / f"model-0000{i + 1}-of-00002.safetensors")
        )
    export_gguf(small_hf, tmp_path / "a.gguf", "f32")
    export_gguf(released, tmp_path / "b.gguf", "f32")
    meta_a, tensors_a = read_gguf(tmp_path / "a.gguf")
    meta_b, tensors_b = read_gguf(tmp_path / "b.gguf")
    meta_a.pop("general.name"), meta_b.pop("general.name")
    assert meta_a == meta_b and meta_b["llama.rope.scaling.factor"] == 4.0
    assert sorted(tensors_a) == sorted(tensors_b)
    for name, t in tensors_a.items():
        assert np.array_equal(t.data, tensors_b[name].data), name


def test_permutation_interleaves_each_heads_halves() -> None:
    # one head of dim 4 over 1 input: rows [x0, x1, y0, y1] -> [x0, y0, x1, y1]
    w = np.array([[0.0], [1.0], [2.0], [3.0]])
    assert permute_qk(w, 1)[:, 0].tolist() == [0.0, 2.0, 1.0, 3.0]
    w2 = np.arange(8.0).reshape(8, 1)  # two heads
    assert permute_qk(w2, 2)[:, 0].tolist() == [0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]


def test_f16_and_q8_0_round_trip_within_their_precision(small_hf: Path, tmp_path: Path) -> None:
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    hf = _hf_tensors(small_hf)["model.layers.0.mlp.up_proj.weight"]
    for outtype, file_type, qtype, tol in (
        ("f16", 1, GGMLQuantizationType.F16, 1e-3),
        ("q8_0", 7, GGMLQuantizationType.Q8_0, 1e-2),
    ):
        out = tmp_path / f"{outtype}.gguf"
        export_gguf(small_hf, out, outtype)
        meta, tensors = read_gguf(out)
        assert meta["general.file_type"] == file_type
        t = tensors["blk.0.ffn_up.weight"]
        assert t.tensor_type == qtype
        back = dequantize(t.data, qtype).reshape(hf.shape)
        assert np.abs(back - hf).max() <= tol * np.abs(hf).max()
        assert tensors["blk.0.attn_norm.weight"].tensor_type == GGMLQuantizationType.F32
    assert (tmp_path / "q8_0.gguf").stat().st_size < (tmp_path / "f16.gguf").stat().st_size


def test_bad_inputs_get_clear_errors(small_hf: Path, tmp_path: Path, capsys) -> None:
    assert main(["export", "gguf", str(tmp_path / "nope"), "--out", str(tmp_path / "x.gguf")]) == 2
    assert "no such directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse refuses an unknown type
        main(
            ["export", "gguf", str(small_hf), "--out", str(tmp_path / "x.gguf"), "--outtype", "q2"]
        )
    # not a LLaMA
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(GGUFExportError, match="only LLaMA"):
        export_gguf(other, tmp_path / "x.gguf")
    # a tokenizer whose split rules llama.cpp would not reproduce
    odd = tmp_path / "odd"
    odd.mkdir()
    for f in small_hf.iterdir():
        (odd / f.name).write_bytes(f.read_bytes())
    data = json.loads((odd / "tokenizer.json").read_text(encoding="utf-8"))
    data["pre_tokenizer"] = {"type": "Whitespace"}
    (odd / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(GGUFExportError, match="pre-tokenizer"):
        export_gguf(odd, tmp_path / "x.gguf")
    # unsupported RoPE scaling is refused, not dropped
    config = json.loads((small_hf / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e5}
    (odd / "config.json").write_text(json.dumps(config))
    with pytest.raises(GGUFExportError, match="yarn"):
        export_gguf(odd, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()  # no half-written file


# --------------------------------------------------------------------------- llama.cpp itself

PROMPTS = [
    "def quick_sort(arr):\n    if len(arr) <= 1:\n        return arr\n",
    "import os\nimport sys\n\n\nclass Config:\n    def __init__(self, path):\n",
    '#include <stdio.h>\nint main(void) {\n    printf("hello\\n");\n',
]
STEPS = 32
# Tolerances of the quantized files on this random model (BENCHMARKS.md, Export, has the
# measured values: q8_0 ~95% / 0.018, q4_k_m ~68% / 0.17; random weights give near-uniform
# logits, the hardest case for quantization).
TOLERANCE = {"q8_0": (0.85, 0.05), "q4_k_m": (0.5, 0.3)}  # (top-1 agreement >=, logit error <=)


@pytest.fixture(scope="module")
def hf_reference(release_hf: Path):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is in the `test` extra")
    from transformers import AutoTokenizer

    from repoloom.serve import gguf_parity

    tok = AutoTokenizer.from_pretrained(str(release_hf))
    prompts = [tok.encode(p) for p in PROMPTS]
    return prompts, gguf_parity.greedy_transformers(release_hf, prompts, STEPS)


@pytest.mark.heavy
def test_llama_cpp_tokenizes_the_release_vectors_like_the_release(release_f32: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is in the `test` extra")
    from repoloom.serve.gguf_parity import tokenize_llama_cpp

    cases = [(t, ids) for t, ids in release_vectors() if t != ""]
    assert len(cases) == 45
    got = tokenize_llama_cpp(release_f32, [t for t, _ in cases])
    assert [t for (t, want), g in zip(cases, got, strict=True) if g != want] == []


@pytest.mark.heavy
def test_llama_cpp_f32_greedy_equals_transformers(
    release_hf: Path, release_f32: Path, hf_reference
) -> None:
    from repoloom.serve import gguf_parity

    prompts, reference = hf_reference
    parity = gguf_parity.measure(release_hf, release_f32, prompts, STEPS, reference)
    assert parity.exact, parity.first_mismatch
    assert parity.forced_agreement == 1.0 and parity.logit_rel_error < 1e-4


@pytest.mark.heavy
@pytest.mark.parametrize("outtype", ["q8_0", "q4_k_m"])
def test_llama_cpp_quantized_within_tolerance(
    outtype: str, release_hf: Path, hf_reference, tmp_path: Path
) -> None:
    from gguf import GGMLQuantizationType

    from repoloom.serve import gguf_parity

    out = tmp_path / f"model-{outtype}.gguf"
    export_gguf(release_hf, out, outtype)
    meta, tensors = read_gguf(out)
    if outtype == "q4_k_m":  # written by llama.cpp's quantizer: k-quants in the file
        assert meta["general.file_type"] == 15
        assert tensors["blk.0.attn_q.weight"].tensor_type == GGMLQuantizationType.Q4_K
    prompts, reference = hf_reference
    parity = gguf_parity.measure(release_hf, out, prompts, STEPS, reference)
    min_agreement, max_error = TOLERANCE[outtype]
    assert parity.forced_agreement >= min_agreement, parity
    assert parity.logit_rel_error <= max_error, parity
