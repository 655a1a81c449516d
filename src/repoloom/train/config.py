"""Training configuration: one flat dataclass read from YAML plus ``key=value`` overrides, and the
registry of named model shapes (PAPER_NOTES section 4).

Everything a run needs is in :class:`TrainConfig`; the YAML files under ``configs/train/`` only set
fields of it, so ``repoloom train --config configs/train/tiny.yaml max_steps=10`` and editing the
YAML are the same thing. Unknown keys are an error (a typo must not silently train the default).
Loading and the type rules are :mod:`repoloom.config`'s (the one loader of every command).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repoloom import config as config_loader

# The release's special-token ids (PAPER_NOTES section 2): BOS 32013, EOS 32014, <|EOT|> 32021.
RELEASE_VOCAB_SIZE = 32256
RELEASE_BOS_ID = 32013
RELEASE_EOS_ID = 32014

# Named model shapes. Values are `transformers.LlamaConfig` keyword arguments; every entry is a
# LLaMA decoder with RMSNorm (eps 1e-6), SwiGLU, RoPE and untied embeddings. The pretraining RoPE
# (theta 10000, no scaling, 4K positions) is the default; the long-context stage overrides it.
_COMMON: dict[str, Any] = {
    "vocab_size": RELEASE_VOCAB_SIZE,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
    "attention_bias": False,
    "mlp_bias": False,
    "max_position_embeddings": 4096,
    "rope_theta": 10000.0,
    "bos_token_id": RELEASE_BOS_ID,
    "eos_token_id": RELEASE_EOS_ID,
    "initializer_range": 0.02,
}

MODEL_REGISTRY: dict[str, dict[str, Any]] = {
    # A few M parameters (most of them in the two 32256-row embeddings), GQA 4/2 so the CPU tests
    # exercise the same attention path as the 33B model.
    "tiny": {
        **_COMMON,
        "hidden_size": 128,
        "intermediate_size": 344,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    },
    # ~0.2M parameters, 1024-token vocabulary: unit tests (tens of steps per second on a CPU).
    "micro": {
        **_COMMON,
        "vocab_size": 1024,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "hidden_size": 64,
        "intermediate_size": 172,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    },
    "deepseek-coder-1.3b": {
        **_COMMON,
        "hidden_size": 2048,
        "intermediate_size": 5504,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
    },
    "deepseek-coder-6.7b": {
        **_COMMON,
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
    },
    "deepseek-coder-33b": {
        **_COMMON,
        "hidden_size": 7168,
        "intermediate_size": 19200,
        "num_hidden_layers": 62,
        "num_attention_heads": 56,
        "num_key_value_heads": 8,
    },
}


# LoRA targets: every linear projection of a LLaMA decoder layer (attention and SwiGLU MLP).
LORA_TARGETS: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)


@dataclass
class LoraSettings:
    """LoRA (peft) on the frozen base model; ``r`` > 0 turns it on (``lora.r=8`` is enough).

    ``alpha`` None means ``2 * r`` (update scale alpha / r = 2); ``targets`` are projection names,
    short (``q``, ``gate``) or as in the model (``q_proj``); all seven by default."""

    r: int = 0
    alpha: float | None = None
    dropout: float = 0.0
    targets: list[str] = field(default_factory=lambda: list(LORA_TARGETS))

    @property
    def enabled(self) -> bool:
        return self.r > 0

    @property
    def lora_alpha(self) -> float:
        return float(self.alpha) if self.alpha is not None else 2.0 * self.r

    def target_modules(self) -> list[str]:
        """The targets as module names (``q`` -> ``q_proj``), validated, in the canonical order."""
        names = set()
        for t in self.targets:
            name = t.strip()
            name = name if name.endswith("_proj") else f"{name}_proj"
            if name not in LORA_TARGETS:
                raise ValueError(
                    f"lora.targets: unknown projection {t!r}; known: {', '.join(LORA_TARGETS)}"
                )
            names.add(name)
        return [n for n in LORA_TARGETS if n in names]


@dataclass
class TrainConfig:
    """All settings of one training run (pretraining, long-context extension or SFT)."""

    # --- what to train
    stage: str = "pretrain"  # "pretrain" (packed token windows) or "sft" (instruction JSONL)
    model: str = "tiny"  # a MODEL_REGISTRY name; ignored for the shape when init_from is set
    init_from: str | None = None  # HF LlamaForCausalLM directory to start from
    tokenizer: str | None = None  # HF tokenizer directory (copied into the export; needed for SFT)
    # model overrides (None = keep the registry / init_from value)
    vocab_size: int | None = None
    rope_theta: float | None = None
    rope_scaling_factor: float | None = None  # linear RoPE scaling (long-context stage: 4)
    max_position_embeddings: int | None = None

    # --- data and output
    data: str | None = None  # token shard directory (pretrain) or JSONL file (sft)
    out: str = "runs/tiny"
    seq_len: int = 256
    micro_batch_size: int = 8  # sequences per process per forward pass
    grad_accum_steps: int = 1  # global batch = micro_batch_size * grad_accum_steps * world size
    max_steps: int = 100
    # Pretraining reads each epoch's windows in a seeded random order (seed, epoch); false: in
    # stream order (a long repository-level sample then fills many consecutive batches).
    shuffle_windows: bool = True

    # --- optimisation (DeepSeek LLM / DeepSeek-Coder values)
    lr: float = 5.3e-4
    schedule: str = "step"  # "step" (report), "cosine" (SFT) or "constant"
    warmup_steps: int = 2000
    decay_points: list[float] = field(default_factory=lambda: [0.8, 0.9])
    decay_factor: float = math.sqrt(0.1)
    min_lr_ratio: float = 0.1  # end of the cosine schedule, as a fraction of lr
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    seed: int = 1234

    # --- system
    device: str = "auto"  # "auto", "cpu" or "cuda"
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU), "bf16" or "fp32"
    activation_checkpointing: bool = False
    compile: bool = False  # torch.compile each decoder layer
    fsdp_reshard_after_forward: bool = True

    # --- logging, checkpoints, export
    log_every: int = 10
    save_every: int = 0  # 0: only at the end of the run
    save_final: bool = True  # checkpoint at the last step (benchmarks turn it off)
    keep_checkpoints: int = 2
    resume: str = "auto"  # "auto" (latest checkpoint in out/ if any), "none" or a checkpoint dir
    stop_at_step: int | None = None  # stop early as if pre-empted (checkpoint, no export)
    export: bool = True
    export_dtype: str = "bfloat16"  # "bfloat16", "float16" or "float32"
    peak_flops: float | None = None  # FLOP/s for MFU; None = look up the device / measure the CPU
    tensorboard: bool = True
    progress: bool = True

    # --- SFT only
    system_prompt: str | None = None  # None: the release's default system prompt
    sft_epochs_shuffle: bool = True

    # --- LoRA (any stage): `lora: {r: 8}` in YAML or `lora.r=8` on the command line
    lora: LoraSettings = field(default_factory=LoraSettings)

    def validate(self) -> None:
        """Raise ValueError on settings that cannot work."""
        if self.stage not in ("pretrain", "sft"):
            raise ValueError(f"stage must be 'pretrain' or 'sft', not {self.stage!r}")
        if self.init_from is None and self.model not in MODEL_REGISTRY:
            raise ValueError(
                f"unknown model {self.model!r}; known: {', '.join(sorted(MODEL_REGISTRY))}"
            )
        if self.schedule not in ("step", "cosine", "constant"):
            raise ValueError(f"schedule must be step, cosine or constant, not {self.schedule!r}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be auto, bf16 or fp32, not {self.precision!r}")
        if self.export_dtype not in ("bfloat16", "float16", "float32"):
            raise ValueError("export_dtype must be bfloat16, float16 or float32")
        for name in ("seq_len", "micro_batch_size", "grad_accum_steps", "max_steps", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.warmup_steps < 0 or self.save_every < 0:
            raise ValueError("warmup_steps and save_every must be >= 0")
        if any(not 0.0 < p < 1.0 for p in self.decay_points):
            raise ValueError(f"decay_points must lie in (0, 1): {self.decay_points}")
        if self.stage == "sft" and not (self.tokenizer or self.init_from):
            raise ValueError("stage 'sft' needs tokenizer=DIR (the chat template and <|EOT|>)")
        if self.lora.r < 0:
            raise ValueError(f"lora.r must be >= 0, not {self.lora.r}")
        if self.lora.enabled:
            if not self.init_from:
                raise ValueError(
                    "LoRA (lora.r > 0) needs init_from=DIR: an adapter is only usable on the "
                    "base weights it was trained against, and a fresh model's are never saved"
                )
            if not 0.0 <= self.lora.dropout < 1.0:
                raise ValueError(f"lora.dropout must lie in [0, 1), not {self.lora.dropout}")
            if not self.lora.targets:
                raise ValueError("lora.targets is empty")
            self.lora.target_modules()


def config_from_dict(values: dict[str, Any], base: TrainConfig | None = None) -> TrainConfig:
    """Return ``base`` (or the defaults) with ``values`` applied, coerced and validated.

    Section fields (``lora``) take a mapping or dotted keys: ``{"lora": {"r": 8}}`` and
    ``{"lora.r": 8}`` are the same."""
    if base is None:
        cfg = config_loader.from_dict(TrainConfig, values)
    else:
        cfg = config_loader.replace(base, settings=values)
    cfg.validate()
    return cfg


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings into values read as YAML (``a=[0.8,0.9]`` is a list), without
    a config class to check them against; :func:`load_config` parses for each field's type."""
    pairs = (config_loader.split_override(item) for item in items)
    return {key: config_loader.yaml_value(text) for key, text in pairs}


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config (or start from the defaults) and apply ``key=value`` overrides."""
    cfg = config_loader.load(TrainConfig, path, overrides or ())
    cfg.validate()
    return cfg


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
