"""``repoloom eval crossfile-build``: the cross-file completion benchmark from repositories."""

from __future__ import annotations

import argparse
import json

from repoloom.config import keyword_args
from repoloom.errors import UserError, as_user_error
from repoloom.evaluate.cli import add_eval_command
from repoloom.evaluate.crossfile.analysis import SUPPORTED_LANGUAGES
from repoloom.evaluate.crossfile.builder import build_benchmark


def _languages(text: str) -> tuple[str, ...]:
    langs = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [x for x in langs if x not in SUPPORTED_LANGUAGES]
    if not langs or bad:
        raise argparse.ArgumentTypeError(
            f"--languages: expected a comma-separated subset of {','.join(SUPPORTED_LANGUAGES)}"
        )
    return langs


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "repos", nargs="+", metavar="REPO", help="repository directories or archives (held out)"
    )
    p.add_argument("--out", required=True, help="output JSONL (one completion point a line)")
    p.add_argument(
        "--exclude-corpus",
        default=None,
        metavar="DIR",
        help="a `repoloom corpus build` output: refuse repositories that are in it "
        "(by name or by file content)",
    )
    p.add_argument(
        "--languages",
        type=_languages,
        default=("python", "java", "typescript", "c-sharp"),
        help="comma-separated (python,java,typescript,c-sharp)",
    )
    p.add_argument("--max-points-per-repo", type=int, default=20, help="(20)")
    p.add_argument("--max-points-per-file", type=int, default=5, help="(5)")
    p.add_argument("--seed", type=int, default=0, help="selection seed (0)")
    p.add_argument(
        "--max-shared-share",
        type=float,
        default=None,
        help="refuse a repository when this share of its source files is in the corpus (0.5)",
    )
    p.set_defaults(func=_cmd_build)


def _cmd_build(args: argparse.Namespace) -> int:
    with as_user_error(ValueError):
        flags = keyword_args(
            args,
            build_benchmark,
            max_points="max_points_per_repo",
            max_per_file="max_points_per_file",
        )
        summary = build_benchmark(args.repos, args.out, **flags)
    for name, why in summary.refused.items():
        print(f"refused {name}: {why}")
    for name, why in summary.failed.items():
        print(f"failed {name}: {why}")
    print(json.dumps(summary.to_dict(), indent=1))
    if summary.points == 0:
        raise UserError("no completion points: every repository was refused, failed or had none")
    return 0


add_eval_command(
    "crossfile-build",
    "build the cross-file completion benchmark (CrossCodeEval-style) from held-out repositories",
    _configure,
)
