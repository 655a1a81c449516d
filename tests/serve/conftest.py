from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("transformers")

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


@contextlib.contextmanager
def running(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yield its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    from repoloom.testing import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-coder")


def make_engine(model_dir: Path, **kwargs):
    from repoloom.inference.local import LocalEngine

    kwargs.setdefault("threads", 1)
    return LocalEngine(model_dir, model_id="tiny-coder", **kwargs)


@pytest.fixture(scope="session")
def engine(tiny_dir):
    eng = make_engine(tiny_dir, max_batch=8, max_queue=64)
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def server(engine) -> Iterator[str]:
    from repoloom.prompts import get_fim_template
    from repoloom.serve.app import create_app

    with running(create_app(engine, get_fim_template("deepseek"))) as url:
        yield url


@pytest.fixture()
def client(server):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0, timeout=60)


# --- checkpoints of the export tests (test_export_hf.py, test_export_gguf.py)


@pytest.fixture(scope="module")
def small_hf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model + tokenizer exported as RUN_DIR/hf with the release's long-context RoPE."""
    from repoloom.testing import exported_checkpoint, tiny_tokenizer

    tok = tiny_tokenizer()
    return exported_checkpoint(tmp_path_factory.mktemp("small") / "hf", tok, vocab_size=len(tok))


@pytest.fixture(scope="module")
def release_hf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release vocabulary (32256 rows) and long-context RoPE; hidden 256 so that q4_k_m
    quantizes every matrix as k-quants."""
    from transformers import AutoTokenizer

    from repoloom.testing import exported_checkpoint

    from .export_models import release_tokenizer_dir

    tok = AutoTokenizer.from_pretrained(str(release_tokenizer_dir(tmp_path_factory)))
    return exported_checkpoint(
        tmp_path_factory.mktemp("release") / "hf",
        tok,
        vocab_size=32256,
        hidden_size=256,
        intermediate_size=512,
    )
