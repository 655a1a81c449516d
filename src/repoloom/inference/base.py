"""The one model-access interface: request and result types, and the two ways to call a model.

A model is reached through one of two implementations, each usable by evaluate and serve:

- :class:`repoloom.inference.local.LocalEngine`: a Hugging Face causal LM in this process;
- :mod:`repoloom.inference.openai_client`: an OpenAI-compatible server over HTTP (vLLM,
  llama.cpp, another ``repoloom serve``), through the one HTTP client :class:`OpenAIClient`,
  wrapped as :class:`~repoloom.inference.upstream.UpstreamEngine` for streaming and
  :class:`~repoloom.inference.openai_client.OpenAIBackend` for batches.

Two entry points, one per way of working:

- **streaming** (:class:`Engine`, what serve and the terminal client use): ``submit(job, emit)``
  takes a :class:`Job` (a rendered prompt plus :class:`SamplingParams`) and reports
  :class:`Event` pieces, then one :class:`Done`, through the ``emit`` callback; the
  :class:`Handle` it returns cancels the job. ``render_chat`` turns messages into the prompt
  with the model's chat template (the one renderer, :func:`repoloom.prompts.render_chat`).
- **batch** (:class:`Backend`, what ``eval run`` uses): ``generate(requests)`` returns, per
  :class:`GenRequest`, ``n`` texts cut at the first stop string, or a :class:`GenerationFailed`
  for a request the endpoint refused.

Completion, infilling and chat are all prompts here: FIM and chat are rendered by
:mod:`repoloom.prompts` before they reach a model.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from repoloom.prompts import BOS, EOS, render_chat


# ---- errors ------------------------------------------------------------------------------------
class Overloaded(Exception):
    """The request queue is full."""


class EngineClosed(Exception):
    """``close()`` was called while a batch was decoding."""


class BackendError(Exception):
    """A generation failed; ``status`` and ``body`` are forwarded to the client."""

    def __init__(self, status: int, message: str, body: dict | None = None):
        super().__init__(message)
        self.status = status
        self.body = body


# ---- streaming: requests and results -----------------------------------------------------------
@dataclass
class SamplingParams:
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    n: int = 1
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    ignore_eos: bool = False


@dataclass
class Job:
    prompt: str  # rendered prompt text (special tokens spelled out); BOS is added on encoding
    params: SamplingParams
    prompt_ids: list[int] | None = None  # filled by the local backend


@dataclass
class Event:
    """Text for sequence ``index``; ``finish_reason`` set on its last event."""

    index: int
    text: str = ""
    finish_reason: str | None = None
    completion_tokens: int = 0


@dataclass
class Done:
    """The job is over (all sequences finished, cancelled, or failed with ``error``)."""

    prompt_tokens: int
    completion_tokens: int
    error: BackendError | None = None


Emit = Callable[[Event | Done], None]


class Handle:
    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self._on_cancel: Callable[[], None] | None = None

    def cancel(self) -> None:
        if not self.cancelled.is_set():
            self.cancelled.set()
            if self._on_cancel is not None:
                self._on_cancel()


class StopChecker:
    """Finds stop strings in a growing text; says how much text is safe to emit while streaming."""

    def __init__(self, stops: list[str]):
        self.stops = [s for s in stops if s]

    def find(self, text: str, start: int = 0) -> int:
        """Index of the earliest stop string occurrence (search from ``start``), or -1."""
        best = -1
        for s in self.stops:
            i = text.find(s, max(0, start - len(s) + 1))
            if i >= 0 and (best < 0 or i < best):
                best = i
        return best

    def safe_length(self, text: str) -> int:
        """Length of the prefix of ``text`` that cannot become part of a stop string."""
        hold = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(text)), 0, -1):
                if text.endswith(s[:k]):
                    hold = max(hold, k)
                    break
        n = len(text) - hold
        # Hold back an incomplete UTF-8 sequence (decoded as U+FFFD) until it completes.
        while n > 0 and text[n - 1] == "\ufffd":
            n -= 1
        return n


class Engine:
    """The streaming interface (implemented by ``LocalEngine`` and ``UpstreamEngine``).

    ``tokenizer`` is None when the engine has none (an upstream without ``--model DIR``); then
    ``count_tokens`` estimates and ``encode`` raises ValueError."""

    model_id: str
    context_window: int | None
    tokenizer: Any = None
    vocab: set[str]
    chat_template: str | None = None
    bos_token: str = BOS
    eos_token: str = EOS
    stats: dict[str, int]

    def submit(self, job: Job, emit: Emit) -> Handle:
        """Start ``job``; its events go to ``emit``. Raises :class:`Overloaded` when full."""
        raise NotImplementedError

    def prepare(self, job: Job) -> int | None:
        """The prompt length in tokens (None when the engine cannot count it)."""
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    @property
    def queued(self) -> int:
        return 0

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """The prompt of a conversation, in this model's chat template, ready for the answer."""
        return render_chat(
            messages,
            chat_template=self.chat_template,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


def stream_text(engine: Engine, job: Job) -> Iterator[str]:
    """The text of sequence 0 of ``job`` as it is generated, from a synchronous caller (the
    terminal client); the job is cancelled when the caller stops early. RuntimeError on a
    failed generation. For engines whose ``submit`` may run outside an event loop (local)."""
    events: queue.Queue[Event | Done] = queue.Queue()
    handle = engine.submit(job, events.put)
    try:
        while True:
            ev = events.get()
            if isinstance(ev, Done):
                if ev.error is not None:
                    raise RuntimeError(str(ev.error))
                return
            if ev.index == 0 and ev.text:
                yield ev.text
    finally:
        handle.cancel()


# ---- batch: requests and results ---------------------------------------------------------------
@dataclass
class GenRequest:
    """One prompt to sample ``n`` times. ``prompt`` is the raw text (completion / rendered FIM);
    for chat models ``messages`` is used instead."""

    prompt: str = ""
    messages: list[dict[str, str]] | None = None
    n: int = 1
    max_new_tokens: int = 500
    temperature: float = 0.0
    top_p: float = 0.95
    stop: list[str] = field(default_factory=list)


@dataclass
class GenerationFailed:
    """In place of a request's texts: the endpoint refused this one request (e.g. HTTP 400, a
    prompt longer than the model's context). The run records an error sample and goes on."""

    error: str


class Backend:
    """The batch interface: ``generate(requests)`` returns, per request, ``n`` generated texts
    (new text only, cut at the first stop sequence), or a :class:`GenerationFailed` for a
    request the endpoint refused."""

    name = "backend"

    def generate(self, requests: list[GenRequest]) -> list[list[str] | GenerationFailed]:
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


def cut_at_stop(text: str, stop: list[str]) -> str:
    """`text` up to the first occurrence of any stop string (the stop string excluded)."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]
