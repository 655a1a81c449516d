"""LeetCode contest problems in the released JSONL format (``task_id``, ``prompt``,
``prompt_sft``, ``test``, optionally ``entry_point``), for instruct models, with and without the
chain-of-thought sentence (``leetcode-cot``).

The data is not public on a hub: put the released ``*.jsonl`` under ``DATA_DIR/leetcode/``.
A program is the answer's code, then ``test``, then ``check(entry_point)`` when the problem
names one or ``test`` defines ``check`` (the entry point is then ``Solution().<method>``).
"""

from __future__ import annotations

import re
from pathlib import Path

from repoloom.evaluate.benchmarks import register
from repoloom.evaluate.benchmarks.base import PYTHON_STOP_WORDS, Benchmark, Task
from repoloom.evaluate.data import DataNotFound, read_jsonl
from repoloom.evaluate.prompts import extract_code
from repoloom.evaluate.sandbox import Job
from repoloom.prompts import COT_SENTENCE


class LeetCode(Benchmark):
    max_new_tokens = 1024

    def __init__(self, cot: bool) -> None:
        self.cot = cot
        self.name = "leetcode-cot" if cot else "leetcode"
        self.description = "LeetCode contest (instruct)" + (" with chain of thought" if cot else "")

    def load(self, data_dir: Path | None) -> list[Task]:
        files = sorted((data_dir / "leetcode").glob("*.jsonl")) if data_dir else []
        if not files:
            raise DataNotFound(
                "LeetCode contest: put the released JSONL under DATA_DIR/leetcode/ "
                "(--data-dir / REPOLOOM_DATA); it has no public hub copy"
            )
        tasks = []
        for f in files:
            for rec in read_jsonl(f):
                missing = [k for k in ("task_id", "test") if k not in rec]
                if missing or not (rec.get("prompt_sft") or rec.get("prompt")):
                    raise ValueError(f"{f}: record without {missing or 'prompt/prompt_sft'}")
                tasks.append(
                    Task(str(rec["task_id"]), rec.get("prompt", ""), rec, list(PYTHON_STOP_WORDS))
                )
        return tasks

    def instruction(self, task: Task) -> str:
        text = (task.data.get("prompt_sft") or task.data["prompt"]).rstrip()
        return f"{text}\n{COT_SENTENCE}" if self.cot else text

    def completion_from_chat(self, task: Task, answer: str) -> str:
        return extract_code(answer, "python")

    @staticmethod
    def entry_point(rec: dict) -> str | None:
        if rec.get("entry_point"):
            return rec["entry_point"]
        if re.search(r"^def check\(", rec["test"], flags=re.M):
            m = re.findall(
                r"def (\w+)\(self", rec.get("prompt", "") + "\n" + rec.get("prompt_sft", "")
            )
            if m:
                return f"Solution().{m[-1]}"
        return None

    def job(self, task: Task, completion: str, timeout: float) -> Job:
        rec = task.data
        code = completion if "class Solution" in completion else rec.get("prompt", "") + completion
        program = code + "\n\n" + rec["test"] + "\n"
        ep = self.entry_point(rec)
        if ep and not re.search(r"^check\(", rec["test"], flags=re.M):
            program += f"check({ep})\n"
        return Job(kind="python", code=program, timeout=timeout)


register("leetcode", lambda: LeetCode(cot=False))
register("leetcode-cot", lambda: LeetCode(cot=True))
