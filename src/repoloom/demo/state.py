"""The demo's state: what one step hands the next, and the per-step stamps that make a rerun
reuse what is unchanged."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repoloom.errors import UserError

STEPS = ("fetch", "corpus", "tokenizer", "tokenize", "train", "eval", "serve")
DEFAULT_HELDOUT = "click"
SERVE_WINDOW = 2048  # the server's context window (tokens)


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Stamp:
    """``OUT/.demo/STEP.json``: the settings a step ran with, whether it finished, its result."""

    def __init__(self, out: Path, step: str, settings: dict[str, Any]) -> None:
        self.path = out / ".demo" / f"{step}.json"
        self.settings = json.loads(json.dumps(settings, default=str))
        self.fingerprint = fingerprint(self.settings)
        self.old = None
        if self.path.is_file():
            try:
                self.old = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                self.old = None

    @property
    def same(self) -> bool:
        return bool(self.old) and self.old.get("settings") == self.settings

    @property
    def done(self) -> bool:
        return self.same and bool(self.old.get("done"))

    @property
    def result(self) -> dict[str, Any]:
        return (self.old or {}).get("result") or {}

    def begin(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"settings": self.settings, "done": False}, indent=2))

    def finish(self, result: dict[str, Any]) -> dict[str, Any]:
        blob = {"settings": self.settings, "done": True, "result": result}
        self.path.write_text(json.dumps(blob, indent=2, default=str))
        self.old = json.loads(json.dumps(blob, default=str))
        return self.result


@dataclass
class DemoState:
    """Everything the steps share. The first block is set before the run; each step fills the
    fields that the later ones read (``corpus`` -> ``tokdir`` -> ``tokens`` -> ``model_dir``)."""

    args: argparse.Namespace
    steps: list[str]  # the steps that may run; the others only reuse what an earlier run left
    out: Path
    console: Any
    workers: int
    timings: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)  # step -> its stamp's fingerprint
    # fetch
    heldout_dirs: dict[str, Path] = field(default_factory=dict)
    train_tasks: list = field(default_factory=list)
    # corpus
    corpus: Path | None = None
    heldout_files: dict = field(default_factory=dict)
    # tokenizer, tokenize
    tokdir: Path | None = None
    vocab_tokens: int = 0  # the tokenizer's vocabulary, special tokens included
    train_cfg_path: Path | None = None
    seq_len: int = 0
    tokens: Path | None = None
    # train, eval
    run_dir: Path | None = None
    cfg: Any = None
    model_dir: Path | None = None
    budget: int = 0
    eval_dir: Path | None = None
    make_line_tasks: Callable[[], list] | None = None
    _line_tasks: list | None = None

    def line_tasks(self) -> list:
        """The held-out points, built once when first needed (a reused eval without serve
        needs none)."""
        if self._line_tasks is None:
            assert self.make_line_tasks is not None
            self._line_tasks = self.make_line_tasks()
        return self._line_tasks


def find_train_config(explicit: str | None) -> Path:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise UserError(f"--train-config {path}: no such file")
        return path
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        path = base / "configs" / "train" / "tiny.yaml"
        if path.is_file():
            return path
    raise UserError("configs/train/tiny.yaml not found: run from the repository or --train-config")


def parse_steps(text: str) -> list[str]:
    if text.strip() in ("", "all"):
        return list(STEPS)
    steps = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise UserError(f"--steps: unknown {', '.join(unknown)} (known: {', '.join(STEPS)})")
    return [s for s in STEPS if s in steps]
