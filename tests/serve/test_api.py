"""The OpenAI-compatible API with the official ``openai`` client on a tiny random model."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

openai = pytest.importorskip("openai")

from repoloom.prompts import BOS, EOS, EOT, FIM_BEGIN, FIM_END, FIM_HOLE  # noqa: E402

PREFIX = "def add(a, b):\n    "
SUFFIX = "\n\nprint(add(1, 2))\n"


def _ids(engine, text: str) -> list[int]:
    return list(engine.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_models_and_health(client, server):
    models = client.models.list()
    assert [m.id for m in models.data] == ["tiny-coder"]
    health = httpx.get(f"{server}/health").json()
    assert health["status"] == "ok" and health["fim_template"] == "deepseek"
    assert health["context_window"] == 2048


def test_fim_prompt_is_the_release_layout(engine, server):
    """The server's FIM prompt: BOS, <fim_begin>, prefix, <fim_hole>, suffix, <fim_end>."""
    got = httpx.post(f"{server}/tokenize", json={"prompt": PREFIX, "suffix": SUFFIX}).json()
    tok = engine.tokenizer
    want = (
        [tok.convert_tokens_to_ids(BOS), tok.convert_tokens_to_ids(FIM_BEGIN)]
        + _ids(engine, PREFIX)
        + [tok.convert_tokens_to_ids(FIM_HOLE)]
        + _ids(engine, SUFFIX)
        + [tok.convert_tokens_to_ids(FIM_END)]
    )
    assert got["tokens"] == want
    assert got["prompt"] == f"{FIM_BEGIN}{PREFIX}{FIM_HOLE}{SUFFIX}{FIM_END}"


def test_completion_with_suffix_uses_fim_prompt(client, engine):
    r = client.completions.create(
        model="tiny-coder", prompt=PREFIX, suffix=SUFFIX, max_tokens=6, temperature=0
    )
    assert r.object == "text_completion" and len(r.choices) == 1
    assert r.choices[0].finish_reason in ("length", "stop")
    assert r.usage.prompt_tokens == len(
        engine.encode(f"{FIM_BEGIN}{PREFIX}{FIM_HOLE}{SUFFIX}{FIM_END}")
    )
    assert 1 <= r.usage.completion_tokens <= 6


def test_stream_equals_non_stream_greedy(client):
    kw = dict(model="tiny-coder", prompt=PREFIX, suffix=SUFFIX, max_tokens=12, temperature=0)
    whole = client.completions.create(**kw)
    pieces, reasons = [], []
    usage = None
    for chunk in client.completions.create(
        **kw, stream=True, stream_options={"include_usage": True}
    ):
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            pieces.append(c.text)
            reasons.append(c.finish_reason)
    assert "".join(pieces) == whole.choices[0].text
    assert reasons[-1] == whole.choices[0].finish_reason
    assert all(r is None for r in reasons[:-1])
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens


def test_stop_string_cuts_before_it(client):
    kw = dict(model="tiny-coder", prompt="class Stack:\n", max_tokens=20, temperature=0)
    full = client.completions.create(**kw).choices[0].text
    assert len(full) >= 6, full
    stop = full[3:6]
    cut = full[: full.index(stop)]
    r = client.completions.create(**kw, stop=[stop, "never-there"])
    assert r.choices[0].text == cut and r.choices[0].finish_reason == "stop"
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(**kw, stop=stop, stream=True)
        if c.choices
    )
    assert streamed == cut


def test_eos_and_eot_stop_generation(engine, client):
    """Chat stops at <|EOT|>/EOS: make the model's greedy first token a stop token."""
    tok = engine.tokenizer
    assert {tok.convert_tokens_to_ids(EOS), tok.convert_tokens_to_ids(EOT)} <= engine.stop_ids
    msgs = [{"role": "user", "content": "write a sort"}]
    first = client.chat.completions.create(
        model="tiny-coder", messages=msgs, max_tokens=3, temperature=0
    )
    text = first.choices[0].message.content
    saved = set(engine.stop_ids)
    try:
        import torch

        from repoloom.prompts import render_chat

        prompt = render_chat(
            msgs,
            chat_template=engine.chat_template,
            bos_token=tok.bos_token,
            eos_token=tok.eos_token,
        )
        prompt_ids = engine.encode(prompt)

        with torch.inference_mode():
            greedy = int(engine.model(torch.tensor([prompt_ids])).logits[0, -1].argmax())
        engine.stop_ids.add(greedy)
        r = client.chat.completions.create(
            model="tiny-coder", messages=msgs, max_tokens=3, temperature=0
        )
        assert r.choices[0].message.content == "" and r.choices[0].finish_reason == "stop"
        assert r.usage.completion_tokens == 0
    finally:
        engine.stop_ids.clear()
        engine.stop_ids.update(saved)
    assert isinstance(text, str)


def test_chat_stream_and_not(client):
    msgs = [
        {"role": "system", "content": "Be brief.\n"},
        {"role": "user", "content": "Sort a list."},
    ]
    kw = dict(model="tiny-coder", messages=msgs, max_tokens=8, temperature=0)
    whole = client.chat.completions.create(**kw)
    assert whole.object == "chat.completion"
    assert whole.choices[0].message.role == "assistant"
    deltas, roles = [], []
    for chunk in client.chat.completions.create(**kw, stream=True):
        for c in chunk.choices:
            if c.delta.role:
                roles.append(c.delta.role)
            if c.delta.content:
                deltas.append(c.delta.content)
    assert roles == ["assistant"]
    assert "".join(deltas) == whole.choices[0].message.content


def test_n_samples_and_seed(client):
    kw = dict(model="tiny-coder", prompt="import ", max_tokens=8, temperature=1.0, n=3, seed=7)
    a = client.completions.create(**kw)
    b = client.completions.create(**kw)
    assert [c.index for c in a.choices] == [0, 1, 2]
    assert [c.text for c in a.choices] == [c.text for c in b.choices]  # seeded: reproducible
    assert len({c.text for c in a.choices}) > 1  # different samples per index


def test_infill_llama_cpp_shape(engine, server):
    body = {
        "input_prefix": "def f(x):\n    return ",
        "input_suffix": "\n",
        "input_extra": [{"filename": "util.py", "text": "def helper():\n    pass\n"}],
        "n_predict": 5,
        "temperature": 0,
    }
    if shutil.which("curl"):
        out = subprocess.run(
            [
                "curl",
                "-s",
                "-X",
                "POST",
                f"{server}/infill",
                "-H",
                "Content-Type: application/json",
                "-d",
                json.dumps(body),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        r = json.loads(out)
    else:  # curl is installed by .ci/system-deps.sh; httpx sends the same body
        r = httpx.post(f"{server}/infill", json=body).json()
    expected_prompt = (
        f"{FIM_BEGIN}# util.py\ndef helper():\n    pass\n"
        f"def f(x):\n    return {FIM_HOLE}\n{FIM_END}"
    )
    assert r["stop"] is True and isinstance(r["content"], str)
    assert r["tokens_evaluated"] == len(engine.encode(expected_prompt))
    assert 1 <= r["tokens_predicted"] <= 5
    with httpx.stream("POST", f"{server}/infill", json={**body, "stream": True}) as s:
        events = [json.loads(x[5:]) for x in s.iter_lines() if x.startswith("data:")]
    assert events[-1]["stop"] is True
    assert "".join(e["content"] for e in events) == r["content"]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ('{"prompt": "x", "max_tokens": -1}', 400, "max_tokens"),
        ('{"prompt": "x", "temperature": 9}', 400, "temperature"),
        ('{"prompt": "x", "n": 0}', 400, "n"),
        ('{"max_tokens": 3}', 400, "prompt"),
        ('{"prompt": "x", "max_tokens": 3', 400, None),
        ("[1, 2]", 400, None),
        ('{"prompt": "x", "model": "gpt-4"}', 404, "model"),
    ],
)
def test_bad_requests_get_openai_errors(server, body, status, param):
    r = httpx.post(
        f"{server}/v1/completions", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == status
    err = r.json()["error"]
    assert err["message"] and err["type"]
    assert err["param"] == param


def test_errors_through_openai_client(client):
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="other-model", prompt="x", max_tokens=2)
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="tiny-coder", prompt="x = 1\n" * 800, max_tokens=4)
    assert info.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="tiny-coder", prompt="x", max_tokens=2047)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny-coder", messages=[], max_tokens=2)


def test_unknown_route_is_json(server):
    r = httpx.get(f"{server}/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("null", "null content"),
        ("5", "a number"),
        ('{"text": "hi"}', "an object"),
        ('[{"type": "image_url", "image_url": {"url": "x"}}]', "a non-text part"),
        ('[{"type": "text", "text": null}]', "a text part without text"),
    ],
)
def test_chat_content_must_be_text(server, content, why):
    body = '{"messages": [{"role": "user", "content": ' + content + '}], "max_tokens": 2}'
    r = httpx.post(
        f"{server}/v1/chat/completions",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400, why
    assert r.json()["error"]["param"].startswith("messages.0.content")


def test_chat_missing_content_is_400(server):
    r = httpx.post(f"{server}/v1/chat/completions", json={"messages": [{"role": "user"}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages.0.content"


def test_chat_text_parts_are_joined(client):
    parts = [{"type": "text", "text": "Sort "}, {"type": "text", "text": "a list."}]
    kw = dict(model="tiny-coder", max_tokens=6, temperature=0)
    joined = client.chat.completions.create(
        messages=[{"role": "user", "content": "Sort a list."}], **kw
    )
    split = client.chat.completions.create(messages=[{"role": "user", "content": parts}], **kw)
    assert split.choices[0].message.content == joined.choices[0].message.content
    assert split.usage.prompt_tokens == joined.usage.prompt_tokens


@pytest.mark.parametrize("body", [{}, {"input_prefix": "", "input_suffix": "", "prompt": ""}])
def test_infill_without_text_is_400(server, body):
    r = httpx.post(f"{server}/infill", json=body)
    assert r.status_code == 400
    assert "input_prefix, input_suffix or prompt" in r.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions", "/infill"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_body_must_be_json(server, path, content_type):
    body = json.dumps(
        {
            "prompt": "x",
            "input_prefix": "x",
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 2,
            "n_predict": 2,
        }
    )
    headers = {"content-type": content_type} if content_type else {}
    r = httpx.post(f"{server}{path}", content=body.encode(), headers=headers)
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "unsupported_media_type"
    ok = httpx.post(
        f"{server}{path}",
        content=body.encode(),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 200, ok.text


def test_default_bound_on_new_tokens(tiny_dir):
    """Chat and /infill without a bound generate at most the default (here 5), not the window."""
    from repoloom.prompts import get_fim_template
    from repoloom.serve.app import create_app

    from .conftest import make_engine, running

    engine = make_engine(tiny_dir)
    app = create_app(engine, get_fim_template("deepseek"), default_max_tokens=5)
    with running(app) as url:
        body = {"input_prefix": "def f(x):\n    return ", "ignore_eos": True, "temperature": 0}
        r = httpx.post(f"{url}/infill", json=body, timeout=60).json()
        assert r["tokens_predicted"] == 5 and r["stop_type"] == "limit"
        chat = {"messages": [{"role": "user", "content": "hi"}], "ignore_eos": True}
        r = httpx.post(f"{url}/v1/chat/completions", json=chat, timeout=60).json()
        assert r["usage"]["completion_tokens"] == 5
        assert r["choices"][0]["finish_reason"] == "length"
        # An explicit bound still wins over the default.
        r = httpx.post(f"{url}/infill", json={**body, "n_predict": 7}, timeout=60).json()
        assert r["tokens_predicted"] == 7
    assert not engine._thread.is_alive()  # the lifespan hook closed the engine


def test_documented_default_bound():
    from repoloom.serve.app import DEFAULT_MAX_TOKENS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "serve.md").read_text()
    assert f"default {DEFAULT_MAX_TOKENS}" in doc


def test_routes_are_the_api_routers(engine):
    """create_app mounts one router per endpoint of serve/api, with the routes and methods the
    server always had, and nothing else (no docs or openapi routes)."""
    from fastapi.testclient import TestClient

    from repoloom.prompts import get_fim_template
    from repoloom.serve.api import chat, completions, infill, models, tokens
    from repoloom.serve.app import create_app

    apis = (models, completions, chat, infill, tokens)
    routes = {
        (r.path, m, r.endpoint.__module__)
        for api in apis
        for r in api.router.routes
        for m in r.methods
    }
    assert routes == {
        ("/health", "GET", "repoloom.serve.api.models"),
        ("/v1/models", "GET", "repoloom.serve.api.models"),
        ("/v1/completions", "POST", "repoloom.serve.api.completions"),
        ("/v1/chat/completions", "POST", "repoloom.serve.api.chat"),
        ("/infill", "POST", "repoloom.serve.api.infill"),
        ("/tokenize", "POST", "repoloom.serve.api.tokens"),
    }
    app = create_app(engine, get_fim_template("deepseek"), close_backend=False)
    assert len(app.routes) == len(apis) and app.state.serve.backend is engine
    client = TestClient(app)
    assert client.get("/health").json()["model"] == engine.model_id
    for path in ("/docs", "/redoc", "/openapi.json"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
