"""``repoloom train --config configs/train/<stage>.yaml [key=value ...]``. (``repoloom
ppl-by-length``, perplexity against position for the long-context stage, is
``repoloom.evaluate.ppl_by_length``.)"""

from __future__ import annotations

import argparse
import logging
import sys

from repoloom.errors import UserError
from repoloom.train.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="pretrain / long-context / SFT a LLaMA model (CPU, GPU, torchrun + FSDP2)",
        description=(
            "Train as configured by a YAML file (configs/train/*.yaml) plus key=value overrides, "
            "e.g. `repoloom train --config configs/train/tiny.yaml data=TOKENS out=runs/tiny "
            "max_steps=200`. Run under `torchrun --nproc-per-node N` for N processes (FSDP2). "
            "Resumes from the latest checkpoint in out/ unless resume=none."
        ),
    )
    p.add_argument("--config", help="YAML file with TrainConfig keys")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    p.set_defaults(func=_train, intermixed="overrides")


def _train(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config, args.overrides)
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from exc

    import torch.distributed as dist  # heavy: torch (and repoloom.train.train imports it)

    from repoloom.train.train import train

    try:
        summary = train(cfg)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    log = logging.getLogger("repoloom.train")
    if summary["final_loss"] is not None:
        log.info(
            "%d steps, %d tokens, final loss %.4f%s",
            summary["steps"],
            summary["tokens"],
            summary["final_loss"],
            f"; exported {summary['hf_dir']}" if summary["hf_dir"] else "",
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m repoloom.train.cli --config ... key=value``: the train command alone, without
    the other parts' command modules (for bare GPU images that lack their dependencies)."""
    parser = argparse.ArgumentParser(prog="repoloom-train")
    parser.add_argument("--config")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _train(args)
    except UserError as exc:
        print(f"repoloom: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
