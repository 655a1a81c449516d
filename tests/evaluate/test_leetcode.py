"""LeetCode contest as released (Evaluation/LeetCode/data/20240121-Jul.jsonl) and as DeepSeek's
harness scores it: import header + answer + test; data found in every released layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repoloom.benchdata import DataNotFound
from repoloom.evaluate.benchmarks import get, leetcode
from repoloom.evaluate.benchmarks.leetcode import COT_SENTENCE, IMPORT_HEADER, extract_answer_code
from repoloom.evaluate.scoring import score_samples
from repoloom.io import read_jsonl


def _record(slug: str, method: str, sig: str, cases: list[tuple[dict, object]], text: str) -> dict:
    """One problem with the released file's fields and layout."""
    starter = f"class Solution:\n    def {method}(self, {sig}:\n        "
    test = "\nmy_solution = Solution()\n"
    for inp, out in cases:
        test += f"\ntest_input = {json.dumps(inp)}\n"
        test += f"assert my_solution.{method}(**test_input) == {out!r}\n"
    return {
        "task_id": f"weekly-contest-999-{slug}",
        "url": f"https://leetcode.com/problems/{slug}",
        "title": slug,
        "meta": {"questionId": "9999", "title": slug, "titleSlug": slug, "difficulty": "Easy"},
        "prompt": f'"""\n{text}\n"""\n{starter}',
        "prompt_sft": f"{text}\n\n\nPlease complete the code below to solve above prblem:\n"
        f"```python\n{starter}\n```",
        "test": test,
        "start_time": 1705804200,
    }


PROBLEMS = [
    _record(
        "most-frequent",
        "mostFrequent",
        "nums: List[int]) -> int",
        [({"nums": [1, 2, 2, 3]}, 2), ({"nums": [5, 5, 4, 4, 4]}, 4), ({"nums": [7]}, 7)],
        "Return the most frequent element of nums.",
    ),
    _record(
        "group-sizes",
        "groupSizes",
        "words: List[str]) -> List[int]",
        [({"words": ["ab", "ba", "c"]}, [1, 2]), ({"words": ["x"]}, [1])],
        "Group the anagrams and return the sorted group sizes.",
    ),
]
# Correct answers written as instruct models write them (bare classes using names the
# prompt never imports: only the harness's header defines List, Counter, defaultdict).
MOST_FREQUENT = (
    "class Solution:\n    def mostFrequent(self, nums: List[int]) -> int:\n"
    "        return Counter(nums).most_common(1)[0][0]\n"
)
GROUP_SIZES = (
    "class Solution:\n    def groupSizes(self, words: List[str]) -> List[int]:\n"
    "        groups = defaultdict(list)\n        for w in words:\n"
    "            groups[''.join(sorted(w))].append(w)\n"
    "        return sorted(len(g) for g in groups.values())\n"
)


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def _zh(rows: list[dict]) -> list[dict]:
    return [{**r, "prompt_sft": "请完成下面的代码:\n" + r["prompt_sft"]} for r in rows]


@pytest.fixture()
def released(tmp_path) -> Path:
    """DeepSeek-Coder's Evaluation/LeetCode/data/ with both released files."""
    data = tmp_path / "DeepSeek-Coder" / "Evaluation" / "LeetCode" / "data"
    _write(data / "20240121-Jul.jsonl", PROBLEMS)
    _write(data / "20240121-Jul-zh.jsonl", _zh(PROBLEMS))
    return data


def _score(bench, rows, tmp_path, data_dir):
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = score_samples(bench, path, data_dir=data_dir, ks=(1,), progress=False)
    return summary, list(read_jsonl(str(path) + "_results.jsonl"))


def test_header_makes_bare_solutions_pass_as_the_harness_does(released, tmp_path, monkeypatch):
    bench = get("leetcode")
    tasks = bench.load(released / "20240121-Jul.jsonl")
    assert [t.task_id for t in tasks] == [p["task_id"] for p in PROBLEMS]
    answers = [
        # instruct form: prose, then a python block (cut out as evaluate_leetcode.py does)
        f"Count, then take the top one.\n```python\n{MOST_FREQUENT}```\nThis runs in O(n).",
        # a bare program, taken as is
        GROUP_SIZES,
        # wrong answers fail
        "```python\nclass Solution:\n    def mostFrequent(self, nums: List[int]) -> int:\n"
        "        return nums[0]\n```",
        GROUP_SIZES.replace("sorted(len", "list(len"),
    ]
    rows = [
        {"task_id": t.task_id, "completion": bench.completion_from_chat(t, a)}
        for t, a in zip([*tasks, *tasks], answers, strict=True)
    ]
    summary, results = _score(bench, rows, tmp_path, released)
    assert [r["passed"] for r in results] == [True, True, False, False], results
    assert results[0]["difficulty"] == "Easy"
    assert bench.job(tasks[0], rows[0]["completion"], 5.0).code.startswith(IMPORT_HEADER)
    # Without the header the same correct answers fail: the header is what makes them pass.
    monkeypatch.setattr(leetcode, "IMPORT_HEADER", "")
    _, bare = _score(bench, rows[:2], tmp_path, released)
    assert [r["passed"] for r in bare] == [False, False]
    assert "name 'List' is not defined" in bare[0]["result"]


def test_answer_extraction_follows_the_harness():
    starter = "class Solution:\n    def f(self, x: int) -> int:\n        "
    sft = f"Do it.\n```python\n{starter}\n```"
    assert extract_answer_code("Sure:\n```python\nA = 1\n```\n```python\nB\n```") == "A = 1"
    assert extract_answer_code("[PYTHON]\nA = 2\n[/PYTHON]") == "A = 2"
    # An unterminated python block: the harness keeps the whole answer.
    assert extract_answer_code("Text\n```python\nA = 3") == "Text\n```python\nA = 3"
    # A continuation of the starter's method body is appended to the starter code.
    body = "\n        return x + 1\n"
    assert extract_answer_code(body, sft) == starter.strip() + "\n" + body
    # Bare programs are kept whole (imports and helpers before the class included).
    bare = "import bisect\n\ndef helper():\n    return 1\n\nclass Solution:\n    pass\n"
    assert extract_answer_code(bare, sft) == bare


def test_base_model_continuation_is_a_whole_program(released, tmp_path):
    bench = get("leetcode")
    task = bench.load(released)[0]
    body = "return Counter(nums).most_common(1)[0][0]\n\nprint('cut here')\n"
    completion = bench.postprocess(task, body)
    assert completion == task.prompt + "return Counter(nums).most_common(1)[0][0]\n"
    _, results = _score(
        bench, [{"task_id": task.task_id, "completion": completion}], tmp_path, released
    )
    assert results[0]["passed"], results[0]["result"]


@pytest.mark.parametrize(
    "where", ["file", "data-folder", "leetcode-tree", "evaluation-tree", "repo-root", "data-dir"]
)
def test_data_dir_takes_every_released_layout(released, tmp_path, where):
    root = released.parents[2]  # .../DeepSeek-Coder
    if where == "data-dir":  # DATA_DIR/leetcode/ with any file name
        _write(tmp_path / "d" / "leetcode" / "contest.jsonl", PROBLEMS)
        _write(tmp_path / "d" / "leetcode" / "contest-zh.jsonl", _zh(PROBLEMS))
        _write(tmp_path / "d" / "mbpp.jsonl", [{"task_id": 1}])  # never read as LeetCode
    path = {
        "file": released / "20240121-Jul.jsonl",
        "data-folder": released,
        "leetcode-tree": released.parent,
        "evaluation-tree": root / "Evaluation",
        "repo-root": root,
        "data-dir": tmp_path / "d",
    }[where]
    zh_path = released / "20240121-Jul-zh.jsonl" if where == "file" else path
    en, zh = get("leetcode").load(path), get("leetcode-zh-cot").load(zh_path)
    assert len(en) == len(zh) == len(PROBLEMS)  # same ids, never mixed
    assert not any("请" in t.data["prompt_sft"] for t in en)
    assert all(t.data["prompt_sft"].startswith("请") for t in zh)


def test_chinese_file_is_its_own_benchmark(released):
    with pytest.raises(ValueError, match="Chinese LeetCode file.*leetcode-zh"):
        get("leetcode").load(released / "20240121-Jul-zh.jsonl")
    with pytest.raises(ValueError, match="English LeetCode file"):
        get("leetcode-zh").load(released / "20240121-Jul.jsonl")
    zh = get("leetcode-zh-cot")
    task = zh.load(released)[0]
    assert zh.instruction(task) == task.data["prompt_sft"] + "\n" + COT_SENTENCE
    assert get("leetcode-zh").instruction(task) == task.data["prompt_sft"]


def test_duplicate_task_ids_are_an_error_naming_the_files(tmp_path):
    lc = tmp_path / "leetcode"
    _write(lc / "a.jsonl", PROBLEMS)
    _write(lc / "b.jsonl", PROBLEMS[:1])
    with pytest.raises(ValueError, match=r"most-frequent.*a\.jsonl and .*b\.jsonl"):
        get("leetcode").load(tmp_path)
    _write(lc / "b.jsonl", PROBLEMS[:1] * 2)
    (lc / "a.jsonl").unlink()
    with pytest.raises(ValueError, match=r"b\.jsonl \(twice\)"):
        get("leetcode").load(tmp_path)


def test_missing_data_names_the_accepted_layouts(tmp_path):
    _write(tmp_path / "mbpp" / "mbpp.jsonl", [{"task_id": 1}])
    with pytest.raises(DataNotFound, match="20240121-Jul.jsonl.*Evaluation/"):
        get("leetcode").load(tmp_path)
    with pytest.raises(DataNotFound, match="Chinese"):
        get("leetcode-zh").load(None)
