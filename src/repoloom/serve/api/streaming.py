"""From an engine's callbacks to HTTP replies: the asyncio bridge, collecting a whole reply,
and OpenAI's server-sent event chunks."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from repoloom.inference.base import Done, Engine, Event, Handle, Job, Overloaded
from repoloom.serve.api.errors import ApiError, backend_error


class JobStream:
    """The events of one submitted job, as an asyncio queue fed from the engine's thread."""

    def __init__(self, backend: Engine, job: Job):
        self.queue: asyncio.Queue[Event | Done] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self.finished = False

        def emit(ev: Event | Done) -> None:
            loop.call_soon_threadsafe(self.queue.put_nowait, ev)

        try:
            self.handle: Handle = backend.submit(job, emit)
        except Overloaded as exc:
            raise ApiError(
                503, f"server overloaded: {exc}; retry later", "server_error", code="overloaded"
            ) from None

    async def next(self) -> Event | Done:
        ev = await self.queue.get()
        if isinstance(ev, Done):
            self.finished = True
        return ev

    def cancel(self) -> None:
        if not self.finished:
            self.handle.cancel()


async def start(backend: Engine, job: Job) -> tuple[JobStream, Event | Done]:
    """Submit, and wait for the first event so that backend errors still get a status code."""
    stream = JobStream(backend, job)
    first = await stream.next()
    if isinstance(first, Done) and first.error is not None:
        raise backend_error(first.error)
    return stream, first


async def collect(
    stream: JobStream, first: Event | Done, request: Request, n: int
) -> tuple[list[str], list[str | None], Done]:
    """The whole texts and finish reasons of ``n`` sequences; 499 when the client goes away."""
    texts = [""] * n
    reasons: list[str | None] = [None] * n
    ev = first
    checked = time.monotonic()
    while True:
        if isinstance(ev, Done):
            if ev.error is not None:
                raise backend_error(ev.error)
            return texts, reasons, ev
        if 0 <= ev.index < n:
            texts[ev.index] += ev.text
            if ev.finish_reason:
                reasons[ev.index] = ev.finish_reason
        while True:
            # Events may flow without pause, so look for a gone client by the clock.
            if time.monotonic() - checked > 0.25:
                checked = time.monotonic()
                if await request.is_disconnected():
                    stream.cancel()
                    raise ApiError(499, "client disconnected")
            try:
                ev = await asyncio.wait_for(stream.next(), timeout=0.25)
                break
            except TimeoutError:
                continue


def usage(done: Done, n_prompt: int | None) -> dict[str, int]:
    p = done.prompt_tokens or n_prompt or 0
    return {
        "prompt_tokens": p,
        "completion_tokens": done.completion_tokens,
        "total_tokens": p + done.completion_tokens,
    }


def sse(obj: dict) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


async def openai_reply(
    request: Request,
    req: Any,
    stream: JobStream,
    first: Event | Done,
    n: int,
    n_prompt: int | None,
    *,
    model_id: str,
    ids: tuple[str, str, str],
    choice: Callable[[int, str, str | None], dict],
    deltas: Callable[[Any], list[dict]],
    opening: Sequence[dict] = (),
) -> Any:
    """The OpenAI response of a started job: one body (``choice`` per sequence) or, with
    ``stream``, server-sent chunks (``opening``, then ``deltas`` of each event, the usage
    when asked, ``[DONE]``). ``ids``: id prefix, object, object of a stream chunk."""
    prefix, obj, chunk_obj = ids
    base = {
        "id": f"{prefix}-{uuid.uuid4().hex}",
        "object": obj,
        "created": int(time.time()),
        "model": model_id,
    }
    if not req.stream:
        texts, reasons, done = await collect(stream, first, request, n)
        choices = [choice(i, texts[i], reasons[i]) for i in range(n)]
        return {**base, "choices": choices, "usage": usage(done, n_prompt)}
    include_usage = bool((req.stream_options or {}).get("include_usage"))
    base["object"] = chunk_obj

    async def events() -> AsyncIterator[str]:
        try:
            for c in opening:
                yield sse({**base, "choices": [c]})
            ev = first
            while True:
                if isinstance(ev, Done):
                    if ev.error is not None:
                        yield sse(backend_error(ev.error).body())
                    elif include_usage:
                        yield sse({**base, "choices": [], "usage": usage(ev, n_prompt)})
                    yield "data: [DONE]\n\n"
                    return
                for c in deltas(ev):
                    yield sse({**base, "choices": [c]})
                ev = await stream.next()
        finally:
            stream.cancel()

    return StreamingResponse(events(), media_type="text/event-stream")
