"""Synchronous clients for the terminal commands: a local model in-process, or a server URL.

Both expose ``generate(prompt, params)`` (a rendered prompt, streamed text pieces),
``chat(messages, params)`` (streamed text pieces), ``count_tokens`` and ``context_window``.
The local one is :class:`repoloom.inference.local.LocalEngine`; the URL one talks through the
one HTTP client, :class:`repoloom.inference.openai_client.OpenAIClient`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx

from repoloom.codebase.context import approx_tokens
from repoloom.inference.base import Job, SamplingParams, stream_text
from repoloom.inference.local import LocalEngine
from repoloom.inference.openai_client import HTTPFailure, OpenAIClient


class LocalClient:
    def __init__(self, model_dir: str | Path, **engine_kwargs):
        self.engine = LocalEngine(model_dir, max_queue=4, **engine_kwargs)
        self.context_window = self.engine.context_window
        self.vocab = self.engine.vocab

    def count_tokens(self, text: str) -> int:
        return self.engine.count_tokens(text)

    def generate(self, prompt: str, params: SamplingParams) -> Iterator[str]:
        yield from stream_text(self.engine, Job(prompt, params))

    def chat(self, messages: list[dict[str, str]], params: SamplingParams) -> Iterator[str]:
        yield from self.generate(self.engine.render_chat(messages), params)

    def close(self) -> None:
        self.engine.close()


class HttpClient:
    """A repoloom server or any OpenAI-compatible server (vLLM) at ``url``."""

    def __init__(self, url: str, *, api_key: str | None = None, tokenizer_dir: str | None = None):
        self.client = OpenAIClient(url, api_key=api_key, timeout_s=600.0)
        self.base_url = self.client.base_url
        try:
            info = self.client.models()[0]
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
            try:
                r = self.client.http.post(
                    f"{self.base_url}/tokenize", json={"model": self.model, "prompt": text}
                )
                if r.status_code == 200 and isinstance(r.json().get("count"), int):
                    return r.json()["count"]
            except (httpx.HTTPError, ValueError):
                pass
            self._server_tokenize = False
        return approx_tokens(text)

    def _stream(self, path: str, body: dict, chat: bool) -> Iterator[str]:
        try:
            for chunk in self.client.stream(path, body):
                if "error" in chunk:
                    raise RuntimeError(str(chunk["error"]))
                for c in chunk.get("choices") or []:
                    text = (c.get("delta") or {}).get("content") if chat else c.get("text")
                    if text and c.get("index", 0) == 0:
                        yield text
        except HTTPFailure as failure:
            raise RuntimeError(
                f"{self.base_url}{path}: HTTP {failure.status}: {failure.message}"
            ) from None

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
        self.client.close()
