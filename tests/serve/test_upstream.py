"""``--upstream``: repoloom in front of another OpenAI-compatible server (here a repoloom serve)."""

from __future__ import annotations

import time

import httpx
import pytest

from repoloom.inference.upstream import UpstreamEngine
from repoloom.prompts import get_fim_template
from repoloom.serve.app import create_app

from .conftest import running

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def proxy(server):
    backend = UpstreamEngine(server)
    with running(create_app(backend, get_fim_template("deepseek"), backend_kind="upstream")) as url:
        yield url


def _client(url: str):
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60)


def test_proxy_lists_upstream_model(proxy):
    assert [m.id for m in _client(proxy).models.list().data] == ["tiny-coder"]
    assert httpx.get(f"{proxy}/health").json()["backend"] == "upstream"


def test_proxy_fim_equals_direct(proxy, server):
    kw = dict(
        model="tiny-coder", prompt="def f(a):\n    ", suffix="\n", max_tokens=10, temperature=0
    )
    direct = _client(server).completions.create(**kw)
    via = _client(proxy).completions.create(**kw)
    assert via.choices[0].text == direct.choices[0].text
    assert via.choices[0].finish_reason == direct.choices[0].finish_reason
    assert via.usage.prompt_tokens == direct.usage.prompt_tokens
    streamed = "".join(
        c.choices[0].text for c in _client(proxy).completions.create(**kw, stream=True) if c.choices
    )
    assert streamed == direct.choices[0].text


def test_proxy_chat_equals_direct(proxy, server):
    kw = dict(
        model="tiny-coder",
        messages=[{"role": "user", "content": "Reverse a string."}],
        max_tokens=8,
        temperature=0,
    )
    direct = _client(server).chat.completions.create(**kw)
    via = _client(proxy).chat.completions.create(**kw)
    assert via.choices[0].message.content == direct.choices[0].message.content
    assert via.usage.prompt_tokens == direct.usage.prompt_tokens  # same tokens, one BOS
    parts = [
        c.choices[0].delta.content or ""
        for c in _client(proxy).chat.completions.create(**kw, stream=True)
        if c.choices
    ]
    assert "".join(parts) == direct.choices[0].message.content


def test_proxy_infill_equals_direct(proxy, server):
    body = {
        "input_prefix": "x = ",
        "input_suffix": "\n",
        "input_extra": [{"filename": "a.py", "text": "A = 1\n"}],
        "n_predict": 6,
        "temperature": 0,
    }
    a = httpx.post(f"{server}/infill", json=body, timeout=60).json()
    b = httpx.post(f"{proxy}/infill", json=body, timeout=60).json()
    assert a["content"] == b["content"]


def test_proxy_errors(proxy):
    c = _client(proxy)
    with pytest.raises(openai.NotFoundError):
        c.completions.create(model="nope", prompt="x", max_tokens=2)
    with pytest.raises(openai.BadRequestError) as info:  # the upstream's 400, passed through
        c.completions.create(model="tiny-coder", prompt="y = 2\n" * 800, max_tokens=4)
    assert info.value.code == "context_length_exceeded"


def test_proxy_disconnect_cancels_upstream(proxy, server):
    before = httpx.get(f"{server}/health").json()["stats"]
    body = {
        "prompt": "a",
        "suffix": "b",
        "max_tokens": 2000,
        "ignore_eos": True,
        "temperature": 0,
        "stream": True,
    }
    with httpx.stream("POST", f"{proxy}/v1/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        for i, _ in enumerate(r.iter_lines()):
            if i > 4:
                break
    deadline = time.monotonic() + 30
    while True:
        stats = httpx.get(f"{server}/health").json()["stats"]
        if stats["cancelled"] > before["cancelled"] and stats["active_sequences"] == 0:
            break
        assert time.monotonic() < deadline, stats
        time.sleep(0.05)
    assert stats["tokens_generated"] - before["tokens_generated"] < 2000


def test_unreachable_upstream_is_a_clear_error():
    with pytest.raises(ConnectionError):
        UpstreamEngine("http://127.0.0.1:9")


def test_upstream_kind_from_models_listing():
    from repoloom.inference.upstream import detect_upstream_kind

    assert detect_upstream_kind({"id": "/m/tiny.gguf", "owned_by": "me"}) == "llama.cpp"
    assert detect_upstream_kind({"id": "tiny", "owned_by": "llamacpp"}) == "llama.cpp"
    assert detect_upstream_kind({"id": "x", "owned_by": "vllm", "max_model_len": 8}) == "vllm"
    assert detect_upstream_kind({"id": "tiny-coder", "owned_by": "repoloom"}) == "openai"


def test_llama_cpp_payload_is_plain_sampling(server):
    """llama.cpp's own sampler defaults (repeat penalty 1.1, top-k 40, min-p 0.05) are switched
    off, so temperature 0 is greedy there too; other upstreams get no llama.cpp fields."""
    from repoloom.inference.base import Job, SamplingParams
    from repoloom.inference.upstream import LLAMA_CPP_NEUTRAL_SAMPLING

    job = Job("<｜begin▁of▁sentence｜>x", SamplingParams(max_tokens=3, temperature=0))
    plain = UpstreamEngine(server)
    assert plain.kind == "openai" and not set(LLAMA_CPP_NEUTRAL_SAMPLING) & set(plain._payload(job))
    assert plain._payload(job)["prompt"] == "x"  # the upstream adds BOS itself
    llama = UpstreamEngine(server, kind="llama.cpp", context_window=512)
    body = llama._payload(job)
    assert body["repeat_penalty"] == 1.0 and body["top_k"] == 0 and body["min_p"] == 0.0
    assert llama.context_window == 512
