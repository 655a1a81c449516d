"""The ``crossfile`` benchmark of ``repoloom eval run`` / ``eval score``.

Data: a JSONL file written by ``repoloom eval crossfile-build`` (``--data-dir`` names the file,
or a directory holding ``crossfile.jsonl``). Each record is a completion point with its
retrieved cross-file fragments for every context mode, so a run needs no repository checkout.
``--crossfile-context none|bm25|deps`` (``configure``) picks the context; the prompt is built
with the model's tokenizer under CrossCodeEval's budgets (512 tokens of cross-file context,
2048 - 50 tokens of prompt, the in-file left context truncated from the left) and the model
writes at most 50 new tokens. The completion is the first non-empty generated line, scored with
CrossCodeEval's exact match (the verdict: ``passed``, so pass@1 = EM), edit similarity and
identifier EM/F1 (``mean_em``, ``mean_es``, ``mean_id_em``, ``mean_id_f1`` in the results JSON).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from repoloom.benchdata.built import crossfile_file as data_file
from repoloom.evaluate.benchmarks import register
from repoloom.evaluate.benchmarks.base import Benchmark, Task, Verdict
from repoloom.evaluate.crossfile.context import (
    MAX_CONTEXT_TOKENS,
    MAX_NEW_TOKENS,
    MAX_SEQUENCE_TOKENS,
    MODES,
    Fragment,
    assemble_prompt,
    check_mode,
    render,
    token_counter,
)
from repoloom.evaluate.crossfile.metrics import first_line, score_line
from repoloom.evaluate.prompts import extract_code
from repoloom.evaluate.sandbox import Job, JobResult
from repoloom.io import read_jsonl


@register("crossfile")
class CrossfileBenchmark(Benchmark):
    name = "crossfile"
    description = (
        "cross-file line completion from held-out repositories (CrossCodeEval-style; "
        "build with `eval crossfile-build`): EM, ES, identifier EM/F1"
    )
    max_new_tokens = MAX_NEW_TOKENS

    def __init__(self) -> None:
        self.mode = "none"
        self.tokenizer: Any = None
        self.max_context_tokens = MAX_CONTEXT_TOKENS
        self.max_prompt_tokens = MAX_SEQUENCE_TOKENS - MAX_NEW_TOKENS

    def configure(self, args: argparse.Namespace) -> dict[str, Any]:
        """Settings from ``eval run`` arguments; returns those that define the samples."""
        mode = getattr(args, "crossfile_context", None) or "none"
        check_mode(mode)
        self.mode = mode
        model = getattr(args, "model", None)
        if model and Path(model).is_dir():
            from transformers import AutoTokenizer

            self.set_tokenizer(AutoTokenizer.from_pretrained(model))
        else:
            raise ValueError(
                "crossfile truncates prompts with the model's tokenizer: --model must be a local "
                "model directory (hf backend)"
            )
        return {"crossfile_context": mode}

    def set_tokenizer(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def load(self, data_dir: Path | None) -> list[Task]:
        path = data_file(data_dir)
        tasks = []
        count = token_counter(self.tokenizer) if self.tokenizer is not None else None
        for n, rec in enumerate(read_jsonl(path), 1):
            missing = {"task_id", "language", "left_context", "groundtruth"} - set(rec)
            if missing:
                raise ValueError(f"{path}:{n}: not a crossfile record (missing {sorted(missing)})")
            prompt = rec["left_context"]
            if count is not None:
                context = ""
                if self.mode != "none":
                    stored = (rec.get("contexts") or {}).get(self.mode)
                    if stored is None:
                        raise ValueError(f"{path}:{n}: no stored {self.mode!r} context")
                    frags = [Fragment.from_dict(d) for d in stored]
                    context = render(
                        frags, self.mode, rec["language"], rec.get("path", ""), count,
                        self.max_context_tokens,
                    )  # fmt: skip
                prompt = assemble_prompt(
                    context, rec["left_context"], self.tokenizer, self.max_prompt_tokens
                )
            tasks.append(Task(str(rec["task_id"]), prompt, rec, stop=[]))
        return tasks

    def postprocess(self, task: Task, generation: str) -> str:
        return first_line(generation)

    def instruction(self, task: Task) -> str:
        lang = task.data.get("language", "")
        tail = "".join(task.data["left_context"].splitlines(keepends=True)[-40:])
        return (
            f"Write the next line of this {lang} file. Reply with that one line in a code "
            f"block.\n```\n{tail}```"
        )

    def completion_from_chat(self, task: Task, answer: str) -> str:
        return first_line(extract_code(answer, task.data.get("language", "")))

    def job(self, task: Task, completion: str, timeout: float) -> Job | None:
        return None  # scored by text match, nothing runs

    def grade(self, task: Task, completion: str, result: JobResult | None) -> Verdict:
        s = score_line(completion, task.data["groundtruth"], task.data["language"])
        verdict = "exact match" if s["em"] else "no exact match"
        return Verdict(bool(s["em"]), verdict, extra=dict(s))

    def toolchain(self) -> str:
        return "text match (no execution)"


__all__ = ["MODES", "CrossfileBenchmark", "data_file"]
