"""The single ``repoloom`` command line.

Every part of the system owns a ``cli`` module with ``register(subparsers)``; this file only
collects them, so adding a part never touches another part's code. Heavy imports (torch,
transformers, pyarrow) happen inside the command functions, which keeps ``repoloom --help`` fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Order is the order of the help text; a part whose cli module does not exist yet is skipped.
PART_MODULES = (
    "repoloom.corpus.cli",
    "repoloom.tokenize.cli",
    "repoloom.train.cli",
    "repoloom.evaluate.cli",
    "repoloom.serve.cli",
    "repoloom.serve.export_cli",
    "repoloom.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repoloom",
        description="DeepSeek-Coder's system: corpus, tokenizer, training, evaluation, serving.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in PART_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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


class UserError(Exception):
    """An error caused by the user's input (bad config, missing path): printed without a traceback."""


if __name__ == "__main__":
    sys.exit(main())
