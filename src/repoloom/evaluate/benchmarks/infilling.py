"""HumanEval single-line infilling (1,033 tasks): the model fills one missing line given the
code before and after it (FIM prompt). Scored by execution (pass@k) and by exact match of the
line (the report's metric)."""

from __future__ import annotations

from pathlib import Path

from repoloom.evaluate.benchmarks import register
from repoloom.evaluate.benchmarks.base import Benchmark, Task, Verdict
from repoloom.evaluate.data import find_local, read_jsonl
from repoloom.evaluate.sandbox import Job, JobResult

FILES = (
    "infilling/HumanEval-SingleLineInfilling.jsonl.gz",
    "infilling/HumanEval-SingleLineInfilling.jsonl",
    "HumanEval-SingleLineInfilling.jsonl.gz",
)


@register("humaneval-infill-line")
class SingleLineInfilling(Benchmark):
    name = "humaneval-infill-line"
    description = "HumanEval single-line infilling (FIM), pass@k by execution + exact match"
    prompt_style = "infill"
    max_new_tokens = 128

    def load(self, data_dir: Path | None) -> list[Task]:
        local = find_local(data_dir, *FILES)
        if local is not None:
            rows = list(read_jsonl(local))
        else:
            from repoloom.evaluate.hub import hub_records

            rows = hub_records(
                "loubnabnl/humaneval_infilling",
                "*single*line*",
                "HumanEval-SingleLineInfilling",
                f"--data-dir with {FILES[0]}",
            )
        return [Task(r["task_id"], r["prompt"], r, ["\n"], suffix=r["suffix"]) for r in rows]

    def postprocess(self, task: Task, generation: str) -> str:
        # One line: everything up to the first newline, which is put back.
        return generation.split("\n", 1)[0] + "\n"

    def job(self, task: Task, completion: str, timeout: float) -> Job:
        d = task.data
        program = (
            d["prompt"] + completion + d["suffix"] + "\n" + d["test"] + "\n"
            f"check({d['entry_point']})"
        )
        return Job(kind="python", code=program, timeout=timeout)

    def grade(self, task: Task, completion: str, result: JobResult | None) -> Verdict:
        em = completion.strip() == task.data["canonical_solution"].strip()
        v = super().grade(task, completion, result)
        v.extra["exact_match"] = em
        return v
