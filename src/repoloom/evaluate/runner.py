"""``repoloom eval run``: generate samples with a model into ``OUT/samples.jsonl``.

Generation appends one line per sample as soon as its batch ends, so a rerun with the same
``--out`` skips what is finished (per task, it generates only the missing samples)."""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from repoloom.evaluate.backends import Backend, guess_backend
from repoloom.evaluate.backends.hf import HFBackend
from repoloom.evaluate.benchmarks import Benchmark
from repoloom.inference.base import GenerationFailed
from repoloom.inference.openai_client import OpenAIBackend
from repoloom.io import append_jsonl
from repoloom.progress import progress_bar

log = logging.getLogger(__name__)
# Settings that must match for a rerun to continue an existing samples file.
_RESUME_KEYS = (
    "bench",
    "model",
    "temperature",
    "top_p",
    "instruct",
    "fim_family",
    "max_new_tokens",
)


def make_backend(args: argparse.Namespace) -> Backend:
    kind = args.backend or guess_backend(args.model)
    if kind == "openai":
        return OpenAIBackend(
            args.model,
            model=getattr(args, "model_name", None),
            api_key=getattr(args, "api_key", None),
            concurrency=getattr(args, "concurrency", 8),
        )
    if not Path(args.model).is_dir():
        raise ValueError(f"--model {args.model}: not a model directory (or use an http(s) URL)")
    return HFBackend(args.model, device=getattr(args, "device", None), batch_size=args.batch_size)


def read_done(samples: Path) -> Counter[str]:
    """Samples already generated per task; a torn last line (killed mid-write) is dropped."""
    done: Counter[str] = Counter()
    if not samples.exists():
        return done
    raw = samples.read_bytes()
    good_end = 0
    for line in raw.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            break
        done[str(rec["task_id"])] += 1
        good_end += len(line)
    if good_end < len(raw):
        log.warning("%s: dropping a torn last line (%d bytes)", samples, len(raw) - good_end)
        with open(samples, "r+b") as fh:
            fh.truncate(good_end)
    return done


def generate(
    bench: Benchmark,
    args: argparse.Namespace,
    *,
    data_dir: Path | None = None,
    backend: Backend | None = None,
    progress: bool = True,
) -> Path:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    samples = out / "samples.jsonl"
    settings: dict[str, Any] = {
        "bench": bench.name,
        "model": args.model,
        "backend": args.backend or guess_backend(args.model),
        "n": args.n,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "instruct": bool(args.instruct),
        "fim_family": args.fim_family,
        "max_new_tokens": args.max_new_tokens or bench.max_new_tokens,
    }
    # A benchmark with options of its own (e.g. crossfile's context mode) takes them from the
    # arguments; what it returns defines its samples like the keys above.
    configure = getattr(bench, "configure", None)
    bench_settings = configure(args) if configure is not None else {}
    settings.update(bench_settings)
    cfg_path = out / "run.json"
    if cfg_path.exists() and samples.exists():
        old = json.loads(cfg_path.read_text())
        diff = [k for k in (*_RESUME_KEYS, *bench_settings) if old.get(k) != settings.get(k)]
        if diff:
            raise ValueError(
                f"{out} holds samples made with other settings ({', '.join(diff)}); "
                "use another --out"
            )
    cfg_path.write_text(json.dumps(settings, indent=2) + "\n")

    tasks = bench.load(data_dir)
    if args.limit:
        tasks = tasks[: args.limit]
    done = read_done(samples)
    todo = [(t, args.n - done[t.task_id]) for t in tasks if done[t.task_id] < args.n]
    n_left = sum(k for _, k in todo)
    log.info(
        "%s: %d tasks, %d samples to generate (%d already in %s)",
        bench.name, len(tasks), n_left, sum(done.values()), samples,
    )  # fmt: skip
    if not todo:
        return samples
    own = backend is None
    if own:
        backend = make_backend(args)
    chunk = max(
        1, getattr(args, "batch_size", 8) if settings["backend"] == "hf" else 2 * args.concurrency
    )
    try:
        with progress_bar("{task.description}", enabled=progress) as bar:
            ptask = bar.add_task(f"generating {bench.name}", total=n_left)
            for start in range(0, len(todo), chunk):
                part = todo[start : start + chunk]
                reqs = []
                for task, k in part:
                    r = bench.request(task, instruct=args.instruct, fim_family=args.fim_family)
                    r.n = k
                    r.temperature = args.temperature
                    r.top_p = args.top_p
                    r.max_new_tokens = settings["max_new_tokens"]
                    reqs.append(r)
                gens = backend.generate(reqs)
                for (task, k), texts in zip(part, gens, strict=True):
                    if isinstance(texts, GenerationFailed):
                        # The endpoint refused this task's request: k error samples (scored
                        # as failures and counted in the summary), then on to the next task.
                        for j in range(k):
                            append_jsonl(
                                samples,
                                {
                                    "task_id": task.task_id,
                                    "completion": "",
                                    "generation": "",
                                    "sample_idx": done[task.task_id] + j,
                                    "error": texts.error,
                                },
                            )
                        bar.advance(ptask, k)
                        continue
                    for j, text in enumerate(texts[:k]):
                        if args.instruct:
                            completion = bench.completion_from_chat(task, text)
                        else:
                            completion = bench.postprocess(task, text)
                        append_jsonl(
                            samples,
                            {
                                "task_id": task.task_id,
                                "completion": completion,
                                "generation": text,
                                "sample_idx": done[task.task_id] + j,
                            },
                        )
                    bar.advance(ptask, len(texts[:k]))
    finally:
        if own:
            backend.close()
    return samples
