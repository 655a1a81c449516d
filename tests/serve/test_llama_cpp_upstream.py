"""``repoloom serve --upstream`` in front of llama.cpp's server (``python -m llama_cpp.server``).

A tiny random model with the release tokenizer is exported to GGUF (f32, ``repoloom export
gguf``) and served by llama-cpp-python on loopback; repoloom's proxy in front of it must answer
completions, FIM with repository context (``/infill`` with ``input_extra``, which llama-cpp-python's
server itself does not have) and chat with the same greedy text as repoloom's own engine running
the HF checkpoint. Heavy: llama-cpp-python builds llama.cpp from source when installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from repoloom.evaluate.heldout_build import free_port

from .conftest import SHARED, make_engine, running

pytestmark = pytest.mark.heavy

GGUF_VOCAB = SHARED / "reference" / "deepseek-coder-tokenizer" / "ggml-vocab-deepseek-coder.gguf"
PREFIX = "def add(a, b):\n    "
SUFFIX = "\n\nprint(add(1, 2))\n"


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> tuple[Path, Path]:
    pytest.importorskip(
        "llama_cpp.server",
        reason="llama-cpp-python[server] is not installed (pip install "
        "'llama-cpp-python[server]==0.3.36': it builds llama.cpp, minutes on 2 cores)",
    )
    if not GGUF_VOCAB.is_file():
        pytest.skip(f"release tokenizer not found at {GGUF_VOCAB} (../shared is absent)")
    from repoloom.serve.export_gguf import export_gguf
    from repoloom.testing import tiny_model
    from repoloom.tokenize.gguf_import import import_gguf

    tok_dir = tmp_path_factory.mktemp("release-tok")
    import_gguf(GGUF_VOCAB, tok_dir)
    hf = tiny_model(tmp_path_factory.mktemp("llama-tiny") / "tiny-coder", tokenizer_dir=tok_dir)
    gguf = hf.parent / "tiny-coder.gguf"
    export_gguf(hf, gguf, "f32")
    return hf, gguf


@pytest.fixture(scope="module")
def llama_server(model_dirs):
    _, gguf = model_dirs
    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", "2048", "--model_alias", "tiny-coder", "--n_threads", "2",
    ]  # fmt: skip
    log = open(gguf.parent / "llama_server.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError((gguf.parent / "llama_server.log").read_text()[-3000:])
            try:
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start in 120 s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def servers(model_dirs, llama_server):
    """(repoloom in front of llama.cpp, repoloom on the HF checkpoint)."""
    from repoloom.inference.upstream import UpstreamEngine
    from repoloom.prompts import get_fim_template
    from repoloom.serve.app import create_app

    hf, _ = model_dirs
    upstream = UpstreamEngine(llama_server, tokenizer_dir=hf, context_window=2048)
    assert upstream.kind == "llama.cpp"
    local = make_engine(hf)
    template = get_fim_template("deepseek")
    with running(create_app(upstream, template, backend_kind="upstream")) as proxy:
        with running(create_app(local, template)) as direct:
            yield proxy, direct


def _post(url: str, path: str, body: dict) -> dict:
    r = httpx.post(f"{url}{path}", json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def test_models_and_health_through_llama_cpp(servers):
    proxy, _ = servers
    assert [m["id"] for m in httpx.get(f"{proxy}/v1/models").json()["data"]] == ["tiny-coder"]
    health = httpx.get(f"{proxy}/health").json()
    assert health["backend"] == "upstream" and health["upstream_kind"] == "llama.cpp"
    assert health["context_window"] == 2048


def test_fim_completion_equals_local_engine(servers):
    proxy, direct = servers
    body = {"prompt": PREFIX, "suffix": SUFFIX, "max_tokens": 8, "temperature": 0}
    via, ref = _post(proxy, "/v1/completions", body), _post(direct, "/v1/completions", body)
    assert via["choices"][0]["text"] == ref["choices"][0]["text"]
    assert via["usage"]["prompt_tokens"] == ref["usage"]["prompt_tokens"]  # one BOS, FIM ids
    with httpx.stream(
        "POST", f"{proxy}/v1/completions", json={**body, "stream": True}, timeout=120
    ) as s:
        import json

        chunks = [json.loads(x[5:]) for x in s.iter_lines() if x.startswith("data: {")]
    assert (
        "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
        == (ref["choices"][0]["text"])
    )


def test_infill_with_repository_context_equals_local_engine(servers):
    proxy, direct = servers
    body = {
        "input_prefix": "from util import helper\n\ndef f(x):\n    return ",
        "input_suffix": "\n",
        "input_extra": [{"filename": "util.py", "text": "def helper(v):\n    return v + 1\n"}],
        "n_predict": 8,
        "temperature": 0,
    }
    via, ref = _post(proxy, "/infill", body), _post(direct, "/infill", body)
    assert via["content"] == ref["content"]
    assert via["tokens_evaluated"] == ref["tokens_evaluated"]


def test_chat_equals_local_engine(servers):
    proxy, direct = servers
    body = {"messages": [{"role": "user", "content": "Reverse a string."}], "max_tokens": 8}
    body["temperature"] = 0
    via, ref = (
        _post(proxy, "/v1/chat/completions", body),
        _post(direct, "/v1/chat/completions", body),
    )
    assert via["choices"][0]["message"]["content"] == ref["choices"][0]["message"]["content"]


def test_n_above_one_is_refused(servers):
    proxy, _ = servers
    r = httpx.post(
        f"{proxy}/v1/completions", json={"prompt": "x", "max_tokens": 2, "n": 2}, timeout=60
    )
    assert r.status_code == 400 and "llama.cpp" in r.json()["error"]["message"]
