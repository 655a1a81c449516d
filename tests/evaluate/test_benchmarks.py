"""MBPP, single-line infilling, PAL math and LeetCode: prompts, post-processing, scoring."""

from __future__ import annotations

import argparse
import json

import pytest

from repoloom.benchdata import DataNotFound
from repoloom.evaluate.benchmarks import get
from repoloom.evaluate.benchmarks.leetcode import COT_SENTENCE
from repoloom.evaluate.mathgrade import last_boxed, math_equal
from repoloom.evaluate.scoring import score_samples
from repoloom.io import read_jsonl

from .helpers import run_cli

MBPP_KNOWN_BROKEN = {"367"}  # reference code uses a class its tests never define


def _score(bench, rows, tmp_path, data_dir, **kw):
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = score_samples(bench, path, data_dir=data_dir, ks=(1,), progress=False, **kw)
    return summary, list(read_jsonl(str(path) + "_results.jsonl"))


def test_mbpp_prompt_is_the_reports_3_shot(data_dir):
    tasks = get("mbpp").load(data_dir)
    assert [t.task_id for t in tasks] == [str(i) for i in range(11, 511)]
    p = tasks[0].prompt
    assert p.count("You are an expert Python programmer, and here is your task:") == 4
    assert p.count("[DONE]") == 3 and p.endswith("[BEGIN]\n")
    assert "Write a function to find the similar elements" in p  # task 2 is the first shot
    assert tasks[0].data["text"] in p and all(t in p for t in tasks[0].data["test_list"])
    assert tasks[0].stop == ["[DONE]"]
    assert get("mbpp").postprocess(tasks[0], "def f():\n    return 1\n[DONE]\nYou are") == (
        "def f():\n    return 1\n"
    )


@pytest.mark.slow
def test_mbpp_reference_code_scores(data_dir, tmp_path):
    bench = get("mbpp")
    tasks = bench.load(data_dir)
    rows = [{"task_id": t.task_id, "completion": t.data["code"]} for t in tasks]
    summary, results = _score(bench, rows, tmp_path, data_dir, timeout=3.0)
    failed = {r["task_id"]: r["result"] for r in results if not r["passed"]}
    assert summary["passed"] >= 495, failed
    assert {t for t, why in failed.items() if why != "timed out"} <= MBPP_KNOWN_BROKEN, failed


INFILL_SETS = {  # name: (tasks in the official file, tasks scored here: every step-th)
    "humaneval-infill-line": (1033, 41),
    "humaneval-infill-multi": (5815, 223),
    "humaneval-infill-span": (1640, 63),
    "humaneval-infill-span-light": (164, 7),
}


@pytest.mark.parametrize("name", sorted(INFILL_SETS))
def test_infilling_canonical_middles_pass_and_wrong_ones_fail(name, data_dir, tmp_path):
    """A subset of each set (~25 tasks; benchmarks/eval_agreement.py runs them all)."""
    bench = get(name)
    tasks = bench.load(data_dir)
    size, step = INFILL_SETS[name]
    assert len(tasks) == size
    sub = tasks[::step]
    good = [{"task_id": t.task_id, "completion": t.data["canonical_solution"]} for t in sub]
    bad = []
    for t in sub:
        gold = t.data["canonical_solution"]
        if bench.line_based:  # a whole-line middle that raises, at the gold indentation
            wrong = gold[: len(gold) - len(gold.lstrip())] + "raise RuntimeError('wrong')\n"
        else:  # a span: leave the hole empty
            wrong = ""
        bad.append({"task_id": t.task_id, "completion": wrong})
    summary, results = _score(bench, good + bad, tmp_path, data_dir)
    good_r, bad_r = results[: len(sub)], results[len(sub) :]
    assert all(r["passed"] and r["exact_match"] for r in good_r), [
        (r["task_id"], r["result"]) for r in good_r if not r["passed"]
    ]
    assert not any(r["exact_match"] for r in bad_r)
    assert sum(r["passed"] for r in bad_r) <= len(sub) // 10
    assert summary["mean_exact_match"] == pytest.approx(0.5)
    assert summary["n_tasks_in_benchmark"] == size


def test_infilling_stop_rules(data_dir):
    line = get("humaneval-infill-line")
    t = line.load(data_dir)[0]
    assert line.request(t).stop == ["\n"]
    assert line.postprocess(t, "    x = 1\n    y = 2\n") == "    x = 1\n"
    for name in ("humaneval-infill-multi", "humaneval-infill-span"):
        bench = get(name)
        t = bench.load(data_dir)[0]
        # The whole middle: no newline or stop word cuts it, the model's EOS ends it.
        assert bench.request(t).stop == [] and bench.max_new_tokens == 512
        middle = "    a = 1\n\ndef helper():\n    return 2\n"
        assert bench.postprocess(t, middle) == middle


def test_infilling_prompt_is_fim(data_dir):
    bench = get("humaneval-infill-line")
    task = bench.load(data_dir)[0]
    req = bench.request(task)
    assert req.prompt == f"<｜fim▁begin｜>{task.prompt}<｜fim▁hole｜>{task.suffix}<｜fim▁end｜>"
    assert bench.request(task, fim_family="starcoder").prompt.startswith("<fim_prefix>")


@pytest.mark.parametrize(
    "pred,gold,equal",
    [
        ("18", "18", True), ("18.0", "18", True), ("1,000", "1000", True),
        ("0.75", "\\frac{3}{4}", True), ("3/4", "\\dfrac{3}{4}", True), ("50%", "50", True),
        ("0.5", "50\\%", True), ("2*sqrt(3)", "2\\sqrt{3}", True), ("pi/2", "\\frac{\\pi}{2}", True),
        ("(1, 2)", "(1,2)", True), ("9", "9 (apples)", True), ("\\$40", "40", True),
        ("x + 1", "1+x", True), ("-0.125", "-\\frac{1}{8}", True), ("17", "18", False),
        ("0.33", "\\frac{1}{3}", False), ("(1,3)", "(1,2)", False), ("", "0", False),
        ("0.5", "5", False), ("x+2", "x+1", False),
    ],
)  # fmt: skip
def test_math_equal(pred, gold, equal):
    assert math_equal(pred, gold) is equal


def test_last_boxed_balances_braces():
    assert last_boxed("so $\\boxed{1}$ and then $\\boxed{\\frac{9}{7}}$.") == "\\frac{9}{7}"
    assert last_boxed("no box") is None


def test_pal_math_data_sets_load(data_dir):
    for key, n in (("gsm8k", 1319), ("math", 5000), ("gsm-hard", 1319), ("svamp", 1000),
                   ("asdiv", 2215), ("mawps", 2065)):  # fmt: skip
        tasks = get(f"pal-{key}").load(data_dir)
        assert len(tasks) == n, key
        assert all(t.data["answer"] not in ("", "None") for t in tasks), key
    with pytest.raises(DataNotFound, match="tabmwp"):
        get("pal-tabmwp").load(data_dir)


def test_pal_math_programs_are_run_and_graded(data_dir, tmp_path):
    bench = get("pal-gsm8k")
    tasks = bench.load(data_dir)[:4]
    gold = [t.data["answer"] for t in tasks]
    comps = [
        f"def solution():\n    a = {gold[0]}\n    return a * 100 / 100\n",
        f"def solution():\n    from fractions import Fraction\n    return Fraction({gold[1]} * 3, 3)\n",
        "def solution():\n    return 12345\n",
        "def solution(:\n",
    ]
    rows = [{"task_id": t.task_id, "completion": c} for t, c in zip(tasks, comps, strict=True)]
    summary, results = _score(bench, rows, tmp_path, data_dir)
    assert [r["passed"] for r in results] == [True, True, False, False]
    assert results[2]["answer"] == "12345" and "!=" in results[2]["result"]
    assert bench.postprocess(tasks[0], "def solution():\n    return 1\n\n\n\nQuestion: x") == (
        "def solution():\n    return 1\n"
    )


LEETCODE = [
    {
        "task_id": "weekly-contest-1-two-sum",
        "prompt": "class Solution:\n    def twoSum(self, nums, target):\n",
        "prompt_sft": "Given nums and target, return indices of the two numbers adding to target.\n\n"
        "class Solution:\n    def twoSum(self, nums, target):\n",
        "test": "def check(candidate):\n    assert candidate([2, 7, 11, 15], 9) == [0, 1]\n"
        "    assert candidate([3, 2, 4], 6) == [1, 2]\n",
    },
    {
        "task_id": "weekly-contest-1-add",
        "prompt": "class Solution:\n    def add(self, a, b):\n",
        "prompt_sft": "Return a + b.",
        "test": "assert Solution().add(2, 3) == 5\n",
    },
]


def test_leetcode_format_with_and_without_cot(tmp_path):
    data = tmp_path / "data"
    (data / "leetcode").mkdir(parents=True)
    (data / "leetcode" / "contest.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in LEETCODE)
    )
    plain, cot = get("leetcode"), get("leetcode-cot")
    tasks = plain.load(data)
    assert COT_SENTENCE not in plain.instruction(tasks[0])
    assert cot.instruction(tasks[0]).endswith(COT_SENTENCE)
    assert cot.request(tasks[0], instruct=True).messages[0]["content"].endswith(COT_SENTENCE)
    good = (
        "Sure:\n```python\nclass Solution:\n    def twoSum(self, nums, target):\n"
        "        seen = {}\n        for i, x in enumerate(nums):\n"
        "            if target - x in seen:\n                return [seen[target - x], i]\n"
        "            seen[x] = i\n```"
    )
    comps = [
        plain.completion_from_chat(tasks[0], good),
        "class Solution:\n    def twoSum(self, nums, target):\n        return [0, 0]\n",
        "class Solution:\n    def add(self, a, b):\n        return a + b\n",
        "class Solution:\n    def add(self, a, b):\n        return a - b\n",
    ]
    rows = [
        {"task_id": t, "completion": c}
        for t, c in zip([tasks[0].task_id] * 2 + [tasks[1].task_id] * 2, comps, strict=True)
    ]
    _, results = _score(plain, rows, tmp_path, data)
    assert [r["passed"] for r in results] == [True, False, True, False]
    with pytest.raises(DataNotFound, match="leetcode"):
        plain.load(tmp_path)


def test_eval_list_and_extension_hook(capsys):
    assert run_cli(["eval", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("humaneval", "humaneval-cpp", "humaneval-rs", "mbpp", "humaneval-infill-line",
                 "pal-gsm8k", "pal-tabmwp", "leetcode-cot"):  # fmt: skip
        assert name in out
    from repoloom.evaluate import cli

    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("--x", type=int, default=3)
        p.set_defaults(func=lambda args: args.x)

    cli.add_eval_command("demo-ext", "a test extension", configure)
    try:
        assert run_cli(["eval", "demo-ext", "--x", "7"]) == 7
        with pytest.raises(ValueError):
            cli.add_eval_command("run", "clash", configure)
    finally:
        cli._EXTRA.pop("demo-ext", None)


ALWAYS_EQUAL = (
    "    class _Eq:\n"
    "        def __eq__(self, other):\n"
    "            return True\n"
    "        __ne__ = lambda self, other: False\n"
    "    return _Eq()\n"
)


def test_python_benchmarks_decide_verdicts_out_of_the_programs_reach(data_dir, tmp_path):
    """HumanEval, MBPP and infilling tests run in the sandbox's checker process: an always-equal
    object (which passes every `assert candidate(x) == y` in one process) fails, while the
    canonical solution still passes."""
    he = get("humaneval")
    task = he.load(data_dir)[0]
    assert he.job(task, "x", 5.0).check.endswith(f"check({task.data['entry_point']})")
    rows = [
        {"task_id": task.task_id, "completion": task.data["canonical_solution"]},
        {"task_id": task.task_id, "completion": ALWAYS_EQUAL},
    ]
    _, results = _score(he, rows, tmp_path, data_dir)
    assert [r["passed"] for r in results] == [True, False], results
    mbpp = get("mbpp")
    t = mbpp.load(data_dir)[0]
    fn = t.data["test_list"][0].split("assert ")[1].split("(")[0]
    forged = f"def {fn}(*args):\n" + ALWAYS_EQUAL
    _, results = _score(
        mbpp,
        [
            {"task_id": t.task_id, "completion": t.data["code"]},
            {"task_id": t.task_id, "completion": forged},
        ],
        tmp_path,
        data_dir,
    )
    assert [r["passed"] for r in results] == [True, False], results
    assert (
        get("humaneval-infill-span")
        .job(get("humaneval-infill-span").load(data_dir)[0], "", 5.0)
        .check
    )
