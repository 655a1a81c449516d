"""The DeepSeek-Coder ablations in miniature: FIM rate and repository- vs file-level data.

Trains four `tiny`-class models (configs/train/tiny.yaml, vocabulary shrunk to the BPE trained
here) on the same slice of the real `benchmark` corpus, same token budget, same seed:

    repo_fim0    repository-level samples, FIM rate 0
    repo_fim05   repository-level samples, FIM rate 0.5 (PSM)
    repo_fim1    repository-level samples, FIM rate 1.0 (PSM)
    file_fim05   file-level samples (the same files, each its own sample), FIM rate 0.5 (PSM)

and evaluates them on held-out repositories (never in the training data: checked by content hash):
left-to-right loss per token on held-out files, loss of held-out middle lines given a PSM prompt
(infilling), and loss / exact match of cross-file ground-truth lines with no, BM25 and
dependency-ordered repository context (`repoloom.evaluate.crossfile`).

Phases (each writes its outputs atomically under --work and is skipped when its marker
``WORK/done/PHASE.json`` exists, so an interrupted run resumes):

    fetch      `repoloom corpus fetch --manifest benchmark` into --data (skipped when locked)
    build      `repoloom corpus build --repos-dir DATA --out BUILD` (skipped when built)
    probe      ~30 s of `repoloom train` on synthetic tokens -> tokens/s -> token budget
    split      held-out repositories out; the rest cut into chunks of consecutive files, shuffled
    tokenizer  `repoloom tokenizer train` on the training split (DeepSeek special tokens)
    select     the training slice (token budget x bytes/token) at repository and at file level
    tokenize   `repoloom tokenize` x 4 (FIM per file of a sample, `--fim-unit file`)
    train      `repoloom train` x 4 (two side by side, one torch thread each)
    replicate  repo_fim05 again with seed+1: the seed-to-seed noise (--no-replicate skips it)
    eval_lm    left-to-right and infilling losses (PSM prompt and prefix only; infilling EM)
    crossfile  cross-file ground-truth lines: loss and exact match per context mode
    report     JSON of all numbers, bootstrap CIs, plots in --results

    .venv/bin/python benchmarks/ablations.py --work ~/.cache/repoloom/ablations
    .venv/bin/python benchmarks/ablations.py --work /tmp/abl-smoke --smoke     # minutes
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling ablations_* modules

from ablations_common import (  # noqa: E402
    DEFAULT_BUILD,
    DEFAULT_DATA,
    DEFAULT_RESULTS,
    DEFAULT_WORK,
    HELDOUT,
    PHASES,
    TRAINING_KEYS,
    Ctx,
    body_hash,  # noqa: F401 (ablations.body_hash: tests/test_ablations_smoke.py)
    log,
    piece_body,  # noqa: F401 (ablations.piece_body: tests/test_ablations_smoke.py)
    read_json,
    split_pieces,  # noqa: F401 (ablations.split_pieces: tests/test_ablations_smoke.py)
    write_json,
)
from ablations_eval import (  # noqa: E402
    phase_crossfile,
    phase_eval_lm,
    phase_replicate,
)
from ablations_phases import (  # noqa: E402
    chunk_row,  # noqa: F401 (ablations.chunk_row: tests/test_ablations_smoke.py)
    model_vocab,  # noqa: F401 (ablations.model_vocab: tests/test_ablations_smoke.py)
    phase_build,
    phase_fetch,
    phase_probe,
    phase_select,
    phase_split,
    phase_tokenize,
    phase_tokenizer,
    phase_train,
)
from ablations_report import (  # noqa: E402
    bootstrap,  # noqa: F401 (ablations.bootstrap: tests/test_ablations_smoke.py)
    phase_report,
)

PHASE_FUNCS: dict[str, Callable[[Ctx], dict[str, Any]]] = {
    "fetch": phase_fetch,
    "build": phase_build,
    "probe": phase_probe,
    "split": phase_split,
    "tokenizer": phase_tokenizer,
    "select": phase_select,
    "tokenize": phase_tokenize,
    "train": phase_train,
    "eval_lm": phase_eval_lm,
    "replicate": phase_replicate,
    "crossfile": phase_crossfile,
    "report": phase_report,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="all intermediate outputs")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fetched corpus (cache)")
    p.add_argument("--build", type=Path, default=DEFAULT_BUILD, help="corpus build (reused)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="JSON + PNG output")
    p.add_argument("--manifest", default="benchmark")
    p.add_argument("--build-workers", type=int, default=2)
    p.add_argument("--heldout", nargs="+", default=HELDOUT)
    p.add_argument("--threads", type=int, default=2, help="threads of tokenizing / evaluation")
    p.add_argument("--train-threads", type=int, default=1, help="torch threads per training")
    p.add_argument("--parallel", type=int, default=2, help="trainings side by side")
    p.add_argument("--minutes-per-variant", type=float, default=10.0)
    p.add_argument("--probe-seconds", type=float, default=75.0)
    p.add_argument("--budget-tokens", type=int, help="skip the probe: tokens per variant")
    p.add_argument("--vocab-size", type=int, default=4096, help="BPE vocabulary (+9 special)")
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk-bytes", type=int, default=200_000)
    p.add_argument("--tokenizer-mb", type=float, default=16.0)
    p.add_argument("--data-margin", type=float, default=1.03)
    p.add_argument("--eval-files-per-repo", type=int, default=40)
    p.add_argument("--fim-lines-per-file", type=int, default=3)
    p.add_argument("--fim-side-tokens", type=int, default=200)
    p.add_argument("--fim-em-items", type=int, default=300)
    p.add_argument("--crossfile-points", type=int, default=40, help="per held-out repository")
    p.add_argument("--ctx-tokens", type=int, default=256, help="cross-file context budget")
    p.add_argument("--left-tokens", type=int, default=200, help="in-file left context")
    p.add_argument("--gt-tokens", type=int, default=48, help="cap of a ground-truth line")
    p.add_argument("--crossfile-em-points", type=int, default=150, help="greedy-decoded points")
    p.add_argument(
        "--shuffle-windows",
        choices=["on", "off"],
        default="on",
        help="train.shuffle_windows: windows in a seeded random order (on, the trainer's default) "
        "or in stream order (off: how the first REPRODUCTION.md run was made)",
    )
    p.add_argument(
        "--no-replicate",
        dest="replicate",
        action="store_false",
        help="skip the second seed of repo_fim05 (noise estimate)",
    )
    p.add_argument("--eval-only", nargs="*", help="evaluate only these variants in this call")
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--until", choices=PHASES, help="stop after this phase")
    p.add_argument("--redo", nargs="*", default=[], choices=PHASES, help="forget these phases")
    p.add_argument("--smoke", action="store_true", help="a tiny slice end to end (minutes)")
    args = p.parse_args(argv)
    if args.smoke:
        args.budget_tokens = args.budget_tokens or 30 * args.batch * 128
        args.seq_len = 128
        args.vocab_size = min(args.vocab_size, 600)
        args.tokenizer_mb = 1.0
        args.eval_files_per_repo = 3
        args.fim_em_items = 10
        args.crossfile_points = 4
        args.crossfile_em_points = 6
        args.gt_tokens = 16
        args.ctx_tokens = 32
        args.left_tokens = 48
        args.fim_side_tokens = 40
        args.bootstrap = 50
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ctx = Ctx(args)
    ctx.work.mkdir(parents=True, exist_ok=True)
    for ph in args.redo:
        ctx.marker(ph).unlink(missing_ok=True)
    settings = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in ("until", "redo", "eval_only")
    }
    old = ctx.work / "settings.json"
    if old.is_file():  # the trained models must not silently mix settings
        prev = read_json(old)
        changed = [k for k in TRAINING_KEYS if k in prev and prev[k] != settings.get(k)]
        if changed:
            raise SystemExit(
                f"--work {ctx.work} was made with other {', '.join(changed)}: "
                "use another --work (or the same settings)"
            )
    write_json(ctx.work / "settings.json", settings)
    for ph in PHASES:
        if ctx.done(ph) is not None:
            log(f"{ph}: done (skipped)")
        else:
            start = time.perf_counter()
            log(f"{ph}: start")
            info = PHASE_FUNCS[ph](ctx)
            info.setdefault("phase_seconds", round(time.perf_counter() - start, 1))
            ctx.finish(ph, info)
            log(f"{ph}: finished in {time.perf_counter() - start:.0f} s")
        if ph == args.until:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
