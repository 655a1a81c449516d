"""The training loop, top to bottom: one function, :func:`train`, for pretraining, the long-context
stage and SFT, on one CPU, one GPU or ``torchrun --nproc-per-node N`` processes (FSDP2).

Order of events:

1. processes: ``torch.distributed`` (gloo on CPU, NCCL on GPU) when launched by torchrun;
2. model: registry shape or ``init_from`` (HF directory) built on the meta device, optional LoRA
   (peft), activation checkpointing and per-layer ``torch.compile``, FSDP2 ``fully_shard`` per
   decoder layer and on the root when there are several processes, and only then materialised:
   each process allocates and reads its own shard of the fp32 master weights;
3. AdamW (0.9, 0.95), weight decay 0.1 on matrices only, LR a pure function of the step;
4. resume from the latest DCP checkpoint of ``out`` (model, optimizer, data position, RNG);
5. each step: ``grad_accum_steps`` micro-batches; the loss is the sum of token losses divided by the
   number of target tokens of the whole global batch, so 1 and N processes compute the same loss
   and gradient; clip 1.0; step; log; checkpoint;
6. at the end: checkpoint, HF export to ``out/hf``, PNG loss curve.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import resource
import time
from pathlib import Path
from typing import Any

from repoloom.progress import progress_bar
from repoloom.train.config import TrainConfig, config_to_dict
from repoloom.train.data import BatchStream, DatasetFactory, stack_windows, token_dataset_factory
from repoloom.train.sft import SFTDataset, pad_collate

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# learning rate


def lr_at(cfg: TrainConfig, step: int) -> float:
    """LR of optimizer step ``step`` (1-based): linear warmup, then the report's step schedule
    (x decay_factor after each of decay_points * max_steps), a cosine down to min_lr_ratio, or
    constant."""
    if cfg.warmup_steps and step <= cfg.warmup_steps:
        return cfg.lr * step / cfg.warmup_steps
    if cfg.schedule == "step":
        n = sum(step > p * cfg.max_steps for p in cfg.decay_points)
        return cfg.lr * cfg.decay_factor**n
    if cfg.schedule == "cosine":
        span = max(1, cfg.max_steps - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.lr * (
            cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
        )
    return cfg.lr


# ----------------------------------------------------------------------------------------------
# processes and devices


def setup_distributed(cfg: TrainConfig) -> tuple[int, int, Any]:
    """(rank, world_size, device); starts the process group when launched by torchrun."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("device=cuda but no CUDA device is available")
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, world, device


def _all_reduce_sum(t: Any) -> Any:
    import torch.distributed as dist

    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def shard_model(model: Any, device: Any, cfg: TrainConfig, bf16: bool) -> None:
    """FSDP2: shard every decoder layer, then the root (embeddings, final norm, LM head)."""
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    mp = (
        MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        if bf16
        else MixedPrecisionPolicy()
    )
    for layer in model.model.layers:
        fully_shard(
            layer, mesh=mesh, mp_policy=mp, reshard_after_forward=cfg.fsdp_reshard_after_forward
        )
    fully_shard(
        model, mesh=mesh, mp_policy=mp, reshard_after_forward=cfg.fsdp_reshard_after_forward
    )


def build_optimizer(model: Any, cfg: TrainConfig, device: Any) -> Any:
    """AdamW; weight decay on matrices (embeddings, projections), none on norm weights."""
    import torch

    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    extra = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, **extra)


def memory_gb(device: Any) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1024**3
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def lora_export(cfg: TrainConfig, run_dir: Path) -> Any:
    """The export's state-dict step under LoRA: adapter to RUN_DIR/adapter, merged weights to
    RUN_DIR/hf. None without LoRA."""
    if not cfg.lora.enabled:
        return None
    import functools

    import torch

    from repoloom.train.lora import export_lora

    return functools.partial(
        export_lora,
        settings=cfg.lora,
        adapter_dir=run_dir / "adapter",
        base_model=cfg.init_from,
        dtype=getattr(torch, cfg.export_dtype),
    )


def check_resumable(path: Path, cfg: TrainConfig) -> None:
    """A LoRA checkpoint holds the adapter only: it resumes only with the same adapter shape on
    the same base. Say so before DCP fails on missing keys."""
    state_file = path / "trainer_state.json"
    if not state_file.exists():
        return  # load_checkpoint reports the incomplete checkpoint
    saved = json.loads(state_file.read_text()).get("config", {})
    saved_lora = saved.get("lora") or {"r": 0}
    now = config_to_dict(cfg)["lora"]
    if saved_lora.get("r", 0) != now["r"] or (
        now["r"] > 0 and saved_lora.get("targets") != now["targets"]
    ):
        raise ValueError(
            f"{path} was trained with lora r={saved_lora.get('r', 0)} "
            f"targets={saved_lora.get('targets')}, this run has r={now['r']} "
            f"targets={now['targets']}: resume=none or another out="
        )
    if now["r"] > 0 and saved.get("init_from") != cfg.init_from:
        log.warning(
            "%s: the adapter was trained on %s, resuming on %s",
            path,
            saved.get("init_from"),
            cfg.init_from,
        )


# ----------------------------------------------------------------------------------------------
# logging helpers


class MetricsLog:
    """``metrics.jsonl`` (+ TensorBoard events) on rank 0; on resume, records after the
    checkpoint's step are dropped so the file is exactly the uninterrupted run's."""

    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool, resume_step: int) -> None:
        self.enabled = enabled
        self.path = run_dir / "metrics.jsonl"
        self.records: list[dict[str, Any]] = []
        self.writer = None
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    if rec.get("step", 0) <= resume_step:
                        self.records.append(rec)
        self.path.write_text("".join(json.dumps(r) + "\n" for r in self.records))
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(
                    str(run_dir / "tensorboard"), purge_step=resume_step + 1
                )
            except ImportError as exc:  # tensorboard not installed: keep training
                log.warning("no TensorBoard events: %s", exc)

    def write(self, rec: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.records.append(rec)
        with self.path.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        if self.writer is not None:
            for key, value in rec.items():
                if isinstance(value, int | float) and key != "step":
                    self.writer.add_scalar(f"train/{key}", value, rec["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def plot_loss(records: list[dict[str, Any]], path: Path, title: str) -> None:
    try:
        import matplotlib
    except ImportError:  # e.g. a bare GPU image: the metrics are in metrics.jsonl anyway
        log.warning("matplotlib not installed: no loss.png")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not records:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in records], [r["loss"] for r in records], lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class _NoProgress:
    """Stand-in when rich is missing (a bare GPU image) or the bar is off."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None


def _progress(enabled: bool, total: int, done: int) -> Any:
    if not enabled:
        return _NoProgress(), None
    try:
        progress = progress_bar("train", eta="eta", tail=("{task.fields[info]}",))
    except ImportError:
        return _NoProgress(), None
    task = progress.add_task("train", total=total, completed=done, info="")
    return progress, task


# ----------------------------------------------------------------------------------------------
# the run


def train(cfg: TrainConfig, dataset_factory: DatasetFactory | None = None) -> dict[str, Any]:
    """Run (or resume) training as configured; returns a summary (losses per logged step, ...).

    ``dataset_factory(rank, world_size, start_index, epoch)`` overrides ``cfg.data`` (tests)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from repoloom.train import checkpoint as ckpt
    from repoloom.train.model import (
        build_llama_config,
        build_meta_model,
        count_parameters,
        device_peak_flops,
        flops_per_token,
        materialize,
        resolve_tokenizer_dir,
    )

    cfg.validate()
    rank, world, device = setup_distributed(cfg)
    is_main = rank == 0
    # the runtime RNG (dropout, e.g. LoRA's): seeded per rank; resume restores it from the
    # checkpoint. Weights have their own per-parameter generators (model.materialize).
    torch.manual_seed(cfg.seed + rank)
    run_dir = Path(cfg.out)
    ckpt_dir = run_dir / "checkpoints"
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")

    # --- tokenizer and data
    tokenizer = None
    if (
        not cfg.tokenizer
        and cfg.stage != "sft"
        and cfg.data
        and (Path(cfg.data) / "tokenizer").is_dir()
    ):
        # `repoloom tokenize` keeps its tokenizer next to the shards: export it with the model.
        cfg.tokenizer = str(Path(cfg.data) / "tokenizer")
        log.info("tokenizer: %s (from the token directory)", cfg.tokenizer)
    if not cfg.tokenizer and cfg.init_from:
        # a released checkpoint carries its tokenizer: keep it with the model
        cfg.tokenizer = resolve_tokenizer_dir(cfg.init_from)
    if cfg.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer)
    if cfg.stage == "sft" and tokenizer is None:
        raise ValueError("stage 'sft' needs tokenizer=DIR (or an init_from with tokenizer files)")
    if is_main:  # after the tokenizer is settled: the file says what the run really used
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(config_to_dict(cfg), indent=2))
    collate = stack_windows
    if dataset_factory is None:
        if not cfg.data:
            raise ValueError("no training data: set data=PATH")
        if cfg.stage == "sft":
            sft_data = SFTDataset.from_jsonl(cfg.data, tokenizer, cfg.seq_len, cfg.system_prompt)
            dataset_factory = sft_data.factory(shuffle=cfg.sft_epochs_shuffle, seed=cfg.seed)
            collate = pad_collate(
                tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
            )
        else:
            dataset_factory = token_dataset_factory(
                cfg.data, cfg.seq_len, shuffle_seed=cfg.seed if cfg.shuffle_windows else None
            )
    elif cfg.stage == "sft":
        collate = pad_collate(0)

    # --- model
    config = build_llama_config(cfg, tokenizer)
    model = build_meta_model(config, cfg.lora)
    n_params = count_parameters(config)
    if cfg.activation_checkpointing:
        ac_kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # the name since transformers 5.2x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=ac_kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=ac_kwargs)
    if cfg.compile:
        for layer in model.model.layers:
            layer.compile()
    if world > 1:
        shard_model(model, device, cfg, bf16)
    materialize(model, cfg, config, device)
    model.train()
    optimizer = build_optimizer(model, cfg, device)
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        if bf16
        else contextlib.nullcontext()
    )

    # --- resume
    state: dict[str, Any] = {"step": 0, "tokens": 0, "epoch": 0, "index": 0}
    resume_path = None
    if cfg.resume == "auto":
        resume_path = ckpt.latest_checkpoint(ckpt_dir)
    elif cfg.resume not in ("none", ""):
        resume_path = Path(cfg.resume)
    if resume_path is not None:
        check_resumable(resume_path, cfg)
        saved = ckpt.load_checkpoint(resume_path, model, optimizer)
        state.update({k: saved[k] for k in ("step", "tokens", "epoch")})
        # the data position is stored as global windows; convert to this world size
        state["index"] = saved["global_index"] // world
        if saved["global_index"] % world:
            log.warning(
                "resume on %d processes: %d windows re-read", world, saved["global_index"] % world
            )
        if is_main:
            log.info("resumed from %s at step %d", resume_path, state["step"])
    stream = BatchStream(
        dataset_factory, rank, world, cfg.micro_batch_size, state["epoch"], state["index"], collate
    )

    # --- bookkeeping
    metrics = MetricsLog(run_dir, is_main, cfg.tensorboard, state["step"])
    peak, peak_desc = device_peak_flops(device, cfg.peak_flops)
    fpt = flops_per_token(config, cfg.seq_len, n_params["total"] - n_params["embedding"])
    if is_main:
        n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        log.info(
            "model %s: %.1fM parameters (%.1fM without embeddings)%s; %d process(es) on %s; "
            "global batch %d x %d tokens; peak %s",
            cfg.init_from or cfg.model,
            n_params["total"] / 1e6,
            n_params["non_embedding"] / 1e6,
            f", LoRA r={cfg.lora.r}: {n_trainable:,} trainable" if cfg.lora.enabled else "",
            world,
            device,
            cfg.micro_batch_size * cfg.grad_accum_steps * world,
            cfg.seq_len,
            peak_desc,
        )
    last_step = min(cfg.max_steps, cfg.stop_at_step or cfg.max_steps)
    progress, task = _progress(is_main and cfg.progress, cfg.max_steps, state["step"])
    window_tokens = 0
    window_start = time.perf_counter()
    losses: list[tuple[int, float]] = []

    # --- the loop
    with progress:
        while state["step"] < last_step:
            step = state["step"] + 1
            lr = lr_at(cfg, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batches = [stream.next_batch() for _ in range(cfg.grad_accum_steps)]
            n_targets = torch.tensor(
                float(sum(int((b["labels"] != -100).sum()) for b in batches)), device=device
            )
            n_targets = _all_reduce_sum(n_targets).clamp(min=1.0)
            loss_sum = torch.zeros((), device=device)
            for i, batch in enumerate(batches):
                if world > 1:
                    model.set_requires_gradient_sync(i == len(batches) - 1)
                if int(batch["input_ids"].max()) >= config.vocab_size:
                    raise ValueError(
                        f"token id {int(batch['input_ids'].max())} >= the model's vocabulary "
                        f"({config.vocab_size}): data and model/tokenizer do not match"
                    )
                input_ids = batch["input_ids"].to(device, non_blocking=True)
                labels = batch["labels"].to(device, non_blocking=True)
                with autocast:
                    logits = model(input_ids=input_ids, use_cache=False).logits
                token_loss = F.cross_entropy(
                    logits.float().view(-1, logits.size(-1)),
                    labels.view(-1),
                    ignore_index=-100,
                    reduction="sum",
                )
                # FSDP averages gradients over processes: scale by world to get the global mean
                (token_loss * (world / n_targets)).backward()
                loss_sum += token_loss.detach()
                del logits, token_loss
            loss = (_all_reduce_sum(loss_sum) / n_targets).item()
            max_norm = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            if hasattr(grad_norm, "full_tensor"):
                grad_norm = grad_norm.full_tensor()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

            step_tokens = sum(b["input_ids"].numel() for b in batches) * world
            state["step"] = step
            state["tokens"] += step_tokens
            window_tokens += step_tokens
            losses.append((step, loss))
            if not math.isfinite(loss):
                raise FloatingPointError(f"loss is {loss} at step {step}")

            if step % cfg.log_every == 0 or step == last_step:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                elapsed = time.perf_counter() - window_start
                tps = window_tokens / max(elapsed, 1e-9)
                rec = {
                    "step": step,
                    "loss": loss,
                    "lr": lr,
                    "grad_norm": float(grad_norm),
                    "tokens_per_s": tps,
                    "mfu": fpt * tps / (peak * world),
                    "peak_flops": peak,
                    "memory_gb": memory_gb(device),
                    "tokens": state["tokens"],
                    "epoch": stream.epoch,
                }
                metrics.write(rec)
                window_tokens, window_start = 0, time.perf_counter()
            progress.update(task, completed=step, info=f"loss {loss:.3f} lr {lr:.2e}")

            at_end = step == last_step and (cfg.save_final or step < cfg.max_steps)
            if (cfg.save_every and step % cfg.save_every == 0) or at_end:
                pos = stream.state()
                trainer_state = {
                    **state,
                    "epoch": pos["epoch"],
                    "index": pos["index"],
                    "global_index": pos["index"] * world,
                    "world_size": world,
                    "config": config_to_dict(cfg),
                }
                ckpt.save_checkpoint(
                    ckpt_dir, model, optimizer, trainer_state, cfg.keep_checkpoints
                )

    # --- the end
    stopped_early = state["step"] < cfg.max_steps
    hf_dir = None
    if cfg.export and not stopped_early:
        eos = None
        if cfg.stage == "sft" and tokenizer is not None:
            eot = tokenizer.convert_tokens_to_ids("<|EOT|>")
            eos = eot if isinstance(eot, int) and eot != tokenizer.unk_token_id else None
        hf_dir = ckpt.export_hf(
            run_dir / "hf",
            model,
            config,
            cfg.export_dtype,
            tokenizer,
            eos,
            transform_state_dict=lora_export(cfg, run_dir),
        )
    summary = {
        "steps": state["step"],
        "tokens": state["tokens"],
        "final_loss": losses[-1][1] if losses else None,
        "losses": losses,
        "parameters": n_params,
        "world_size": world,
        "device": peak_desc,
        "hf_dir": str(hf_dir) if hf_dir else None,
        "stopped_early": stopped_early,
    }
    if is_main:
        plot_loss(
            metrics.records, run_dir / "loss.png", f"{cfg.init_from or cfg.model} ({cfg.stage})"
        )
        (run_dir / "summary.json").write_text(
            json.dumps({k: v for k, v in summary.items() if k != "losses"}, indent=2)
        )
    metrics.close()
    return summary
