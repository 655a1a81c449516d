"""``POST /v1/chat/completions``: messages rendered with the model's chat template (the one
renderer, :func:`repoloom.prompts.render_chat`), OpenAI's reply or stream."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from repoloom.inference.base import Job
from repoloom.prompts import render_chat
from repoloom.serve.api.errors import ApiError
from repoloom.serve.api.protocol import ChatRequest
from repoloom.serve.api.state import State
from repoloom.serve.api.streaming import openai_reply

router = APIRouter()


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, state: State):
    req: ChatRequest = await state.parse(request, ChatRequest)
    state.check_model(req.model)
    messages = [
        {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
        for m in req.messages
    ]
    try:
        backend = state.backend
        prompt = render_chat(
            messages,
            chat_template=backend.chat_template,
            bos_token=backend.bos_token,
            eos_token=backend.eos_token,
        )
    except Exception as exc:  # a template error is the request's fault (e.g. bad roles)
        raise ApiError(400, f"cannot apply the chat template: {exc}", param="messages") from None
    requested = req.max_completion_tokens or req.max_tokens
    job = Job(prompt, state.params_of(req, requested or 1))
    n_prompt = await state.check_window(job, requested)
    if requested is None:
        job.params.max_tokens = state.default_bound(n_prompt)
    stream, first = await state.start(job)
    n = job.params.n

    def choice(i: int, text: str, reason: str | None) -> dict:
        message = {"role": "assistant", "content": text}
        return {"index": i, "message": message, "logprobs": None, "finish_reason": reason}

    def delta(i: int, content: dict, reason: str | None = None) -> dict:
        return {"index": i, "delta": content, "logprobs": None, "finish_reason": reason}

    def deltas(ev: Any) -> list[dict]:
        out = [delta(ev.index, {"content": ev.text})] if ev.text else []
        return out + ([delta(ev.index, {}, ev.finish_reason)] if ev.finish_reason else [])

    return await openai_reply(
        request,
        req,
        stream,
        first,
        n,
        n_prompt,
        model_id=state.backend.model_id,
        ids=("chatcmpl", "chat.completion", "chat.completion.chunk"),
        choice=choice,
        deltas=deltas,
        opening=[delta(i, {"role": "assistant", "content": ""}) for i in range(n)],
    )
