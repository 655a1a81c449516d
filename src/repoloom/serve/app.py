"""The HTTP API: OpenAI-compatible ``/v1/*``, llama.cpp-style ``/infill``, ``/health``.

``create_app(backend, fim_template)`` builds the FastAPI application around an engine
(:class:`repoloom.inference.local.LocalEngine` or :class:`repoloom.inference.upstream.UpstreamEngine`)
from the routers of :mod:`repoloom.serve.api`, one per endpoint; the state they share is one
:class:`~repoloom.serve.api.state.ServeState` on ``app.state.serve``. Request bodies are parsed
by hand so that every error has OpenAI's shape ``{"error": {"message", "type", "param",
"code"}}`` with a 4xx status (FastAPI's default would be a 422 in its own format).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from repoloom.prompts import FimTemplate
from repoloom.serve.api import chat, completions, infill, models, tokens
from repoloom.serve.api.errors import ApiError, install_error_handlers  # noqa: F401
from repoloom.serve.api.protocol import (  # noqa: F401  (re-exported)
    DEFAULT_MAX_TOKENS,
    MAX_BODY_BYTES,
    MAX_N,
    ChatMessage,
    ChatRequest,
    CompletionRequest,
    ExtraFile,
    InfillRequest,
    TextPart,
    TokenizeRequest,
)
from repoloom.serve.api.state import ServeState


def create_app(
    backend: Any,
    fim_template: FimTemplate,
    *,
    backend_kind: str = "local",
    close_backend: bool = True,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
) -> FastAPI:
    """The application; with ``close_backend`` it owns ``backend`` and closes it at shutdown
    (the local engine's worker thread is joined, the upstream's HTTP client closed)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if not close_backend:
            return
        aclose = getattr(backend, "aclose", None)
        if aclose is not None:
            await aclose()
        await asyncio.to_thread(backend.close)

    app = FastAPI(
        title="repoloom serve", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.serve = ServeState(backend, fim_template, backend_kind, default_max_tokens)
    install_error_handlers(app)
    for api in (models, completions, chat, infill, tokens):
        app.include_router(api.router)
    return app
