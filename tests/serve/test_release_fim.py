"""The server's FIM prompt equals the release README's layout, token for token, with the release
tokenizer imported from ../shared (skipped when the shared data or the importer is absent)."""

from __future__ import annotations

import httpx
import pytest

from .conftest import SHARED, make_engine, running

GGUF = SHARED / "reference" / "deepseek-coder-tokenizer" / "ggml-vocab-deepseek-coder.gguf"

# The FIM example of the DeepSeek-Coder README (code insertion).
PREFIX = (
    "def quick_sort(arr):\n    if len(arr) <= 1:\n        return arr\n    pivot = arr[0]\n"
    "    left = []\n    right = []\n"
)
SUFFIX = (
    "\n        if arr[i] < pivot:\n            left.append(arr[i])\n        else:\n"
    "            right.append(arr[i])\n    return quick_sort(left) + [pivot] + quick_sort(right)"
)
README_INPUT = f"<｜fim▁begin｜>{PREFIX}<｜fim▁hole｜>{SUFFIX}<｜fim▁end｜>"


@pytest.fixture(scope="module")
def release_server(tmp_path_factory):
    if not GGUF.is_file():
        pytest.skip(f"release tokenizer not found at {GGUF} (../shared is absent)")
    gguf_import = pytest.importorskip("repoloom.tokenize.gguf_import")
    from repoloom.testing import tiny_model

    tok_dir = tmp_path_factory.mktemp("release-tok")
    gguf_import.import_gguf(GGUF, tok_dir)
    model_dir = tiny_model(tmp_path_factory.mktemp("release-tiny") / "m", tokenizer_dir=tok_dir)
    engine = make_engine(model_dir)
    from repoloom.prompts import detect_fim_template, get_fim_template
    from repoloom.serve.app import create_app

    assert detect_fim_template(engine.vocab) == "deepseek"
    with running(create_app(engine, get_fim_template("deepseek"))) as url:
        yield url, engine
    engine.close()


def test_fim_prompt_matches_release_readme_tokens(release_server):
    url, engine = release_server
    readme_ids = list(engine.tokenizer(README_INPUT)["input_ids"])  # as the README calls it
    assert readme_ids[:2] == [32013, 32016] and readme_ids[-1] == 32017 and 32015 in readme_ids
    got = httpx.post(f"{url}/tokenize", json={"prompt": PREFIX, "suffix": SUFFIX}).json()
    assert got["tokens"] == readme_ids
    r = httpx.post(
        f"{url}/v1/completions",
        json={"prompt": PREFIX, "suffix": SUFFIX, "max_tokens": 3, "temperature": 0},
        timeout=60,
    ).json()
    assert r["usage"]["prompt_tokens"] == len(readme_ids)


def test_chat_rendering_matches_transformers_with_release_template(release_server):
    from repoloom.prompts import render_chat

    _, engine = release_server
    tok = engine.tokenizer
    if not tok.chat_template:
        pytest.skip("the imported release tokenizer carries no chat template")
    for messages in (
        [{"role": "user", "content": "Write a quick sort."}],
        [
            {"role": "system", "content": "Be brief.\n"},
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
    ):
        ours = render_chat(
            messages,
            chat_template=tok.chat_template,
            bos_token=tok.bos_token,
            eos_token=tok.eos_token,
        )
        theirs = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert ours == theirs
        ids = engine.encode(ours)
        assert ids[0] == 32013 and ids[1] != 32013
