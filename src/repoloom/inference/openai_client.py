"""An OpenAI-compatible HTTP endpoint: ``/v1/completions`` for base models (FIM rendered
client-side), ``/v1/chat/completions`` for instruct models, with a concurrency limit.

Errors, per request: 408/409/425/429 and 5xx (and dropped connections) are retried with
exponential backoff (honouring ``Retry-After``); another 4xx (400 for a prompt longer than the
model's context, 413, 422, ...) concerns that request only: it comes back as a
:class:`GenerationFailed`, which the run records as an error sample before going on. 401, 403,
404 and 405 mean the URL, model name or key is wrong for every request, and stop the run, as
does an endpoint still failing after the last retry (the samples written so far are kept; a
rerun continues)."""

from __future__ import annotations

import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

from repoloom.evaluate.backends.base import Backend, GenerationFailed, GenRequest, cut_at_stop

log = logging.getLogger(__name__)
RETRY_STATUS = {408, 409, 425, 429}  # and every 5xx
FATAL_STATUS = {401, 403, 404, 405}  # wrong URL / model / key: no request can succeed


class EndpointError(RuntimeError):
    """The endpoint cannot serve the run (unreachable, wrong URL or key, failing after retries)."""


class RequestRefused(EndpointError):
    """The endpoint refused one request (a 4xx other than FATAL_STATUS / RETRY_STATUS)."""


def _is_number(text: str) -> bool:
    return text.replace(".", "", 1).isdigit()


class OpenAIBackend(Backend):
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
        import httpx

        base = url.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        self.base = base
        self.model = model or "default"
        key = api_key or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(
            headers=headers,
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency),
        )
        self.concurrency = max(1, concurrency)
        self.retries = retries
        self.backoff = backoff
        self.requests_sent = 0
        self.refused = 0

    def _post(self, path: str, payload: dict) -> dict:
        import httpx

        last = ""
        asked_wait = 0.0  # the server's Retry-After, when it sent one
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff * (2 ** (attempt - 1)) * (1 + random.random() * 0.1)
                time.sleep(min(max(delay, asked_wait), 30.0))
            try:
                self.requests_sent += 1
                resp = self.client.post(self.base + path, json=payload)
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
                what = f"{self.base + path}: HTTP {resp.status_code}: {resp.text[:300]}"
                if resp.status_code in FATAL_STATUS:
                    raise EndpointError(what)
                raise RequestRefused(what)
            try:
                return resp.json()
            except ValueError:
                raise EndpointError(f"{self.base + path}: response is not JSON") from None
        raise EndpointError(f"{self.base + path}: gave up after {self.retries + 1} tries ({last})")

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
        if r.messages:
            data = self._post("/chat/completions", {**common, "messages": r.messages})
            texts = [c.get("message", {}).get("content") or "" for c in data.get("choices", [])]
        else:
            data = self._post("/completions", {**common, "prompt": r.prompt})
            texts = [c.get("text") or "" for c in data.get("choices", [])]
        if not texts:
            raise EndpointError(f"{self.base}: response has no choices")
        return texts

    def generate(self, requests: list[GenRequest]) -> list[list[str] | GenerationFailed]:
        with ThreadPoolExecutor(self.concurrency) as ex:
            return list(ex.map(self._one, requests))

    def close(self) -> None:
        self.client.close()
