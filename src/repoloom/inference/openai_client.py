"""The one HTTP client for OpenAI-compatible servers, and the batch backend built on it.

:class:`OpenAIClient` is every HTTP call repoloom makes to a model server: ``models()``
(``/v1/models``), ``post()`` (one JSON request, with the retry policy below), ``stream()`` and
``astream()`` (server-sent events, synchronous and asyncio). Its users: serve's ``--upstream``
(:class:`repoloom.inference.upstream.UpstreamEngine`), ``eval run`` with a URL
(:class:`OpenAIBackend`) and the terminal ``complete``/``chat`` with ``--url``
(:class:`repoloom.serve.client.HttpClient`).

:class:`OpenAIBackend`: ``/v1/completions`` for base models (FIM rendered client-side),
``/v1/chat/completions`` for instruct models, with a concurrency limit.

Errors, per request: 408/409/425/429 and 5xx (and dropped connections) are retried with
exponential backoff (honouring ``Retry-After``); another 4xx (400 for a prompt longer than the
model's context, 413, 422, ...) concerns that request only: it comes back as a
:class:`GenerationFailed`, which the run records as an error sample before going on. 401, 403,
404 and 405 mean the URL, model name or key is wrong for every request, and stop the run, as
does an endpoint still failing after the last retry (the samples written so far are kept; a
rerun continues)."""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from repoloom.inference.base import Backend, GenerationFailed, GenRequest, cut_at_stop

log = logging.getLogger(__name__)
RETRY_STATUS = {408, 409, 425, 429}  # and every 5xx
FATAL_STATUS = {401, 403, 404, 405}  # wrong URL / model / key: no request can succeed


class EndpointError(RuntimeError):
    """The endpoint cannot serve the run (unreachable, wrong URL or key, failing after retries)."""


class RequestRefused(EndpointError):
    """The endpoint refused one request (a 4xx other than FATAL_STATUS / RETRY_STATUS)."""


class HTTPFailure(Exception):
    """A streamed request answered with a status other than 200: ``status``, the parsed JSON
    ``body`` (None when it is not JSON), and ``message`` (the error's message or the raw text)."""

    def __init__(self, status: int, raw: bytes):
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.status = status
        self.body = body
        self.message = error_message(body) or raw.decode("utf-8", "replace")[:500]
        super().__init__(f"HTTP {status}: {self.message}")


def error_message(body: object) -> str | None:
    """The message of an OpenAI-shaped (``{"error": {"message"}}``) or FastAPI-shaped
    (``{"detail"}``) error body."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or "") or None
        if isinstance(err, str):
            return err
        if "detail" in body:
            return str(body["detail"])
    return None


def _is_number(text: str) -> bool:
    return text.replace(".", "", 1).isdigit()


class OpenAIClient:
    """An OpenAI-compatible server at ``url`` (with or without the trailing ``/v1``).

    The synchronous ``httpx.Client`` and the ``httpx.AsyncClient`` are made on first use, so a
    client built before the event loop runs may stream from it later."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 600.0,
        max_connections: int | None = None,
    ) -> None:
        base = url.rstrip("/")
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        self.base_url = base
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self.requests_sent = 0
        self._http: Any = None
        self._async: Any = None

    @property
    def http(self) -> Any:
        """The synchronous ``httpx.Client``."""
        if self._http is None:
            limits = httpx.Limits(max_connections=self.max_connections)
            if self.max_connections is None:
                limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
            self._http = httpx.Client(headers=self.headers, timeout=self.timeout_s, limits=limits)
        return self._http

    def models(self, timeout_s: float | None = None) -> list[dict]:
        """The ``data`` of ``GET /v1/models``; raises httpx's errors, KeyError or ValueError."""
        r = self.http.get(f"{self.base_url}/v1/models", timeout=timeout_s or self.timeout_s)
        r.raise_for_status()
        return r.json()["data"]

    def post(self, path: str, payload: dict, *, retries: int = 0, backoff: float = 0.5) -> dict:
        """POST ``payload`` to ``path`` (e.g. ``/v1/completions``) and return the JSON answer,
        retrying as the module says; EndpointError / RequestRefused when it cannot."""
        url = self.base_url + path
        last = ""
        asked_wait = 0.0  # the server's Retry-After, when it sent one
        for attempt in range(retries + 1):
            if attempt:
                delay = backoff * (2 ** (attempt - 1)) * (1 + random.random() * 0.1)
                time.sleep(min(max(delay, asked_wait), 30.0))
            try:
                self.requests_sent += 1
                resp = self.http.post(url, json=payload)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                log.debug("request failed (%s), retrying", last)
                continue
            if resp.status_code in RETRY_STATUS or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                retry_after = resp.headers.get("retry-after", "")
                asked_wait = float(retry_after) if _is_number(retry_after) else 0.0
                continue
            if resp.status_code >= 400:
                what = f"{url}: HTTP {resp.status_code}: {resp.text[:300]}"
                if resp.status_code in FATAL_STATUS:
                    raise EndpointError(what)
                raise RequestRefused(what)
            try:
                return resp.json()
            except ValueError:
                raise EndpointError(f"{url}: response is not JSON") from None
        raise EndpointError(f"{url}: gave up after {retries + 1} tries ({last})")

    def stream(self, path: str, body: dict) -> Iterator[dict]:
        """The JSON chunks of a streamed (server-sent events) request, up to ``[DONE]``;
        :class:`HTTPFailure` when the answer is not 200."""
        with self.http.stream("POST", self.base_url + path, json=body) as r:
            if r.status_code != 200:
                raise HTTPFailure(r.status_code, r.read())
            for line in r.iter_lines():
                chunk = _sse_chunk(line)
                if chunk is _DONE:
                    return
                if chunk is not None:
                    yield chunk

    async def astream(self, path: str, body: dict) -> AsyncIterator[dict]:
        """:meth:`stream` for asyncio (connect timeout 10 s, read timeout ``timeout_s``)."""
        if self._async is None:
            self._async = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s, connect=10.0))
        async with self._async.stream(
            "POST", self.base_url + path, json=body, headers=self.headers
        ) as r:
            if r.status_code != 200:
                raise HTTPFailure(r.status_code, await r.aread())
            async for line in r.aiter_lines():
                chunk = _sse_chunk(line)
                if chunk is _DONE:
                    return
                if chunk is not None:
                    yield chunk

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()


_DONE: dict = {}


def _sse_chunk(line: str) -> dict | None:
    """The JSON of one ``data:`` line, ``_DONE`` for ``[DONE]``, None for any other line."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return _DONE
    return json.loads(data)


class OpenAIBackend(Backend):
    """The batch interface over :class:`OpenAIClient` (``eval run --model URL``)."""

    name = "openai"

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        concurrency: int = 8,
        retries: int = 5,
        backoff: float = 0.5,
        timeout: float = 600.0,
    ) -> None:
        key = api_key or os.environ.get("OPENAI_API_KEY")
        self.client = OpenAIClient(url, api_key=key, timeout_s=timeout, max_connections=concurrency)
        self.base = self.client.base_url + "/v1"
        self.model = model or "default"
        self.concurrency = max(1, concurrency)
        self.retries = retries
        self.backoff = backoff
        self.refused = 0

    @property
    def requests_sent(self) -> int:
        return self.client.requests_sent

    def _one(self, r: GenRequest) -> list[str] | GenerationFailed:
        want = r.n if r.temperature > 0 else 1
        texts: list[str] = []
        try:
            while len(texts) < want:  # some servers ignore n: ask again for the rest
                texts += self._call(r, want - len(texts))
        except RequestRefused as exc:
            self.refused += 1
            log.warning("request refused, recorded as an error sample: %s", exc)
            return GenerationFailed(str(exc))
        texts = [cut_at_stop(t, r.stop) for t in texts[:want]]
        return texts * r.n if r.temperature <= 0 else texts

    def _call(self, r: GenRequest, n: int) -> list[str]:
        common = {
            "model": self.model,
            "max_tokens": r.max_new_tokens,
            "temperature": r.temperature,
            "n": n,
        }
        if r.temperature > 0:
            common["top_p"] = r.top_p
        if r.stop:
            common["stop"] = r.stop[:4]  # the OpenAI API takes at most 4; the rest cut here
        retry = {"retries": self.retries, "backoff": self.backoff}
        if r.messages:
            data = self.client.post(
                "/v1/chat/completions", {**common, "messages": r.messages}, **retry
            )
            texts = [c.get("message", {}).get("content") or "" for c in data.get("choices", [])]
        else:
            data = self.client.post("/v1/completions", {**common, "prompt": r.prompt}, **retry)
            texts = [c.get("text") or "" for c in data.get("choices", [])]
        if not texts:
            raise EndpointError(f"{self.base}: response has no choices")
        return texts

    def generate(self, requests: list[GenRequest]) -> list[list[str] | GenerationFailed]:
        with ThreadPoolExecutor(self.concurrency) as ex:
            return list(ex.map(self._one, requests))

    def close(self) -> None:
        self.client.close()
