"""The demo run: a plain list of steps, each a small function that takes the demo state and
returns it (:data:`PIPELINE`). A step prints its header and result; :func:`run_demo` times each
one and writes the summary.

Modules that pull in pyarrow, torch or transformers (the corpus builder, the trainer, the
tokenize pipeline) are imported inside the step that needs them, so ``repoloom --help`` stays
fast."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from repoloom.codebase.sources import expand_sources
from repoloom.corpus.config import load_config as load_corpus_config
from repoloom.corpus.fetch import fetch_manifest, load_manifest
from repoloom.demo import work
from repoloom.demo.state import (
    SERVE_WINDOW,
    STEPS,
    DemoState,
    Stamp,
    find_train_config,
    fingerprint,
)
from repoloom.errors import UserError
from repoloom.evaluate.heldout_build import (
    check_not_in_corpus,
    extract_repository,
    serve_roundtrip,
    split_tasks,
)
from repoloom.train.config import load_config


def _header(state: DemoState, step: str, text: str) -> None:
    state.console.rule(
        f"[bold][{STEPS.index(step) + 1}/{len(STEPS)}] {step}[/]: {text}", align="left"
    )


def fetch(state: DemoState) -> DemoState:
    """Pinned real repositories (``repoloom corpus fetch``); whole repositories held out."""
    args, out = state.args, state.out
    repos = Path(args.repos) if args.repos else out / "repos"
    _header(state, "fetch", f"pinned demo repositories into {repos}")
    if "fetch" in state.steps:
        fetch_manifest(load_manifest("demo"), repos)
    elif not repos.is_dir():
        raise UserError(f"{repos} does not exist: run the fetch step")
    tasks = expand_sources([], [str(repos)])
    heldout_names = [h.strip() for h in args.heldout.split(",") if h.strip()]
    state.train_tasks, held_tasks = split_tasks(tasks, heldout_names)
    for task in held_tasks:
        dest = out / "heldout" / task.name
        if not (dest / ".complete").exists():
            shutil.rmtree(dest, ignore_errors=True)
            extract_repository(task, dest)
            (dest / ".complete").write_text(task.location + "\n")
        state.heldout_dirs[task.name] = dest
    state.console.print(
        f"{len(tasks)} repositories: training on {', '.join(t.name for t in state.train_tasks)}; "
        f"held out {', '.join(t.name for t in held_tasks)} -> {out / 'heldout'}"
    )
    return state


def corpus(state: DemoState) -> DemoState:
    """The repository-level corpus of the others (``repoloom corpus build``), then a check that
    no held-out file is inside a training sample."""
    import pyarrow.parquet as pq  # heavy

    from repoloom.corpus.executors.local import build_corpus  # heavy: pyarrow

    args, out = state.args, state.out
    corpus = state.corpus = out / "corpus"
    _header(state, "corpus", f"repository-level corpus into {corpus}")
    config = corpus_config(args.max_sample_bytes)
    if "corpus" in state.steps:
        result = build_corpus(
            state.train_tasks, corpus, config, workers=state.workers, overwrite=True
        )
        report = result.report
    elif (corpus / "report.json").is_file():
        report = json.loads((corpus / "report.json").read_text())
    else:
        raise UserError(f"{corpus} holds no finished corpus: run the corpus step")
    heldout_files = state.heldout_files = work.heldout_code_files(state.heldout_dirs)
    checked = check_not_in_corpus({f"{r}/{p}": t for (r, p), t in heldout_files.items()}, corpus)
    samples = pq.read_table(corpus / "samples", columns=["repo", "paths", "kind"]).to_pylist()
    c = state.summary["corpus"] = {
        "repositories": report["repositories"],
        "files_in": report["files_in"],
        "files_kept": report["files_kept"],
        "samples": report["samples"]["count"],
        "sample_bytes": report["samples"]["bytes"],
        "multi_file_samples": sum(s["kind"] == "repo" and len(s["paths"]) > 1 for s in samples),
        "languages": {k: v["files"] for k, v in report["languages_kept"].items()},
        "dependency_edges": report["dependencies"]["edges"],
        "heldout_files_checked": checked,
        "report": str(corpus / "report.html"),
    }
    state.console.print(
        f"{c['repositories']} repositories, {c['files_kept']:,} of {c['files_in']:,} files kept, "
        f"{c['samples']} samples ({c['sample_bytes'] / 1e6:.1f} MB, {c['multi_file_samples']} "
        f"dependency-ordered multi-file); {checked} held-out files checked: none in the corpus"
    )
    state.fingerprints["corpus"] = fingerprint(report.get("manifest", {}))
    return state


def corpus_config(max_sample_bytes: int) -> Any:
    """The demo's corpus settings: the defaults, no dataset hub (decontaminate against what is
    local, $REPOLOOM_DATA), small samples so that a short run's token stream mixes repositories."""

    return load_corpus_config(
        None,
        settings={
            "decontam.hub": False,
            "decontam.benchmarks_dir": os.environ.get("REPOLOOM_DATA") or None,
            "order.max_sample_bytes": max_sample_bytes,
        },
    )


def tokenizer(state: DemoState) -> DemoState:
    """A byte-level BPE with DeepSeek-Coder's splits and special tokens."""
    args, out = state.args, state.out
    tokdir = state.tokdir = out / "tokenizer"
    _header(state, "tokenizer", f"byte-level BPE, {args.vocab_size} merges+bytes")
    stamp = Stamp(
        out, "tokenizer", {"vocab_size": args.vocab_size, "corpus": state.fingerprints["corpus"]}
    )
    assert state.corpus is not None
    res = work.tokenizer_step(stamp, "tokenizer" in state.steps, state.corpus, tokdir,
                              args.vocab_size)  # fmt: skip
    state.fingerprints["tokenizer"] = stamp.fingerprint
    state.vocab_tokens = res["tokens"]
    state.console.print(
        f"{res['tokens']} tokens ({res['bpe_vocab_size']} BPE + 9 special) from "
        f"{res['documents']} documents -> {tokdir}"
    )
    return state


def tokenize(state: DemoState) -> DemoState:
    """FIM (PSM) and packed token shards at the training config's sequence length."""
    args, out = state.args, state.out
    state.train_cfg_path = find_train_config(args.train_config)
    tokens = state.tokens = out / "tokens"
    _header(state, "tokenize", f"FIM rate {args.fim_rate} (PSM) -> {tokens}")
    seq_len = state.seq_len = load_config(state.train_cfg_path).seq_len
    stamp = Stamp(
        out,
        "tokenize",
        {"fim_rate": args.fim_rate, "seq_len": seq_len,
         "tokenizer": state.fingerprints["tokenizer"]},
    )  # fmt: skip
    assert state.corpus is not None and state.tokdir is not None
    tz = work.tokenize_step(stamp, "tokenize" in state.steps, state.corpus, state.tokdir,
                            tokens, seq_len, args, state.console)  # fmt: skip
    state.fingerprints["tokenize"] = stamp.fingerprint
    state.console.print(
        f"{tz['docs']:,} documents, {tz['tokens']:,} tokens ({tz['windows']:,} windows of "
        f"{seq_len}), FIM {100 * tz['fim_share_of_units']:.0f}% of documents, "
        f"{tz['bytes_per_token']:.2f} bytes/token"
    )
    state.summary["tokens"] = {**tz, "report": str(tokens / "report.json")}
    return state


def train(state: DemoState) -> DemoState:
    """The ``tiny`` model briefly (``repoloom train``), exported as a Hugging Face checkpoint."""
    args, out = state.args, state.out
    run_dir = state.run_dir = out / "run"
    assert state.tokens is not None and state.train_cfg_path is not None
    _header(state, "train", f"tiny model ({state.train_cfg_path}) -> {run_dir}")
    overrides = [f"data={state.tokens.resolve()}", f"out={run_dir.resolve()}"]
    overrides.append(f"vocab_size={state.vocab_tokens}")
    if args.train_steps:
        overrides.append(f"max_steps={args.train_steps}")
    cfg = state.cfg = load_config(state.train_cfg_path, overrides)
    stamp = Stamp(
        out,
        "train",
        {"config": {k: v for k, v in vars(cfg).items() if k not in ("progress",)},
         "tokens": state.fingerprints["tokenize"]},
    )  # fmt: skip
    tr = work.train_step(stamp, "train" in state.steps, cfg, run_dir)
    state.fingerprints["train"] = stamp.fingerprint
    state.console.print(
        f"{tr['steps']} steps, {tr['tokens']:,} tokens, {tr['parameters'] / 1e6:.1f}M parameters; "
        f"loss {tr['loss_first']:.2f} (step {tr['first_step']}) -> {tr['loss_last']:.2f} (mean of the last "
        f"{tr['last_n']} steps) in {tr['seconds']:.0f} s"
    )
    state.summary["train"] = {
        **tr, "loss_png": str(run_dir / "loss.png"), "hf": str(run_dir / "hf")
    }  # fmt: skip
    return state


def evaluate(state: DemoState) -> DemoState:
    """Single- and multi-line infilling of held-out files, before (the model at initialisation:
    same config and seed, no step) and after training."""
    args, out = state.args, state.out
    eval_dir = state.eval_dir = out / "eval"
    _header(
        state,
        "eval",
        f"infilling {args.eval_lines} lines and {args.eval_multi_lines} multi-line spans of the "
        "held-out files, before (the model at initialisation) and after training",
    )
    assert state.run_dir is not None
    model_dir = state.model_dir = state.run_dir / "hf"
    if not (model_dir / "config.json").is_file():
        raise UserError(f"{model_dir}: no exported model: run the train step")
    budget = state.budget = state.seq_len - args.max_new_tokens - 8  # FIM sentinels, BOS, margin
    eval_settings = {
        "lines": args.eval_lines, "multi_lines": args.eval_multi_lines, "seed": args.seed,
        "max_new_tokens": args.max_new_tokens, "budget": budget,
    }  # fmt: skip
    state.make_line_tasks = lambda: work.line_tasks(
        state.heldout_files, model_dir, args.eval_lines, budget, args.seed,
        multi=args.eval_multi_lines,
    )  # fmt: skip
    run = "eval" in state.steps
    # "Before" is the model as training started (same config, same seed, step 0): the demo
    # trains from scratch, so that is what the training bought. When adapting a released model,
    # "before" is the released model (docs/adapt.md).
    init_dir = out / "init" / "hf"
    init_stamp = Stamp(out, "init", {"train": state.fingerprints["train"]})
    work.init_step(init_stamp, run, state.cfg, model_dir, init_dir)
    before_stamp = Stamp(out, "eval-before", {**eval_settings, "model": init_stamp.fingerprint})
    before = work.eval_step(before_stamp, run, init_dir, state.line_tasks, out / "eval-before",
                            args)  # fmt: skip
    stamp = Stamp(out, "eval", {**eval_settings, "model": state.fingerprints["train"]})
    ev = work.eval_step(stamp, run, model_dir, state.line_tasks, eval_dir, args)
    work.print_before_after(state.console, before, ev)
    state.summary["eval"] = {k: v for k, v in ev.items() if k != "rows"}
    state.summary["eval"]["report"] = str(eval_dir / "report.json")
    state.summary["eval_before"] = {k: v for k, v in before.items() if k != "rows"}
    return state


def serve(state: DemoState) -> DemoState:
    """``repoloom serve`` in a subprocess; a held-out line completed through
    ``/v1/completions`` (prompt + suffix) and ``/infill`` (with repository context)."""
    args, out = state.args, state.out
    _header(state, "serve", "repoloom serve, a held-out file through the HTTP API")
    if "serve" not in state.steps:
        return state
    assert state.model_dir is not None
    # The window: room for the prompt of the eval budget plus a few small dependency files
    # (the tiny model has 4096 positions; it was trained on seq_len of them).
    model_cfg = json.loads((state.model_dir / "config.json").read_text())
    window = min(SERVE_WINDOW, model_cfg.get("max_position_embeddings") or SERVE_WINDOW)
    room = int((window - state.seq_len - args.max_new_tokens) * 2.5)  # chars; ~3.1 bytes/token
    task = work.serve_task(
        state.heldout_dirs, state.heldout_files, state.line_tasks(), state.model_dir,
        state.budget, args.seed, room,
    )  # fmt: skip
    with state.console.status("starting repoloom serve and completing"):
        rt = serve_roundtrip(
            state.model_dir, state.heldout_dirs[task.repo], task, out / "serve",
            context_window=window, max_tokens=args.max_new_tokens, port=args.port or None,
        )  # fmt: skip
    state.summary["serve"] = {k: v for k, v in rt.items() if k != "health"}
    work.print_roundtrip(state.console, rt, task.repo)
    return state


# The run, in order; the names are STEPS (what --steps selects) and the keys of the timings.
PIPELINE: tuple[tuple[str, Callable[[DemoState], DemoState]], ...] = (
    ("fetch", fetch),
    ("corpus", corpus),
    ("tokenizer", tokenizer),
    ("tokenize", tokenize),
    ("train", train),
    ("eval", evaluate),
    ("serve", serve),
)
assert tuple(name for name, _ in PIPELINE) == STEPS


def run_demo(state: DemoState) -> int:
    """Every step of :data:`PIPELINE` in order (each one timed), then the summary."""
    started = time.perf_counter()
    state.summary["out"] = str(state.out)
    for name, step in PIPELINE:
        t0 = time.perf_counter()
        state = step(state)
        state.timings[name] = time.perf_counter() - t0
    state.timings["total"] = time.perf_counter() - started
    write_summary(state)
    return 0


def write_summary(state: DemoState) -> None:
    """``OUT/summary.json`` and the list of what to look at."""
    out, timings, summary = state.out, state.timings, state.summary
    summary["seconds"] = {k: round(v, 1) for k, v in timings.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    console = state.console
    console.rule("[bold]summary", align="left")
    secs = ", ".join(f"{k} {v:.0f}" for k, v in timings.items() if k != "total")
    console.print(f"wall time {timings['total']:.0f} s ({secs})")
    corpus, tokens, run_dir = out / "corpus", out / "tokens", out / "run"
    for label, path in (
        ("corpus report", corpus / "report.html"),
        ("corpus plots", corpus / "report_funnel.png"),
        ("", corpus / "report_languages.png"),
        ("token report", tokens / "report.json"),
        ("token plot", tokens / "report.png"),
        ("loss curve", run_dir / "loss.png"),
        ("training log", run_dir / "metrics.jsonl"),
        ("checkpoint", run_dir / "hf"),
        ("eval report", out / "eval" / "report.json"),
        ("eval at init", out / "eval-before" / "report.json"),
        ("server log", out / "serve" / "roundtrip.json"),
        ("summary", out / "summary.json"),
    ):
        if path.exists():
            console.print(f"  {label:15s} {path}")
