"""Snapshot what repoloom does on fixed inputs, so a refactor can prove it changed nothing.

Writes, under ``--out``:

- ``corpus/``: ``samples/``, ``removed/`` and ``report.json`` of a corpus build over
  ``--corpus`` (the pinned benchmark corpus: ``repoloom corpus fetch --manifest benchmark``),
  with the report's wall-clock fields blanked (they differ run to run);
- ``score/<bench>.json``: ``repoloom eval score`` summaries for fixed HumanEval and MBPP samples
  (each task's reference solution and a wrong one);
- ``serve.json``: greedy replies of ``repoloom serve`` on a tiny seeded model (completion, FIM
  via ``suffix``, ``/infill``, chat), without ids and timestamps.

Compare two snapshots with ``diff -r A B`` (Parquet files byte for byte).

    python benchmarks/behaviour_snapshot.py --out /tmp/snap-before \\
        --corpus ~/.cache/repoloom/benchmark-corpus --benchmarks-dir ../shared/benchmarks
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

TIME_KEYS = {
    "seconds",
    "elapsed",
    "started",
    "finished",
    "duration_s",
    "time",
    "samples_per_second",
}
PATH_KEYS = {"samples_file", "results_file", "out", "output_dir"}


def _blank_times(value):
    if isinstance(value, dict):
        return {
            k: (
                None
                if (k in TIME_KEYS or k.endswith("_seconds"))
                else Path(v).name
                if k in PATH_KEYS and isinstance(v, str)
                else _blank_times(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_blank_times(v) for v in value]
    return value


def snapshot_corpus(corpus: Path, benchmarks: Path, out: Path, workers: int) -> None:
    build = out / "_build"
    subprocess.run(
        [
            sys.executable, "-m", "repoloom", "corpus", "build", "--repos-dir", str(corpus),
            "--out", str(build), "--benchmarks-dir", str(benchmarks), "--workers", str(workers),
            "--no-progress", "--overwrite",
        ],
        check=True,
    )  # fmt: skip
    dest = out / "corpus"
    dest.mkdir(parents=True)
    for name in ("samples", "removed"):
        shutil.copytree(build / name, dest / name)
    report = json.loads((build / "report.json").read_text())
    (dest / "report.json").write_text(json.dumps(_blank_times(report), indent=1, sort_keys=True))
    shutil.rmtree(build)


def _score_samples(bench: str, benchmarks: Path) -> list[dict]:
    """Each of 20 tasks' reference solution and a wrong one, read from the released files."""
    name = "humaneval/humaneval-python.jsonl" if bench == "humaneval" else "mbpp/mbpp.jsonl"
    with open(benchmarks / name) as fh:
        tasks = [json.loads(line) for line in fh]
    rows = []
    if bench == "humaneval":
        for t in tasks[:20]:
            task_id = t["task_id"].replace("Python/", "HumanEval/")
            rows.append({"task_id": task_id, "completion": t["canonical_solution"]})
            rows.append({"task_id": task_id, "completion": "    return None\n"})
    else:
        for t in tasks:
            if 11 <= int(t["task_id"]) <= 30:
                rows.append({"task_id": str(t["task_id"]), "completion": t["code"]})
                rows.append({"task_id": str(t["task_id"]), "completion": "def f():\n    pass\n"})
    return rows


def snapshot_scores(benchmarks: Path, out: Path) -> None:
    dest = out / "score"
    dest.mkdir(parents=True)
    for bench in ("humaneval", "mbpp"):
        samples = out / f"_{bench}.jsonl"
        samples.write_text("".join(json.dumps(r) + "\n" for r in _score_samples(bench, benchmarks)))
        proc = subprocess.run(
            [
                sys.executable, "-m", "repoloom", "eval", "score", bench, "--samples", str(samples),
                "--data-dir", str(benchmarks), "--k", "1,2",
            ],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        (dest / f"{bench}.stdout").write_text(_blank_lines(proc.stdout, out))
        for produced in sorted(out.glob(f"_{bench}.jsonl*")):
            if produced != samples:
                text = produced.read_text()
                (dest / produced.name.lstrip("_")).write_text(_normalise_results(text))
                produced.unlink()
        samples.unlink()


def _blank_lines(text: str, out: Path) -> str:
    """The score summary without its speed row, the snapshot folder written as ``OUT``."""
    lines = [line for line in text.splitlines() if not line.startswith("| samples/s ")]
    return "\n".join(lines).replace(str(out), "OUT")


def _normalise_results(text: str) -> str:
    """A JSON summary or JSONL results with paths and timings blanked."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict):
        return json.dumps(_blank_times(whole), indent=2, sort_keys=True) + "\n"
    lines = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            lines.append(line)
            continue
        lines.append(json.dumps(_blank_times(row), sort_keys=True))
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        reply = json.loads(resp.read())
    for key in ("id", "created", "system_fingerprint", "timings", "usage_seconds"):
        reply.pop(key, None)
    return reply


def snapshot_serve(out: Path) -> None:
    from repoloom.testing import tiny_model

    model = tiny_model(out / "_tiny" / "tiny-coder")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "repoloom", "serve", "--model", str(model), "--port", str(port),
            "--threads", "1", "--device", "cpu",
        ]
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        greedy = {"max_tokens": 24, "temperature": 0}
        replies = {
            "completion": _post(base + "/v1/completions", {"prompt": "def add(a, b):", **greedy}),
            "fim": _post(
                base + "/v1/completions",
                {"prompt": "def add(a, b):\n", "suffix": "\n    return c\n", **greedy},
            ),
            "infill": _post(
                base + "/infill",
                {
                    "input_prefix": "x = ",
                    "input_suffix": "\nprint(x)\n",
                    "n_predict": 16,
                    "temperature": 0,
                },
            ),
            "chat": _post(
                base + "/v1/chat/completions",
                {"messages": [{"role": "user", "content": "Write a sort."}], **greedy},
            ),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    (out / "serve.json").write_text(json.dumps(replies, indent=1, sort_keys=True))
    shutil.rmtree(out / "_tiny")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, help="repositories folder (skip the build if absent)")
    ap.add_argument("--benchmarks-dir", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", choices=("corpus", "score", "serve"), action="append")
    args = ap.parse_args()
    only = set(args.only or ("corpus", "score", "serve"))
    args.out.mkdir(parents=True, exist_ok=True)
    if "corpus" in only and args.corpus:
        snapshot_corpus(args.corpus, args.benchmarks_dir, args.out, args.workers)
    if "score" in only:
        snapshot_scores(args.benchmarks_dir, args.out)
    if "serve" in only:
        snapshot_serve(args.out)
    print(f"snapshot in {args.out}")


if __name__ == "__main__":
    main()
