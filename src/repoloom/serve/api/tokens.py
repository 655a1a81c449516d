"""``POST /tokenize``: the token ids ``/v1/completions`` would feed the model for a prompt."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from repoloom.serve.api.errors import ApiError
from repoloom.serve.api.protocol import TokenizeRequest
from repoloom.serve.api.state import State

router = APIRouter()


@router.post("/tokenize")
async def tokenize(request: Request, state: State):
    """The token ids ``/v1/completions`` would feed the model for this prompt (and suffix)."""
    req: TokenizeRequest = await state.parse(request, TokenizeRequest)
    state.check_model(req.model)
    backend = state.backend
    if getattr(backend, "tokenizer", None) is None:
        raise ApiError(400, "tokenize needs a local model (or --model DIR with --upstream)")
    prompt = state.completion_prompt(req, 0)
    ids = await asyncio.to_thread(backend.encode, prompt)
    return {"tokens": ids, "count": len(ids), "max_model_len": state.window, "prompt": prompt}
