"""Held-out repositories for `repoloom demo`: the split, the leak check, single-line FIM
evaluation and a completion round trip through `repoloom serve`.

* :func:`split_tasks` takes whole repositories out of the corpus build (by name prefix), and
  :func:`extract_repository` writes a held-out one to a directory with the corpus reader (the
  same safe reader and file view the corpus builder would have had).
* :func:`check_not_in_corpus` proves the held-out files are not in the training samples: a
  held-out file with the content of any file of any sample is an error (the cross-file
  benchmark's check, ``repoloom.evaluate.crossfile.heldout``).
* :func:`fim_line_tasks` picks single lines (or spans of 2..k lines) of held-out files (seeded);
  each becomes a FIM task whose prefix/suffix are the file around the span, cut to the model's
  training window with the server's own rule (``repoloom.codebase.context.fit_prefix_suffix``).
  :func:`heldout_points` makes both kinds; :func:`write_points` / :func:`read_points` store them
  as the data file of the ``heldout`` benchmark (``repoloom eval build-heldout`` and
  ``repoloom eval run heldout``, ``repoloom.evaluate.benchmarks.heldout``).
* :func:`evaluate_fim_lines` runs them through the evaluation harness (``repoloom.evaluate``:
  ``runner.generate`` with the HF backend, ``scoring.score_samples``), so generation, stop words
  and the FIM prompt template are the benchmark code's, and adds the loss of the true line under
  the FIM prompt and under a left-to-right prompt (prefix only).
* :func:`serve_roundtrip` starts ``repoloom serve`` in a subprocess on a free port, completes a
  held-out line through ``/v1/completions`` (``prompt`` + ``suffix``) and ``/infill`` (with the
  file's repository dependencies as ``input_extra``), and stops the server.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import random
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import httpx

from repoloom.codebase.context import fit_prefix_suffix, repository_prompt
from repoloom.codebase.deps import PARSED_LANGUAGES
from repoloom.codebase.sources import iter_repository_files
from repoloom.corpus.config import ReadConfig
from repoloom.evaluate.backends.hf import HFBackend
from repoloom.evaluate.benchmarks.base import Benchmark, Task, Verdict
from repoloom.evaluate.crossfile.heldout import content_hash, load_corpus_index
from repoloom.evaluate.runner import generate
from repoloom.evaluate.scoring import score_samples
from repoloom.io import read_jsonl
from repoloom.prompts import get_fim_template, render_fim

#: Lines shorter than this (stripped) are not used as infilling targets (`)`, `else:`, ...).
MIN_LINE_CHARS = 8
MAX_LINE_CHARS = 100
_SKIP_STARTS = ("#", '"""', "'''", "//", "/*", "*")


class HeldoutError(ValueError):
    """The held-out split cannot be made or is not clean."""


# ----------------------------------------------------------------------------------- the split


def split_tasks(tasks: Sequence[Any], heldout: Sequence[str]) -> tuple[list[Any], list[Any]]:
    """(training tasks, held-out tasks): a task is held out when its name starts with one of
    ``heldout`` (e.g. ``click`` matches ``click-8.1.7``). Every name must match exactly one task
    and at least one task must stay for training."""
    held: list[Any] = []
    for name in heldout:
        hits = [t for t in tasks if t.name == name or t.name.startswith(f"{name}-")]
        if len(hits) != 1:
            known = ", ".join(t.name for t in tasks)
            raise HeldoutError(
                f"held-out repository {name!r} matches {len(hits)} repositories (known: {known})"
            )
        held.append(hits[0])
    train = [t for t in tasks if t not in held]
    if not train:
        raise HeldoutError("every repository is held out: nothing left to train on")
    return train, held


def extract_repository(task: Any, dest: Path) -> int:
    """Write the readable files of a repository task (archive or directory) under ``dest`` with
    the corpus reader; returns the number of files written."""
    dest.mkdir(parents=True, exist_ok=True)
    n = 0
    for raw in iter_repository_files(task, ReadConfig()):
        if raw.data is None or raw.skip_reason:
            continue
        target = dest / raw.path
        if dest.resolve() not in target.resolve().parents:  # the reader gives safe paths already
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw.data)
        n += 1
    return n


def check_not_in_corpus(files: dict[str, str], corpus_dir: Path) -> int:
    """Raise :class:`HeldoutError` when a held-out file (``path -> text``) has the content of a
    file of a training sample (the cross-file benchmark's held-out index: normalized content
    hashes of every file of every sample); returns how many files were long enough to check."""
    index = load_corpus_index(corpus_dir)
    hashes = {path: content_hash(text) for path, text in files.items()}
    leaked = [path for path, h in hashes.items() if h is not None and h in index.hashes]
    if leaked:
        raise HeldoutError(
            f"{len(leaked)} held-out file(s) are in the training corpus: {', '.join(leaked[:5])}"
        )
    return sum(h is not None for h in hashes.values())


# ------------------------------------------------------------------------------ FIM line tasks


@dataclass
class LineTask:
    """A FIM point: the true ``middle`` (one line, or ``n_lines`` consecutive lines, each with its
    newline) between ``prefix`` and ``suffix``."""

    task_id: str
    path: str
    line: int  # 1-based, the first line of the middle
    prefix: str
    middle: str
    suffix: str
    repo: str = ""  # the held-out repository (when several are evaluated together)
    n_lines: int = 1

    @property
    def kind(self) -> str:
        return "single-line" if self.n_lines == 1 else "multi-line"


def _candidate_lines(text: str) -> list[int]:
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines[:-1]):  # the last piece has no newline after it
        s = line.strip()
        if MIN_LINE_CHARS <= len(s) <= MAX_LINE_CHARS and not s.startswith(_SKIP_STARTS):
            out.append(i + 1)
    return out


def fim_line_tasks(
    files: dict[str, str],
    n: int,
    count_tokens: Any,
    budget_tokens: int,
    *,
    seed: int = 0,
    max_chars: int | None = None,
    max_span_lines: int = 1,
) -> list[LineTask]:
    """``n`` infilling tasks from ``files`` (``path -> text``): files in a seeded order, one
    random eligible line per file per round until ``n``; prefix and suffix cut to
    ``budget_tokens`` together (prefix from the left, suffix from the right, at lines).
    ``max_chars`` bounds each side before tokens are counted (saves tokenizing whole files).

    ``max_span_lines`` > 1 makes multi-line tasks: the middle is 2..``max_span_lines``
    consecutive lines (seeded) starting at an eligible line and ending on a non-blank one."""

    rng = random.Random(seed)
    pools = {p: _candidate_lines(t) for p, t in sorted(files.items())}
    order = [p for p in pools if pools[p]]
    rng.shuffle(order)
    for p in order:
        rng.shuffle(pools[p])
    tasks: list[LineTask] = []
    while len(tasks) < n and any(pools[p] for p in order):
        for path in order:
            if len(tasks) >= n or not pools[path]:
                continue
            line = pools[path].pop()
            lines = files[path].split("\n")
            span = rng.randint(2, max_span_lines) if max_span_lines > 1 else 1
            end = line + span - 1  # the middle's last line (1-based)
            if end > len(lines) - 1 or not lines[end - 1].strip():
                continue  # past the last newline, or a span ending on a blank line
            prefix = "".join(x + "\n" for x in lines[: line - 1])
            middle = "".join(x + "\n" for x in lines[line - 1 : end])
            suffix = "\n".join(lines[end:])
            if max_chars is not None and len(prefix) > max_chars:
                prefix = prefix[-max_chars:].split("\n", 1)[-1]  # whole lines only
            if max_chars is not None and len(suffix) > max_chars:
                suffix = suffix[:max_chars].rsplit("\n", 1)[0] + "\n"
            prefix, suffix = fit_prefix_suffix(prefix, suffix, budget_tokens, count_tokens)
            task_id = f"{path}:{line}" if span == 1 else f"{path}:{line}-{end}"
            tasks.append(LineTask(task_id, path, line, prefix, middle, suffix, n_lines=span))
    return tasks


def _lines(text: str) -> str:
    """The text compared for exact match: each line stripped, blank lines at the ends dropped."""
    return "\n".join(x.strip() for x in text.strip("\n").split("\n")).strip()


class HeldoutLineInfilling(Benchmark):
    """Single- and multi-line infilling on held-out files, as HumanEval single-line infilling:
    FIM prompt; a single-line generation is cut at its first newline, a multi-line one after as
    many lines as the truth has; exact match of the lines (each stripped), edit similarity."""

    name = "heldout-infill-line"
    description = "single-line FIM on held-out repository files (exact match, edit similarity)"
    prompt_style = "infill"

    def __init__(self, tasks: Sequence[LineTask] = (), max_new_tokens: int = 24) -> None:
        self.line_tasks = list(tasks)
        self.max_new_tokens = max_new_tokens

    def load(self, data_dir: Path | None) -> list[Task]:
        return [
            Task(
                t.task_id,
                t.prefix,
                {"middle": t.middle, "n_lines": t.n_lines},
                ["\n"] if t.n_lines == 1 else [],
                suffix=t.suffix,
            )
            for t in self.line_tasks
        ]

    def postprocess(self, task: Task, generation: str) -> str:
        n_lines = task.data.get("n_lines", 1)
        kept = generation.split("\n")[:n_lines]
        return "\n".join(kept) + "\n"

    def job(self, task: Task, completion: str, timeout: float) -> None:
        return None  # graded by comparison, nothing runs

    def grade(self, task: Task, completion: str, result: Any) -> Verdict:
        want, got = _lines(task.data["middle"]), _lines(completion)
        em = got == want
        sim = difflib.SequenceMatcher(None, got, want).ratio() if got or want else 1.0
        kind = "single" if task.data.get("n_lines", 1) == 1 else "multi"
        extra = {"edit_similarity": sim, f"exact_match_{kind}": em}
        return Verdict(em, "exact match" if em else "mismatch", extra)

    def toolchain(self) -> str:
        return "none (string comparison)"


def span_losses(
    model: Any, tokenizer: Any, tasks: Sequence[LineTask], device: Any = "cpu", fim: bool = True
) -> list[dict]:
    """Per task: summed negative log-likelihood (nats) and token count of the true middle after
    the FIM prompt (``fim``) or after the prefix alone. Parts are encoded separately, as in
    training; the prefix ends at a newline, where the release pre-tokenizer always splits."""
    import torch

    out = []
    for t in tasks:
        middle = tokenizer(t.middle, add_special_tokens=False)["input_ids"]
        prompt = render_fim(t.prefix, t.suffix, "deepseek") if fim else t.prefix
        ids = tokenizer(prompt)["input_ids"] + middle
        x = torch.tensor([ids], device=device)
        with torch.no_grad():
            # Only the logits that predict the middle (a whole [T, vocab] matrix is large).
            logits = model(input_ids=x, logits_to_keep=len(middle) + 1).logits[0, :-1].float()
        nll = torch.nn.functional.cross_entropy(
            logits, torch.tensor(middle, device=device), reduction="sum"
        )
        out.append({"task_id": t.task_id, "tokens": len(middle), "nll": float(nll)})
    return out


def line_losses(
    backend: Any, tasks: Sequence[LineTask], fim_family: str = "deepseek"
) -> list[dict]:
    """Per task: the true line's summed NLL after the FIM prompt (``nll_fim``) and after the
    prefix alone (``nll_l2r``), and its token count."""
    fim = span_losses(backend.model, backend.tok, tasks, backend.device, fim=True)
    l2r = span_losses(backend.model, backend.tok, tasks, backend.device, fim=False)
    return [
        {"task_id": a["task_id"], "tokens": a["tokens"], "nll_fim": a["nll"], "nll_l2r": b["nll"]}
        for a, b in zip(fim, l2r, strict=True)
    ]


# ------------------------------------------------------------- held-out points as a data file


def write_points(path: Path, tasks: Sequence[LineTask]) -> None:
    """One JSON object per FIM point (the ``heldout`` benchmark's data file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for t in tasks:
            fh.write(json.dumps(asdict(t), ensure_ascii=False) + "\n")


def read_points(path: Path) -> list[LineTask]:
    names = {f.name for f in fields(LineTask)}
    points = []
    for i, rec in enumerate(read_jsonl(path), 1):
        missing = {"task_id", "prefix", "middle", "suffix"} - set(rec)
        if missing:
            raise HeldoutError(f"{path}: record {i} has no {', '.join(sorted(missing))}")
        points.append(LineTask(**{k: v for k, v in rec.items() if k in names}))
    return points


def code_files(
    repos: Sequence[tuple[str, dict[str, str], dict[str, str | None]]],
) -> dict[tuple[str, str], str]:
    """(repository, path) -> text of the files in a language with a dependency parser (the code
    languages of the corpus); ``repos``: (name, path -> text, path -> language) each."""
    return {
        (name, path): text
        for name, texts, languages in repos
        for path, text in texts.items()
        if languages.get(path) in PARSED_LANGUAGES
    }


def heldout_points(
    files: dict[tuple[str, str], str],
    *,
    single: int,
    multi: int,
    count_tokens: Any,
    budget: int,
    seed: int = 0,
    max_span_lines: int = 4,
    max_chars: int | None = None,
) -> list[LineTask]:
    """``single`` single-line and ``multi`` multi-line points of ``files`` (deterministic for a
    seed); task ids are ``repo/path:line`` (``repo/path:first-last`` for multi-line)."""
    by_path = {f"{repo}/{path}": text for (repo, path), text in files.items()}
    tasks = fim_line_tasks(by_path, single, count_tokens, budget, seed=seed, max_chars=max_chars)
    if multi > 0:
        tasks += fim_line_tasks(
            by_path, multi, count_tokens, budget, seed=seed + 1, max_chars=max_chars,
            max_span_lines=max(2, max_span_lines),
        )  # fmt: skip
    for t in tasks:  # "repo/path" -> the repository and its path inside it
        t.repo, t.path = t.path.split("/", 1)
    return tasks


def evaluate_fim_lines(
    model_dir: Path,
    tasks: Sequence[LineTask],
    out: Path,
    *,
    max_new_tokens: int = 24,
    batch_size: int = 8,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate and score the tasks with the evaluation harness, add the line losses, write
    ``out/report.json`` (summary + per-task rows) and return the summary."""
    if not tasks:
        raise HeldoutError("no held-out lines to evaluate")
    bench = HeldoutLineInfilling(tasks, max_new_tokens)
    args = argparse.Namespace(
        out=str(out), model=str(model_dir), backend="hf", n=1, temperature=0.0, top_p=1.0,
        instruct=False, fim_family="deepseek", max_new_tokens=max_new_tokens, limit=None,
        batch_size=batch_size, concurrency=1,
    )  # fmt: skip
    backend = HFBackend(str(model_dir), device="cpu", batch_size=batch_size)
    started = time.perf_counter()
    samples = generate(bench, args, backend=backend, progress=progress)
    summary = score_samples(bench, samples, ks=(1,), progress=False)
    losses = line_losses(backend, tasks)
    n_tok = sum(r["tokens"] for r in losses)
    results = {r["task_id"]: r for r in (json.loads(x) for x in open(summary["results_file"]))}
    rows = []
    for t, loss in zip(tasks, losses, strict=True):
        res = results.get(t.task_id, {})
        rows.append(
            {**loss, "path": t.path, "line": t.line, "n_lines": t.n_lines,
             "truth": t.middle.rstrip("\n"),
             "completion": res.get("completion", "").rstrip("\n"),
             "exact_match": bool(res.get("passed")),
             "edit_similarity": res.get("edit_similarity")}
        )  # fmt: skip
    report = {
        "benchmark": bench.name,
        "model": str(model_dir),
        "tasks": len(tasks),
        "files": len({t.path for t in tasks}),
        "exact_match": summary["pass_at_k"]["pass@1"],
        "exact_match_single_line": summary.get("mean_exact_match_single"),
        "exact_match_multi_line": summary.get("mean_exact_match_multi"),
        "multi_line_tasks": sum(t.n_lines > 1 for t in tasks),
        "edit_similarity": summary.get("mean_edit_similarity", 0.0),
        "loss_fim": sum(r["nll_fim"] for r in losses) / max(n_tok, 1),
        "loss_l2r": sum(r["nll_l2r"] for r in losses) / max(n_tok, 1),
        "line_tokens": n_tok,
        "max_new_tokens": max_new_tokens,
        "seconds": round(time.perf_counter() - started, 1),
        "samples_file": str(samples),
        "rows": rows,
    }
    report["ppl_fim"] = math.exp(report["loss_fim"])
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    backend.close()
    return report


# ------------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(proc: subprocess.Popen, url: str, log_path: Path, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"repoloom serve exited with {proc.returncode}:\n{tail}")
        try:
            r = httpx.get(f"{url}/health", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"repoloom serve did not answer /health within {timeout:.0f} s")
        time.sleep(0.3)


def stop_server(proc: subprocess.Popen, url: str, timeout: float = 30.0) -> dict[str, Any]:
    """SIGTERM, as a process manager stops it: ``repoloom serve`` shuts down gracefully, closes
    its backend and exits 0; SIGKILL only if it is still alive after ``timeout``."""
    proc.terminate()
    try:
        code = proc.wait(timeout=timeout)
        how = "SIGTERM, graceful shutdown"
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
        how = f"did not stop within {timeout:.0f} s of SIGTERM: killed"
    try:
        httpx.get(f"{url}/health", timeout=2)
        closed = False
    except httpx.HTTPError:
        closed = True
    return {"exit_code": code, "stopped": how, "port_closed": closed}


def _post_json(url: str, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """POST ``body``; (the JSON answer, seconds the request took)."""
    t0 = time.perf_counter()
    r = httpx.post(url, json=body, timeout=120)
    r.raise_for_status()
    return r.json(), round(time.perf_counter() - t0, 2)


def serve_roundtrip(
    model_dir: Path,
    repo_root: Path,
    task: LineTask,
    out: Path,
    *,
    context_window: int,
    max_tokens: int = 24,
    port: int | None = None,
    start_timeout: float = 180.0,
) -> dict[str, Any]:
    """Start ``repoloom serve`` on ``model_dir``, complete ``task`` (a held-out line) through
    ``/v1/completions`` with ``suffix`` and through ``/infill`` with the file's repository
    dependencies as ``input_extra``, stop the server; write ``out/roundtrip.json``."""

    out.mkdir(parents=True, exist_ok=True)
    # The file's dependencies inside its repository, in corpus order (no budget here: the server
    # keeps the ones nearest the cursor that fit its window).
    built = repository_prompt(
        repo_root / task.path, task.line, 1, template=get_fim_template("deepseek"),
        count_tokens=lambda s: (len(s) + 2) // 3, budget_tokens=10**9, repo_root=repo_root,
    )  # fmt: skip
    root = repo_root.resolve()
    extra = [
        {"filename": p, "text": (root / p).read_text(encoding="utf-8")}
        for p in built.context.included
    ]
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = out / "server.log"
    cmd = [
        sys.executable, "-m", "repoloom", "serve", "--model", str(model_dir), "--port", str(port),
        "--context-window", str(context_window), "--served-model-name", "repoloom-demo",
    ]  # fmt: skip
    record: dict[str, Any] = {"url": url, "command": cmd[1:], "path": task.path, "line": task.line}
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            record["health"] = _wait_healthy(proc, url, log_path, start_timeout)
            record["startup_seconds"] = round(time.perf_counter() - started, 1)
            record["models"] = [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]]
            body = {
                "model": "repoloom-demo", "prompt": task.prefix, "suffix": task.suffix,
                "max_tokens": max_tokens, "temperature": 0, "stop": ["\n"],
            }  # fmt: skip
            answer, seconds = _post_json(f"{url}/v1/completions", body)
            record["completions"] = {
                "request": {k: v for k, v in body.items() if k not in ("prompt", "suffix")},
                "text": answer["choices"][0]["text"],
                "finish_reason": answer["choices"][0]["finish_reason"],
                "usage": answer["usage"],
                "seconds": seconds,
            }
            body = {
                "input_prefix": task.prefix, "input_suffix": task.suffix, "input_extra": extra,
                "n_predict": max_tokens, "temperature": 0, "stop": ["\n"],
            }  # fmt: skip
            answer, seconds = _post_json(f"{url}/infill", body)
            record["infill"] = {
                "context_files_sent": [f["filename"] for f in extra],
                "content": answer["content"],
                "tokens_evaluated": answer.get("tokens_evaluated"),
                "tokens_predicted": answer.get("tokens_predicted"),
                "stop_type": answer.get("stop_type"),
                "seconds": seconds,
            }
            record["stats"] = httpx.get(f"{url}/health").json().get("stats")
        finally:
            record.update(stop_server(proc, url))
    record["prefix_tail"] = "".join(task.prefix.splitlines(keepends=True)[-3:]).rstrip("\n")
    record["truth"] = task.middle.rstrip("\n")
    (out / "roundtrip.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return record
