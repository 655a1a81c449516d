"""The release vocabulary and test vectors for the export tests (their checkpoints, fixtures
``small_hf`` / ``release_hf`` in conftest.py, are written by the training export itself)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import SHARED

REFERENCE = SHARED / "reference" / "deepseek-coder-tokenizer"
REFERENCE_GGUF = REFERENCE / "ggml-vocab-deepseek-coder.gguf"


def release_vectors() -> list[tuple[str, list[int]]]:
    """The release's tokenizer test vectors (text, ids); the 47th, empty entry is dropped."""
    texts = (REFERENCE / "ggml-vocab-deepseek-coder.gguf.inp").read_text(encoding="utf-8")
    ids = (REFERENCE / "ggml-vocab-deepseek-coder.gguf.out").read_text(encoding="utf-8")
    pairs = list(zip(texts.split("\n__ggml_vocab_test__\n"), ids.split("\n"), strict=True))
    assert pairs[-1] == ("", "")
    return [(t, [int(x) for x in i.split()]) for t, i in pairs[:-1]]


def release_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release vocabulary imported from ../shared (skips when it is absent)."""
    if not REFERENCE_GGUF.is_file():
        pytest.skip(f"release vocabulary not found at {REFERENCE_GGUF} (../shared is absent)")
    from repoloom.tokenize.gguf_import import import_gguf

    out = tmp_path_factory.mktemp("release_tok")
    import_gguf(REFERENCE_GGUF, out)
    return out
