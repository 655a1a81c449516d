"""Latency and throughput of ``repoloom serve`` against plain ``transformers`` generate in a loop.

A tiny random DeepSeek-Coder-shaped model (``repoloom.testing.tiny_model``) is served by a
``repoloom serve`` subprocess on loopback. Clients send FIM completions (prompt + suffix,
exactly ``--tokens`` new tokens: greedy, ``ignore_eos``) at 1, 4 and 16 concurrent clients;
each client sends its next request when the previous one returns. Reported: p50/p99 request
latency and generated tokens per second. The baseline runs the same prompts one after another
with ``model.generate(max_new_tokens=N, min_new_tokens=N)`` in this process (no HTTP, no
batching) with the same number of torch threads.

    .venv/bin/python benchmarks/serve_latency.py [--requests 64] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREFIXES = [
    "def quick_sort(values):\n    if len(values) <= 1:\n        return values\n    ",
    "import os\n\n\ndef read(path):\n    ",
    "class Stack:\n    def __init__(self):\n        ",
    "def add(a: int, b: int) -> int:\n    ",
]
SUFFIXES = [
    "\n\n\nprint(quick_sort([3, 1]))\n",
    "\n",
    "\n\n    def pop(self):\n        pass\n",
    "\n",
]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(q / 100 * (len(values) - 1))))
    return values[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_clients(url: str, concurrency: int, total: int, tokens: int) -> dict:
    import httpx

    latencies: list[float] = []
    generated = 0
    counter = iter(range(total))

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal generated
        for i in counter:
            body = {
                "prompt": PREFIXES[i % len(PREFIXES)],
                "suffix": SUFFIXES[i % len(SUFFIXES)],
                "max_tokens": tokens,
                "temperature": 0,
                "ignore_eos": True,
            }
            t0 = time.perf_counter()
            r = await c.post(f"{url}/v1/completions", json=body)
            latencies.append(time.perf_counter() - t0)
            r.raise_for_status()
            generated += r.json()["usage"]["completion_tokens"]

    async with httpx.AsyncClient(timeout=600) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * pct(latencies, 99),
        "tokens_per_s": generated / wall,
        "requests_per_s": len(latencies) / wall,
    }


def baseline(model_dir: Path, total: int, tokens: int, threads: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    latencies = []
    generated = 0
    t_start = time.perf_counter()
    for i in range(total):
        text = (
            f"<｜fim▁begin｜>{PREFIXES[i % len(PREFIXES)]}<｜fim▁hole｜>"
            f"{SUFFIXES[i % len(SUFFIXES)]}<｜fim▁end｜>"
        )
        t0 = time.perf_counter()
        inputs = tok(text, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
            )
        tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        latencies.append(time.perf_counter() - t0)
        generated += out.shape[1] - inputs["input_ids"].shape[1]
    wall = time.perf_counter() - t_start
    return {
        "concurrency": 1,
        "requests": total,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * pct(latencies, 99),
        "tokens_per_s": generated / wall,
        "requests_per_s": total / wall,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=64, help="requests per concurrency level")
    ap.add_argument("--tokens", type=int, default=20)
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (server and baseline)")
    ap.add_argument("--max-batch", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from repoloom.testing import tiny_model

    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as tmp:
        with console.status("building the tiny model"):
            model_dir = tiny_model(
                Path(tmp) / "tiny-coder",
                hidden_size=args.hidden,
                num_layers=args.layers,
                num_heads=4,
                intermediate_size=args.hidden * 11 // 4,
            )
        from transformers import AutoModelForCausalLM

        n_params = AutoModelForCausalLM.from_pretrained(model_dir).num_parameters()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [
            sys.executable, "-m", "repoloom.cli", "serve", "--model", str(model_dir),
            "--port", str(port), "--threads", str(args.threads),
            "--max-batch", str(args.max_batch), "--max-queue", "256",
        ]  # fmt: skip
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        rows = []
        try:
            import httpx

            with console.status("starting repoloom serve"):
                deadline = time.monotonic() + 120
                while True:
                    if server.poll() is not None:
                        raise RuntimeError(server.stderr.read().decode())
                    try:
                        if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError("server did not start")
                    time.sleep(0.2)
            asyncio.run(run_clients(url, 1, 4, args.tokens))  # warm-up
            for c in [int(x) for x in args.concurrency.split(",")]:
                with console.status(f"serve: {c} concurrent clients"):
                    rows.append(
                        {
                            "mode": "repoloom serve",
                            **asyncio.run(run_clients(url, c, args.requests, args.tokens)),
                        }
                    )
                console.log(rows[-1])
        finally:
            server.terminate()
            server.wait(timeout=30)
        with console.status("baseline: transformers generate in a loop"):
            baseline(model_dir, 4, args.tokens, args.threads)  # warm-up
            base = {
                "mode": "transformers generate loop",
                **baseline(model_dir, args.requests, args.tokens, args.threads),
            }
        console.log(base)

    table = Table(
        title=f"{args.tokens}-token FIM completions, tiny model ({n_params / 1e6:.1f}M params)"
    )
    for col in ("mode", "clients", "p50 ms", "p99 ms", "tokens/s", "x baseline"):
        table.add_column(col)
    for r in [*rows, base]:
        table.add_row(
            r["mode"], str(r["concurrency"]), f"{r['p50_ms']:.0f}", f"{r['p99_ms']:.0f}",
            f"{r['tokens_per_s']:.0f}", f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}",
        )  # fmt: skip
    Console().print(table)
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "params": n_params,
        "tokens": args.tokens,
        "threads": args.threads,
        "rows": rows,
        "baseline": base,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
