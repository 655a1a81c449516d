"""MultiPL-E: hand-written correct solutions pass and broken ones fail, in every language whose
toolchain is installed (.ci/system-deps.sh installs them)."""

from __future__ import annotations

import json

import pytest

from repoloom.evaluate.benchmarks import get
from repoloom.evaluate.benchmarks.multiple import LANGUAGES, toolchain_version
from repoloom.evaluate.scoring import score_samples
from repoloom.io import read_jsonl

from .multiple_solutions import GO_TASKS, RUST_TASKS, SOLUTIONS

SLOW = {"cpp", "ts", "java"}  # compile-heavy: 5 correct + 2 broken samples


def _check(bench_name, samples, data, expected, tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in samples))
    summary = score_samples(get(bench_name), path, data_dir=data, ks=(1,), progress=False)
    rows = list(read_jsonl(str(path) + "_results.jsonl"))
    got = [r["passed"] for r in rows]
    wrong = [
        (r["task_id"], e, r["result"])
        for r, e in zip(rows, expected, strict=True)
        if r["passed"] != e
    ]
    assert got == expected, wrong
    assert summary["toolchain"] and "not installed" not in summary["toolchain"]
    return summary


@pytest.mark.slow
@pytest.mark.parametrize("lang", sorted(SOLUTIONS))
def test_handwritten_solutions(lang, data_dir, tmp_path):
    row = LANGUAGES[lang]
    if toolchain_version(row) is None:
        pytest.skip(f"{row.name} toolchain not installed (Debian: {row.debian})")
    tasks = list(SOLUTIONS[lang].items())[:5]
    n_bad = 2 if lang in SLOW else 5
    samples = [{"task_id": t, "completion": good} for t, (good, _) in tasks]
    samples += [{"task_id": t, "completion": bad} for t, (_, bad) in tasks[:n_bad]]
    summary = _check(f"humaneval-{lang}", samples, data_dir, [True] * 5 + [False] * n_bad, tmp_path)
    assert summary["passed"] == 5


@pytest.mark.slow
@pytest.mark.parametrize("lang,tasks", [("go", GO_TASKS), ("rs", RUST_TASKS)])
def test_go_and_rust_rows(lang, tasks, tmp_path):
    row = LANGUAGES[lang]
    if toolchain_version(row) is None:
        pytest.skip(f"{row.name} toolchain not installed (Debian: {row.debian})")
    data = tmp_path / "data"
    (data / "humaneval").mkdir(parents=True)
    with open(data / "humaneval" / f"humaneval-{lang}.jsonl", "w") as fh:
        for t in tasks:
            fh.write(json.dumps({k: v for k, v in t.items() if not k.startswith("_")}) + "\n")
    samples = [{"task_id": t["name"], "completion": t["_good"]} for t in tasks]
    samples += [{"task_id": t["name"], "completion": t["_bad"]} for t in tasks[:1]]
    _check(f"humaneval-{lang}", samples, data, [True] * len(tasks) + [False], tmp_path)


def test_every_language_registered_with_stop_tokens(data_dir):
    for lang in ("cpp", "java", "php", "ts", "cs", "sh", "js"):
        tasks = get(f"humaneval-{lang}").load(data_dir)
        assert len(tasks) >= 158
        assert all(t.stop for t in tasks), lang
    assert {"go", "rs"} <= set(LANGUAGES)


def test_stop_tokens_cut_generation(data_dir):
    bench = get("humaneval-js")
    task = bench.load(data_dir)[0]
    gen = "  return 1;\n}\n\nfunction other() {\n"
    assert bench.postprocess(task, gen) == "  return 1;\n}\n"


def test_missing_toolchain_fails_samples_not_evaluator(tmp_path, data_dir, monkeypatch):
    from repoloom.evaluate.benchmarks import multiple

    broken = multiple.Language(
        "sh",
        "Bash",
        "main.sh",
        (("no-such-interpreter-xyz", "main.sh"),),
        ("no-such-interpreter-xyz",),
        "none",
    )
    bench = multiple.MultiPLE(broken)
    task = bench.load(data_dir)[0]
    from repoloom.evaluate.sandbox import SandboxPool

    with SandboxPool(1) as pool:
        r = pool.run(bench.job(task, "  echo 1\n", 5))
    assert not r.passed and "exit 127" in r.result
    assert "not installed" in bench.toolchain()
