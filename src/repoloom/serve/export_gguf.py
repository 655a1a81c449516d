"""Write a llama.cpp GGUF file from a LLaMA checkpoint directory (what ``repoloom train`` exports).

``repoloom export gguf RUN_DIR/hf --out MODEL.gguf --outtype f16`` is what llama.cpp's
``convert_hf_to_gguf.py`` does for DeepSeek-Coder, done with the ``gguf`` package alone so that no
llama.cpp checkout is needed (``q4_k_m`` is the one exception: it goes through llama.cpp's own
quantizer, which ``llama-cpp-python`` exposes, because the k-quants have no Python encoder).

The file holds, top to bottom:

1. the model's shape (``llama.*``: layers, widths, heads, RMSNorm epsilon, context length, RoPE
   base and linear scaling factor; both config layouts are read: transformers 5's
   ``rope_parameters`` and the legacy ``rope_theta``/``rope_scaling`` of the released checkpoints);
2. the tokenizer as llama.cpp rebuilds it (``tokenizer.ggml.*``): byte-level BPE (``gpt2``), the
   pre-tokenizer name (``deepseek-coder`` for the release's splits; llama.cpp carries its own regex
   for that name, so the split rules must be exactly the release's, which is checked), the tokens
   as spelled in ``tokenizer.json``, their types, the merges, BOS/EOS/pad/EOT, the three FIM ids,
   the add-BOS flags and the chat template. Token types follow the release's own GGUF: BOS/EOS are
   CONTROL, the other added tokens USER_DEFINED, and rows of the embedding beyond the tokenizer
   are ``[PAD<id>]`` placeholders;
3. the tensors under llama.cpp's names, with Q and K rows permuted: HF's rotary embedding rotates
   the two halves of each head (``rotate_half``) while llama.cpp rotates interleaved pairs, so
   each head's rows are reordered from ``[x0..x_{d/2-1}, y0..]`` to ``[x0, y0, x1, y1, ...]``
   (the permutation ``convert_hf_to_gguf.py`` applies). Norm weights stay float32.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repoloom.prompts import BOS, EOS, EOT, FIM_BEGIN, FIM_END, FIM_HOLE
from repoloom.tokenize.release import release_pre_tokenizer
from repoloom.train.checkpoint import rope_settings

log = logging.getLogger(__name__)

OUTTYPES = ("f32", "f16", "q8_0", "q4_k_m")

# llama.cpp token types (gguf.TokenType)
NORMAL, CONTROL, USER_DEFINED = 1, 3, 4


class GGUFExportError(ValueError):
    """The directory cannot be exported (not a LLaMA checkpoint, unsupported tokenizer, ...)."""


# --------------------------------------------------------------------------- model shape


@dataclass
class LlamaShape:
    """The ``config.json`` facts a llama.cpp LLaMA graph needs."""

    n_layers: int
    hidden: int
    ffn: int
    n_head: int
    n_head_kv: int
    head_dim: int
    context_length: int
    rms_eps: float
    vocab_size: int
    rope_theta: float
    rope_linear_factor: float | None
    tied_embeddings: bool


def read_shape(model_dir: Path) -> LlamaShape:
    path = model_dir / "config.json"
    if not path.is_file():
        raise GGUFExportError(f"{model_dir}: no config.json (not a Hugging Face model directory)")
    config = json.loads(path.read_text())
    if config.get("model_type") != "llama":
        raise GGUFExportError(
            f"{path}: model_type {config.get('model_type')!r}; only LLaMA models are exported"
        )
    if config.get("hidden_act", "silu") != "silu":
        raise GGUFExportError(f"{path}: hidden_act {config['hidden_act']!r}, expected silu")
    if config.get("attention_bias") or config.get("mlp_bias"):
        raise GGUFExportError(f"{path}: biases in attention/MLP are not exported")
    n_head = int(config["num_attention_heads"])
    try:
        theta, factor = rope_settings(config)
    except ValueError as exc:
        raise GGUFExportError(f"{path}: {exc}") from exc
    return LlamaShape(
        n_layers=int(config["num_hidden_layers"]),
        hidden=int(config["hidden_size"]),
        ffn=int(config["intermediate_size"]),
        n_head=n_head,
        n_head_kv=int(config.get("num_key_value_heads") or n_head),
        head_dim=int(config.get("head_dim") or config["hidden_size"] // n_head),
        context_length=int(config["max_position_embeddings"]),
        rms_eps=float(config.get("rms_norm_eps", 1e-6)),
        vocab_size=int(config["vocab_size"]),
        rope_theta=theta,
        rope_linear_factor=factor,
        tied_embeddings=bool(config.get("tie_word_embeddings", False)),
    )


# --------------------------------------------------------------------------- tokenizer


@dataclass
class GGUFTokenizer:
    """The ``tokenizer.ggml.*`` metadata."""

    pre: str
    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    special_ids: dict[str, int] = field(default_factory=dict)  # gguf key suffix -> id
    add_bos: bool = True
    add_eos: bool = False
    chat_template: str | None = None


def _pre_tokenizer_name(tokenizer_json: dict[str, Any]) -> str:
    """llama.cpp's name for the split rules in ``tokenizer.json`` (it has its own regex per name)."""
    from tokenizers import Tokenizer
    from tokenizers.models import BPE

    reference = Tokenizer(BPE())
    reference.pre_tokenizer = release_pre_tokenizer()
    release_pre = json.loads(reference.to_str())["pre_tokenizer"]
    pre = tokenizer_json.get("pre_tokenizer")
    if pre == release_pre:
        return "deepseek-coder"
    if pre and pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"  # GPT-2's own split regex (repoloom.testing's tiny tokenizer)
    raise GGUFExportError(
        "the tokenizer's pre-tokenizer is neither DeepSeek-Coder's split sequence nor GPT-2's "
        "byte-level regex; llama.cpp would split text differently, so it is not exported"
    )


def _token_id(name: Any, vocab: dict[str, int]) -> int | None:
    if isinstance(name, dict):  # transformers 4 writes AddedToken dicts
        name = name.get("content")
    return vocab.get(name) if isinstance(name, str) else None


def read_tokenizer(model_dir: Path, vocab_size: int) -> GGUFTokenizer:
    """Tokens, types, merges and special ids from ``tokenizer.json`` + ``tokenizer_config.json``."""
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        raise GGUFExportError(f"{model_dir}: no tokenizer.json (a fast tokenizer is required)")
    data = json.loads(path.read_text(encoding="utf-8"))
    model = data.get("model") or {}
    if model.get("type") != "BPE" or (data.get("decoder") or {}).get("type") != "ByteLevel":
        raise GGUFExportError(f"{path}: only byte-level BPE tokenizers are exported")
    pre = _pre_tokenizer_name(data)
    config_path = model_dir / "tokenizer_config.json"
    tok_config = (
        json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    )

    ids: dict[str, int] = dict(model["vocab"])
    added = {t["id"]: t for t in data.get("added_tokens", [])}
    ids.update({t["content"]: i for i, t in added.items()})
    n_tokens = max(ids.values()) + 1
    if n_tokens > vocab_size:
        raise GGUFExportError(
            f"the tokenizer has {n_tokens} ids but the model's vocab_size is {vocab_size}"
        )
    by_id: dict[int, str] = {i: t for t, i in ids.items()}
    bos = _token_id(tok_config.get("bos_token", BOS), ids)
    eos = _token_id(tok_config.get("eos_token", EOS), ids)
    control = {i for i in (bos, eos) if i is not None}
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in by_id:  # embedding rows beyond the tokenizer (the release pads to 32256)
            tokens.append(f"[PAD{i}]")
            types.append(USER_DEFINED)
            continue
        tokens.append(by_id[i])
        types.append(CONTROL if i in control else USER_DEFINED if i in added else NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]

    special = {"bos": bos, "eos": eos, "eot": ids.get(EOT)}
    special["padding"] = _token_id(tok_config.get("pad_token"), ids)
    special["fim_pre"], special["fim_suf"], special["fim_mid"] = (
        ids.get(FIM_BEGIN),
        ids.get(FIM_HOLE),
        ids.get(FIM_END),
    )
    template = tok_config.get("chat_template")
    if template is None and (model_dir / "chat_template.jinja").is_file():
        template = (model_dir / "chat_template.jinja").read_text(encoding="utf-8")
    add_bos = tok_config.get("add_bos_token")
    if add_bos is None:  # transformers 5 drops the flag: read the post-processor instead
        add_bos = BOS in json.dumps(data.get("post_processor") or {}, ensure_ascii=False)
    return GGUFTokenizer(
        pre=pre,
        tokens=tokens,
        token_types=types,
        merges=merges,
        special_ids={k: v for k, v in special.items() if v is not None},
        add_bos=bool(add_bos),
        add_eos=bool(tok_config.get("add_eos_token", False)),
        chat_template=template if isinstance(template, str) else None,
    )


# --------------------------------------------------------------------------- tensors


def permute_qk(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder each head's rows from HF's half-split RoPE layout to llama.cpp's interleaved one."""
    rows = weight.shape[0]
    return (
        weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_TOP_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


def gguf_name(hf_name: str) -> str | None:
    """llama.cpp's tensor name, or None for tensors it does not load (rotary caches)."""
    if hf_name in _TOP_NAMES:
        return _TOP_NAMES[hf_name]
    parts = hf_name.split(".", 3)  # model.layers.{i}.rest
    if len(parts) == 4 and parts[:2] == ["model", "layers"] and parts[3] in _LAYER_NAMES:
        return f"blk.{int(parts[2])}.{_LAYER_NAMES[parts[3]]}"
    if hf_name.endswith("rotary_emb.inv_freq"):
        return None
    raise GGUFExportError(f"unexpected tensor {hf_name!r} in a LLaMA checkpoint")


def iter_hf_tensors(model_dir: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(name, float32 array) for every tensor of the safetensors shards, one at a time."""
    from safetensors import safe_open

    files = sorted(model_dir.glob("model*.safetensors"))
    if not files:
        raise GGUFExportError(f"{model_dir}: no model*.safetensors weights")
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                yield name, f.get_tensor(name).float().numpy()


def _encode(name: str, data: np.ndarray, outtype: str) -> tuple[np.ndarray, Any]:
    """(array, raw GGML type or None) of one tensor in the requested type."""
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    if data.ndim <= 1 or name.endswith("_norm.weight") or outtype == "f32":
        return data.astype(np.float32), None
    if outtype == "q8_0" and data.shape[-1] % 32 == 0:
        return quantize(data, GGMLQuantizationType.Q8_0), GGMLQuantizationType.Q8_0
    return data.astype(np.float16), None  # f16, and q8_0 rows that are not whole blocks


# --------------------------------------------------------------------------- writer


def _write(model_dir: Path, out: Path, outtype: str, name: str | None) -> dict[str, Any]:
    import gguf

    shape = read_shape(model_dir)
    tok = read_tokenizer(model_dir, shape.vocab_size)
    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name(name or model_dir.resolve().name)
    writer.add_block_count(shape.n_layers)
    writer.add_context_length(shape.context_length)
    writer.add_embedding_length(shape.hidden)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_rope_freq_base(shape.rope_theta)
    writer.add_layer_norm_rms_eps(shape.rms_eps)
    file_type = {
        "f32": gguf.LlamaFileType.ALL_F32,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    }[outtype]
    writer.add_file_type(file_type)
    writer.add_vocab_size(shape.vocab_size)
    writer.add_rope_dimension_count(shape.head_dim)
    if shape.head_dim != shape.hidden // shape.n_head:
        writer.add_key_length(shape.head_dim)
        writer.add_value_length(shape.head_dim)
    if shape.rope_linear_factor is not None:
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(shape.rope_linear_factor)

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(tok.pre)
    writer.add_token_list(tok.tokens)
    writer.add_token_types(tok.token_types)
    writer.add_token_merges(tok.merges)
    for key, token_id in tok.special_ids.items():
        writer.add_uint32(f"tokenizer.ggml.{key}_token_id", token_id)
    writer.add_add_bos_token(tok.add_bos)
    writer.add_add_eos_token(tok.add_eos)
    if tok.chat_template:
        writer.add_chat_template(tok.chat_template)

    n_params = 0
    seen = set()
    for hf_name, data in iter_hf_tensors(model_dir):
        target = gguf_name(hf_name)
        if target is None:
            continue
        if target.endswith("attn_q.weight"):
            data = permute_qk(data, shape.n_head)
        elif target.endswith("attn_k.weight"):
            data = permute_qk(data, shape.n_head_kv)
        array, raw_dtype = _encode(target, data, outtype)
        writer.add_tensor(target, array, raw_dtype=raw_dtype)
        seen.add(target)
        n_params += data.size
    expected = {"token_embd.weight", "output_norm.weight"}
    if not shape.tied_embeddings:
        expected.add("output.weight")
    for i in range(shape.n_layers):
        expected.update(f"blk.{i}.{n}" for n in _LAYER_NAMES.values())
    if missing := sorted(expected - seen):
        raise GGUFExportError(f"{model_dir}: tensors missing from the checkpoint: {missing[:5]}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"parameters": n_params, "tokens": len(tok.tokens), "pre_tokenizer": tok.pre}


def quantize_with_llama_cpp(src: Path, dst: Path, outtype: str = "q4_k_m") -> None:
    """Run llama.cpp's own quantizer (``llama_model_quantize``) on a GGUF file."""
    import ctypes

    try:
        import llama_cpp
    except ImportError as exc:
        raise GGUFExportError(
            f"--outtype {outtype} needs llama.cpp's quantizer: pip install llama-cpp-python "
            "(the project's `test` extra pins it)"
        ) from exc
    ftype = {"q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M}[outtype]
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0:
        raise GGUFExportError(f"llama.cpp's quantizer failed on {src} (return code {rc})")


def export_gguf(
    model_dir: str | Path, out: str | Path, outtype: str = "f16", name: str | None = None
) -> dict[str, Any]:
    """Write ``out`` (a GGUF file) for the LLaMA checkpoint in ``model_dir``; return a summary."""
    model_dir, out = Path(model_dir), Path(out)
    if outtype not in OUTTYPES:
        raise GGUFExportError(f"unknown --outtype {outtype!r}; choose one of {', '.join(OUTTYPES)}")
    if not model_dir.is_dir():
        raise GGUFExportError(f"{model_dir}: no such directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename at the end: a failed export leaves no half file.
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".gguf-export-") as tmp:
        if outtype == "q4_k_m":
            # k-quants have no Python encoder: f16 first (as llama.cpp's README does), then quantize
            summary = _write(model_dir, Path(tmp) / "f16.gguf", "f16", name)
            quantize_with_llama_cpp(Path(tmp) / "f16.gguf", Path(tmp) / "out.gguf", outtype)
        else:
            summary = _write(model_dir, Path(tmp) / "out.gguf", outtype, name)
        (Path(tmp) / "out.gguf").replace(out)
    summary.update(outtype=outtype, path=str(out), bytes=out.stat().st_size)
    log.info("wrote %s (%s, %.1f MB)", out, outtype, summary["bytes"] / 1e6)
    return summary
