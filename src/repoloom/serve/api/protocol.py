"""The request bodies of ``repoloom serve``'s endpoints, as pydantic models.

OpenAI's ``/v1/completions``, ``/v1/chat/completions`` (with vLLM's ``ignore_eos`` and the
``input_extra``/``path`` repository-context extension), llama.cpp's ``/infill`` and vLLM's
``/tokenize``. Unknown fields are ignored; a bad value is a 400 in OpenAI's error shape
(:mod:`repoloom.serve.api.errors`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_N = 16
# New tokens when a chat or /infill request names no bound (max_tokens / n_predict -1). Without
# one a request such as `/infill {}` would generate up to the whole context window (14 s on the
# demo model). /v1/completions keeps OpenAI's own default of 16. `repoloom serve
# --default-max-tokens` changes it.
DEFAULT_MAX_TOKENS = 256


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
