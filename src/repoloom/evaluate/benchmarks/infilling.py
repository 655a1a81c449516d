"""HumanEval infilling (openai/human-eval-infilling): the model fills the missing middle of a
HumanEval solution given the code before (``prompt``) and after it (``suffix``), FIM prompt.

Four sets, the official files (``infilling/<file>.jsonl.gz``):

==============================  =======================================  =====  ===========
benchmark                       file                                     tasks  middle
==============================  =======================================  =====  ===========
``humaneval-infill-line``       HumanEval-SingleLineInfilling            1,033  one line
``humaneval-infill-multi``      HumanEval-MultiLineInfilling             5,815  whole lines
``humaneval-infill-span``       HumanEval-RandomSpanInfilling            1,640  any span
``humaneval-infill-span-light`` HumanEval-RandomSpanInfillingLight         164  any span
==============================  =======================================  =====  ===========

Stop rule. Single-line: the first generated line (the InCoder / DeepSeek-Coder single-line
setting; the report scores it by exact match). The other three: the whole middle, that is
everything the model generates until it ends the middle itself (its end-of-sequence token,
``<|endoftext|>`` in the FIM paper), capped by ``max_new_tokens`` and never cut at a newline
or a stop word, as the FIM paper samples for human-eval-infilling (the harness itself takes
the completion as given).

Scoring: the program is the harness's ``prompt + middle + suffix + "\\n" + test + "\\n" +
"check(entry_point)"``, pass@k by execution, and ``exact_match`` of the middle (whitespace
around a line-based middle ignored; a random span must match character for character).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from repoloom.benchdata.infilling import INFILL_HUB, infill_files, infilling_records
from repoloom.evaluate.benchmarks import register
from repoloom.evaluate.benchmarks.base import Benchmark, Task, Verdict
from repoloom.evaluate.benchmarks.humaneval import check_code
from repoloom.evaluate.sandbox import Job, JobResult

__all__ = [
    "INFILL_HUB",
    "HumanEvalInfilling",
    "MultiLineInfilling",
    "RandomSpanInfilling",
    "RandomSpanInfillingLight",
    "SingleLineInfilling",
    "infill_files",
]


class HumanEvalInfilling(Benchmark):
    """One infilling set; subclasses name the file and whether the middle is one line."""

    stem: ClassVar[str] = ""
    single_line: ClassVar[bool] = False
    line_based: ClassVar[bool] = True
    prompt_style = "infill"
    max_new_tokens = 512  # the longest canonical middle (multi-line) is 859 characters

    def load(self, data_dir: Path | None) -> list[Task]:
        rows = infilling_records(self.stem, data_dir)
        stop = ["\n"] if self.single_line else []
        return [Task(r["task_id"], r["prompt"], r, list(stop), suffix=r["suffix"]) for r in rows]

    def postprocess(self, task: Task, generation: str) -> str:
        if self.single_line:
            # One line: everything up to the first newline, which is put back.
            return generation.split("\n", 1)[0] + "\n"
        return generation  # the whole middle: the model's end-of-middle already ended it

    def job(self, task: Task, completion: str, timeout: float) -> Job:
        # The harness's program, the test side run by the sandbox's checker process.
        d = task.data
        return Job(
            kind="python",
            code=d["prompt"] + completion + d["suffix"],
            check=check_code(d["test"], d["entry_point"]),
            timeout=timeout,
        )

    def exact_match(self, task: Task, completion: str) -> bool:
        gold = task.data["canonical_solution"]
        if self.line_based:
            return completion.strip() == gold.strip()
        return completion == gold

    def grade(self, task: Task, completion: str, result: JobResult | None) -> Verdict:
        verdict = super().grade(task, completion, result)
        verdict.extra["exact_match"] = self.exact_match(task, completion)
        return verdict


@register("humaneval-infill-line")
class SingleLineInfilling(HumanEvalInfilling):
    name = "humaneval-infill-line"
    description = "HumanEval single-line infilling (FIM), pass@k by execution + exact match"
    stem = "HumanEval-SingleLineInfilling"
    single_line = True
    max_new_tokens = 128


@register("humaneval-infill-multi")
class MultiLineInfilling(HumanEvalInfilling):
    name = "humaneval-infill-multi"
    description = "HumanEval multi-line infilling (FIM), pass@k by execution + exact match"
    stem = "HumanEval-MultiLineInfilling"


@register("humaneval-infill-span")
class RandomSpanInfilling(HumanEvalInfilling):
    name = "humaneval-infill-span"
    description = "HumanEval random-span infilling (FIM), pass@k by execution + exact match"
    stem = "HumanEval-RandomSpanInfilling"
    line_based = False


@register("humaneval-infill-span-light")
class RandomSpanInfillingLight(HumanEvalInfilling):
    name = "humaneval-infill-span-light"
    description = "HumanEval random-span infilling, light (164 tasks), pass@k + exact match"
    stem = "HumanEval-RandomSpanInfillingLight"
    line_based = False
