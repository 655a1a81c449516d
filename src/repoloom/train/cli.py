"""``repoloom train --config configs/train/<stage>.yaml [key=value ...]`` and
``repoloom ppl-by-length`` (perplexity against position, for the long-context stage)."""

from __future__ import annotations

import argparse
import logging


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
    p.set_defaults(func=_train)

    from repoloom.train.ppl_by_length import add_arguments

    # `repoloom eval ppl-by-length` through the evaluate part's extension hook (this runs before
    # the eval group is built), and `repoloom ppl-by-length` as a top-level alias.
    try:
        from repoloom.evaluate.cli import add_eval_command
    except ImportError:
        add_eval_command = None
    if add_eval_command is not None:
        try:
            add_eval_command("ppl-by-length", "perplexity against token position", add_arguments)
        except ValueError:  # already added (parser built twice) or provided by evaluate
            pass
    q = subparsers.add_parser(
        "ppl-by-length",
        help="perplexity against token position for HF models (= eval ppl-by-length)",
        description="Mean NLL / perplexity per position bucket over long token windows; "
        "plots one curve per model (e.g. before and after the 16K extension).",
    )
    add_arguments(q)


def _train(args: argparse.Namespace) -> int:
    from repoloom.cli import UserError
    from repoloom.train.config import load_config

    try:
        cfg = load_config(args.config, args.overrides)
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from exc

    import torch.distributed as dist

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
    import sys

    from repoloom.cli import UserError

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
