"""docs/adapt.md, run: every command line of the page, on tiny inputs.

The commands are kept here verbatim (each must appear in the page), then run with the page's
placeholders pointing at small things: ``BASE`` is a tiny random checkpoint with the release
tokenizer written in the released Hugging Face layout, ``~/src/...`` three small repositories,
and a few overrides make training take seconds (``max_steps=3 seq_len=64 ...`` appended to the
page's train command). The runs are heavy (minutes; the serve steps need llama-cpp-python and
are skipped without it); the check that the commands are on the page is not.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from repoloom.evaluate.heldout_build import free_port

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "adapt.md"
SHARED = ROOT.parent / "shared"
GGUF_VOCAB = SHARED / "reference" / "deepseek-coder-tokenizer" / "ggml-vocab-deepseek-coder.gguf"

CORPUS = "repoloom corpus build ~/src/app ~/src/lib --out work/corpus"
TOKENIZE = (
    "repoloom tokenize --corpus work/corpus --tokenizer BASE --out work/tokens --fim-rate 0.5 "
    "--spm-rate 0"
)
BUILD_HELDOUT = (
    "repoloom eval build-heldout ~/src/tool --out work/heldout.jsonl --exclude-corpus work/corpus"
)
EVAL_BEFORE = (
    "repoloom eval run heldout --model BASE --data-dir work/heldout.jsonl --out work/eval-before"
)
TRAIN = (
    "repoloom train --config configs/train/adapt.yaml init_from=BASE data=work/tokens "
    "out=runs/adapt lora.r=8"
)
EVAL_AFTER = (
    "repoloom eval run heldout --model runs/adapt/hf --data-dir work/heldout.jsonl "
    "--out work/eval-after"
)
EXPORT = "repoloom export gguf runs/adapt/hf --out work/adapt.gguf --outtype q8_0"
LLAMA_SERVER = (
    "python -m llama_cpp.server --model work/adapt.gguf --n_ctx 16384 --model_alias "
    "repoloom-coder --port 8012"
)
SERVE = (
    "repoloom serve --upstream http://127.0.0.1:8012 --tokenizer runs/adapt/hf "
    "--context-window 16384 --port 8000"
)
COMMANDS = [CORPUS, TOKENIZE, BUILD_HELDOUT, EVAL_BEFORE, TRAIN, EVAL_AFTER, EXPORT]
SERVE_COMMANDS = [LLAMA_SERVER, SERVE]

# Small enough for seconds on a CPU: the page's settings stay, sizes shrink.
TRAIN_TINY = [
    "max_steps=3", "seq_len=64", "grad_accum_steps=1", "warmup_steps=1", "save_every=0",
    "activation_checkpointing=false", "export_dtype=float32", "lr=1e-2",
]  # fmt: skip
EVAL_TINY = ["--max-new-tokens", "8", "--device", "cpu"]
HELDOUT_TINY = ["--lines", "6", "--multi-lines", "3", "--context-chars", "600"]


def test_every_command_is_on_the_page():
    text = " ".join(DOC.read_text().split())  # line breaks in the page are spaces here
    for cmd in [*COMMANDS, *SERVE_COMMANDS]:
        assert cmd in text, cmd


def _repo(root: Path, name: str, n: int) -> None:
    pkg = root / name / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core.py").write_text(
        "".join(
            f"def {name}_step_{j}(state, value):\n    total = state.get('total', 0) + value * {j}\n"
            f"    state['total'] = total\n    return total\n\n\n"
            for j in range(n)
        )
    )
    (pkg / "cli.py").write_text(
        f"from {name}.core import {name}_step_0\n\n\ndef main(argv):\n    state = {{}}\n"
        f"    for arg in argv:\n        {name}_step_0(state, int(arg))\n    return state\n"
    )


def _run(cmd: str, cwd: Path, env: dict, extra: list[str] = ()) -> subprocess.CompletedProcess:
    argv = shlex.split(cmd)
    if argv[0] == "repoloom":
        argv = [sys.executable, "-m", "repoloom", *argv[1:]]
    elif argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    argv = [env["HOME"] + a[1:] if a.startswith("~/") else a for a in argv]  # the test's HOME
    return subprocess.run(
        [*argv, *extra], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> tuple[Path, dict]:
    if not (ROOT / "configs" / "train" / "adapt.yaml").is_file():
        pytest.skip("configs/train/adapt.yaml is not in this checkout (the LoRA work)")
    if not GGUF_VOCAB.is_file():
        pytest.skip(f"release tokenizer not found at {GGUF_VOCAB} (../shared is absent)")
    from repoloom.testing import tiny_model
    from repoloom.tokenize.gguf_import import import_gguf

    work = tmp_path_factory.mktemp("adapt")
    home = work / "home"
    for name, n in (("app", 30), ("lib", 30), ("tool", 12)):
        _repo(home / "src", name, n)
    tok = work / "release-tok"
    import_gguf(GGUF_VOCAB, tok)
    tiny_model(work / "BASE", tokenizer_dir=tok)
    (work / "configs" / "train").mkdir(parents=True)
    (work / "configs" / "train" / "adapt.yaml").write_text(
        (ROOT / "configs" / "train" / "adapt.yaml").read_text()
    )
    env = {**os.environ, "HOME": str(home), "TOKENIZERS_PARALLELISM": "false"}
    return work, env


@pytest.mark.heavy
def test_adapt_commands_run(workdir):
    work, env = workdir
    extras = {TRAIN: TRAIN_TINY, EVAL_BEFORE: EVAL_TINY, EVAL_AFTER: EVAL_TINY}
    extras[BUILD_HELDOUT] = HELDOUT_TINY
    extras[CORPUS] = ["--workers", "1"]
    for cmd in COMMANDS:
        r = _run(cmd, work, env, extras.get(cmd, []))
        assert r.returncode == 0, f"{cmd}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    before = json.loads((work / "work/eval-before/samples.jsonl_results.json").read_text())
    after = json.loads((work / "work/eval-after/samples.jsonl_results.json").read_text())
    assert before["points"] == after["points"] == {"single-line": 6, "multi-line": 3}
    assert before["loss_nats_per_token"] > 0 and after["loss_nats_per_token"] > 0
    assert (work / "runs/adapt/adapter/adapter_config.json").is_file()
    assert (work / "work/adapt.gguf").stat().st_size > 0


@pytest.mark.heavy
def test_serve_commands_run(workdir):
    """The page's llama.cpp server and repoloom proxy, on free ports, answering /infill."""
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
    work, env = workdir
    if not (work / "work/adapt.gguf").is_file():
        pytest.skip("needs the export of test_adapt_commands_run")
    llama_port, port = free_port(), free_port()
    llama_cmd = LLAMA_SERVER.replace("16384", "2048").replace("8012", str(llama_port))
    serve_cmd = SERVE.replace("8012", str(llama_port)).replace("16384", "2048")
    serve_cmd = serve_cmd.replace("--port 8000", f"--port {port}")
    procs = []
    try:
        for cmd, url in ((llama_cmd, llama_port), (serve_cmd, port)):
            argv = shlex.split(cmd)
            argv = [sys.executable, *(["-m", "repoloom"] if argv[0] == "repoloom" else [])]
            argv += shlex.split(cmd)[1:]
            procs.append(
                subprocess.Popen(
                    argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
            deadline = time.monotonic() + 120
            while True:
                assert procs[-1].poll() is None, f"{cmd} exited with {procs[-1].returncode}"
                try:
                    if httpx.get(f"http://127.0.0.1:{url}/v1/models", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"{cmd} did not start"
                time.sleep(0.3)
        body = {
            "input_prefix": "def main(argv):\n    state = {}\n    ",
            "input_suffix": "\n    return state\n",
            "input_extra": [
                {"filename": "app/core.py", "text": "def app_step_0(s, v):\n    return v\n"}
            ],
            "n_predict": 8,
            "temperature": 0,
        }
        r = httpx.post(f"http://127.0.0.1:{port}/infill", json=body, timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["stop"] is True and r.json()["tokens_evaluated"] > 20
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=60)
    assert procs[-1].returncode == 0  # repoloom serve exits 0 on SIGTERM
