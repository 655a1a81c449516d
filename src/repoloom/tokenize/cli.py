"""``repoloom tokenizer import|train`` and ``repoloom tokenize``."""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from repoloom.config import ConfigError, flag_settings, from_dict
from repoloom.errors import UserError
from repoloom.progress import progress_bar
from repoloom.tokenize.gguf_import import GGUFImportError, import_gguf
from repoloom.tokenize.readers import CorpusError, detect_kind
from repoloom.tokenize.train import train_tokenizer

_SPEC = re.compile(
    r"^(?:(?P<name>[A-Za-z0-9_.-]+)=)?(?:(?P<kind>samples|text|stackexchange|markdown):)?(?P<path>.+)$"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    tk = subparsers.add_parser("tokenizer", help="import the released tokenizer or train a new one")
    tsub = tk.add_subparsers(dest="tokenizer_command", metavar="ACTION")
    tk.set_defaults(func=lambda args: (tk.print_help(), 2)[1])

    imp = tsub.add_parser("import", help="HF tokenizer directory from the release GGUF vocabulary")
    imp.add_argument("--gguf", required=True, type=Path, help="GGUF file holding the vocabulary")
    imp.add_argument("--out", required=True, type=Path, help="tokenizer directory to write")
    imp.set_defaults(func=cmd_import)

    tr = tsub.add_parser("train", help="train a byte-level BPE with the release's splits")
    tr.add_argument("--corpus", required=True, nargs="+", help="corpora ([KIND:]PATH)")
    tr.add_argument("--vocab-size", type=int, default=32000, help="BPE vocabulary (merges+bytes)")
    tr.add_argument("--out", required=True, type=Path)
    tr.add_argument("--max-docs", type=int, default=None, help="stop reading after N documents")
    tr.add_argument("--min-frequency", type=int, default=2)
    tr.set_defaults(func=cmd_train)

    tz = subparsers.add_parser("tokenize", help="corpora -> FIM -> packed Megatron token shards")
    tz.add_argument(
        "--corpus",
        required=True,
        nargs="+",
        metavar="[NAME=][KIND:]PATH",
        help="corpus builder output DIR, Parquet/JSONL text, Posts.xml or a Markdown tree",
    )
    tz.add_argument("--tokenizer", required=True, type=Path, help="tokenizer directory")
    tz.add_argument("--out", required=True, type=Path, help="output directory (resumable)")
    tz.add_argument("--seq-len", type=int, default=4096, help="training window (for the report)")
    tz.add_argument("--fim-rate", type=float, default=0.5)
    tz.add_argument("--spm-rate", type=float, default=0.0, help="share of FIM samples in SPM")
    tz.add_argument("--seed", type=int, default=0)
    tz.add_argument(
        "--fim-unit",
        choices=("document", "file"),
        default="document",
        help="FIM per sample (the report) or per file of a repository sample",
    )
    tz.add_argument("--header-template", default="# {path}", help="file header of samples")
    tz.add_argument(
        "--shares",
        nargs="+",
        metavar="NAME=FRACTION",
        help="target token shares of the corpora (e.g. code=0.87 en=0.10 zh=0.03)",
    )
    tz.add_argument("--mix-tokens", type=int, default=None, help="token budget of the mix")
    tz.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    tz.set_defaults(func=cmd_tokenize)


def cmd_import(args: argparse.Namespace) -> int:
    try:
        summary = import_gguf(args.gguf, args.out)
    except GGUFImportError as exc:
        raise UserError(str(exc)) from exc
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


def parse_corpus_specs(specs: list[str], shares: list[str] | None) -> list:
    from repoloom.tokenize.pipeline import CorpusSpec  # heavy: numpy

    out = []
    used: set[str] = set()
    for spec in specs:
        m = _SPEC.match(spec)
        if not m:
            raise UserError(f"bad corpus spec {spec!r}")
        path = Path(m["path"])
        if not path.exists():
            raise UserError(f"{path}: no such file or directory")
        try:
            kind = m["kind"] or detect_kind(path)
        except CorpusError as exc:
            raise UserError(str(exc)) from exc
        name = m["name"] or re.sub(r"[^A-Za-z0-9_.-]", "_", path.resolve().name) or "corpus"
        base, i = name, 1
        while name in used:
            i += 1
            name = f"{base}_{i}"
        used.add(name)
        out.append(CorpusSpec(name=name, kind=kind, path=str(path.resolve())))
    if shares:
        table = {}
        for item in shares:
            key, sep, val = item.partition("=")
            try:
                table[key] = float(val)
            except ValueError:
                raise UserError(f"bad share {item!r}; want NAME=FRACTION") from None
            if not sep or table[key] < 0:
                raise UserError(f"bad share {item!r}; want NAME=FRACTION")
        unknown = set(table) - {c.name for c in out}
        missing = {c.name for c in out} - set(table)
        if unknown or missing:
            raise UserError(
                f"--shares must name every corpus exactly: unknown {sorted(unknown)}, "
                f"missing {sorted(missing)}"
            )
        if sum(table.values()) <= 0:
            raise UserError("--shares must have a positive sum")
        for c in out:
            c.share = table[c.name]
    return out


# Flags that are TokenizeSettings fields: argparse dest -> field (one mapping, no copying).
TOKENIZE_FLAGS = {
    name: name
    for name in ("seq_len", "fim_rate", "spm_rate", "seed", "fim_unit", "header_template",
                 "mix_tokens")
}  # fmt: skip


def cmd_train(args: argparse.Namespace) -> int:
    corpora = parse_corpus_specs(args.corpus, None)
    try:
        summary = train_tokenizer(
            corpora,
            args.out,
            vocab_size=args.vocab_size,
            min_frequency=args.min_frequency,
            max_docs=args.max_docs,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    print(json.dumps(summary, indent=2))
    return 0


def tokenize_progress() -> tuple[Any, Callable[[int, int, dict | None], None]]:
    """A progress bar (chunks and tokens) and the ``run_tokenize`` callback that drives it."""
    bar = progress_bar("tokenize", "chunks {task.fields[tokens]:,} tokens")
    task = bar.add_task("tokenize", total=None, tokens=0)
    seen = {"tokens": 0}

    def progress(done: int, total: int, stats: dict | None) -> None:
        if stats:
            seen["tokens"] += stats["tokens"]
        bar.update(task, completed=done, total=total, tokens=seen["tokens"])

    return bar, progress


def cmd_tokenize(args: argparse.Namespace) -> int:
    from repoloom.tokenize.pipeline import (  # heavy: numpy
        TokenizeError,
        TokenizeSettings,
        run_tokenize,
    )

    corpora = parse_corpus_specs(args.corpus, args.shares)
    values = {"tokenizer": str(args.tokenizer.resolve()), "corpora": corpora}
    try:
        settings = from_dict(TokenizeSettings, {**values, **flag_settings(args, TOKENIZE_FLAGS)})
    except ConfigError as exc:
        raise UserError(str(exc)) from exc
    bar, progress = tokenize_progress()
    with bar:
        try:
            rep = run_tokenize(settings, args.out, workers=args.workers, progress=progress)
        except (TokenizeError, ValueError) as exc:
            raise UserError(str(exc)) from exc
    t = rep["totals"]
    print(
        f"{t['docs']:,} documents, {t['tokens']:,} tokens ({t['windows']:,} windows of "
        f"{args.seq_len}), FIM {100 * t['fim_share_of_units']:.1f}% of units; "
        f"report: {args.out / 'report.json'}"
    )
    if rep.get("mix"):
        shares = ", ".join(f"{k} {100 * v:.2f}%" for k, v in rep["mix"]["achieved_share"].items())
        print(f"mix: {shares}")
    return 0
