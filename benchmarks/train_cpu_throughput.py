"""CPU training throughput: repoloom's trainer against the transformers `Trainer`, same run.

Both train the same `LlamaForCausalLM` (the `tiny` shape, same seed and initial weights) on the
same token windows with the same batch, fp32, AdamW (0.9, 0.95, wd 0.1), clip 1.0, no data-loader
workers. Steady-state tokens/s is measured from step `--skip` to the end, by repoloom's
`metrics.jsonl` and by a `TrainerCallback` timing `on_step_end` identically. The two are run
alternately `--rounds` times; the ratio of each adjacent pair and their median are reported
(on a shared machine the load between rounds varies more than the two trainers differ).

    .venv/bin/python benchmarks/train_cpu_throughput.py --steps 30 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def make_tokens(root: Path, n_tokens: int, vocab: int, seed: int = 0) -> Path:
    from repoloom.train.data import write_token_shard

    rng = np.random.default_rng(seed)
    write_token_shard(root / "s0", rng.integers(2, vocab, size=n_tokens), manifest_eos_id=1)
    return root


def run_repoloom(args: argparse.Namespace, data: Path, out: Path) -> float:
    from repoloom.train.config import config_from_dict
    from repoloom.train.train import train

    cfg = config_from_dict(
        {
            "model": args.model,
            "data": str(data),
            "out": str(out),
            "seq_len": args.seq_len,
            "micro_batch_size": args.batch,
            "max_steps": args.steps,
            "lr": 1e-3,
            "schedule": "constant",
            "warmup_steps": 0,
            "log_every": 1,
            "progress": False,
            "tensorboard": False,
            "export": False,
            "save_every": 0,
            "resume": "none",
            "precision": "fp32",
            "seed": 0,
        }
    )
    step_times: list[float] = []
    import repoloom.train.train as T  # noqa: N812

    orig = T.MetricsLog.write

    def timed(self, rec):  # record the wall time of every step's end
        step_times.append(time.perf_counter())
        return orig(self, rec)

    T.MetricsLog.write = timed
    try:
        train(cfg)
    finally:
        T.MetricsLog.write = orig
    tokens = args.batch * args.seq_len * (args.steps - args.skip)
    return tokens / (step_times[-1] - step_times[args.skip - 1])


def run_trainer(args: argparse.Namespace, data: Path, out: Path) -> float:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from repoloom.tokenize.dataset import TokenWindowDataset
    from repoloom.train.config import config_from_dict
    from repoloom.train.model import build_llama_config, build_model

    cfg = config_from_dict({"model": args.model, "seq_len": args.seq_len, "seed": 0})
    model = build_model(cfg, build_llama_config(cfg))  # same init as repoloom's run
    windows = list(TokenWindowDataset(data, args.seq_len))

    class DS(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(windows)

        def __getitem__(self, i: int) -> dict:
            w = windows[i]
            # HF shifts labels itself: give it the unshifted sequence
            return {"input_ids": w["input_ids"], "labels": w["input_ids"].clone()}

    step_times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            step_times.append(time.perf_counter())

    targs = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=args.batch,
        max_steps=args.steps,
        learning_rate=1e-3,
        lr_scheduler_type="constant",
        adam_beta1=0.9,
        adam_beta2=0.95,
        weight_decay=0.1,
        max_grad_norm=1.0,
        optim="adamw_torch",
        logging_steps=1000,
        save_strategy="no",
        report_to=[],
        dataloader_num_workers=0,
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
    )
    Trainer(model=model, args=targs, train_dataset=DS(), callbacks=[Clock()]).train()
    tokens = args.batch * args.seq_len * (args.steps - args.skip)
    return tokens / (step_times[-1] - step_times[args.skip - 1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="tiny")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--skip", type=int, default=5, help="warm-up steps left out of the rate")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/train_cpu_throughput.json")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        from repoloom.train.config import MODEL_REGISTRY

        vocab = MODEL_REGISTRY[args.model]["vocab_size"]
        data = make_tokens(tmp / "tokens", (args.steps + 1) * args.batch * args.seq_len + 1, vocab)
        ours, theirs = [], []
        for r in range(args.rounds):
            ours.append(run_repoloom(args, data, tmp / f"ours{r}"))
            theirs.append(run_trainer(args, data, tmp / f"hf{r}"))
            print(
                f"round {r}: repoloom {ours[-1]:.0f} tok/s, transformers Trainer {theirs[-1]:.0f} tok/s"
            )
    result = {
        "model": args.model,
        "seq_len": args.seq_len,
        "batch": args.batch,
        "steps": args.steps,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "repoloom_tokens_per_s": statistics.median(ours),
        "trainer_tokens_per_s": statistics.median(theirs),
        "rounds": {"repoloom": ours, "trainer": theirs},
    }
    # the load of a shared machine changes between runs: the ratio of each adjacent pair is the
    # fairer figure, reported with its spread
    pairs = [a / b for a, b in zip(ours, theirs, strict=True)]
    result["ratio_per_round"] = pairs
    result["ratio"] = statistics.median(pairs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}, indent=2))


if __name__ == "__main__":
    main()
