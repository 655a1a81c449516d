"""Perplexity against token position: does a model use context up to 16K?

For each model, the mean next-token NLL over ``samples`` sequences of ``seq_len`` tokens, averaged
in buckets of positions; a model that extrapolates badly shows the curve rising after its trained
length, one that uses long context shows it falling. Sequences are documents (repository samples)
of the token shards that are at least ``seq_len + 1`` tokens long; when there are too few, packed
windows fill up (reported in the output).

Command: ``repoloom eval ppl-by-length --model BEFORE_HF --model AFTER_HF --data TOKENS
--seq-len 16384 --out ppl.json`` (writes ``ppl.json`` and ``ppl.png``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Any

from repoloom.errors import UserError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", action="append", required=True, help="HF model dir (repeatable)")
    p.add_argument("--data", required=True, help="token shard directory (.bin/.idx)")
    p.add_argument("--seq-len", type=int, default=16384)
    p.add_argument("--samples", type=int, default=16, help="sequences per model")
    p.add_argument("--bucket", type=int, default=0, help="positions per bucket (default seq/16)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="ppl_by_length.json", help="JSON path; the PNG goes beside it")
    p.set_defaults(func=_run)


def long_sequences(data: str | Path, seq_len: int, samples: int) -> tuple[Any, dict[str, int]]:
    """``[n, seq_len + 1]`` LongTensor: whole long documents first, packed windows after."""
    import numpy as np
    import torch

    from repoloom.tokenize.shards import IndexedShard, find_shards  # numpy: not at start-up

    root = Path(data)
    rows: list[np.ndarray] = []
    shards = [IndexedShard(p) for p in find_shards(root)]
    for shard in shards:
        for i in np.flatnonzero(shard.sizes >= seq_len + 1):
            if len(rows) < samples:
                rows.append(np.asarray(shard[int(i)][: seq_len + 1], dtype=np.int64))
    n_docs = len(rows)
    if len(rows) < samples:
        stream = np.concatenate([np.asarray(s.tokens, dtype=np.int64) for s in shards])
        for start in range(0, stream.size - seq_len - 1, seq_len):
            if len(rows) >= samples:
                break
            rows.append(stream[start : start + seq_len + 1])
    if not rows:
        raise ValueError(f"{root}: fewer than {seq_len + 1} tokens in all shards")
    return torch.from_numpy(np.stack(rows)), {"documents": n_docs, "packed": len(rows) - n_docs}


def position_nll(model_dir: str, seqs: Any, device: Any, progress: Any = None) -> Any:
    """Mean NLL at each position (``seq_len`` values) of ``seqs`` under the model."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    total = torch.zeros(seqs.size(1) - 1, dtype=torch.float64)
    task = progress.add_task(Path(model_dir).name, total=len(seqs)) if progress else None
    with torch.no_grad():
        for row in seqs:
            ids = row[:-1].unsqueeze(0).to(device)
            logits = model(input_ids=ids, use_cache=False).logits[0].float()
            nll = F.cross_entropy(logits, row[1:].to(device), reduction="none")
            total += nll.double().cpu()
            if progress:
                progress.advance(task)
    del model
    return total / len(seqs)


def bucketize(nll: Any, bucket: int) -> list[dict[str, float]]:
    out = []
    for start in range(0, len(nll), bucket):
        mean = float(nll[start : start + bucket].mean())
        out.append(
            {
                "start": start,
                "end": min(len(nll), start + bucket),
                "nll": mean,
                "ppl": math.exp(mean),
            }
        )
    return out


def _run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    for m in args.model:
        if not (Path(m) / "config.json").exists():
            raise UserError(f"{m}: not a Hugging Face model directory (no config.json)")
    if args.seq_len < 2 or args.samples < 1:
        raise UserError("--seq-len must be >= 2 and --samples >= 1")
    try:
        seqs, origin = long_sequences(args.data, args.seq_len, args.samples)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    bucket = args.bucket or max(1, args.seq_len // 16)
    result: dict[str, Any] = {"seq_len": args.seq_len, "samples": len(seqs), **origin, "models": {}}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    ) as progress:
        for m in args.model:
            nll = position_nll(m, seqs, device, progress)
            result["models"][m] = bucketize(nll, bucket)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    fig, ax = plt.subplots(figsize=(7, 4))
    for m, buckets in result["models"].items():
        ax.plot(
            [(b["start"] + b["end"]) / 2 for b in buckets],
            [b["ppl"] for b in buckets],
            marker="o",
            label=m,
        )
    ax.set_xlabel("token position")
    ax.set_ylabel("perplexity")
    ax.set_yscale("log")
    ax.set_title(f"perplexity by position ({len(seqs)} sequences of {args.seq_len})")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)
    plt.close(fig)
    for m, buckets in result["models"].items():
        print(f"{m}: " + " ".join(f"{b['start']}:{b['ppl']:.2f}" for b in buckets))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0
