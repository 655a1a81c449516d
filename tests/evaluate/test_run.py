"""``eval run`` end to end: a tiny random HF model and an OpenAI-compatible stub server."""

from __future__ import annotations

import json

import pytest

from repoloom.inference.base import GenRequest
from repoloom.io import read_jsonl

from .helpers import run_cli


def test_hf_backend_eval_run_and_resume(tiny_model, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["eval", "run", "humaneval", "--model", str(tiny_model), "--out", str(out)]
    base += ["--max-new-tokens", "12", "--k", "1", "--batch-size", "4"]
    assert run_cli([*base, "--limit", "2"]) == 0
    first = (out / "samples.jsonl").read_text().splitlines()
    assert [json.loads(x)["task_id"] for x in first] == ["HumanEval/0", "HumanEval/1"]
    summary = json.loads((out / "samples.jsonl_results.json").read_text())
    assert summary["n_scored"] == 2
    # Rerun with more tasks: the finished samples are kept, only the new task is generated.
    assert run_cli([*base, "--limit", "3"]) == 0
    lines = (out / "samples.jsonl").read_text().splitlines()
    assert lines[:2] == first and len(lines) == 3
    assert json.loads(lines[2])["task_id"] == "HumanEval/2"
    # A third identical run generates nothing new.
    assert run_cli([*base, "--limit", "3", "--no-score"]) == 0
    assert len((out / "samples.jsonl").read_text().splitlines()) == 3
    # Other decoding settings may not continue this samples file.
    assert run_cli([*base, "--limit", "3", "--temperature", "0.8"]) == 2
    assert "other settings" in capsys.readouterr().out


def test_hf_backend_sampling_n_and_stop(tiny_model):
    from repoloom.evaluate.backends.hf import HFBackend

    be = HFBackend(str(tiny_model), batch_size=3)
    reqs = [
        GenRequest(prompt="def f(x):\n", n=3, max_new_tokens=8, temperature=1.0, stop=["\n"]),
        GenRequest(prompt="for i in", n=2, max_new_tokens=8, temperature=0.0),
    ]
    outs = be.generate(reqs)
    assert [len(o) for o in outs] == [3, 2]
    assert all("\n" not in t for t in outs[0])
    assert outs[1][0] == outs[1][1]  # greedy copies
    # Greedy is deterministic and matches an unbatched run.
    again = HFBackend(str(tiny_model), batch_size=1).generate([reqs[1]])
    assert again[0][0] == outs[1][0]


def test_openai_backend_eval_run_with_retries(stub_server, tmp_path):
    url, handler = stub_server
    out = tmp_path / "http"
    argv = ["eval", "run", "humaneval", "--model", url, "--out", str(out), "--limit", "5"]
    argv += ["--k", "1", "--concurrency", "3", "--model-name", "stub"]
    assert run_cli(argv) == 0
    rows = list(read_jsonl(out / "samples.jsonl_results.jsonl"))
    assert len(rows) == 5
    # The stub answers canonical solutions followed by "\ndef unrelated():", cut at the stop word.
    assert all(r["passed"] for r in rows), [r["result"] for r in rows]
    assert all("unrelated" not in r["completion"] for r in rows)
    statuses = [c for c in handler.calls if c["path"] == "/v1/completions"]
    assert len(statuses) == 5 + 2  # two 503s were retried
    assert statuses[0]["model"] == "stub" and statuses[0]["temperature"] == 0.0
    assert statuses[0]["max_tokens"] == 500 and "\ndef" in statuses[0]["stop"]


def test_openai_backend_chat_for_instruct(stub_server, tmp_path):
    url, handler = stub_server
    out = tmp_path / "chat"
    argv = ["eval", "run", "humaneval", "--model", url, "--out", str(out), "--limit", "3"]
    argv += ["--k", "1", "--instruct"]
    assert run_cli(argv) == 0
    rows = list(read_jsonl(out / "samples.jsonl_results.jsonl"))
    assert [r["passed"] for r in rows] == [True] * 3
    assert all(c["path"] == "/v1/chat/completions" for c in handler.calls)


def test_openai_backend_gives_up_with_clear_error(stub_server, tmp_path, capsys):
    from repoloom.inference.openai_client import EndpointError, OpenAIBackend

    url, handler = stub_server
    handler.fail_first = 100
    be = OpenAIBackend(url, retries=2, backoff=0.01)
    with pytest.raises(EndpointError, match="gave up after 3 tries"):
        be.generate([GenRequest(prompt="x")])
    dead = OpenAIBackend("http://127.0.0.1:9", retries=1, backoff=0.01)
    with pytest.raises(EndpointError, match="ConnectError"):
        dead.generate([GenRequest(prompt="x")])


def test_bad_model_path_is_a_user_error(tmp_path, capsys):
    argv = ["eval", "run", "humaneval", "--model", str(tmp_path / "nope"), "--out", str(tmp_path)]
    assert run_cli(argv) == 2
    assert "not a model directory" in capsys.readouterr().out


@pytest.mark.parametrize(
    "bench",
    [
        "mbpp",
        "humaneval-infill-line",
        "humaneval-infill-multi",
        "pal-gsm8k",
        "humaneval-js",
        "humaneval-sh",
    ],
)
def test_other_benchmarks_run_over_http(bench, stub_server, data_dir, tmp_path):
    url, handler = stub_server
    out = tmp_path / bench
    argv = ["eval", "run", bench, "--model", url, "--out", str(out), "--limit", "2", "--k", "1"]
    assert run_cli([*argv, "--data-dir", str(data_dir)]) == 0
    rows = list(read_jsonl(out / "samples.jsonl_results.jsonl"))
    assert len(rows) == 2 and all("result" in r for r in rows)
    sent = [c for c in handler.calls if c["path"] == "/v1/completions"]
    if bench == "humaneval-infill-line":
        assert sent[-1]["prompt"].startswith("<｜fim▁begin｜>") and sent[-1]["stop"] == ["\n"]
    if bench == "humaneval-infill-multi":  # the whole middle: no stop sent, nothing cut
        assert sent[-1]["prompt"].startswith("<｜fim▁begin｜>") and "stop" not in sent[-1]
        assert all(r["completion"].endswith("\ndef unrelated():\n") for r in rows)
    if bench == "mbpp":
        assert sent[-1]["stop"] == ["[DONE]"] and sent[-1]["prompt"].endswith("[BEGIN]\n")


@pytest.mark.parametrize("bench", ["humaneval-infill-line", "mbpp", "humaneval-js"])
def test_other_benchmarks_run_on_hf(bench, tiny_model, data_dir, tmp_path):
    out = tmp_path / bench
    argv = ["eval", "run", bench, "--model", str(tiny_model), "--out", str(out), "--limit", "2"]
    argv += ["--k", "1", "--max-new-tokens", "6", "--data-dir", str(data_dir)]
    assert run_cli(argv) == 0
    assert len(list(read_jsonl(out / "samples.jsonl_results.jsonl"))) == 2


def test_openai_sampling_n_and_pass_at_k(stub_server, tmp_path):
    url, handler = stub_server
    out = tmp_path / "n3"
    argv = ["eval", "run", "humaneval", "--model", url, "--out", str(out), "--limit", "2"]
    argv += ["--n", "3", "--temperature", "0.8", "--k", "1,3"]
    assert run_cli(argv) == 0
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["sample_idx"] for r in rows] == [0, 1, 2, 0, 1, 2]
    sent = [c for c in handler.calls if c["path"] == "/v1/completions"]
    assert sent[-1]["n"] == 3 and sent[-1]["temperature"] == 0.8 and sent[-1]["top_p"] == 0.95
    summary = json.loads((out / "samples.jsonl_results.json").read_text())
    assert summary["pass_at_k"] == {"pass@1": 1.0, "pass@3": 1.0}
    # Asking for more samples later generates only the missing ones.
    calls_before = len(handler.calls)
    assert run_cli([*argv[:-6], "--n", "4", "--temperature", "0.8", "--k", "1", "--no-score"]) == 0
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and [c["n"] for c in handler.calls[calls_before:]] == [1, 1]
