"""`repoloom demo` (what `make demo` runs): the whole system on real code, on one machine.

Seven steps, each the library call its own command makes (no second implementation):

1. ``fetch``     pinned real repositories from PyPI, npm and Debian (``repoloom corpus fetch``);
                 whole repositories are held out (default ``click``) and never enter the corpus.
2. ``corpus``    the repository-level corpus of the others (``repoloom corpus build``), then a
                 check that no held-out file is inside a training sample.
3. ``tokenizer`` a byte-level BPE with DeepSeek-Coder's splits and special tokens
                 (``repoloom tokenizer train``).
4. ``tokenize``  FIM (PSM, rate 0.5) and packed token shards (``repoloom tokenize``).
5. ``train``     the ``tiny`` model briefly from ``configs/train/tiny.yaml`` (``repoloom train``),
                 exported as a Hugging Face checkpoint.
6. ``eval``      single- and multi-line infilling on held-out files through the evaluation
                 harness (``repoloom.heldout``, the points of ``repoloom eval build-heldout``):
                 exact match, edit similarity, loss of the true span, before (the model at
                 initialisation: same config and seed, no step) and after training.
7. ``serve``     ``repoloom serve`` in a subprocess; a held-out line completed through
                 ``/v1/completions`` (prompt + suffix) and ``/infill`` (with repository context).

Every step writes under ``--out`` and records its settings in ``OUT/.demo/STEP.json``; a rerun
reuses a finished step whose settings (and inputs) are unchanged, resumes an interrupted corpus
build, tokenization or training run, and redoes a step whose settings changed. ``--steps``
runs a subset (the others must have run before), ``--fresh`` starts over (keeps the download).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

STEPS = ("fetch", "corpus", "tokenizer", "tokenize", "train", "eval", "serve")
DEFAULT_HELDOUT = "click"
SERVE_WINDOW = 2048  # the server's context window (tokens)


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="the whole system end to end on a small pinned set of real repositories",
        description="Fetch pinned real repositories, build the corpus (holding some out), train "
        "a tokenizer, tokenize with FIM, train the tiny model, evaluate single-line infilling on "
        "the held-out files, serve the model and complete a held-out file through the HTTP API.",
    )
    demo.add_argument("--out", default="data/demo", help="working directory (default: data/demo)")
    demo.add_argument(
        "--steps",
        default="all",
        help=f"comma-separated subset of {','.join(STEPS)} (default: all); earlier steps' "
        "outputs must exist",
    )
    demo.add_argument("--fresh", action="store_true", help="redo every step (keeps the download)")
    demo.add_argument(
        "--repos", default=None, help="fetched repositories directory (default: OUT/repos)"
    )
    demo.add_argument(
        "--heldout",
        default=DEFAULT_HELDOUT,
        help=f"comma-separated repositories kept out of training for evaluation, by name "
        f"prefix (default: {DEFAULT_HELDOUT})",
    )
    demo.add_argument(
        "--max-sample-bytes",
        type=int,
        default=64 << 10,
        help="split a repository's dependency-ordered files into consecutive samples of at most "
        "this size (corpus order.max_sample_bytes; default 64 KiB, so that the shuffled token "
        "stream of a short run mixes the repositories)",
    )
    demo.add_argument("--vocab-size", type=int, default=4096, help="BPE vocabulary (4096)")
    demo.add_argument("--fim-rate", type=float, default=0.5, help="FIM rate of tokenize (0.5)")
    demo.add_argument(
        "--train-config",
        default=None,
        help="training YAML (default: configs/train/tiny.yaml of the repository)",
    )
    demo.add_argument(
        "--train-steps", type=int, default=None, help="training steps (default: the config's)"
    )
    demo.add_argument("--eval-lines", type=int, default=40, help="held-out lines to infill (40)")
    demo.add_argument(
        "--eval-multi-lines",
        type=int,
        default=10,
        help="held-out spans of 2-3 lines to infill (10)",
    )
    demo.add_argument("--max-new-tokens", type=int, default=24, help="tokens per infilled line")
    demo.add_argument("--seed", type=int, default=0, help="choice of held-out lines")
    demo.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    demo.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: the core count)"
    )
    demo.set_defaults(func=cmd_demo)


# ------------------------------------------------------------------------------------- helpers


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _Stamp:
    """``OUT/.demo/STEP.json``: the settings a step ran with, whether it finished, its result."""

    def __init__(self, out: Path, step: str, settings: dict[str, Any]) -> None:
        self.path = out / ".demo" / f"{step}.json"
        self.settings = json.loads(json.dumps(settings, default=str))
        self.fingerprint = _fingerprint(self.settings)
        self.old = None
        if self.path.is_file():
            try:
                self.old = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                self.old = None

    @property
    def same(self) -> bool:
        return bool(self.old) and self.old.get("settings") == self.settings

    @property
    def done(self) -> bool:
        return self.same and bool(self.old.get("done"))

    @property
    def result(self) -> dict[str, Any]:
        return (self.old or {}).get("result") or {}

    def begin(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"settings": self.settings, "done": False}, indent=2))

    def finish(self, result: dict[str, Any]) -> dict[str, Any]:
        blob = {"settings": self.settings, "done": True, "result": result}
        self.path.write_text(json.dumps(blob, indent=2, default=str))
        self.old = json.loads(json.dumps(blob, default=str))
        return self.result


def _find_train_config(explicit: str | None) -> Path:
    from repoloom.cli import UserError

    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise UserError(f"--train-config {path}: no such file")
        return path
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        path = base / "configs" / "train" / "tiny.yaml"
        if path.is_file():
            return path
    raise UserError("configs/train/tiny.yaml not found: run from the repository or --train-config")


def _parse_steps(text: str) -> list[str]:
    from repoloom.cli import UserError

    if text.strip() in ("", "all"):
        return list(STEPS)
    steps = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise UserError(f"--steps: unknown {', '.join(unknown)} (known: {', '.join(STEPS)})")
    return [s for s in STEPS if s in steps]


# ---------------------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from repoloom.cli import UserError
    from repoloom.heldout import HeldoutError

    console = Console(highlight=False)
    steps = _parse_steps(args.steps)
    for name in ("train_steps", "eval_lines", "max_new_tokens", "vocab_size", "max_sample_bytes"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    if not 0.0 <= args.fim_rate <= 1.0:
        raise UserError("--fim-rate must lie in [0, 1]")
    out = Path(args.out)
    if args.fresh:
        for name in ("corpus", "tokenizer", "tokens", "run", "eval", "serve", ".demo", "heldout"):
            shutil.rmtree(out / name, ignore_errors=True)
    from repoloom.corpus.build import BuildError
    from repoloom.corpus.sources import SourceError
    from repoloom.tokenize.pipeline import TokenizeError

    try:
        return _run(args, steps, out, console)
    except (HeldoutError, SourceError, BuildError, TokenizeError) as exc:
        raise UserError(str(exc)) from None


def _header(console: Any, i: int, step: str, text: str) -> float:
    console.rule(f"[bold][{i}/{len(STEPS)}] {step}[/]: {text}", align="left")
    return time.perf_counter()


def _run(args: argparse.Namespace, steps: list[str], out: Path, console: Any) -> int:
    import pyarrow.parquet as pq

    from repoloom.cli import UserError
    from repoloom.corpus.build import build_corpus
    from repoloom.corpus.config import CorpusConfig
    from repoloom.corpus.fetch import fetch_manifest, load_manifest
    from repoloom.corpus.sources import expand_sources
    from repoloom.heldout import check_not_in_corpus, extract_repository, split_tasks

    started = time.perf_counter()
    timings: dict[str, float] = {}
    summary: dict[str, Any] = {"out": str(out)}
    workers = args.workers or os.cpu_count() or 1

    # ---- 1. fetch ------------------------------------------------------------------------------
    repos = Path(args.repos) if args.repos else out / "repos"
    t0 = _header(console, 1, "fetch", f"pinned demo repositories into {repos}")
    if "fetch" in steps:
        fetch_manifest(load_manifest("demo"), repos)
    elif not repos.is_dir():
        raise UserError(f"{repos} does not exist: run the fetch step")
    tasks = expand_sources([], [str(repos)])
    heldout_names = [h.strip() for h in args.heldout.split(",") if h.strip()]
    train_tasks, held_tasks = split_tasks(tasks, heldout_names)
    heldout_dirs = {}
    for task in held_tasks:
        dest = out / "heldout" / task.name
        if not (dest / ".complete").exists():
            shutil.rmtree(dest, ignore_errors=True)
            extract_repository(task, dest)
            (dest / ".complete").write_text(task.location + "\n")
        heldout_dirs[task.name] = dest
    console.print(
        f"{len(tasks)} repositories: training on {', '.join(t.name for t in train_tasks)}; "
        f"held out {', '.join(t.name for t in held_tasks)} -> {out / 'heldout'}"
    )
    timings["fetch"] = time.perf_counter() - t0

    # ---- 2. corpus -----------------------------------------------------------------------------
    corpus = out / "corpus"
    t0 = _header(console, 2, "corpus", f"repository-level corpus into {corpus}")
    config = CorpusConfig()
    config.decontam.hub = False  # no dataset hub: decontaminate against what is local
    config.decontam.benchmarks_dir = os.environ.get("REPOLOOM_DATA") or None
    config.order.max_sample_bytes = args.max_sample_bytes
    if "corpus" in steps:
        result = build_corpus(train_tasks, corpus, config, workers=workers, overwrite=True)
        report = result.report
    elif (corpus / "report.json").is_file():
        report = json.loads((corpus / "report.json").read_text())
    else:
        raise UserError(f"{corpus} holds no finished corpus: run the corpus step")
    heldout_files = _heldout_code_files(heldout_dirs)
    checked = check_not_in_corpus({f"{r}/{p}": t for (r, p), t in heldout_files.items()}, corpus)
    samples = pq.read_table(corpus / "samples", columns=["repo", "paths", "kind"]).to_pylist()
    summary["corpus"] = {
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
    c = summary["corpus"]
    console.print(
        f"{c['repositories']} repositories, {c['files_kept']:,} of {c['files_in']:,} files kept, "
        f"{c['samples']} samples ({c['sample_bytes'] / 1e6:.1f} MB, {c['multi_file_samples']} "
        f"dependency-ordered multi-file); {checked} held-out files checked: none in the corpus"
    )
    timings["corpus"] = time.perf_counter() - t0
    corpus_fp = _fingerprint(report.get("manifest", {}))

    # ---- 3. tokenizer --------------------------------------------------------------------------
    tokdir = out / "tokenizer"
    t0 = _header(console, 3, "tokenizer", f"byte-level BPE, {args.vocab_size} merges+bytes")
    stamp = _Stamp(out, "tokenizer", {"vocab_size": args.vocab_size, "corpus": corpus_fp})
    tok_result = _tokenizer_step(stamp, "tokenizer" in steps, corpus, tokdir, args.vocab_size)
    console.print(
        f"{tok_result['tokens']} tokens ({tok_result['bpe_vocab_size']} BPE + 9 special) from "
        f"{tok_result['documents']} documents -> {tokdir}"
    )
    timings["tokenizer"] = time.perf_counter() - t0

    # ---- 4. tokenize ---------------------------------------------------------------------------
    train_cfg_path = _find_train_config(args.train_config)
    tokens = out / "tokens"
    t0 = _header(console, 4, "tokenize", f"FIM rate {args.fim_rate} (PSM) -> {tokens}")
    from repoloom.train.config import load_config

    seq_len = load_config(train_cfg_path).seq_len
    stamp = _Stamp(
        out,
        "tokenize",
        {"fim_rate": args.fim_rate, "seq_len": seq_len, "tokenizer": stamp.fingerprint},
    )
    tz = _tokenize_step(stamp, "tokenize" in steps, corpus, tokdir, tokens, seq_len, args, console)
    console.print(
        f"{tz['docs']:,} documents, {tz['tokens']:,} tokens ({tz['windows']:,} windows of "
        f"{seq_len}), FIM {100 * tz['fim_share_of_units']:.0f}% of documents, "
        f"{tz['bytes_per_token']:.2f} bytes/token"
    )
    summary["tokens"] = {**tz, "report": str(tokens / "report.json")}
    timings["tokenize"] = time.perf_counter() - t0

    # ---- 5. train ------------------------------------------------------------------------------
    run_dir = out / "run"
    t0 = _header(console, 5, "train", f"tiny model ({train_cfg_path}) -> {run_dir}")
    overrides = [f"data={tokens.resolve()}", f"out={run_dir.resolve()}"]
    overrides.append(f"vocab_size={tok_result['tokens']}")
    if args.train_steps:
        overrides.append(f"max_steps={args.train_steps}")
    cfg = load_config(train_cfg_path, overrides)
    stamp = _Stamp(
        out,
        "train",
        {"config": {k: v for k, v in vars(cfg).items() if k not in ("progress",)},
         "tokens": stamp.fingerprint},
    )  # fmt: skip
    tr = _train_step(stamp, "train" in steps, cfg, run_dir)
    console.print(
        f"{tr['steps']} steps, {tr['tokens']:,} tokens, {tr['parameters'] / 1e6:.1f}M parameters; "
        f"loss {tr['loss_first']:.2f} (step {tr['first_step']}) -> {tr['loss_last']:.2f} (mean of the last "
        f"{tr['last_n']} steps) in {tr['seconds']:.0f} s"
    )
    summary["train"] = {**tr, "loss_png": str(run_dir / "loss.png"), "hf": str(run_dir / "hf")}
    timings["train"] = time.perf_counter() - t0

    # ---- 6. eval -------------------------------------------------------------------------------
    eval_dir = out / "eval"
    t0 = _header(
        console,
        6,
        "eval",
        f"infilling {args.eval_lines} lines and {args.eval_multi_lines} multi-line spans of the "
        "held-out files, before (the model at initialisation) and after training",
    )
    model_dir = run_dir / "hf"
    if not (model_dir / "config.json").is_file():
        raise UserError(f"{model_dir}: no exported model: run the train step")
    budget = seq_len - args.max_new_tokens - 8  # FIM sentinels, BOS and a margin
    eval_settings = {
        "lines": args.eval_lines, "multi_lines": args.eval_multi_lines, "seed": args.seed,
        "max_new_tokens": args.max_new_tokens, "budget": budget,
    }  # fmt: skip
    cache: dict[str, list] = {}

    def line_tasks() -> list:  # built only when needed (a reused eval without serve needs none)
        if "tasks" not in cache:
            cache["tasks"] = _line_tasks(
                heldout_files, model_dir, args.eval_lines, budget, args.seed,
                multi=args.eval_multi_lines,
            )  # fmt: skip
        return cache["tasks"]

    # "Before" is the model as training started (same config, same seed, step 0): the demo
    # trains from scratch, so that is what the training bought. When adapting a released model,
    # "before" is the released model (docs/adapt.md).
    init_dir = out / "init" / "hf"
    init_stamp = _Stamp(out, "init", {"train": stamp.fingerprint})
    _init_step(init_stamp, "eval" in steps, cfg, model_dir, init_dir)
    before_stamp = _Stamp(out, "eval-before", {**eval_settings, "model": init_stamp.fingerprint})
    before = _eval_step(
        before_stamp, "eval" in steps, init_dir, line_tasks, out / "eval-before", args
    )
    stamp = _Stamp(out, "eval", {**eval_settings, "model": stamp.fingerprint})
    ev = _eval_step(stamp, "eval" in steps, model_dir, line_tasks, eval_dir, args)
    _print_before_after(console, before, ev)
    summary["eval"] = {k: v for k, v in ev.items() if k != "rows"}
    summary["eval"]["report"] = str(eval_dir / "report.json")
    summary["eval_before"] = {k: v for k, v in before.items() if k != "rows"}
    timings["eval"] = time.perf_counter() - t0

    # ---- 7. serve ------------------------------------------------------------------------------
    t0 = _header(console, 7, "serve", "repoloom serve, a held-out file through the HTTP API")
    if "serve" in steps:
        from repoloom.heldout import serve_roundtrip

        # The window: room for the prompt of the eval budget plus a few small dependency files
        # (the tiny model has 4096 positions; it was trained on seq_len of them).
        model_cfg = json.loads((model_dir / "config.json").read_text())
        window = min(SERVE_WINDOW, model_cfg.get("max_position_embeddings") or SERVE_WINDOW)
        room = int((window - seq_len - args.max_new_tokens) * 2.5)  # chars; ~3.1 bytes/token
        task = _serve_task(
            heldout_dirs, heldout_files, line_tasks(), model_dir, budget, args.seed, room
        )
        with console.status("starting repoloom serve and completing"):
            rt = serve_roundtrip(
                model_dir, heldout_dirs[task.repo], task, out / "serve",
                context_window=window, max_tokens=args.max_new_tokens, port=args.port or None,
            )  # fmt: skip
        summary["serve"] = {k: v for k, v in rt.items() if k != "health"}
        _print_roundtrip(console, rt, task.repo)
    timings["serve"] = time.perf_counter() - t0

    # ---- summary -------------------------------------------------------------------------------
    timings["total"] = time.perf_counter() - started
    summary["seconds"] = {k: round(v, 1) for k, v in timings.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    console.rule("[bold]summary", align="left")
    secs = ", ".join(f"{k} {v:.0f}" for k, v in timings.items() if k != "total")
    console.print(f"wall time {timings['total']:.0f} s ({secs})")
    for label, path in (
        ("corpus report", corpus / "report.html"),
        ("corpus plots", corpus / "report_funnel.png"),
        ("", corpus / "report_languages.png"),
        ("token report", tokens / "report.json"),
        ("token plot", tokens / "report.png"),
        ("loss curve", run_dir / "loss.png"),
        ("training log", run_dir / "metrics.jsonl"),
        ("checkpoint", model_dir),
        ("eval report", eval_dir / "report.json"),
        ("eval at init", out / "eval-before" / "report.json"),
        ("server log", out / "serve" / "roundtrip.json"),
        ("summary", out / "summary.json"),
    ):
        if path.exists():
            console.print(f"  {label:15s} {path}")
    return 0


# ------------------------------------------------------------------------------------ the steps


def _heldout_code_files(heldout_dirs: dict[str, Path]) -> dict[tuple[str, str], str]:
    """(repository, path) -> text of the held-out code files, read as the corpus reads them."""
    from repoloom.corpus.repo import load_repository
    from repoloom.heldout import code_files

    repos = {name: load_repository(root) for name, root in heldout_dirs.items()}
    return code_files([(name, r.texts, r.languages) for name, r in repos.items()])


def _tokenizer_step(stamp: _Stamp, run: bool, corpus: Path, tokdir: Path, vocab: int) -> dict:
    from repoloom.cli import UserError
    from repoloom.tokenize.pipeline import CorpusSpec
    from repoloom.tokenize.train import train_tokenizer

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


def _tokenize_step(
    stamp: _Stamp,
    run: bool,
    corpus: Path,
    tokdir: Path,
    tokens: Path,
    seq_len: int,
    args: argparse.Namespace,
    console: Any,
) -> dict:
    from repoloom.cli import UserError
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
    from repoloom.tokenize.cli import tokenize_progress

    bar, progress = tokenize_progress()
    with bar:
        rep = run_tokenize(settings, tokens, workers=args.workers or os.cpu_count() or 1,
                           progress=progress)  # fmt: skip
    keep = ("docs", "tokens", "windows", "fim_share_of_units", "fim_share_of_tokens",
            "bytes_per_token", "docs_longer_than_seq_len")  # fmt: skip
    return stamp.finish({k: rep["totals"][k] for k in keep})


def _train_step(stamp: _Stamp, run: bool, cfg: Any, run_dir: Path) -> dict:
    from repoloom.cli import UserError
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


def _line_tasks(
    files: dict, model_dir: Path, n: int, budget: int, seed: int, multi: int = 0
) -> list:
    from transformers import AutoTokenizer

    from repoloom.heldout import HeldoutError, heldout_points

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


def _init_step(stamp: _Stamp, run: bool, cfg: Any, trained_dir: Path, init_dir: Path) -> None:
    """Export the model as training started (the run's config and seed, no step taken)."""
    from repoloom.cli import UserError

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


def _print_before_after(console: Any, before: dict, after: dict) -> None:
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


def _eval_step(
    stamp: _Stamp, run: bool, model_dir: Path, tasks: Any, eval_dir: Path, args: Any
) -> dict:
    from repoloom.cli import UserError
    from repoloom.heldout import evaluate_fim_lines

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


def _serve_task(
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
    from repoloom.corpus.deps import parse_dependencies
    from repoloom.corpus.repo import load_repository

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
        made = _line_tasks({key: heldout_files[key]}, model_dir, 1, budget, seed)
        if made:
            return made[0]
    return tasks[0]


def _print_roundtrip(console: Any, rt: dict, repo: str) -> None:
    from rich.markup import escape

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
