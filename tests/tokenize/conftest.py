from __future__ import annotations

from pathlib import Path

import pytest

from repoloom.tokenize.pipeline import CorpusSpec

from .helpers import file_docs, shared_reference, write_samples


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    ref = shared_reference()
    if not (ref / "ggml-vocab-deepseek-coder.gguf").is_file():
        pytest.skip(f"release reference vocabulary not found at {ref} (../shared is absent)")
    return ref


@pytest.fixture(scope="session")
def release_tokdir(reference_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from repoloom.tokenize.gguf_import import import_gguf

    out = tmp_path_factory.mktemp("release_tok")
    import_gguf(reference_dir / "ggml-vocab-deepseek-coder.gguf", out)
    return out


@pytest.fixture(scope="session")
def small_tokdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1,000-token BPE trained here on standard-library code (no ../shared needed)."""
    from repoloom.tokenize.train import train_tokenizer

    corpus = write_samples(tmp_path_factory.mktemp("train_corpus"), file_docs(40))
    out = tmp_path_factory.mktemp("small_tok")
    train_tokenizer([CorpusSpec("code", "samples", str(corpus))], out, vocab_size=1000)
    return out
