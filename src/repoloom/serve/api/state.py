"""What every endpoint shares: the backend, the FIM template and the request helpers.

``create_app`` puts one :class:`ServeState` on ``app.state.serve``; a router takes it as the
FastAPI dependency :data:`State`."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from repoloom.codebase.context import fim_prompt_with_context, fit_extra_files, render_context
from repoloom.codebase.render import render_file
from repoloom.inference.base import Done, Engine, Event, Job, SamplingParams
from repoloom.prompts import FimTemplate
from repoloom.serve.api.errors import ApiError, validation_error
from repoloom.serve.api.protocol import (
    DEFAULT_MAX_TOKENS,
    MAX_BODY_BYTES,
    CompletionRequest,
    ExtraFile,
    TokenizeRequest,
    _Sampling,
)
from repoloom.serve.api.streaming import JobStream, start


@dataclass
class ServeState:
    backend: Engine
    fim_template: FimTemplate
    backend_kind: str = "local"
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    started: int = field(default_factory=lambda: int(time.time()))

    @property
    def window(self) -> int | None:
        return getattr(self.backend, "context_window", None)

    async def parse(self, request: Request, model: type[BaseModel]) -> Any:
        """The JSON body as ``model``; 415, 413 or 400 in OpenAI's shape when it is not one."""
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise ApiError(
                415,
                f"the request body must be application/json (got {content_type or 'no content type'!r})",
                code="unsupported_media_type",
            )
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(413, f"request body over {MAX_BODY_BYTES} bytes")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"invalid JSON body: {exc}", code="invalid_json") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the JSON body must be an object", code="invalid_json")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise validation_error(exc) from None

    def check_model(self, name: str | None) -> None:
        if name and name != self.backend.model_id:
            raise ApiError(
                404,
                f"The model `{name}` does not exist.",
                "invalid_request_error",
                "model",
                "model_not_found",
            )

    def params_of(
        self, req: _Sampling, max_tokens: int, extra_stop: list[str] | None = None
    ) -> SamplingParams:
        stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        if req.logprobs not in (None, False, 0):
            raise ApiError(400, "logprobs are not supported by repoloom serve", param="logprobs")
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=1.0 if req.temperature is None else req.temperature,
            top_p=1.0 if req.top_p is None else req.top_p,
            stop=stop + (extra_stop or []),
            n=req.n or 1,
            seed=req.seed,
            presence_penalty=req.presence_penalty or 0.0,
            frequency_penalty=req.frequency_penalty or 0.0,
            ignore_eos=req.ignore_eos,
        )

    def default_bound(self, n_prompt: int | None) -> int:
        """New tokens for a request that named no bound: the default, or what the window has left."""
        w = self.window
        if w is None or n_prompt is None:
            return self.default_max_tokens
        return max(1, min(self.default_max_tokens, w - n_prompt))

    async def check_window(self, job: Job, requested: int | None) -> int | None:
        n_prompt = await asyncio.to_thread(self.backend.prepare, job)
        if n_prompt == 0:
            raise ApiError(400, "the prompt is empty", param="prompt")
        w = self.window
        if n_prompt is None or w is None:
            return n_prompt
        total = n_prompt + (requested or 0)
        if n_prompt >= w or total > w:
            raise ApiError(
                400,
                f"This model's maximum context length is {w} tokens. However, you requested "
                f"{total} tokens ({n_prompt} in the prompt, {requested or 0} for the completion). "
                "Please reduce the length of the prompt or of the completion.",
                param="prompt",
                code="context_length_exceeded",
            )
        return n_prompt

    def fit_extra(
        self, files: list[ExtraFile] | None, used_text: str, max_tokens: int
    ) -> list[tuple[str, str]]:
        if not files:
            return []
        pairs = [(f.filename, f.text) for f in files]
        w = self.window
        if w is None:
            return pairs
        budget = w - max_tokens - self.backend.count_tokens(used_text)
        return fit_extra_files(pairs, budget, self.backend.count_tokens)

    def completion_prompt(self, req: CompletionRequest | TokenizeRequest, max_tokens: int) -> str:
        prompt = req.prompt
        if isinstance(prompt, list):
            if len(prompt) != 1 or not isinstance(prompt[0], str):
                raise ApiError(
                    400, "exactly one prompt string per request is supported", param="prompt"
                )
            prompt = prompt[0]
        extra = self.fit_extra(req.input_extra, prompt + (req.suffix or ""), max_tokens)
        if req.suffix is not None:
            return fim_prompt_with_context(
                self.fim_template, prompt, req.suffix, path=req.path, context_files=extra
            )
        if extra:
            head = render_context(extra) + (render_file(req.path, "") if req.path else "")
            return head + prompt
        return prompt

    async def start(self, job: Job) -> tuple[JobStream, Event | Done]:
        return await start(self.backend, job)


def serve_state(request: Request) -> ServeState:
    return request.app.state.serve


State = Annotated[ServeState, Depends(serve_state)]
