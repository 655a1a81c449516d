"""Helpers shared by the evaluate tests."""

from __future__ import annotations

import argparse


def run_cli(argv: list[str]) -> int:
    """``repoloom eval ...`` through this part's register() only (as repoloom.cli.main does)."""
    from repoloom.errors import UserError
    from repoloom.evaluate.cli import register

    parser = argparse.ArgumentParser(prog="repoloom")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"repoloom: error: {exc}")
        return 2
