"""Build the `transformers.LlamaConfig` / `LlamaForCausalLM` of a run, count its parameters and
FLOPs, and name the peak FLOP/s of the device for MFU."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from repoloom.train.config import MODEL_REGISTRY, TrainConfig

if TYPE_CHECKING:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

log = logging.getLogger(__name__)


def registry_kwargs(name: str) -> dict[str, Any]:
    if name not in MODEL_REGISTRY:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODEL_REGISTRY))}")
    return dict(MODEL_REGISTRY[name])


def _rope_parameters(theta: float, scaling_factor: float | None) -> dict[str, Any]:
    """transformers 5.x keeps RoPE settings in ``rope_parameters`` (theta included)."""
    if scaling_factor is None or scaling_factor == 1.0:
        return {"rope_type": "default", "rope_theta": float(theta)}
    return {"rope_type": "linear", "factor": float(scaling_factor), "rope_theta": float(theta)}


def make_llama_config(kwargs: dict[str, Any]) -> LlamaConfig:
    """LlamaConfig from registry-style kwargs (``rope_theta`` / ``rope_scaling_factor`` keys)."""
    from transformers import LlamaConfig

    kw = dict(kwargs)
    theta = kw.pop("rope_theta", 10000.0)
    factor = kw.pop("rope_scaling_factor", None)
    return LlamaConfig(**kw, rope_parameters=_rope_parameters(theta, factor))


def current_rope(config: LlamaConfig) -> tuple[float, float | None]:
    params = dict(getattr(config, "rope_parameters", None) or {})
    theta = float(params.get("rope_theta", getattr(config, "rope_theta", 10000.0)))
    factor = params.get("factor") if params.get("rope_type", "default") == "linear" else None
    return theta, (float(factor) if factor is not None else None)


def build_llama_config(
    cfg: TrainConfig, tokenizer: PreTrainedTokenizerBase | None = None
) -> LlamaConfig:
    """The run's model config: registry shape or ``init_from``'s config, then the overrides."""
    from transformers import AutoConfig

    if cfg.init_from:
        config = AutoConfig.from_pretrained(cfg.init_from)
        if config.model_type != "llama":
            raise ValueError(f"{cfg.init_from}: model_type {config.model_type!r}, expected 'llama'")
    else:
        config = make_llama_config(registry_kwargs(cfg.model))
    theta, factor = current_rope(config)
    if cfg.rope_theta is not None:
        theta = cfg.rope_theta
    if cfg.rope_scaling_factor is not None:
        factor = cfg.rope_scaling_factor
    config.rope_parameters = _rope_parameters(theta, factor)
    if cfg.max_position_embeddings is not None:
        config.max_position_embeddings = cfg.max_position_embeddings
    if config.max_position_embeddings < cfg.seq_len:
        config.max_position_embeddings = cfg.seq_len
    if cfg.vocab_size is not None:
        if cfg.init_from and cfg.vocab_size != config.vocab_size:
            raise ValueError("vocab_size cannot change when starting from init_from")
        config.vocab_size = cfg.vocab_size
    if tokenizer is not None:
        if len(tokenizer) > config.vocab_size:
            raise ValueError(
                f"tokenizer has {len(tokenizer)} tokens but the model only {config.vocab_size}"
            )
        for attr in ("bos_token_id", "eos_token_id", "pad_token_id"):
            tok_id = getattr(tokenizer, attr, None)
            if tok_id is not None:
                setattr(config, attr, tok_id)
    config.use_cache = False
    return config


def build_model(cfg: TrainConfig, config: LlamaConfig) -> LlamaForCausalLM:
    """Fresh (seeded) or ``init_from`` model in fp32 on CPU; the caller moves / shards it."""
    import torch
    from transformers import LlamaForCausalLM

    if cfg.init_from:
        model = LlamaForCausalLM.from_pretrained(cfg.init_from, config=config, dtype=torch.float32)
    else:
        torch.manual_seed(cfg.seed)
        model = LlamaForCausalLM(config)
    model.config.use_cache = False
    return model


def count_parameters(config: LlamaConfig) -> dict[str, int]:
    """Total / embedding / non-embedding parameter counts, computed on the meta device."""
    import torch
    from transformers import LlamaForCausalLM

    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    total = sum(p.numel() for p in model.parameters())
    embed = model.model.embed_tokens.weight.numel()
    return {"total": total, "embedding": embed, "non_embedding": total - embed}


def flops_per_token(config: LlamaConfig, seq_len: int, n_params: int | None = None) -> float:
    """Training FLOPs per token: 6N (N without the input embedding lookup, which is no matmul)
    plus the attention score/value matmuls, 12 * layers * hidden * seq_len (PaLM, appendix B)."""
    if n_params is None:
        n_params = count_parameters(config)["non_embedding"]
    attn = 12 * config.num_hidden_layers * config.num_attention_heads * config.head_dim * seq_len
    return 6.0 * n_params + attn


# Dense bf16 tensor-core peaks (no sparsity), by device-name substring, most specific first.
_GPU_PEAKS: list[tuple[str, float]] = [
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("H20", 148e12),
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("RTX 4090", 165e12),
    ("V100", 125e12),
]


def device_peak_flops(device: torch.device, override: float | None = None) -> tuple[float, str]:
    """(peak FLOP/s, description). GPUs from a table of dense bf16 peaks; a CPU has no such
    datasheet number here, so its fp32 matmul rate is measured (MFU on CPU is relative to that)."""
    import torch

    if override:
        return float(override), "configured peak_flops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peak in _GPU_PEAKS:
            if key in name:
                return peak, f"{name} (dense bf16 peak {peak / 1e12:.0f} TFLOP/s)"
        log.warning("unknown GPU %r: MFU uses 989 TFLOP/s (H100 SXM); set peak_flops=", name)
        return 989e12, f"{name} (unknown; assumed 989 TFLOP/s)"
    n = 512
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    torch.mm(a, b)
    rate = 0.0
    for _trial in range(3):  # best of three: other processes only ever make it slower
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < 0.1:
            torch.mm(a, b)
            reps += 1
        rate = max(rate, 2 * n**3 * reps / (time.perf_counter() - start))
    return (
        rate,
        f"CPU ({torch.get_num_threads()} threads, measured fp32 matmul {rate / 1e9:.1f} GFLOP/s)",
    )
