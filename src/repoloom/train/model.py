"""Build the `transformers.LlamaConfig` / `LlamaForCausalLM` of a run, count its parameters and
FLOPs, and name the peak FLOP/s of the device for MFU."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repoloom.train.config import MODEL_REGISTRY, LoraSettings, TrainConfig

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


def resolve_tokenizer_dir(init_from: str | Path) -> str | None:
    """``init_from`` itself when it carries tokenizer files (a released checkpoint or an export),
    else None."""
    root = Path(init_from)
    if (root / "tokenizer.json").exists() or (root / "tokenizer_config.json").exists():
        return str(root)
    return None


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


def build_meta_model(config: LlamaConfig, lora: LoraSettings | None = None) -> LlamaForCausalLM:
    """The model's modules on the meta device: shapes only, no memory; LoRA layers injected when
    ``lora`` is on. Shard it (FSDP2) and then :func:`materialize` it, so no process ever holds
    more than its shard."""
    import torch
    from transformers import LlamaForCausalLM

    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    model.config.use_cache = False
    if lora is not None and lora.enabled:
        from repoloom.train.lora import apply_lora

        model = apply_lora(model, lora)
    return model


def build_model(cfg: TrainConfig, config: LlamaConfig, device: str = "cpu") -> LlamaForCausalLM:
    """One process's whole model in fp32: fresh (seeded) or ``init_from``, LoRA applied when
    configured. The trainer does the same steps with FSDP2 sharding between them."""
    import torch

    model = build_meta_model(config, cfg.lora)
    materialize(model, cfg, config, torch.device(device))
    return model


# ----------------------------------------------------------------------------------------------
# materialising a meta model: every process fills only its own shard


def _checkpoint_name(param_name: str) -> str:
    """The HF checkpoint key of a (possibly LoRA-wrapped) parameter: peft inserts
    ``.base_layer`` before the wrapped projection's weight."""
    return param_name.replace(".base_layer.", ".")


def _local_rows(param: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(this process's part of ``param``, index of its first row in the full tensor).

    FSDP2 shards every parameter on dim 0 in ``torch.chunk`` pieces: rank r holds rows
    [r * ceil(n / world), ...) of it. A plain tensor is its own whole part."""
    if not hasattr(param, "to_local"):
        return param.data, 0
    from torch.distributed.tensor import Shard

    placements = tuple(param.placements)
    if len(placements) != 1 or not isinstance(placements[0], Shard) or placements[0].dim != 0:
        raise ValueError(f"unsupported sharding {placements} (expected FSDP2's Shard(0))")
    local = param.to_local()
    n_rows, world = param.shape[0], param.device_mesh.size()
    chunk = -(-n_rows // world)
    start = min(param.device_mesh.get_local_rank() * chunk, n_rows)
    if local.shape[0] != min(chunk, n_rows - start):
        raise ValueError(f"local shard of {tuple(local.shape)} rows does not match chunking")
    return local, start


class SafetensorsWeights:
    """Row ranges of the tensors of an HF checkpoint directory (``model.safetensors`` or the
    sharded ``model.safetensors.index.json`` layout), read through safetensors' slices: a process
    touches only the rows it keeps."""

    def __init__(self, directory: str | Path) -> None:
        from safetensors import safe_open

        root = Path(directory)
        index = root / "model.safetensors.index.json"
        if index.exists():
            weight_map = json.loads(index.read_text())["weight_map"]
        elif (root / "model.safetensors").exists():
            with safe_open(str(root / "model.safetensors"), framework="pt") as f:
                weight_map = dict.fromkeys(f.keys(), "model.safetensors")
        else:
            raise FileNotFoundError(f"{root}: no model.safetensors or its index")
        self.root = root
        self.weight_map: dict[str, str] = weight_map

    def __contains__(self, name: str) -> bool:
        return name in self.weight_map

    def names(self) -> list[str]:
        return list(self.weight_map)

    def rows(self, name: str, start: int, stop: int) -> torch.Tensor:
        from safetensors import safe_open

        # opened per tensor: the file's pages this process touched leave its RSS with the
        # mapping, so the peak is the shard plus one tensor's rows, not plus all rows read
        with safe_open(str(self.root / self.weight_map[name]), framework="pt") as f:
            return f.get_slice(name)[start:stop]

    def shape(self, name: str) -> tuple[int, ...]:
        from safetensors import safe_open

        with safe_open(str(self.root / self.weight_map[name]), framework="pt") as f:
            return tuple(f.get_slice(name).get_shape())

    def close(self) -> None:
        return None


class StateDictWeights:
    """The same interface over a full state dict (checkpoints without safetensors files)."""

    def __init__(self, state_dict: dict[str, torch.Tensor]) -> None:
        self.state_dict = state_dict

    def __contains__(self, name: str) -> bool:
        return name in self.state_dict

    def names(self) -> list[str]:
        return list(self.state_dict)

    def rows(self, name: str, start: int, stop: int) -> torch.Tensor:
        return self.state_dict[name][start:stop]

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.state_dict[name].shape)

    def close(self) -> None:
        self.state_dict.clear()


def open_weights(init_from: str | Path) -> SafetensorsWeights | StateDictWeights:
    root = Path(init_from)
    if (root / "model.safetensors").exists() or (root / "model.safetensors.index.json").exists():
        return SafetensorsWeights(root)
    import torch
    from transformers import LlamaForCausalLM

    log.warning(
        "%s has no safetensors files: every process loads the whole checkpoint once "
        "(convert it with save_pretrained(..., safe_serialization=True) to load shards only)",
        root,
    )
    full = LlamaForCausalLM.from_pretrained(root, dtype=torch.float32)
    return StateDictWeights(full.state_dict())


def _fresh_tensor(name: str, shape: tuple[int, ...], config: LlamaConfig, gen: Any) -> torch.Tensor:
    """The full initial value of one parameter, from a generator seeded for it alone, so every
    world size builds the same model: LLaMA's init (normal(0, initializer_range) for matrices,
    ones for RMSNorm weights, the padding row of the embedding zero) and peft's LoRA init
    (A kaiming-uniform, B zero: the adapted model starts equal to the base)."""
    import torch

    if ".lora_B." in name:
        return torch.zeros(shape)
    if ".lora_A." in name:
        out = torch.empty(shape)
        bound = 1.0 / math.sqrt(shape[1])  # kaiming_uniform_(a=sqrt(5)), as nn.Linear and peft
        return out.uniform_(-bound, bound, generator=gen)
    if len(shape) == 1:
        return torch.ones(shape)
    out = torch.empty(shape).normal_(0.0, config.initializer_range, generator=gen)
    if name.endswith("embed_tokens.weight") and config.pad_token_id is not None:
        if 0 <= config.pad_token_id < shape[0]:
            out[config.pad_token_id] = 0.0
    return out


def materialize(model: Any, cfg: TrainConfig, config: LlamaConfig, device: torch.device) -> None:
    """Allocate the meta model's (local shards of) parameters on ``device`` and fill them:
    base weights from ``init_from`` (only this process's rows are read), new parameters (a fresh
    model, LoRA matrices) from a per-parameter seeded init. Peak memory: the shards plus one
    full parameter of a fresh init. Call after FSDP2 ``fully_shard``."""
    import torch

    model.to_empty(device=device)
    weights = open_weights(cfg.init_from) if cfg.init_from else None
    used: set[str] = set()
    try:
        with torch.no_grad():
            for index, (name, param) in enumerate(model.named_parameters()):
                local, start = _local_rows(param)
                stop = start + local.shape[0]
                key = _checkpoint_name(name)
                if weights is not None and ".lora_" not in name:
                    if key not in weights:
                        raise ValueError(f"{cfg.init_from}: checkpoint has no tensor {key!r}")
                    if weights.shape(key) != tuple(param.shape):
                        raise ValueError(
                            f"{cfg.init_from}: {key} has shape {weights.shape(key)}, "
                            f"the model expects {tuple(param.shape)}"
                        )
                    local.copy_(weights.rows(key, start, stop))
                    used.add(key)
                else:
                    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + index)
                    full = _fresh_tensor(name, tuple(param.shape), config, gen)
                    local.copy_(full[start:stop])
        if weights is not None:
            # old checkpoints carry RoPE buffers (`rotary_emb.inv_freq`): computed, not loaded;
            # a tied LM head is the embedding
            if getattr(config, "tie_word_embeddings", False):
                used.add("lm_head.weight")
            unused = [k for k in weights.names() if k not in used and "rotary_emb" not in k]
            if unused:
                log.warning(
                    "%s: %d tensors not in the model, ignored (e.g. %s)",
                    cfg.init_from,
                    len(unused),
                    ", ".join(unused[:3]),
                )
    finally:
        if weights is not None:
            weights.close()
    # non-persistent buffers (RoPE inverse frequencies) are computed, not loaded: recompute them
    for module in model.modules():
        if hasattr(module, "inv_freq") and hasattr(module, "config"):
            fresh = type(module)(module.config)
            for buf_name, buf in fresh.named_buffers(recurse=False):
                setattr(module, buf_name, buf.to(device))
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()


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
    gen = torch.Generator().manual_seed(0)  # not the global RNG: a resumed run restores that
    a = torch.randn(n, n, generator=gen)
    b = torch.randn(n, n, generator=gen)
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
