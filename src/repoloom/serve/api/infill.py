"""``POST /infill``: llama.cpp server's infilling endpoint (prefix, suffix, repository files),
its reply or stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from repoloom.codebase.context import fim_prompt_with_context
from repoloom.inference.base import Done, Job, SamplingParams
from repoloom.serve.api.errors import ApiError
from repoloom.serve.api.protocol import InfillRequest
from repoloom.serve.api.state import State
from repoloom.serve.api.streaming import collect, sse

router = APIRouter()


@router.post("/infill")
async def infill(request: Request, state: State):
    req: InfillRequest = await state.parse(request, InfillRequest)
    if not (req.input_prefix or req.input_suffix or req.prompt):
        raise ApiError(
            400, "/infill needs input_prefix, input_suffix or prompt", param="input_prefix"
        )
    max_tokens = req.n_predict if req.n_predict > 0 else None
    budget_tokens = max_tokens or state.default_max_tokens
    extra = state.fit_extra(
        req.input_extra, req.input_prefix + req.input_suffix + req.prompt, budget_tokens
    )
    prompt = (
        fim_prompt_with_context(
            state.fim_template, req.input_prefix, req.input_suffix, context_files=extra
        )
        + req.prompt
    )
    params = SamplingParams(
        max_tokens=max_tokens or 1,
        temperature=req.temperature,
        top_p=req.top_p,
        stop=list(req.stop),
        seed=None if req.seed < 0 else req.seed,
        presence_penalty=req.presence_penalty,
        frequency_penalty=req.frequency_penalty,
        ignore_eos=req.ignore_eos,
    )
    job = Job(prompt, params)
    n_prompt = await state.check_window(job, max_tokens)
    if max_tokens is None:
        params.max_tokens = state.default_bound(n_prompt)
    stream, first = await state.start(job)

    def final(text: str, reason: str | None, done: Done | None) -> dict:
        return {
            "content": text,
            "stop": True,
            "model": state.backend.model_id,
            "tokens_predicted": done.completion_tokens if done else 0,
            "tokens_evaluated": (done.prompt_tokens if done else 0) or n_prompt or 0,
            "stop_type": "limit" if reason == "length" else "eos",
            "generation_settings": {
                "n_predict": req.n_predict,
                "temperature": req.temperature,
                "top_p": req.top_p,
            },
        }

    if not req.stream:
        texts, reasons, done = await collect(stream, first, request, 1)
        return final(texts[0], reasons[0], done)

    async def events() -> AsyncIterator[str]:
        reason = None
        try:
            ev = first
            while True:
                if isinstance(ev, Done):
                    yield sse(final("", reason, ev))
                    return
                reason = ev.finish_reason or reason
                if ev.text:
                    yield sse({"content": ev.text, "stop": False})
                ev = await stream.next()
        finally:
            stream.cancel()

    return StreamingResponse(events(), media_type="text/event-stream")
