"""PAL math: the model writes a Python ``solution()`` for a word problem; the program runs in
the sandbox and its printed answer is compared to the reference with a numeric/symbolic
equality (:mod:`repoloom.evaluate.mathgrade`). Seven data sets as in the report: GSM8K, MATH,
GSM-Hard, SVAMP, ASDiv, MAWPS and TabMWP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from repoloom.benchdata.pal_math import SETS, MathSet, math_records
from repoloom.evaluate.benchmarks import register
from repoloom.evaluate.benchmarks.base import Benchmark, Task, Verdict
from repoloom.evaluate.mathgrade import last_boxed, math_equal
from repoloom.evaluate.prompts import extract_code
from repoloom.evaluate.sandbox import Job, JobResult

# Few-shot examples (written for repoloom) in the PAL style: a function that computes the
# answer step by step with named variables.
PAL_PROMPT = """Let's use Python to solve math problems. Here are three examples how to do it.

Question: Olivia has $23. She bought five bagels for $3 each. How much money does she have left?
# solution in Python:
def solution():
    money_initial = 23
    bagels = 5
    bagel_cost = 3
    money_spent = bagels * bagel_cost
    money_left = money_initial - money_spent
    return money_left

Question: A class of 28 students shares 7 pizzas cut into 8 slices each equally. What fraction of a pizza does each student get?
# solution in Python:
def solution():
    from fractions import Fraction
    slices = 7 * 8
    slices_per_student = Fraction(slices, 28)
    return slices_per_student / 8

Question: What is the sum of the roots of $x^2 - 5x + 6 = 0$?
# solution in Python:
def solution():
    from sympy import symbols, solve
    x = symbols('x')
    roots = solve(x**2 - 5*x + 6, x)
    return sum(roots)

"""
STOP = ["\nQuestion:", "\n\n\n", "\nprint(", "\nif __name__"]

__all__ = ["PAL_PROMPT", "READERS", "SETS", "MathSet", "PalMath", "math_records"]


def _tab_question(r: dict) -> str:
    table = r.get("table") or ""
    return (f"Read the following table and answer the question.\n{table}\n" if table else "") + r[
        "question"
    ]


# How to read each set's records (benchdata.pal_math.SETS says where they lie): the question
# put to the model and the reference answer.
Reader = tuple[Callable[[dict], str], Callable[[dict], object]]
READERS: dict[str, Reader] = {
    "gsm8k": (lambda r: r["question"], lambda r: str(r["answer"]).split("####")[-1].strip()),
    "math": (lambda r: r["problem"], lambda r: last_boxed(r["solution"])),
    "gsm-hard": (lambda r: r["input"], lambda r: r["target"]),
    "svamp": (lambda r: f"{r['Body'].strip()} {r['Question'].strip()}", lambda r: r["Answer"]),
    "asdiv": (lambda r: f"{r['body'].strip()} {r['question'].strip()}", lambda r: r["answer"]),
    "mawps": (lambda r: r["input"], lambda r: r["target"]),
    "tabmwp": (_tab_question, lambda r: r["answer"]),
}
if READERS.keys() != SETS.keys():
    raise RuntimeError("every PAL math set of benchdata needs a reader here")


class PalMath(Benchmark):
    max_new_tokens = 500

    def __init__(self, spec: MathSet) -> None:
        self.spec = spec
        self.question, self.answer = READERS[spec.key]
        self.name = f"pal-{spec.key}"
        self.description = f"PAL math on {spec.key}: program answers, numeric/symbolic equality"

    def load(self, data_dir: Path | None) -> list[Task]:
        rows, _ = math_records(self.spec, data_dir, self.name)
        tasks = []
        for tid, r in rows:
            q = self.question(r)
            gold = self.answer(r)
            if gold is None:
                continue  # no reference answer: not scorable
            data = {"question": q, "answer": str(gold)}
            tasks.append(
                Task(tid, f"{PAL_PROMPT}Question: {q}\n# solution in Python:\n", data, list(STOP))
            )
        return tasks

    def postprocess(self, task: Task, generation: str) -> str:
        return super().postprocess(task, generation).rstrip() + "\n"

    def instruction(self, task: Task) -> str:
        return (
            f"{task.data['question']}\nWrite a Python function `solution()` that returns the "
            "answer, in one code block."
        )

    def completion_from_chat(self, task: Task, answer: str) -> str:
        return extract_code(answer, "python")

    def job(self, task: Task, completion: str, timeout: float) -> Job:
        program = completion + "\n\nprint('\\n' + str(solution()))\n"
        return Job(kind="python", code=program, timeout=timeout)

    def grade(self, task: Task, completion: str, result: JobResult | None) -> Verdict:
        if result is None or not result.passed:
            return Verdict(
                False, result.result if result else "failed: nothing was run", {"answer": None}
            )
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        pred = lines[-1].strip() if lines else ""
        ok = math_equal(pred, task.data["answer"])
        text = "passed" if ok else f"failed: answer {pred[:80]!r} != {task.data['answer'][:80]!r}"
        return Verdict(ok, text, {"answer": pred[:200]})


for _key, _spec in SETS.items():
    register(f"pal-{_key}", lambda _spec=_spec: PalMath(_spec))
