"""Train the `tiny` model for a few minutes on CPU on real code and check that it learns.

Corpus: the code of the public benchmark files in ``../shared/benchmarks`` (HumanEval in 8
languages: prompt + canonical solution; MBPP: code + tests), tokenized with the release
DeepSeek-Coder tokenizer (imported from the GGUF reference by ``repoloom tokenizer import``), one
document per problem, EOS after each, 5% of the documents held out. Reports the unigram entropy of
the training tokens (what a model that ignores context can reach), the training loss curve, the
held-out loss of the exported HF model, and a greedy sample from it. (A demo of the pipeline,
not a useful model: the benchmarks are evaluation data and this model must never be evaluated.)

    .venv/bin/python benchmarks/train_tiny_corpus.py --steps 200
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def documents(shared: Path) -> list[str]:
    docs = []
    for f in sorted((shared / "benchmarks" / "humaneval").glob("humaneval-*.jsonl")):
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            docs.append(rec["prompt"] + rec.get("canonical_solution", ""))
    for line in (shared / "benchmarks" / "mbpp" / "mbpp.jsonl").read_text().splitlines():
        rec = json.loads(line)
        docs.append(rec["code"].replace("\r\n", "\n") + "\n" + "\n".join(rec.get("test_list", [])))
    return [d for d in docs if d.strip()]


def write_tokens(out: Path, docs: list[list[int]], eos: int) -> int:
    from repoloom.tokenize.shards import dtype_for_vocab, write_shard

    out.mkdir(parents=True, exist_ok=True)
    arrays = [np.asarray(d + [eos], dtype=np.int64) for d in docs]
    write_shard(out / "shard_00000", arrays, dtype_for_vocab(32256))
    manifest = {"format": "megatron-mmap-v1", "eos_id": eos, "shards": [{"prefix": "shard_00000"}]}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return int(sum(a.size for a in arrays))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shared", default=str(ROOT.parent / "shared"))
    p.add_argument("--work", default="/tmp/repoloom-train-tiny-corpus")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args()
    shared, work = Path(args.shared), Path(args.work)
    gguf = shared / "reference" / "deepseek-coder-tokenizer" / "ggml-vocab-deepseek-coder.gguf"
    if not gguf.exists():
        sys.exit(f"skipped: {gguf} not found (needs ../shared)")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    tok_dir = work / "tokenizer"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "repoloom.cli",
            "tokenizer",
            "import",
            "--gguf",
            str(gguf),
            "--out",
            str(tok_dir),
        ],
        check=True,
        capture_output=True,
    )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    texts = documents(shared)
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    rng = np.random.default_rng(0)
    held = set(rng.choice(len(ids), size=len(ids) // 20, replace=False).tolist())
    train_docs = [d for i, d in enumerate(ids) if i not in held]
    held_docs = [d for i, d in enumerate(ids) if i in held]
    n_train = write_tokens(work / "tokens", train_docs, tok.eos_token_id)
    stream = np.concatenate([np.asarray(d + [tok.eos_token_id]) for d in train_docs])
    counts = np.bincount(stream)
    prob = counts[counts > 0] / counts.sum()
    unigram = float(-(prob * np.log(prob)).sum())
    print(f"{len(texts)} documents, {n_train} training tokens, unigram entropy {unigram:.3f} nats")

    from repoloom.train.config import load_config
    from repoloom.train.train import train

    cfg = load_config(
        ROOT / "configs" / "train" / "tiny.yaml",
        [
            f"data={work / 'tokens'}",
            f"out={work / 'run'}",
            f"tokenizer={tok_dir}",
            f"max_steps={args.steps}",
            f"seq_len={args.seq_len}",
            f"micro_batch_size={args.batch}",
            f"lr={args.lr}",
            f"warmup_steps={max(1, args.steps // 10)}",
            "log_every=5",
            "save_every=0",
            "resume=none",
        ],
    )
    start = time.perf_counter()
    summary = train(cfg)
    minutes = (time.perf_counter() - start) / 60

    import torch

    model = AutoModelForCausalLM.from_pretrained(work / "run" / "hf").eval()
    nll, n = 0.0, 0
    with torch.no_grad():
        for d in held_docs:
            x = torch.tensor([[tok.bos_token_id] + d[: args.seq_len]])
            logits = model(x).logits[0, :-1]
            nll += float(torch.nn.functional.cross_entropy(logits, x[0, 1:], reduction="sum"))
            n += x.shape[1] - 1
        prompt = "def is_palindrome(s):\n"
        x = tok(prompt, return_tensors="pt")["input_ids"]
        sample = tok.decode(model.generate(x, max_new_tokens=40, do_sample=False)[0])
    records = [json.loads(x) for x in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    result = {
        "documents": len(texts),
        "train_tokens": n_train,
        "unigram_entropy_nats": unigram,
        "steps": summary["steps"],
        "tokens_seen": summary["tokens"],
        "minutes": minutes,
        "first_loss": records[0]["loss"],
        "final_loss": records[-1]["loss"],
        "heldout_loss": nll / n,
        "uniform_loss": math.log(32256),
        "tokens_per_s_last": records[-1]["tokens_per_s"],
        "mfu_last": records[-1]["mfu"],
        "device": summary["device"],
        "loss_curve": [(r["step"], round(r["loss"], 4)) for r in records],
        "sample": sample,
    }
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_tiny_corpus.json").write_text(json.dumps(result, indent=2))
    shutil.copy(work / "run" / "loss.png", out / "train_tiny_corpus_loss.png")
    print(json.dumps({k: v for k, v in result.items() if k != "loss_curve"}, indent=2))


if __name__ == "__main__":
    main()
