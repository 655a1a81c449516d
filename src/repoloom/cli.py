"""The single ``repoloom`` command line.

Every part of the system owns a ``cli`` module with ``register(subparsers)``; this file only
collects them (the top floor: it may import every part). Heavy imports (torch, transformers,
pyarrow) happen inside the command functions, which keeps ``repoloom --help`` fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from repoloom.corpus import cli as corpus_cli
from repoloom.demo import cli as demo_cli
from repoloom.errors import UserError
from repoloom.evaluate import cli as evaluate_cli
from repoloom.serve import cli as serve_cli
from repoloom.serve import export_cli
from repoloom.tokenize import cli as tokenize_cli
from repoloom.train import cli as train_cli

__all__ = ["UserError", "build_parser", "main"]  # UserError: its old home, for older imports

# Order is the order of the help text.
PARTS = (corpus_cli, tokenize_cli, train_cli, evaluate_cli, serve_cli, export_cli, demo_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repoloom",
        description="DeepSeek-Coder's system: corpus, tokenizer, training, evaluation, serving.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for part in PARTS:
        part.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse fills a `nargs="*"` positional from one run of arguments only, so in
    # `corpus build SRC --out X dedup.threshold=0.8` the override comes back unparsed. A command
    # that names its positional list as `intermixed` takes such leftovers (not options) too.
    intermixed = getattr(args, "intermixed", None)
    if extra and intermixed and not any(e.startswith("-") for e in extra):
        getattr(args, intermixed).extend(extra)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"repoloom: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
