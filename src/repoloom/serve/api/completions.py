"""``POST /v1/completions``: a prompt, or with ``suffix`` a FIM prompt (repository context from
``input_extra``), OpenAI's reply or stream."""

from __future__ import annotations

from fastapi import APIRouter, Request

from repoloom.inference.base import Job
from repoloom.serve.api.errors import ApiError
from repoloom.serve.api.protocol import CompletionRequest
from repoloom.serve.api.state import State
from repoloom.serve.api.streaming import openai_reply

router = APIRouter()


@router.post("/v1/completions")
async def completions(request: Request, state: State):
    req: CompletionRequest = await state.parse(request, CompletionRequest)
    state.check_model(req.model)
    if req.echo:
        raise ApiError(400, "echo is not supported by repoloom serve", param="echo")
    max_tokens = req.max_tokens or 16
    job = Job(state.completion_prompt(req, max_tokens), state.params_of(req, max_tokens))
    n_prompt = await state.check_window(job, max_tokens)
    stream, first = await state.start(job)

    def choice(i: int, text: str, reason: str | None) -> dict:
        return {"text": text, "index": i, "logprobs": None, "finish_reason": reason}

    return await openai_reply(
        request,
        req,
        stream,
        first,
        job.params.n,
        n_prompt,
        model_id=state.backend.model_id,
        ids=("cmpl", "text_completion", "text_completion"),
        choice=choice,
        deltas=lambda ev: [choice(ev.index, ev.text, ev.finish_reason)],
    )
