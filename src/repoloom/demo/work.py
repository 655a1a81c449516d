"""The work behind the demo's steps: each trains, evaluates or reuses what an earlier run left
(a :class:`~repoloom.demo.state.Stamp` says whether its settings are unchanged), and the printing
of their results."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from rich.markup import escape

from repoloom.codebase.deps import parse_dependencies
from repoloom.codebase.repo import load_repository
from repoloom.demo.state import Stamp
from repoloom.errors import UserError
from repoloom.evaluate.heldout_build import (
    HeldoutError,
    code_files,
    evaluate_fim_lines,
    heldout_points,
)
from repoloom.tokenize.cli import tokenize_progress
from repoloom.tokenize.train import train_tokenizer


def heldout_code_files(heldout_dirs: dict[str, Path]) -> dict[tuple[str, str], str]:
    """(repository, path) -> text of the held-out code files, read as the corpus reads them."""

    repos = {name: load_repository(root) for name, root in heldout_dirs.items()}
    return code_files([(name, r.texts, r.languages) for name, r in repos.items()])


def tokenizer_step(stamp: Stamp, run: bool, corpus: Path, tokdir: Path, vocab: int) -> dict:
    from repoloom.tokenize.pipeline import CorpusSpec

    if stamp.done and (tokdir / "tokenizer.json").is_file():
        print(f"reusing {tokdir} (same corpus and settings)")
        return stamp.result
    if not run:
        raise UserError(f"{tokdir}: no tokenizer for these settings: run the tokenizer step")
    stamp.begin()
    shutil.rmtree(tokdir, ignore_errors=True)
    res = train_tokenizer(
        [CorpusSpec(name="code", kind="samples", path=str(corpus.resolve()))],
        tokdir,
        vocab_size=vocab,
    )
    return stamp.finish({k: res[k] for k in ("documents", "bpe_vocab_size", "tokens")})


def tokenize_step(
    stamp: Stamp,
    run: bool,
    corpus: Path,
    tokdir: Path,
    tokens: Path,
    seq_len: int,
    args: argparse.Namespace,
    console: Any,
) -> dict:
    from repoloom.tokenize.pipeline import CorpusSpec, TokenizeSettings, run_tokenize

    if stamp.done and (tokens / "manifest.json").is_file():
        print(f"reusing {tokens} (same tokenizer and settings)")
        return stamp.result
    if not run:
        raise UserError(f"{tokens}: no token shards for these settings: run the tokenize step")
    if not stamp.same:  # other settings: the pipeline refuses to mix runs, so start over
        shutil.rmtree(tokens, ignore_errors=True)
    stamp.begin()
    settings = TokenizeSettings(
        tokenizer=str(tokdir.resolve()),
        seq_len=seq_len,
        fim_rate=args.fim_rate,
        # One corpus at share 1: the documents are streamed in a hashed order, so a short run
        # sees every language rather than the first repositories of the build.
        corpora=[CorpusSpec(name="code", kind="samples", path=str(corpus.resolve()), share=1.0)],
    )

    bar, progress = tokenize_progress()
    with bar:
        rep = run_tokenize(settings, tokens, workers=args.workers or os.cpu_count() or 1,
                           progress=progress)  # fmt: skip
    keep = ("docs", "tokens", "windows", "fim_share_of_units", "fim_share_of_tokens",
            "bytes_per_token", "docs_longer_than_seq_len")  # fmt: skip
    return stamp.finish({k: rep["totals"][k] for k in keep})


def train_step(stamp: Stamp, run: bool, cfg: Any, run_dir: Path) -> dict:
    from repoloom.train.train import train

    if stamp.done and (run_dir / "hf" / "config.json").is_file():
        print(f"reusing {run_dir} (same data and config)")
        return stamp.result
    if not run:
        raise UserError(f"{run_dir}: no trained model for these settings: run the train step")
    if not stamp.same:  # another config: the checkpoints there are not this run's
        shutil.rmtree(run_dir, ignore_errors=True)
    stamp.begin()
    t0 = time.perf_counter()
    try:
        res = train(cfg)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    seconds = time.perf_counter() - t0
    # The whole loss sequence: this run's steps, plus the logged ones (every log_every steps) of
    # an interrupted earlier part when this run resumed one.
    losses = dict(res["losses"])
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            rec = json.loads(line)
            losses.setdefault(rec["step"], rec["loss"])
    steps = sorted(losses)
    tail = [losses[s] for s in steps[-10:]]
    return stamp.finish(
        {
            "steps": res["steps"],
            "tokens": res["tokens"],
            "parameters": res["parameters"]["total"],
            "loss_first": losses[steps[0]],
            "first_step": steps[0],
            "loss_last": sum(tail) / len(tail),
            "last_n": len(tail),
            "seconds": seconds,
            "tokens_per_s": res["tokens"] / seconds if seconds else None,
        }
    )


def line_tasks(
    files: dict, model_dir: Path, n: int, budget: int, seed: int, multi: int = 0
) -> list:
    from transformers import AutoTokenizer

    if not files:
        raise HeldoutError("the held-out repositories have no code files to evaluate on")
    tok = AutoTokenizer.from_pretrained(model_dir)

    def count(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"])

    # Bound the text before counting (a whole file need not be tokenized to cut it to the budget).
    return heldout_points(
        files, single=n, multi=multi, count_tokens=count, budget=budget, seed=seed,
        max_span_lines=3, max_chars=16 * budget,
    )  # fmt: skip


def init_step(stamp: Stamp, run: bool, cfg: Any, trained_dir: Path, init_dir: Path) -> None:
    """Export the model as training started (the run's config and seed, no step taken)."""
    if stamp.done and (init_dir / "config.json").is_file():
        return
    if not run:
        raise UserError(f"{init_dir}: no initial model for this run: run the eval step")
    from transformers import AutoTokenizer

    from repoloom.train.checkpoint import export_hf
    from repoloom.train.model import build_llama_config, build_model

    stamp.begin()
    tokenizer = AutoTokenizer.from_pretrained(trained_dir)  # the run's tokenizer, exported with it
    config = build_llama_config(cfg, tokenizer)
    model = build_model(cfg, config)
    export_hf(init_dir, model, config, cfg.export_dtype, tokenizer)
    stamp.finish({"dir": str(init_dir)})


def print_before_after(console: Any, before: dict, after: dict) -> None:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    console.print(
        f"{after['tasks']} held-out points of {after['files']} files "
        f"({after.get('multi_line_tasks', 0)} multi-line); before (initialisation) -> after "
        "(trained):"
    )
    for label, key, fmt in (
        ("exact match", "exact_match", pct),
        ("  single-line", "exact_match_single_line", pct),
        ("  multi-line", "exact_match_multi_line", pct),
        ("edit similarity", "edit_similarity", pct),
        ("loss, FIM", "loss_fim", lambda x: f"{x:.2f} nats/token"),
        ("loss, prefix only", "loss_l2r", lambda x: f"{x:.2f} nats/token"),
    ):
        console.print(f"  {label:18s} {fmt(before.get(key))} -> {fmt(after.get(key))}")


def eval_step(
    stamp: Stamp, run: bool, model_dir: Path, tasks: Any, eval_dir: Path, args: Any
) -> dict:

    if stamp.done and (eval_dir / "report.json").is_file():
        print(f"reusing {eval_dir} (same model and settings)")
        return json.loads((eval_dir / "report.json").read_text())
    if not run:
        raise UserError(f"{eval_dir}: no evaluation for this model: run the eval step")
    shutil.rmtree(eval_dir, ignore_errors=True)  # cheap to redo; a half-written one is stale
    stamp.begin()
    rep = evaluate_fim_lines(model_dir, tasks(), eval_dir, max_new_tokens=args.max_new_tokens)
    stamp.finish({"exact_match": rep["exact_match"]})
    return rep


def serve_task(
    heldout_dirs: dict[str, Path],
    heldout_files: dict,
    tasks: list,
    model_dir: Path,
    budget: int,
    seed: int,
    room_chars: int,
) -> Any:
    """A held-out line for the server whose file imports another file of its repository small
    enough to fit the server's window as ``input_extra`` (so the insertion request really carries
    repository context): an evaluated line if one qualifies, else a line of such a file; the
    first evaluated line when no file qualifies."""

    smallest: dict[tuple[str, str], int] = {}
    for name, root in heldout_dirs.items():
        repo = load_repository(root)
        for src, dst in parse_dependencies(repo.texts, repo.languages).edges:
            if src != dst and dst in repo.texts and (name, src) in heldout_files:
                size = len(repo.texts[dst])
                smallest[(name, src)] = min(smallest.get((name, src), size), size)
    fits = sorted(k for k, v in smallest.items() if v <= room_chars)
    for t in tasks:
        if (t.repo, t.path) in fits:
            return t
    for key in fits:
        made = line_tasks({key: heldout_files[key]}, model_dir, 1, budget, seed)
        if made:
            return made[0]
    return tasks[0]


def print_roundtrip(console: Any, rt: dict, repo: str) -> None:

    console.print(
        f"server up in {rt['startup_seconds']:.1f} s at {rt['url']}, model {rt['models']}; "
        f"held-out file {repo}/{rt['path']}, line {rt['line']}"
    )
    prefix_tail = rt.get("prefix_tail", "")
    if prefix_tail:
        console.print("[dim]" + escape(prefix_tail) + "[/]")
    console.print(f"  truth            {escape(repr(rt['truth']))}")
    comp = rt["completions"]
    console.print(
        f"  /v1/completions  {escape(repr(comp['text']))}  ({comp['usage']['prompt_tokens']} "
        f"prompt tokens, {comp['seconds']:.2f} s)"
    )
    inf = rt["infill"]
    console.print(
        f"  /infill          {escape(repr(inf['content']))}  ({inf['tokens_evaluated']} prompt "
        f"tokens with {len(inf['context_files_sent'])} dependency file(s) offered: "
        f"{', '.join(inf['context_files_sent'][:3])}{' ...' if len(inf['context_files_sent']) > 3 else ''})"
    )
    console.print(f"  server stopped   exit {rt['exit_code']} ({rt['stopped']})")
