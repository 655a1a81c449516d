"""LeetCode contest problems as DeepSeek released them (``Evaluation/LeetCode/data/
20240121-Jul.jsonl``, 180 problems; fields ``task_id``, ``prompt``, ``prompt_sft``, ``test``,
``meta``, ...), for instruct models, with and without the chain-of-thought sentence.

Scored as DeepSeek's harness scores them: the program is the harness's Python import header
(``math``, ``re``, ..., ``numpy``, ``from typing import *``, ``from collections import *``,
``from functools import *``), then the answer's code, then ``test`` (``my_solution =
Solution()`` and asserts). Most starter code uses ``List[...]`` without importing it, so the
header is what makes a correct bare ``class Solution`` pass.

The English file and the Chinese one (``*-zh.jsonl``) hold the same task ids; each is its own
benchmark (``leetcode``/``leetcode-cot`` and ``leetcode-zh``/``leetcode-zh-cot``), never mixed.
"""

from __future__ import annotations

import re
from pathlib import Path

from repoloom.benchdata.leetcode import is_chinese_file, leetcode_files, leetcode_records
from repoloom.evaluate.benchmarks import register
from repoloom.evaluate.benchmarks.base import PYTHON_STOP_WORDS, Benchmark, Task
from repoloom.evaluate.prompts import extract_code
from repoloom.evaluate.sandbox import Job, JobResult

# DeepSeek's harness (Evaluation/LeetCode/human_eval/evaluation.py, IMPORT_HELPER["python"])
# puts these lines before every program.
IMPORT_HEADER = (
    "\n".join(
        [
            "import math",
            "import re",
            "import sys",
            "import copy",
            "import datetime",
            "import itertools",
            "import collections",
            "import heapq",
            "import functools",
            "import hashlib",
            "import numpy",
            "import numpy as np",
            "import string",
            "from typing import *",
            "from collections import *",
            "from functools import *",
        ]
    )
    + "\n"
)
# The sentence vllm_inference.py --cot appends to prompt_sft (after a newline), verbatim: the
# released harness words it without the report's "to".
COT_SENTENCE = "You need first write a step-by-step outline and then write the code."

_FENCED_PYTHON = re.compile(r"```python\n(.*?)\n```", flags=re.S)

__all__ = [
    "COT_SENTENCE",
    "IMPORT_HEADER",
    "LeetCode",
    "extract_answer_code",
    "is_chinese_file",
    "leetcode_files",
]


def extract_answer_code(answer: str, prompt_sft: str = "") -> str:
    """The program in an instruct model's answer, cut out as DeepSeek's evaluate_leetcode.py
    does: ``[PYTHON]`` tags count as a python fence; the first ```` ```python ```` block is
    the program (an unterminated one leaves the whole answer); an answer that continues the
    starter code's method body (starts with a newline and 8 spaces) is appended to the starter
    code. Unlike the harness, a block fenced without the ``python`` tag is taken too, and an
    answer without any fence is taken as it is (the harness cuts it at the first top-level
    ``def``/``class``/``if``/``#``/``print``, which would drop a class after its imports)."""
    if answer.startswith("\n        "):
        m = _FENCED_PYTHON.search(prompt_sft)
        starter = (m.group(1) if m else prompt_sft).strip()
        return starter + "\n" + answer
    text = answer.replace("[PYTHON]", "```python").replace("[/PYTHON]", "```")
    if "```python" in text:
        m = _FENCED_PYTHON.search(text)
        return m.group(1) if m else answer
    if "```" in text:
        return extract_code(text, "python")
    return answer


class LeetCode(Benchmark):
    max_new_tokens = 1024  # as vllm_inference.py

    def __init__(self, cot: bool, chinese: bool = False) -> None:
        self.cot = cot
        self.chinese = chinese
        self.name = "leetcode" + ("-zh" if chinese else "") + ("-cot" if cot else "")
        self.description = (
            "LeetCode contest 2023-07..2024-01 (instruct"
            + (", Chinese prompts" if chinese else "")
            + (", chain of thought" if cot else "")
            + ")"
        )

    def load(self, data_dir: Path | None) -> list[Task]:
        tasks: list[Task] = []
        origin: dict[str, Path] = {}
        for f, records in leetcode_records(data_dir, self.chinese):
            for rec in records:
                missing = [k for k in ("task_id", "test") if k not in rec]
                if missing or not (rec.get("prompt_sft") or rec.get("prompt")):
                    raise ValueError(f"{f}: record without {missing or 'prompt/prompt_sft'}")
                tid = str(rec["task_id"])
                if tid in origin:
                    where = f"{origin[tid]} and {f}" if origin[tid] != f else f"{f} (twice)"
                    raise ValueError(f"{self.name}: task id {tid!r} appears in {where}")
                origin[tid] = f
                tasks.append(Task(tid, rec.get("prompt", ""), rec, list(PYTHON_STOP_WORDS)))
        return tasks

    def instruction(self, task: Task) -> str:
        text = task.data.get("prompt_sft") or task.data["prompt"]
        return f"{text}\n{COT_SENTENCE}" if self.cot else text

    def completion_from_chat(self, task: Task, answer: str) -> str:
        return extract_answer_code(answer, task.data.get("prompt_sft", ""))

    def postprocess(self, task: Task, generation: str) -> str:
        # A base model continues the starter code (without --instruct): the program is the
        # prompt (docstring + starter) and the continuation, cut at the first stop word.
        return task.prompt + super().postprocess(task, generation)

    @staticmethod
    def entry_point(rec: dict) -> str | None:
        """For human-eval style tests (``def check(candidate)``): ``entry_point``, else
        ``Solution().<last method of the starter code>``. The released tests call
        ``my_solution`` directly and need none."""
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
        program = IMPORT_HEADER + completion + "\n" + rec["test"] + "\n"
        ep = self.entry_point(rec)
        if ep and not re.search(r"^check\(", rec["test"], flags=re.M):
            program += f"check({ep})\n"
        return Job(kind="python", code=program, timeout=timeout)

    def grade(self, task: Task, completion: str, result: JobResult | None):
        verdict = super().grade(task, completion, result)
        difficulty = (task.data.get("meta") or {}).get("difficulty")
        if difficulty:  # the harness reports pass rates per difficulty too
            verdict.extra["difficulty"] = difficulty
        return verdict


for _cot in (False, True):
    for _zh in (False, True):
        register(
            "leetcode" + ("-zh" if _zh else "") + ("-cot" if _cot else ""),
            lambda cot=_cot, zh=_zh: LeetCode(cot=cot, chinese=zh),
        )
