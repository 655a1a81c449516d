"""LoRA with peft: inject adapters into the (meta) model before sharding, and at export merge them
into the base weights and write them in peft's own adapter layout.

The trainer injects LoRA layers with ``peft.inject_adapter_in_model`` into the plain
``LlamaForCausalLM`` (no ``PeftModel`` wrapper: FSDP2, activation checkpointing and the loss code
see the same module tree as in full training; only ``.base_layer`` and ``.lora_A/B.default``
appear in parameter names). The base weights are frozen, so the optimizer, gradient clipping and
the DCP checkpoints hold only the adapter (resume re-reads the base from ``init_from``).

The export writes

- ``RUN_DIR/adapter/``: ``adapter_config.json`` + ``adapter_model.safetensors`` with peft's key
  names (``base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight``), which
  ``PeftModel.from_pretrained(base, dir)`` and vLLM's ``--enable-lora --lora-modules`` load;
- ``RUN_DIR/hf/``: the merged model, ``W + (alpha / r) * B @ A`` per adapted projection, a plain
  ``LlamaForCausalLM`` for every runtime that knows nothing of adapters.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repoloom.train.config import LoraSettings

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

ADAPTER_NAME = "default"  # peft's name of the one adapter
_PEFT_PREFIX = "base_model.model."  # what peft's saved keys put before the model's own names


def peft_config(settings: LoraSettings, base_model: str | None = None) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules(),
        bias="none",
        task_type="CAUSAL_LM",
        base_model_name_or_path=base_model,
    )


def apply_lora(model: Any, settings: LoraSettings) -> Any:
    """Inject LoRA layers into ``model`` in place (meta or real) and freeze everything else."""
    from peft import inject_adapter_in_model

    model = inject_adapter_in_model(peft_config(settings), model, adapter_name=ADAPTER_NAME)
    for name, param in model.named_parameters():
        param.requires_grad_(".lora_" in name)
    return model


def split_lora_state_dict(
    full: dict[str, torch.Tensor], settings: LoraSettings
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(merged plain-LLaMA state dict, adapter state dict with peft's saved key names) from the
    full state dict of a LoRA-injected model. Merging is done in fp32."""
    scale = settings.lora_alpha / settings.r
    merged: dict[str, torch.Tensor] = {}
    adapter: dict[str, torch.Tensor] = {}
    suffix = f".{ADAPTER_NAME}.weight"
    for name, tensor in full.items():
        if ".lora_" in name:
            if not name.endswith(suffix):
                raise ValueError(f"unexpected LoRA parameter {name!r}")
            adapter[_PEFT_PREFIX + name[: -len(suffix)] + ".weight"] = tensor
        elif ".base_layer." in name:
            module = name[: name.index(".base_layer.")]
            lora_a = full[f"{module}.lora_A{suffix}"].float()
            lora_b = full[f"{module}.lora_B{suffix}"].float()
            merged[name.replace(".base_layer.", ".")] = tensor.float() + scale * (lora_b @ lora_a)
        else:
            merged[name] = tensor
    return merged, adapter


def write_adapter(
    out_dir: Path,
    adapter: dict[str, torch.Tensor],
    settings: LoraSettings,
    base_model: str | None,
    dtype: torch.dtype,
) -> Path:
    """``adapter_config.json`` + ``adapter_model.safetensors`` as ``PeftModel.save_pretrained``
    writes them (vLLM's LoRA loader reads the same two files)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("adapter_model.*"):
        old.unlink()
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in adapter.items()}
    save_file(tensors, str(out_dir / "adapter_model.safetensors"), metadata={"format": "pt"})
    peft_config(settings, base_model).save_pretrained(str(out_dir))
    # peft writes the targets as a set (arbitrary order): keep the file deterministic
    cfg_path = out_dir / "adapter_config.json"
    data = json.loads(cfg_path.read_text())
    data["target_modules"] = settings.target_modules()
    cfg_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return out_dir


def export_lora(
    full: dict[str, torch.Tensor],
    settings: LoraSettings,
    adapter_dir: Path,
    base_model: str | None,
    dtype: torch.dtype,
) -> dict[str, torch.Tensor]:
    """Write the adapter to ``adapter_dir`` and return the merged state dict for the HF export
    (rank 0 only, on the gathered full state dict)."""
    merged, adapter = split_lora_state_dict(full, settings)
    write_adapter(adapter_dir, adapter, settings, base_model, dtype)
    log.info(
        "LoRA adapter (%d tensors, r=%d) -> %s; merged into the export",
        len(adapter),
        settings.r,
        adapter_dir,
    )
    return merged
