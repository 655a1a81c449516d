"""Checkpoints with ``torch.distributed.checkpoint`` (DCP) and the Hugging Face export.

A checkpoint is a directory ``RUN_DIR/checkpoints/step_NNNNNNN/`` holding

- the DCP files of ``{"model": ..., "optim": ...}`` (sharded per rank under FSDP2; DCP reshards on
  load, so a run may resume on a different number of processes),
- ``trainer_state.json``: step, tokens seen, data position (epoch, windows consumed per rank) and
  the config, written by rank 0 last, so a directory with it is complete,
- ``rng/rank{R}.pt``: Python, NumPy, torch CPU and CUDA generator states of each rank.

``RUN_DIR/checkpoints/latest`` names the newest complete checkpoint. Frozen parameters (the base
model under LoRA) are not saved: they are re-read from ``init_from`` when a run resumes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from repoloom.tokenize.release import save_portable_tokenizer

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"


def _is_dist() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if _is_dist() else 0


def _barrier() -> None:
    import torch.distributed as dist

    if _is_dist():
        dist.barrier()


@contextlib.contextmanager
def _single_process_quiet() -> Iterator[None]:
    """DCP warns that it assumes a single process when there is no process group: intended."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def rng_state() -> dict[str, Any]:
    import torch

    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _state_dict_options() -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    # frozen base weights (LoRA) come from init_from again on resume; strict=False lets the
    # load skip them (trainable parameters are still all required: DCP fails on a missing one)
    return StateDictOptions(ignore_frozen_params=True, strict=False)


def save_checkpoint(
    ckpt_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Save model + optimizer (DCP), RNG (per rank) and ``trainer_state`` under ``ckpt_dir``."""
    import torch
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    path = ckpt_dir / f"step_{trainer_state['step']:07d}"
    if _rank() == 0 and path.exists():
        shutil.rmtree(path)
    _barrier()
    model_sd, optim_sd = get_state_dict(model, optimizer, options=_state_dict_options())
    with _single_process_quiet():
        dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(path))
    (path / "rng").mkdir(parents=True, exist_ok=True)
    torch.save(rng_state(), path / "rng" / f"rank{_rank()}.pt")
    _barrier()
    if _rank() == 0:
        (path / STATE_FILE).write_text(json.dumps(trainer_state, indent=2))
        (ckpt_dir / "latest").write_text(path.name + "\n")
        complete = sorted(p for p in ckpt_dir.glob("step_*") if (p / STATE_FILE).exists())
        for old in complete[: max(0, len(complete) - keep)]:
            shutil.rmtree(old, ignore_errors=True)
    _barrier()
    return path


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    marker = ckpt_dir / "latest"
    if not marker.exists():
        return None
    path = ckpt_dir / marker.read_text().strip()
    return path if (path / STATE_FILE).exists() else None


def load_checkpoint(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """Load model + optimizer in place, restore this rank's RNG, return the trainer state."""
    import torch
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    if not (path / STATE_FILE).exists():
        raise FileNotFoundError(f"{path}: not a complete checkpoint (no {STATE_FILE})")
    options = _state_dict_options()
    model_sd, optim_sd = get_state_dict(model, optimizer, options=options)
    state = {"model": model_sd, "optim": optim_sd}
    with _single_process_quiet():
        dcp.load(state, checkpoint_id=str(path))
    set_state_dict(
        model,
        optimizer,
        model_state_dict=state["model"],
        optim_state_dict=state["optim"],
        options=options,
    )
    rng_file = path / "rng" / f"rank{_rank()}.pt"
    if rng_file.exists():
        set_rng_state(torch.load(rng_file, weights_only=False))
    else:
        log.warning("%s: no RNG state for rank %d (different world size?)", path, _rank())
    return json.loads((path / STATE_FILE).read_text())


_DTYPES = {"bfloat16": "bfloat16", "float16": "float16", "float32": "float32"}


def export_hf(
    out_dir: Path,
    model: torch.nn.Module,
    config: Any,
    dtype: str = "bfloat16",
    tokenizer: Any = None,
    eos_token_id: int | None = None,
    max_shard_bytes: int = 5 * 1024**3,
    transform_state_dict: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Path | None:
    """Write a Hugging Face directory (``model*.safetensors`` + index, ``config.json``,
    ``generation_config.json``, tokenizer files). Every rank must call it (FSDP gathers the full
    weights); rank 0 writes. ``transform_state_dict`` maps the gathered full state dict before
    writing (LoRA: write the adapter, return the merged weights). Returns the directory on
    rank 0."""
    import torch
    from safetensors.torch import save_file
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from transformers import GenerationConfig

    full = get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )
    if _rank() != 0:
        _barrier()
        return None
    if transform_state_dict is not None:
        full = transform_state_dict(full)
    torch_dtype = getattr(torch, _DTYPES[dtype])
    tensors = {k: v.detach().to("cpu", torch_dtype).contiguous() for k, v in full.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("model*.safetensors*"):
        old.unlink()
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += nbytes
    if len(shards) == 1:
        save_file(shards[0], str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    else:
        weight_map = {}
        for i, shard in enumerate(shards):
            fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, str(out_dir / fname), metadata={"format": "pt"})
            weight_map.update(dict.fromkeys(shard, fname))
        total = sum(t.numel() * t.element_size() for t in tensors.values())
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    export_config = config.__class__.from_dict(config.to_dict())
    export_config.use_cache = True
    export_config.architectures = ["LlamaForCausalLM"]
    export_config.dtype = torch_dtype
    export_config.save_pretrained(out_dir)
    add_legacy_config_keys(out_dir / "config.json")
    gen = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=eos_token_id if eos_token_id is not None else config.eos_token_id,
        pad_token_id=config.pad_token_id,
    )
    gen.save_pretrained(out_dir)
    if tokenizer is not None:
        save_portable_tokenizer(
            tokenizer, out_dir, model_max_length=export_config.max_position_embeddings
        )
    _barrier()
    return out_dir


def add_legacy_config_keys(config_path: Path) -> dict[str, Any]:
    """Add transformers 4's RoPE and dtype keys next to transformers 5's, as released.

    transformers 5 writes RoPE settings only as ``rope_parameters``; transformers 4.x, vLLM
    releases before the v5 migration and tools that read ``config.json`` themselves take
    ``rope_theta`` / ``rope_scaling`` (absent: base 10000, no scaling, silently) and
    ``torch_dtype``. The released DeepSeek-Coder configs carry ``rope_theta: 100000`` and
    ``rope_scaling: {"type": "linear", "factor": 4.0}``; both layouts here say the same thing.
    """
    config = json.loads(config_path.read_text())
    theta, factor = rope_settings(config)
    config["rope_theta"] = theta
    config["rope_scaling"] = None if factor is None else {"type": "linear", "factor": factor}
    if "dtype" in config:
        config["torch_dtype"] = config["dtype"]
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return config


def rope_settings(config: dict[str, Any]) -> tuple[float, float | None]:
    """(base, linear factor or None) from either config layout.

    transformers 5 writes ``rope_parameters: {rope_type, rope_theta, factor}``; transformers 4 and
    the released DeepSeek-Coder checkpoints write ``rope_theta`` and
    ``rope_scaling: {"type": "linear", "factor": 4.0}``. Only linear scaling (the release's) is
    read; other types are refused rather than silently dropped.
    """
    params = config.get("rope_parameters") or {}
    scaling = config.get("rope_scaling") or {}
    theta = params.get("rope_theta", config.get("rope_theta", 10000.0))
    rope_type = params.get("rope_type") or scaling.get("rope_type") or scaling.get("type")
    factor = params.get("factor", scaling.get("factor"))
    if rope_type in (None, "default"):
        return float(theta), None
    if rope_type != "linear":
        raise ValueError(f"RoPE scaling {rope_type!r} is not supported (only linear)")
    if factor is None:
        raise ValueError("linear RoPE scaling without a factor")
    return float(theta), (None if float(factor) == 1.0 else float(factor))
