"""Synchronous clients for the terminal commands: a local model in-process, or a server URL.

Both expose ``generate(prompt, params)`` (a rendered prompt, streamed text pieces),
``chat(messages, params)`` (streamed text pieces), ``count_tokens`` and ``context_window``.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from pathlib import Path

from repoloom.serve.engine import Done, Event, Job, LocalEngine, SamplingParams
from repoloom.serve.repo_context import approx_tokens
from repoloom.serve.templates import render_chat


class LocalClient:
    def __init__(self, model_dir: str | Path, **engine_kwargs):
        self.engine = LocalEngine(model_dir, max_queue=4, **engine_kwargs)
        self.context_window = self.engine.context_window
        self.vocab = self.engine.vocab

    def count_tokens(self, text: str) -> int:
        return self.engine.count_tokens(text)

    def generate(self, prompt: str, params: SamplingParams) -> Iterator[str]:
        q: queue.Queue[Event | Done] = queue.Queue()
        handle = self.engine.submit(Job(prompt, params), q.put)
        try:
            while True:
                ev = q.get()
                if isinstance(ev, Done):
                    if ev.error is not None:
                        raise RuntimeError(str(ev.error))
                    return
                if ev.index == 0 and ev.text:
                    yield ev.text
        finally:
            handle.cancel()

    def chat(self, messages: list[dict[str, str]], params: SamplingParams) -> Iterator[str]:
        e = self.engine
        prompt = render_chat(
            messages, chat_template=e.chat_template, bos_token=e.bos_token, eos_token=e.eos_token
        )
        yield from self.generate(prompt, params)

    def close(self) -> None:
        self.engine.close()


class HttpClient:
    """A repoloom server or any OpenAI-compatible server (vLLM) at ``url``."""

    def __init__(self, url: str, *, api_key: str | None = None, tokenizer_dir: str | None = None):
        import httpx

        base = url.rstrip("/")
        self.base_url = base[: -len("/v1")] if base.endswith("/v1") else base
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=600.0)
        try:
            r = self.http.get("/v1/models")
            r.raise_for_status()
            info = r.json()["data"][0]
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            raise ConnectionError(f"cannot reach {self.base_url}/v1/models: {exc}") from exc
        self.model = info["id"]
        self.context_window = info.get("max_model_len") or 4096
        self.tokenizer = None
        self._server_tokenize = True
        self.vocab: set[str] = set()
        if tokenizer_dir:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
            self.vocab = set(self.tokenizer.get_vocab())

    def count_tokens(self, text: str) -> int:
        """Exact with ``tokenizer_dir``; else the server's ``/tokenize`` (repoloom and vLLM have
        one); else an estimate of 3 characters per token."""
        if self.tokenizer is not None:
            return len(self.tokenizer(text, add_special_tokens=True)["input_ids"])
        if self._server_tokenize:
            import httpx

            try:
                r = self.http.post("/tokenize", json={"model": self.model, "prompt": text})
                if r.status_code == 200 and isinstance(r.json().get("count"), int):
                    return r.json()["count"]
            except (httpx.HTTPError, ValueError):
                pass
            self._server_tokenize = False
        return approx_tokens(text)

    def _stream(self, path: str, body: dict, chat: bool) -> Iterator[str]:
        with self.http.stream("POST", path, json=body) as r:
            if r.status_code != 200:
                r.read()
                try:
                    msg = r.json()["error"]["message"]
                except (ValueError, KeyError, TypeError):
                    msg = r.text[:500]
                raise RuntimeError(f"{self.base_url}{path}: HTTP {r.status_code}: {msg}")
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                chunk = json.loads(data)
                if "error" in chunk:
                    raise RuntimeError(str(chunk["error"]))
                for c in chunk.get("choices") or []:
                    text = (c.get("delta") or {}).get("content") if chat else c.get("text")
                    if text and c.get("index", 0) == 0:
                        yield text

    def _body(self, params: SamplingParams) -> dict:
        body = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
        }
        if params.stop:
            body["stop"] = params.stop
        if params.seed is not None:
            body["seed"] = params.seed
        return body

    def generate(self, prompt: str, params: SamplingParams) -> Iterator[str]:
        yield from self._stream("/v1/completions", {**self._body(params), "prompt": prompt}, False)

    def chat(self, messages: list[dict[str, str]], params: SamplingParams) -> Iterator[str]:
        body = {**self._body(params), "messages": messages}
        yield from self._stream("/v1/chat/completions", body, True)

    def close(self) -> None:
        self.http.close()
