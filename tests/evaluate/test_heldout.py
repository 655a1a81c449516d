"""``repoloom eval build-heldout`` and ``repoloom eval run heldout`` on small repositories and a
tiny random model: deterministic points, multi-line grading, and the true span's loss checked
against a direct forward pass."""

from __future__ import annotations

import json
import math
from pathlib import Path

from repoloom.cli import main
from repoloom.evaluate.heldout_build import (
    HeldoutLineInfilling,
    LineTask,
    fim_line_tasks,
    read_points,
)


def _write_repos(root: Path) -> list[Path]:
    alpha, beta = root / "alpha", root / "beta"
    (alpha / "pkg").mkdir(parents=True)
    beta.mkdir()
    (alpha / "pkg" / "__init__.py").write_text("")
    for i in range(2):
        body = "".join(
            f"def func_{i}_{j}(value, other):\n    result = value * {j} + other\n"
            f"    if result > {3 * j}:\n        return result - {j}\n    return result\n\n\n"
            for j in range(6)
        )
        (alpha / "pkg" / f"mod{i}.py").write_text("from pkg import mod0\n\n\n" + body)
    (beta / "main.py").write_text(
        "".join(
            f"class Item{j}:\n    def __init__(self, name):\n        self.name = name\n\n"
            f"    def show(self):\n        print('item', self.name, {j})\n\n\n"
            for j in range(5)
        )
    )
    (beta / "README.md").write_text("# not code: no points here\n" * 20)
    return [alpha, beta]


def _build(repos: list[Path], out: Path, *extra: str) -> None:
    args = ["eval", "build-heldout", *map(str, repos), "--out", str(out)]
    assert (
        main([*args, "--lines", "6", "--multi-lines", "4", "--context-chars", "400", *extra]) == 0
    )


def test_build_heldout_points_are_deterministic_and_cut_from_the_files(tmp_path, capsys):
    repos = _write_repos(tmp_path / "repos")
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _build(repos, a)
    _build(repos, b)
    assert a.read_bytes() == b.read_bytes()  # same repositories and settings: same file
    summary = json.loads(capsys.readouterr().out.split("\n}\n")[0] + "\n}")
    assert summary["single_line_points"] == 6 and summary["multi_line_points"] == 4
    points = read_points(a)
    assert len({p.task_id for p in points}) == 10
    assert {p.repo for p in points} == {"alpha", "beta"}
    assert not any(p.path.endswith(".md") for p in points)
    for p in points:
        text = (tmp_path / "repos" / p.repo / p.path).read_text()
        assert p.prefix + p.middle + p.suffix in text
        assert p.middle.count("\n") == p.n_lines and p.middle.strip()
        assert len(p.prefix) + len(p.suffix) <= 400
        assert p.task_id.startswith(f"{p.repo}/{p.path}:{p.line}")
    assert sorted(p.n_lines > 1 for p in points) == [False] * 6 + [True] * 4
    assert all(2 <= p.n_lines <= 4 for p in points if p.n_lines > 1)
    _build(repos, b, "--seed", "1")
    assert [p.task_id for p in read_points(b)] != [p.task_id for p in points]


def test_build_heldout_refuses_bad_input(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing to complete\n")
    assert main(["eval", "build-heldout", str(empty), "--out", str(tmp_path / "x.jsonl")]) != 0
    assert "no code files" in capsys.readouterr().err
    assert main(["eval", "build-heldout", str(empty), "--out", "x", "--context-tokens", "9"]) != 0
    assert "go together" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


def test_multi_line_tasks_span_consecutive_lines():
    text = "".join(f"line_number_{i} = {i}\n" for i in range(40))
    tasks = fim_line_tasks({"a.py": text}, 8, len, 10_000, seed=2, max_span_lines=3)
    assert len(tasks) == 8
    for t in tasks:
        assert 2 <= t.n_lines <= 3 and t.task_id == f"a.py:{t.line}-{t.line + t.n_lines - 1}"
        assert t.prefix + t.middle + t.suffix == text


def test_multi_line_grading_cuts_to_the_truths_line_count():
    task = LineTask("a.py:2-3", "a.py", 2, "def f(x):\n", "    y = x\n    return y\n", "\n", "", 2)
    bench = HeldoutLineInfilling([task])
    (t,) = bench.load(None)
    assert t.stop == []  # a multi-line middle is not cut at the first newline
    out = bench.postprocess(t, "  y = x\n    return y  \n\nprint(1)\n")
    assert out == "  y = x\n    return y  \n"
    v = bench.grade(t, out, None)
    assert v.passed and v.extra["exact_match_multi"] and v.extra["edit_similarity"] == 1.0
    wrong = bench.grade(t, bench.postprocess(t, "    y = x\n"), None)
    assert not wrong.passed and 0 < wrong.extra["edit_similarity"] < 1


def test_eval_run_heldout_scores_and_measures_the_true_span_loss(tmp_path, capsys):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from repoloom.prompts import render_fim
    from repoloom.testing import tiny_model

    model_dir = tiny_model(tmp_path / "tiny")
    points = tmp_path / "points.jsonl"
    _build(_write_repos(tmp_path / "repos"), points)
    capsys.readouterr()
    out = tmp_path / "eval"
    args = ["eval", "run", "heldout", "--model", str(model_dir), "--data-dir", str(points)]
    assert main([*args, "--out", str(out), "--max-new-tokens", "6", "--device", "cpu"]) == 0
    summary = json.loads((out / "samples.jsonl_results.json").read_text())
    assert summary["n_scored"] == 10
    assert summary["points"] == {"single-line": 6, "multi-line": 4}
    assert "mean_exact_match_single" in summary and "mean_exact_match_multi" in summary
    printed = capsys.readouterr().out
    assert "loss_nats_per_token" in printed
    # The loss: every point's middle after its FIM prompt, one forward pass each, here again.
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    nll = n = 0.0
    for p in read_points(points):
        middle = tok(p.middle, add_special_tokens=False)["input_ids"]
        ids = tok(render_fim(p.prefix, p.suffix, "deepseek"))["input_ids"] + middle
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
        nll -= sum(float(logp[len(ids) - len(middle) - 1 + i, m]) for i, m in enumerate(middle))
        n += len(middle)
    assert math.isclose(summary["loss_nats_per_token"], nll / n, rel_tol=1e-3)
    rows = [json.loads(x) for x in (out / "samples.jsonl_results.jsonl").read_text().splitlines()]
    assert all(r["span_tokens"] > 0 and r["span_nll"] > 0 for r in rows)
