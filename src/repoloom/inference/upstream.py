"""An upstream OpenAI-compatible server (vLLM, llama.cpp, another ``repoloom serve``, ...) as a
streaming :class:`~repoloom.inference.base.Engine`, over the one HTTP client
(:class:`~repoloom.inference.openai_client.OpenAIClient`).

repoloom renders the prompt (FIM template, repository context, chat template) and sends it as a
plain ``/v1/completions`` prompt, streaming, so the upstream never needs to know ``suffix`` (nor
have an ``/infill`` route: llama-cpp-python's server has none). The upstream adds BOS itself when
it tokenizes (vLLM, and llama.cpp when the GGUF says ``add_bos_token``), so a rendered prompt is
sent without its leading BOS text; both parse the special tokens spelled in it.

llama.cpp (``python -m llama_cpp.server`` or ``llama-server``; recognised by ``owned_by`` in its
``/v1/models``, or by ``--upstream-kind llama.cpp``) samples with its own defaults unless told
otherwise (repeat penalty 1.1, top-k 40, min-p 0.05): repoloom sends the neutral values, so
``temperature: 0`` is plain greedy decoding there as on every other backend. It ignores ``n`` (one
choice only: n > 1 is a 400 here), reports no context window (``--context-window`` tells
repoloom) and no usage while streaming (then the prompt is counted with ``--tokenizer`` and the
completion as one token per streamed piece, which is how llama.cpp streams).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import httpx

from repoloom.codebase.context import approx_tokens
from repoloom.inference.base import (
    BackendError,
    Done,
    Emit,
    Engine,
    Event,
    Handle,
    Job,
    Overloaded,
)
from repoloom.inference.openai_client import HTTPFailure, OpenAIClient, error_message
from repoloom.prompts import BOS, EOS, EOT

log = logging.getLogger(__name__)


class UpstreamEngine(Engine):
    def __init__(
        self,
        url: str,
        *,
        model_id: str | None = None,
        tokenizer_dir: str | Path | None = None,
        max_concurrency: int = 64,
        api_key: str | None = None,
        timeout_s: float = 600.0,
        context_window: int | None = None,
        kind: str = "auto",
    ):
        self.client = OpenAIClient(url, api_key=api_key, timeout_s=timeout_s)
        self.base_url = self.client.base_url
        try:
            first = self.client.models(timeout_s=30.0)[0]
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            raise ConnectionError(
                f"cannot list the models of {self.base_url}/v1/models: {exc}"
            ) from exc
        self.upstream_model = first["id"]
        self.model_id = model_id or self.upstream_model
        self.kind = detect_upstream_kind(first) if kind == "auto" else kind
        self.context_window = context_window or first.get("max_model_len")
        self.tokenizer = None
        self.chat_template = None
        self.bos_token = BOS
        self.eos_token = EOS
        self.vocab: set[str] = set()
        if tokenizer_dir is not None:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
            self.chat_template = getattr(self.tokenizer, "chat_template", None)
            self.bos_token = self.tokenizer.bos_token or ""
            self.eos_token = self.tokenizer.eos_token or ""
            self.vocab = set(self.tokenizer.get_vocab())
        self.max_concurrency = max(1, max_concurrency)
        self.active = 0
        self.stats = {"requests": 0, "completed": 0, "cancelled": 0, "rejected": 0, "errors": 0}

    def count_tokens(self, text: str) -> int:
        if self.tokenizer is None:
            return approx_tokens(text)
        return len(self.encode(text))

    def encode(self, text: str) -> list[int]:
        if self.tokenizer is None:
            raise ValueError("no tokenizer: pass --model DIR with --upstream")
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def prepare(self, job: Job) -> int | None:
        """Prompt length when a tokenizer is known; the upstream checks the window itself."""
        return self.count_tokens(job.prompt) if self.tokenizer is not None else None

    def submit(self, job: Job, emit: Emit) -> Handle:
        """Start ``job`` on the running event loop (call it from the loop's thread)."""
        if self.active >= self.max_concurrency:
            self.stats["rejected"] += 1
            raise Overloaded(f"{self.active} upstream requests in flight")
        self.active += 1
        self.stats["requests"] += 1
        handle = Handle()
        task = asyncio.get_running_loop().create_task(self._run(job, emit, handle))
        handle._on_cancel = task.cancel
        return handle

    def _payload(self, job: Job) -> dict:
        p = job.params
        prompt = job.prompt
        if self.bos_token and prompt.startswith(self.bos_token):
            prompt = prompt[len(self.bos_token) :]
        body = {
            "model": self.upstream_model,
            "prompt": prompt,
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "n": p.n,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if p.stop:
            body["stop"] = p.stop
        if p.seed is not None:
            body["seed"] = p.seed
        if p.presence_penalty:
            body["presence_penalty"] = p.presence_penalty
        if p.frequency_penalty:
            body["frequency_penalty"] = p.frequency_penalty
        if p.ignore_eos:
            body["ignore_eos"] = True
        if self.kind == "llama.cpp":
            body.update(LLAMA_CPP_NEUTRAL_SAMPLING)
            if p.ignore_eos:  # llama.cpp's spelling: forbid the end-of-generation token
                body["logit_bias"] = {str(i): -1e9 for i in self.eog_ids()}
        return body

    def eog_ids(self) -> list[int]:
        """The end-of-generation token ids (for ``ignore_eos`` on llama.cpp): EOS and <|EOT|>."""
        if self.tokenizer is None:
            return []
        ids = {self.tokenizer.eos_token_id, self.tokenizer.convert_tokens_to_ids(EOT)}
        return sorted(i for i in ids if isinstance(i, int) and i != self.tokenizer.unk_token_id)

    async def _run(self, job: Job, emit: Emit, handle: Handle) -> None:
        prompt_tokens = completion_tokens = pieces = 0
        usage_seen = False
        error: BackendError | None = None
        try:
            if job.params.n > 1 and self.kind == "llama.cpp":
                raise _Refused(BackendError(400, "n > 1 is not supported by a llama.cpp upstream"))
            chunks = self.client.astream("/v1/completions", self._payload(job))
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    if chunk.get("error"):
                        error = BackendError(500, error_message(chunk) or "upstream error")
                        break
                    usage = chunk.get("usage") or {}
                    usage_seen = usage_seen or bool(usage)
                    prompt_tokens = usage.get("prompt_tokens", prompt_tokens)
                    completion_tokens = usage.get("completion_tokens", completion_tokens)
                    for c in chunk.get("choices") or []:
                        pieces += bool(c.get("text"))
                        if c.get("text") or c.get("finish_reason"):
                            emit(
                                Event(
                                    c.get("index", 0), c.get("text") or "", c.get("finish_reason")
                                )
                            )
        except asyncio.CancelledError:
            self.stats["cancelled"] += 1
            emit(Done(prompt_tokens, completion_tokens))
            raise
        except HTTPFailure as failure:
            error = BackendError(failure.status, failure.message, failure.body)
        except _Refused as refused:
            error = refused.error
        except (httpx.HTTPError, ValueError) as exc:
            error = BackendError(502, f"upstream {self.base_url} failed: {exc}")
        finally:
            self.active -= 1
        if not usage_seen and error is None:  # llama.cpp: no usage while streaming
            prompt_tokens = self.prepare(job) or 0
            completion_tokens = pieces
        if error is not None:
            self.stats["errors"] += 1
        else:
            self.stats["completed"] += 1
        emit(Done(prompt_tokens, completion_tokens, error))

    def close(self) -> None:
        self.client.close()

    async def aclose(self) -> None:
        await self.client.aclose()


# llama.cpp's sampler chain with its extra stages off (its defaults: 1.1, 40, 0.05, 64).
LLAMA_CPP_NEUTRAL_SAMPLING = {"repeat_penalty": 1.0, "top_k": 0, "min_p": 0.0}


class _Refused(Exception):
    def __init__(self, error: BackendError):
        super().__init__(str(error))
        self.error = error


def detect_upstream_kind(model: dict) -> str:
    """``llama.cpp`` for llama-cpp-python's server (``owned_by: me``) and llama.cpp's
    ``llama-server`` (``owned_by: llamacpp``); ``vllm`` for vLLM; ``openai`` otherwise."""
    owner = str(model.get("owned_by", "")).lower()
    if owner in ("me", "llamacpp") or str(model.get("id", "")).endswith(".gguf"):
        return "llama.cpp"
    if owner == "vllm":
        return "vllm"
    return "openai"
