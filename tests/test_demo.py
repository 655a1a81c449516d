"""`make demo` runs `repoloom demo`: the whole system on the pinned demo repositories.

The end-to-end test runs every step on the cached pinned corpus (~/.cache/repoloom/
test-demo-corpus or $REPOLOOM_TEST_CACHE, shared with tests/corpus/test_real_corpus.py) with a
few training steps; it is skipped when the registries cannot be reached and nothing is cached.
The held-out helpers are tested offline on small inputs.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repoloom.evaluate.heldout_build import (
    HeldoutError,
    HeldoutLineInfilling,
    LineTask,
    check_not_in_corpus,
    fim_line_tasks,
    split_tasks,
)

# ---------------------------------------------------------------------------- held-out helpers


def _tasks(*names):
    return [SimpleNamespace(name=n, location=f"/x/{n}") for n in names]


def test_split_holds_out_whole_repositories_by_name_prefix():
    tasks = _tasks("rich-13.7.1", "click-8.1.7", "clickhouse-1.0")
    train, held = split_tasks(tasks, ["click"])
    assert [t.name for t in held] == ["click-8.1.7"]  # not clickhouse: prefix up to the dash
    assert [t.name for t in train] == ["rich-13.7.1", "clickhouse-1.0"]
    with pytest.raises(HeldoutError, match="matches 0"):
        split_tasks(tasks, ["flask"])
    with pytest.raises(HeldoutError, match="nothing left"):
        split_tasks(_tasks("click-8.1.7"), ["click"])


def _write_samples(corpus: Path, samples: list[dict[str, str]]) -> None:
    """Samples as the corpus builder renders them: "# path" headers before each file."""
    rows = [
        {
            "repo": "train",
            "paths": list(files),
            "text": "".join(f"# {p}\n{t}" for p, t in files.items()),
        }
        for files in samples
    ]
    (corpus / "samples").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), corpus / "samples" / "part-00000.parquet")


def test_leak_check_finds_a_heldout_file_inside_a_training_sample(tmp_path):
    held = "def f(x):\n" + "    y = x * 2\n" * 30 + "    return y\n"
    other = "def g():\n" + "    pass\n" * 40
    _write_samples(tmp_path / "clean", [{"a.py": other, "b.py": held[:-20]}])
    assert check_not_in_corpus({"click/a.py": held}, tmp_path / "clean") == 1
    _write_samples(tmp_path / "leaky", [{"a.py": other}, {"b.py": held, "c.py": other}])
    with pytest.raises(HeldoutError, match="click/a.py"):
        check_not_in_corpus({"click/a.py": held}, tmp_path / "leaky")
    # files too short to be evidence are not checked
    assert check_not_in_corpus({"tiny.py": "x = 1\n"}, tmp_path / "leaky") == 0


def _count(text: str) -> int:
    return len(text.split())  # a stand-in tokenizer: words


def test_line_tasks_cut_one_whole_line_out_of_the_file():
    files = {
        "pkg/a.py": "".join(f"value_{i} = compute({i}, {i + 1})\n" for i in range(200)),
        "pkg/b.py": "import os\n\n\ndef main():\n    return os.getcwd()  # the cwd\n",
        "pkg/empty.py": "x = 1\n",  # no eligible line (too short)
    }
    tasks = fim_line_tasks(files, 5, _count, budget_tokens=60, seed=3)
    assert len(tasks) == 5 and len({t.task_id for t in tasks}) == 5
    assert {t.path for t in tasks} == {"pkg/a.py", "pkg/b.py"}
    for t in tasks:
        text = files[t.path]
        lines = text.split("\n")
        assert t.middle == lines[t.line - 1] + "\n" and len(t.middle.strip()) >= 8
        # prefix and suffix are the file around the line, cut at line boundaries
        assert (t.prefix + t.middle + t.suffix) in text
        assert text.split("\n", t.line - 1)[-1].startswith(t.middle)
        assert t.prefix == "" or t.prefix.endswith("\n")
        assert _count(t.prefix) + _count(t.suffix) <= 60
    # the same seed gives the same tasks; another seed other lines
    again = fim_line_tasks(files, 5, _count, budget_tokens=60, seed=3)
    assert [t.task_id for t in again] == [t.task_id for t in tasks]
    other = fim_line_tasks(files, 5, _count, budget_tokens=60, seed=4)
    assert [t.task_id for t in other] != [t.task_id for t in tasks]
    # the character bound before counting keeps whole lines
    bounded = fim_line_tasks(files, 5, _count, budget_tokens=10_000, seed=3, max_chars=300)
    for t in bounded:
        assert len(t.prefix) <= 300 and (t.prefix == "" or t.prefix.endswith("\n"))
        assert (t.prefix + t.middle + t.suffix) in files[t.path]


def test_line_benchmark_grades_the_first_generated_line():
    task = LineTask("a.py:3", "a.py", 3, "def f():\n", "    return 1\n", "\n")
    bench = HeldoutLineInfilling([task])
    (t,) = bench.load(None)
    req = bench.request(t)
    assert req.prompt == "<｜fim▁begin｜>def f():\n<｜fim▁hole｜>\n<｜fim▁end｜>"
    assert req.stop == ["\n"]
    completion = bench.postprocess(t, "    return 1\nmore")
    assert completion == "    return 1\n"
    assert bench.grade(t, completion, None).passed
    wrong = bench.grade(t, "    return 2\n", None)
    assert not wrong.passed and 0.5 < wrong.extra["edit_similarity"] < 1.0


# -------------------------------------------------------------------------------- end to end


def _demo(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "repoloom", "demo", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,  # the whole demo; minutes on a loaded 2-core machine
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.mark.network
def test_demo_runs_every_step_end_to_end(demo_repos, tmp_path):
    # A relative --out, as the Makefile passes it; few training steps and lines.
    args = ["--out", "data/demo", "--repos", str(demo_repos), "--train-steps", "20",
            "--eval-lines", "6", "--eval-multi-lines", "2", "--max-new-tokens", "8",
            "--workers", "2",
            "--vocab-size", "1024"]  # fmt: skip
    run = _demo(tmp_path, *args)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = tmp_path / "data/demo"
    summary = json.loads((out / "summary.json").read_text())

    corpus = summary["corpus"]
    assert corpus["repositories"] == 5  # six pinned, click held out
    assert corpus["heldout_files_checked"] > 20
    repos = set(pq.read_table(out / "corpus/samples", columns=["repo"])["repo"].to_pylist())
    assert len(repos) == 5 and not any(r.startswith("click") for r in repos)
    assert (out / "corpus/report.html").is_file()
    assert (out / "heldout/click-8.1.7/src/click/core.py").is_file()

    assert summary["tokens"]["tokens"] > 100_000 and summary["tokens"]["fim_share_of_units"] > 0
    tok = json.loads((out / "tokenizer/tokenizer.json").read_text())
    assert "<｜fim▁hole｜>" in {t["content"] for t in tok["added_tokens"]}

    train = summary["train"]
    assert train["steps"] == 20 and train["loss_last"] < train["loss_first"]
    assert (out / "run/loss.png").is_file() and (out / "run/hf/model.safetensors").is_file()

    ev = json.loads((out / "eval/report.json").read_text())
    assert ev["tasks"] == 8 and len(ev["rows"]) == 8 and ev["multi_line_tasks"] == 2
    assert sorted(r["n_lines"] > 1 for r in ev["rows"]) == [False] * 6 + [True] * 2
    # Before = the model at initialisation (same config and seed), on the same points.
    before = json.loads((out / "eval-before/report.json").read_text())
    assert [r["task_id"] for r in before["rows"]] == [r["task_id"] for r in ev["rows"]]
    assert before["loss_fim"] > ev["loss_fim"]  # 20 steps already lower the held-out loss
    assert "before (initialisation) -> after" in run.stdout
    assert all(r["path"].endswith(".py") for r in ev["rows"])
    assert 0 < ev["loss_fim"] < 20 and 0 < ev["loss_l2r"] < 20
    assert all(isinstance(r["completion"], str) for r in ev["rows"])

    serve = json.loads((out / "serve/roundtrip.json").read_text())
    assert serve["models"] == ["repoloom-demo"]
    assert serve["completions"]["usage"]["prompt_tokens"] > 10
    assert isinstance(serve["completions"]["text"], str)
    assert serve["infill"]["context_files_sent"]  # the file imports others of its repository
    assert serve["infill"]["tokens_evaluated"] > serve["completions"]["usage"]["prompt_tokens"]
    assert serve["stats"]["completed"] >= 2
    assert serve["port_closed"] and serve["exit_code"] == 0
    for line in ("[7/7] serve", "/v1/completions", "/infill", "loss curve"):
        assert line in run.stdout

    # A rerun reuses every finished step (no serve: it is not resumable state).
    weights = out / "run/hf/model.safetensors"
    mtime = weights.stat().st_mtime_ns
    steps = "fetch,corpus,tokenizer,tokenize,train,eval"
    again = _demo(tmp_path, *args, "--steps", steps)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    for what in ("tokenizer", "tokens", "run", "eval"):
        assert f"reusing data/demo/{what}" in again.stdout
    assert weights.stat().st_mtime_ns == mtime
    assert json.loads((out / "summary.json").read_text())["train"] == train
