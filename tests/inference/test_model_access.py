"""The model-access layer: it stands below evaluate and serve, and its local engine gives the
same greedy text through both entry points (batch ``generate`` and streaming ``submit``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import repoloom.inference

ALLOWED = (
    "repoloom.inference",
    "repoloom.codebase",
    "repoloom.prompts",
    "repoloom.io",
    "repoloom.tokenize",
)


def test_inference_imports_nothing_above_it():
    for path in Path(repoloom.inference.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("repoloom"):
                    assert name.startswith(ALLOWED), f"{path.name} imports {name}"


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    from repoloom.inference.local import LocalEngine
    from repoloom.testing import tiny_model

    eng = LocalEngine(tiny_model(tmp_path_factory.mktemp("m")), start_worker=False)
    yield eng
    eng.close()


def test_batch_and_streaming_agree_on_greedy_text(local):
    from repoloom.inference.base import GenRequest, Job, SamplingParams, stream_text

    prompt = "def add(a, b):\n"
    [[batch]] = local.generate([GenRequest(prompt=prompt, max_new_tokens=12, temperature=0.0)])
    assert local._thread is None  # the batch path needs no worker thread
    params = SamplingParams(max_tokens=12, temperature=0.0)
    streamed = "".join(stream_text(local, Job(prompt, params)))
    assert local._thread is not None and local._thread.is_alive()
    assert streamed == batch and batch


def test_chat_requests_use_the_model_template(local):
    from repoloom.prompts import render_chat

    messages = [{"role": "user", "content": "hi"}]
    assert local._batch_chat_prompt(messages) == render_chat(messages, bos_token=local.bos_token)
    assert local.render_chat(messages).endswith("### Response:\n")


def test_batch_chat_prompts_start_with_one_bos(local, monkeypatch):
    # The release chat template spells BOS as text and the tokenizer adds BOS too: the batch path
    # (eval --instruct) must encode it once, as serve and apply_chat_template(tokenize=True) do.
    from repoloom.inference.base import GenRequest

    seen = []
    generate = local.model.generate

    def spy(**kwargs):
        seen.append(kwargs["input_ids"][0].tolist())
        return generate(**kwargs)

    monkeypatch.setattr(local.model, "generate", spy)
    prompt = local._batch_chat_prompt([{"role": "user", "content": "hi"}])
    assert prompt.startswith(local.bos_token)
    local.generate([GenRequest(prompt=prompt, max_new_tokens=2, temperature=0.0)])
    bos = local.tokenizer.bos_token_id
    ids = seen[0]  # one prompt: no padding
    assert ids[0] == bos and ids[1] != bos
    assert ids == local.encode(prompt)
    # the reference: transformers renders and tokenizes the same template with one BOS
    reference = local.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=True
    )
    reference = reference["input_ids"] if hasattr(reference, "keys") else reference
    assert ids == list(reference)
