"""The HTTP API: OpenAI-compatible ``/v1/*``, llama.cpp-style ``/infill``, ``/health``.

``create_app(backend, fim_template)`` builds the FastAPI application around a backend
(:class:`repoloom.serve.engine.LocalEngine` or :class:`repoloom.serve.upstream.UpstreamEngine`).
Request bodies are parsed by hand so that every error has OpenAI's shape
``{"error": {"message", "type", "param", "code"}}`` with a 4xx status (FastAPI's default would
be a 422 in its own format).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from repoloom.serve.engine import BackendError, Done, Event, Handle, Job, Overloaded, SamplingParams
from repoloom.serve.repo_context import fim_prompt_with_context, fit_extra_files, render_context
from repoloom.serve.templates import FimTemplate, render_chat

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_N = 16
# New tokens when a chat or /infill request names no bound (max_tokens / n_predict -1). Without
# one a request such as `/infill {}` would generate up to the whole context window (14 s on the
# demo model). /v1/completions keeps OpenAI's own default of 16. `repoloom serve
# --default-max-tokens` changes it.
DEFAULT_MAX_TOKENS = 256


# ---- request bodies ----------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ExtraFile(_Strict):
    filename: str
    text: str


class _Sampling(_Strict):
    model: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    n: int | None = Field(None, ge=1, le=MAX_N)
    stream: bool | None = False
    stream_options: dict[str, Any] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    ignore_eos: bool = False  # vLLM's extension, kept for tests and benchmarks
    best_of: int | None = Field(None, ge=1, le=1)
    logprobs: Any = None


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    suffix: str | None = None
    echo: bool | None = False
    input_extra: list[ExtraFile] | None = None  # repoloom extension: repository context files
    path: str | None = None  # repoloom extension: the current file's path (its "# path" header)


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ChatMessage(_Strict):
    """A message's content is a string or a list of text parts (images, audio: 400); a missing
    or null content is a 400 too (no tool calls here, which are what null content is for)."""

    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[TextPart]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ChatRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)


class InfillRequest(_Strict):
    """llama.cpp server's /infill body (the options repoloom understands)."""

    input_prefix: str = ""
    input_suffix: str = ""
    input_extra: list[ExtraFile] = Field(default_factory=list)
    prompt: str = ""
    n_predict: int = Field(-1, ge=-1)
    temperature: float = Field(0.8, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    stop: list[str] = Field(default_factory=list)
    stream: bool = False
    seed: int = -1
    ignore_eos: bool = False
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)


class TokenizeRequest(_Strict):
    model: str | None = None
    prompt: str
    suffix: str | None = None
    input_extra: list[ExtraFile] | None = None
    path: str | None = None


# ---- errors -------------------------------------------------------------------------------------
class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = (
            status,
            message,
            type_,
            param,
            code,
        )

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        body = self.body()
        headers = {"Retry-After": "1"} if self.status == 503 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


def _validation_error(exc: ValidationError) -> ApiError:
    first = exc.errors()[0]
    loc = ".".join(str(x) for x in first.get("loc", ()))
    msg = f"{loc}: {first.get('msg')}" if loc else str(first.get("msg"))
    if len(exc.errors()) > 1:
        msg += f" (and {len(exc.errors()) - 1} more)"
    return ApiError(400, msg, param=loc or None, code="invalid_value")


def _backend_error(exc: BackendError) -> ApiError:
    err = (exc.body or {}).get("error") if isinstance(exc.body, dict) else None
    if isinstance(err, dict):
        return ApiError(
            exc.status,
            str(err.get("message") or exc),
            str(err.get("type") or "upstream_error"),
            err.get("param"),
            err.get("code"),
        )
    kind = "server_error" if exc.status >= 500 else "invalid_request_error"
    return ApiError(exc.status, str(exc), kind)


# ---- the bridge between the backend's callbacks and asyncio ------------------------------------
class _Stream:
    def __init__(self, backend: Any, job: Job):
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
    started = int(time.time())

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return ApiError(exc.status_code, str(exc.detail), kind).response()

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return ApiError(500, f"internal error: {type(exc).__name__}", "server_error").response()

    async def parse(request: Request, model: type[BaseModel]) -> Any:
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
            raise _validation_error(exc) from None

    def check_model(name: str | None) -> None:
        if name and name != backend.model_id:
            raise ApiError(
                404,
                f"The model `{name}` does not exist.",
                "invalid_request_error",
                "model",
                "model_not_found",
            )

    def params_of(
        req: _Sampling, max_tokens: int, extra_stop: list[str] | None = None
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

    def window() -> int | None:
        return getattr(backend, "context_window", None)

    def default_bound(n_prompt: int | None) -> int:
        """New tokens for a request that named no bound: the default, or what the window has left."""
        w = window()
        if w is None or n_prompt is None:
            return default_max_tokens
        return max(1, min(default_max_tokens, w - n_prompt))

    async def check_window(job: Job, requested: int | None) -> int | None:
        n_prompt = await asyncio.to_thread(backend.prepare, job)
        if n_prompt == 0:
            raise ApiError(400, "the prompt is empty", param="prompt")
        w = window()
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
        files: list[ExtraFile] | None, used_text: str, max_tokens: int
    ) -> list[tuple[str, str]]:
        if not files:
            return []
        pairs = [(f.filename, f.text) for f in files]
        w = window()
        if w is None:
            return pairs
        budget = w - max_tokens - backend.count_tokens(used_text)
        return fit_extra_files(pairs, budget, backend.count_tokens)

    async def start(job: Job) -> tuple[_Stream, Event | Done]:
        """Submit, and wait for the first event so that backend errors still get a status code."""
        stream = _Stream(backend, job)
        first = await stream.next()
        if isinstance(first, Done) and first.error is not None:
            raise _backend_error(first.error)
        return stream, first

    async def collect(stream: _Stream, first: Event | Done, request: Request, n: int):
        texts = [""] * n
        reasons: list[str | None] = [None] * n
        ev = first
        checked = time.monotonic()
        while True:
            if isinstance(ev, Done):
                if ev.error is not None:
                    raise _backend_error(ev.error)
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

    # ---- endpoints --------------------------------------------------------------------------
    @app.get("/health")
    async def health() -> dict:
        return {
            "status": "ok",
            "model": backend.model_id,
            "backend": backend_kind,
            "upstream_kind": getattr(backend, "kind", None),
            "fim_template": fim_template.name,
            "context_window": window(),
            "queued": backend.queued,
            "stats": dict(backend.stats),
        }

    @app.get("/v1/models")
    async def models() -> dict:
        return {
            "object": "list",
            "data": [
                {
                    "id": backend.model_id,
                    "object": "model",
                    "created": started,
                    "owned_by": "repoloom",
                    "max_model_len": window(),
                }
            ],
        }

    async def openai_reply(
        request: Request,
        req: Any,
        stream: Any,
        first: Any,
        n: int,
        n_prompt: int | None,
        *,
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
            "model": backend.model_id,
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
                            yield sse(_backend_error(ev.error).body())
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

    def completion_prompt(req: CompletionRequest | TokenizeRequest, max_tokens: int) -> str:
        prompt = req.prompt
        if isinstance(prompt, list):
            if len(prompt) != 1 or not isinstance(prompt[0], str):
                raise ApiError(
                    400, "exactly one prompt string per request is supported", param="prompt"
                )
            prompt = prompt[0]
        extra = fit_extra(req.input_extra, prompt + (req.suffix or ""), max_tokens)
        if req.suffix is not None:
            return fim_prompt_with_context(
                fim_template, prompt, req.suffix, path=req.path, context_files=extra
            )
        if extra:
            from repoloom.corpus.assemble import render_file

            head = render_context(extra) + (render_file(req.path, "") if req.path else "")
            return head + prompt
        return prompt

    @app.post("/v1/completions")
    async def completions(request: Request):
        req: CompletionRequest = await parse(request, CompletionRequest)
        check_model(req.model)
        if req.echo:
            raise ApiError(400, "echo is not supported by repoloom serve", param="echo")
        max_tokens = req.max_tokens or 16
        job = Job(completion_prompt(req, max_tokens), params_of(req, max_tokens))
        n_prompt = await check_window(job, max_tokens)
        stream, first = await start(job)

        def choice(i: int, text: str, reason: str | None) -> dict:
            return {"text": text, "index": i, "logprobs": None, "finish_reason": reason}

        return await openai_reply(
            request,
            req,
            stream,
            first,
            job.params.n,
            n_prompt,
            ids=("cmpl", "text_completion", "text_completion"),
            choice=choice,
            deltas=lambda ev: [choice(ev.index, ev.text, ev.finish_reason)],
        )

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        req: ChatRequest = await parse(request, ChatRequest)
        check_model(req.model)
        messages = [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
            for m in req.messages
        ]
        try:
            prompt = render_chat(
                messages,
                chat_template=backend.chat_template,
                bos_token=backend.bos_token,
                eos_token=backend.eos_token,
            )
        except Exception as exc:  # a template error is the request's fault (e.g. bad roles)
            raise ApiError(
                400, f"cannot apply the chat template: {exc}", param="messages"
            ) from None
        requested = req.max_completion_tokens or req.max_tokens
        job = Job(prompt, params_of(req, requested or 1))
        n_prompt = await check_window(job, requested)
        if requested is None:
            job.params.max_tokens = default_bound(n_prompt)
        stream, first = await start(job)
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
            ids=("chatcmpl", "chat.completion", "chat.completion.chunk"),
            choice=choice,
            deltas=deltas,
            opening=[delta(i, {"role": "assistant", "content": ""}) for i in range(n)],
        )

    @app.post("/infill")
    async def infill(request: Request):
        req: InfillRequest = await parse(request, InfillRequest)
        if not (req.input_prefix or req.input_suffix or req.prompt):
            raise ApiError(
                400, "/infill needs input_prefix, input_suffix or prompt", param="input_prefix"
            )
        max_tokens = req.n_predict if req.n_predict > 0 else None
        budget_tokens = max_tokens or default_max_tokens
        extra = fit_extra(
            req.input_extra, req.input_prefix + req.input_suffix + req.prompt, budget_tokens
        )
        prompt = (
            fim_prompt_with_context(
                fim_template, req.input_prefix, req.input_suffix, context_files=extra
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
        n_prompt = await check_window(job, max_tokens)
        if max_tokens is None:
            params.max_tokens = default_bound(n_prompt)
        stream, first = await start(job)

        def final(text: str, reason: str | None, done: Done | None) -> dict:
            return {
                "content": text,
                "stop": True,
                "model": backend.model_id,
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

    @app.post("/tokenize")
    async def tokenize(request: Request):
        """The token ids ``/v1/completions`` would feed the model for this prompt (and suffix)."""
        req: TokenizeRequest = await parse(request, TokenizeRequest)
        check_model(req.model)
        if getattr(backend, "tokenizer", None) is None:
            raise ApiError(400, "tokenize needs a local model (or --model DIR with --upstream)")
        prompt = completion_prompt(req, 0)
        ids = await asyncio.to_thread(backend.encode, prompt)
        return {"tokens": ids, "count": len(ids), "max_model_len": window(), "prompt": prompt}

    return app
