"""``repoloom demo``: its arguments; the run itself is :data:`repoloom.demo.steps.PIPELINE`."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from rich.console import Console

from repoloom.codebase.sources import SourceError
from repoloom.demo.state import DEFAULT_HELDOUT, STEPS, DemoState, parse_steps
from repoloom.errors import UserError
from repoloom.evaluate.heldout_build import HeldoutError


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


def cmd_demo(args: argparse.Namespace) -> int:
    # Heavy (pyarrow, numpy, torch): imported when the demo runs, not when the CLI is built.
    from repoloom.corpus.schema import BuildError
    from repoloom.demo.steps import run_demo
    from repoloom.tokenize.pipeline import TokenizeError

    console = Console(highlight=False)
    steps = parse_steps(args.steps)
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
    workers = args.workers or os.cpu_count() or 1
    state = DemoState(args=args, steps=steps, out=out, console=console, workers=workers)
    try:
        return run_demo(state)
    except (HeldoutError, SourceError, BuildError, TokenizeError) as exc:
        raise UserError(str(exc)) from None
