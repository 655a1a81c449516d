"""The ``heldout`` benchmark: infilling on one's own held-out repositories, before and after
adapting a model to them.

``repoloom eval build-heldout REPO... --out FILE`` writes deterministic single-line and
multi-line FIM points of the repositories' code files (the demo's held-out check,
``repoloom.evaluate.heldout_build``); ``repoloom eval run heldout --model DIR --data-dir FILE --out OUT``
generates the middles with the FIM prompt and scores them:

- exact match (``pass@1``): the generated lines, each stripped, equal the true ones (a
  single-line generation is cut at its first newline, a multi-line one after as many lines as the
  truth has), also per kind (``mean_exact_match_single`` / ``mean_exact_match_multi``);
- edit similarity (``mean_edit_similarity``, difflib's ratio of the same strings);
- the loss of the true span (``loss_nats_per_token``): the middle's negative log-likelihood
  after the FIM prompt, per token, summed over all points (a local model directory only: an HTTP
  endpoint gives no log-likelihoods).

Run it on the model before adapting and on the adapted one, with the same data file, and compare.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from repoloom.benchdata.built import heldout_file as data_file
from repoloom.benchdata.local import data_dir as resolve_data_dir
from repoloom.codebase.context import fit_prefix_suffix
from repoloom.config import keyword_args
from repoloom.errors import UserError, as_user_error
from repoloom.evaluate.benchmarks import register
from repoloom.evaluate.cli import add_eval_command
from repoloom.evaluate.crossfile.builder import load_source
from repoloom.evaluate.heldout_build import (
    HeldoutError,
    HeldoutLineInfilling,
    LineTask,
    check_not_in_corpus,
    code_files,
    heldout_points,
    read_points,
    span_losses,
    write_points,
)

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_CHARS = 8000  # prefix + suffix of a point, when no tokenizer budget is given
MAX_NEW_TOKENS = 128  # a single-line point stops at its newline much earlier


@register("heldout")
class HeldoutBenchmark(HeldoutLineInfilling):
    name = "heldout"
    description = (
        "single- and multi-line FIM on your held-out repositories (build with "
        "`eval build-heldout`): exact match, edit similarity, loss of the true span"
    )

    def __init__(self) -> None:
        super().__init__([], MAX_NEW_TOKENS)
        self.losses: dict[str, dict] = {}
        self._loaded_from: Path | None = None

    def load(self, data_dir: Path | None) -> list:
        path = data_file(data_dir)
        if self._loaded_from != path:
            self.line_tasks = read_points(path)
            self._loaded_from = path
        return super().load(data_dir)

    def configure(self, args: argparse.Namespace) -> dict[str, Any]:
        """With a local model: the loss of every point's true span, before generation (one
        forward pass per point; the model is freed before the generation backend loads)."""
        path = data_file(resolve_data_dir(getattr(args, "data_dir", None)))
        self.load(path)
        model = getattr(args, "model", None)
        settings = {"heldout_data": f"{path.name}@{_digest(path)}"}  # other points: other samples
        if model and (Path(model) / "config.json").is_file():
            room = getattr(args, "max_new_tokens", None) or self.max_new_tokens
            settings["prompt_tokens"] = self._fit_window(Path(model), room)
            self.losses = _span_losses(Path(model), self.line_tasks, getattr(args, "device", None))
        else:
            log.warning("heldout: %s is not a local model directory: no span loss", model)
        return settings

    def _fit_window(self, model_dir: Path, new_tokens: int) -> int:
        """Cut prefix + suffix of the points that do not fit the model's window (with room for
        ``new_tokens`` and the FIM sentinels), with the server's rule; returns the budget."""
        from transformers import AutoConfig, AutoTokenizer

        window = getattr(AutoConfig.from_pretrained(model_dir), "max_position_embeddings", 4096)
        tok = AutoTokenizer.from_pretrained(model_dir)
        budget = max(16, window - new_tokens - 8)

        def count(text: str) -> int:
            return len(tok(text, add_special_tokens=False)["input_ids"])

        for t in self.line_tasks:
            if len(t.prefix) + len(t.suffix) > budget:  # a token is at least one character
                t.prefix, t.suffix = fit_prefix_suffix(t.prefix, t.suffix, budget, count)
        return budget

    def grade(self, task: Any, completion: str, result: Any):
        verdict = super().grade(task, completion, result)
        loss = self.losses.get(task.task_id)
        if loss is not None:
            verdict.extra.update(span_nll=loss["nll"], span_tokens=loss["tokens"])
        return verdict

    def summarize(self, summary: dict[str, Any]) -> None:
        """Per-token loss over all points (sum of NLL / sum of tokens: both means are over the
        same scored samples, so their ratio is that), in ``metrics`` (printed as is)."""
        nll = summary.pop("mean_span_nll", None)
        tokens = summary.pop("mean_span_tokens", None)
        kinds = {"single-line": 0, "multi-line": 0}
        for t in self.line_tasks:
            kinds[t.kind] += 1
        metrics: dict[str, Any] = {"points": kinds}
        if nll is not None and tokens:
            metrics["loss_nats_per_token"] = round(nll / tokens, 4)
        summary["metrics"] = metrics
        summary.update(metrics)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _span_losses(model_dir: Path, tasks: list[LineTask], device: str | None) -> dict[str, dict]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(device).eval()
    try:
        rows = span_losses(model, tok, tasks, device)
    finally:
        del model
    return {r["task_id"]: r for r in rows}


# ---------------------------------------------------------------------- eval build-heldout


def _configure_build(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "repos", nargs="+", metavar="REPO", help="held-out repository directories or archives"
    )
    p.add_argument("--out", required=True, help="output JSONL (one FIM point a line)")
    p.add_argument("--lines", type=int, default=100, help="single-line points (100)")
    p.add_argument("--multi-lines", type=int, default=50, help="multi-line points (50)")
    p.add_argument(
        "--max-span-lines", type=int, default=4, help="lines of a multi-line middle, 2..N (4)"
    )
    p.add_argument("--seed", type=int, default=0, help="choice of the points (0)")
    p.add_argument(
        "--context-chars",
        type=int,
        default=DEFAULT_CONTEXT_CHARS,
        help=f"prefix + suffix characters around a point ({DEFAULT_CONTEXT_CHARS})",
    )
    p.add_argument(
        "--tokenizer",
        default=None,
        help="tokenizer (or model) directory: cut prefix + suffix to --context-tokens instead",
    )
    p.add_argument(
        "--context-tokens",
        type=int,
        default=None,
        help="with --tokenizer: prefix + suffix tokens (e.g. the training seq_len minus room)",
    )
    p.add_argument(
        "--exclude-corpus",
        default=None,
        metavar="DIR",
        help="a `repoloom corpus build` output: refuse when a held-out file is in its samples",
    )
    p.set_defaults(func=_cmd_build)


def _cmd_build(args: argparse.Namespace) -> int:
    if args.lines < 0 or args.multi_lines < 0 or args.lines + args.multi_lines == 0:
        raise UserError("--lines and --multi-lines must be >= 0, and not both 0")
    if args.max_span_lines < 2:
        raise UserError("--max-span-lines must be at least 2")
    if (args.tokenizer is None) != (args.context_tokens is None):
        raise UserError("--tokenizer and --context-tokens go together")
    with as_user_error(HeldoutError, ValueError, OSError):
        flags = keyword_args(
            args, build_heldout, single="lines", multi="multi_lines", tokenizer_dir="tokenizer"
        )
        summary = build_heldout(args.repos, Path(args.out), **flags)
    print(json.dumps(summary, indent=1))
    return 0


def build_heldout(
    sources: list[str],
    out: Path,
    *,
    single: int = 100,
    multi: int = 50,
    max_span_lines: int = 4,
    seed: int = 0,
    context_chars: int = DEFAULT_CONTEXT_CHARS,
    tokenizer_dir: str | None = None,
    context_tokens: int | None = None,
    exclude_corpus: str | None = None,
) -> dict[str, Any]:
    """Write the FIM points of ``sources`` (repository directories or archives) to ``out``;
    the same inputs and settings give the same file. Returns a summary."""
    repos = [load_source(s) for s in sources]
    names = [r.name for r in repos]
    if len(set(names)) != len(names):
        raise HeldoutError(f"two repositories have the same name: {names}")
    files = code_files([(r.name, r.files, r.languages) for r in repos])
    if not files:
        raise HeldoutError("the repositories have no code files to make points of")
    checked = None
    if exclude_corpus:
        checked = check_not_in_corpus(
            {f"{r}/{p}": t for (r, p), t in files.items()}, Path(exclude_corpus)
        )
    if tokenizer_dir:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(tokenizer_dir)

        def count(text: str) -> int:
            return len(tok(text, add_special_tokens=False)["input_ids"])

        budget, max_chars = int(context_tokens or 0), 16 * int(context_tokens or 0)
    else:
        count, budget, max_chars = len, context_chars, context_chars
    points = heldout_points(
        files, single=single, multi=multi, count_tokens=count, budget=budget, seed=seed,
        max_span_lines=max_span_lines, max_chars=max_chars,
    )  # fmt: skip
    if not points:
        raise HeldoutError("no eligible lines in the repositories' code files")
    write_points(out, points)
    return {
        "out": str(out),
        "repositories": names,
        "code_files": len(files),
        "single_line_points": sum(p.n_lines == 1 for p in points),
        "multi_line_points": sum(p.n_lines > 1 for p in points),
        "context": f"{budget} tokens" if tokenizer_dir else f"{budget} characters",
        "files_checked_against_corpus": checked,
        "seed": seed,
    }


add_eval_command(
    "build-heldout",
    "FIM points (single- and multi-line) from your held-out repositories, for `eval run heldout`",
    _configure_build,
)
