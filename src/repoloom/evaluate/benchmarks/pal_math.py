"""PAL math: the model writes a Python ``solution()`` for a word problem; the program runs in
the sandbox and its printed answer is compared to the reference with a numeric/symbolic
equality (:mod:`repoloom.evaluate.mathgrade`). Seven data sets as in the report: GSM8K, MATH,
GSM-Hard, SVAMP, ASDiv, MAWPS and TabMWP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from repoloom.evaluate.benchmarks import register
from repoloom.evaluate.benchmarks.base import Benchmark, Task, Verdict
from repoloom.evaluate.data import DataNotFound, read_json_records
from repoloom.evaluate.mathgrade import last_boxed, math_equal
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


@dataclass(frozen=True)
class MathSet:
    key: str
    files: tuple[str, ...]  # relative to the data dir; a glob for several files
    question: Callable[[dict], str]
    answer: Callable[[dict], object]
    hub: tuple[str, str] | None = None  # (dataset repo, file pattern)


def _tab_question(r: dict) -> str:
    table = r.get("table") or ""
    return (f"Read the following table and answer the question.\n{table}\n" if table else "") + r[
        "question"
    ]


SETS: dict[str, MathSet] = {
    s.key: s
    for s in (
        MathSet(
            "gsm8k",
            ("pal-math/gsm8k/test.json", "gsm8k/test.jsonl", "gsm8k/test.json"),
            lambda r: r["question"],
            lambda r: str(r["answer"]).split("####")[-1].strip(),
            ("openai/gsm8k", "main/test-*"),
        ),
        MathSet(
            "math",
            ("pal-math/math/test.json", "math/test.jsonl", "math/test.json"),
            lambda r: r["problem"],
            lambda r: last_boxed(r["solution"]),
        ),
        MathSet(
            "gsm-hard",
            ("pal-math/gsm-hard/test.json",),
            lambda r: r["input"],
            lambda r: r["target"],
            ("reasoning-machines/gsm-hard", "*.jsonl"),
        ),
        MathSet(
            "svamp",
            ("pal-math/svamp/test.json",),
            lambda r: f"{r['Body'].strip()} {r['Question'].strip()}",
            lambda r: r["Answer"],
        ),
        MathSet(
            "asdiv",
            ("pal-math/asdiv/test.json",),
            lambda r: f"{r['body'].strip()} {r['question'].strip()}",
            lambda r: r["answer"],
        ),
        MathSet("mawps", ("pal-math/mawps/*.jsonl",), lambda r: r["input"], lambda r: r["target"]),
        MathSet(
            "tabmwp",
            ("pal-math/tabmwp/test.json", "pal-math/tabmwp/problems_test.json"),
            _tab_question,
            lambda r: r["answer"],
        ),
    )  # fmt: skip
}


def _records(path: Path) -> list[dict]:
    import json

    text = path.read_text(encoding="utf-8").lstrip()
    if text.startswith("{") and "\n" not in text.strip():
        obj = json.loads(text)  # TabMWP: one object keyed by problem id (or a one-row JSONL)
        if isinstance(obj, dict) and obj and all(isinstance(v, dict) for v in obj.values()):
            return [{"_id": k, **v} for k, v in obj.items()]
        return [obj]
    return read_json_records(path)


def math_records(
    spec: MathSet, data_dir: Path | None, what: str = ""
) -> tuple[list[tuple[str, dict]], str]:
    """(task id, raw record) of a math set from the local copy, else its public hub; and where
    they came from. Also used by corpus decontamination (repoloom.corpus.decontam)."""
    what = what or f"pal-{spec.key}"
    rows: list[tuple[str, dict]] = []
    where: list[str] = []
    if data_dir is not None:
        for pattern in spec.files:
            for path in sorted(data_dir.glob(pattern)):
                stem = path.parent.name if path.name.startswith(("test", "problems")) else path.stem
                rows += [(f"{stem}/{r.get('_id', i)}", r) for i, r in enumerate(_records(path))]
                where.append(str(path))
            if rows:
                break
    if rows:
        return rows, ", ".join(where)
    if spec.hub is None:
        raise DataNotFound(
            f"{what}: no local copy (--data-dir with {spec.files[0]}) and no public source "
            "configured for it"
        )
    from repoloom.evaluate.hub import hub_records

    recs = hub_records(*spec.hub, what, f"--data-dir with {spec.files[0]}")
    return [(f"{spec.key}/{i}", r) for i, r in enumerate(recs)], f"hub:{spec.hub[0]}"


class PalMath(Benchmark):
    max_new_tokens = 500

    def __init__(self, spec: MathSet) -> None:
        self.spec = spec
        self.name = f"pal-{spec.key}"
        self.description = f"PAL math on {spec.key}: program answers, numeric/symbolic equality"

    def load(self, data_dir: Path | None) -> list[Task]:
        rows, _ = math_records(self.spec, data_dir, self.name)
        tasks = []
        for tid, r in rows:
            q = self.spec.question(r)
            gold = self.spec.answer(r)
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
        from repoloom.evaluate.prompts import extract_code

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
