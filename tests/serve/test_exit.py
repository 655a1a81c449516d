"""Clean exits: ``complete``, ``chat`` and ``serve`` end with exit code 0, every time.

The engine decodes in a worker thread. When that thread was still inside torch while the
interpreter tore down, libtorch aborted the process (``terminate called without an active
exception``, exit 134) in about half the runs of ``complete`` and ``chat``: these tests run the
real command in a fresh interpreter, repeatedly. ``serve`` must close its backend in the app's
lifespan hook and exit 0 on SIGTERM (uvicorn re-raises the signal by default: exit -15).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from repoloom.evaluate.heldout_build import free_port

HEAVY_RUNS = 20  # the figure: 134 showed up in 4 of 7 and 1 of 3 runs before the fix


def _repoloom(
    args: list[str], stdin: str = "", timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "repoloom", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )


@pytest.fixture(scope="module")
def source_file(tmp_path_factory) -> Path:
    f = tmp_path_factory.mktemp("exit") / "calc.py"
    f.write_text("def add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n")
    return f


def _complete(model: Path, f: Path) -> subprocess.CompletedProcess:
    args = ["complete", str(f), "--line", "2", "--col", "12", "--model", str(model)]
    return _repoloom([*args, "--max-tokens", "8"])


def _chat(model: Path) -> subprocess.CompletedProcess:
    return _repoloom(["chat", "--model", str(model), "--max-tokens", "8"], "Sort a list.\n")


def _assert_clean(runs: list[subprocess.CompletedProcess]) -> None:
    bad = [(r.returncode, r.stderr.strip().splitlines()[-1:]) for r in runs if r.returncode != 0]
    assert not bad, f"{len(bad)} of {len(runs)} runs did not exit 0: {bad[:3]}"


def test_complete_and_chat_exit_0(tiny_dir, source_file):
    """One run of each (the quick check in ``make test``); the loop below is the real test."""
    runs = [_complete(tiny_dir, source_file), _chat(tiny_dir)]
    _assert_clean(runs)
    assert runs[1].stdout.startswith("assistant> ")


@pytest.mark.heavy
@pytest.mark.parametrize("command", ["complete", "chat"])
def test_exit_0_twenty_times(command, tiny_dir, source_file):
    run = (lambda: _complete(tiny_dir, source_file)) if command == "complete" else None
    run = run or (lambda: _chat(tiny_dir))
    _assert_clean([run() for _ in range(HEAVY_RUNS)])


def test_serve_exits_0_on_sigterm(tiny_dir):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "repoloom", "serve", "--model", str(tiny_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        body = {"prompt": "def f(x):\n    ", "suffix": "\n", "max_tokens": 4, "temperature": 0}
        assert httpx.post(f"{url}/v1/completions", json=body, timeout=60).status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
