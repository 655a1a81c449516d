"""The one small interface every model backend implements."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GenRequest:
    """One prompt to sample ``n`` times. ``prompt`` is the raw text (completion / rendered FIM);
    for chat models ``messages`` is used instead."""

    prompt: str = ""
    messages: list[dict[str, str]] | None = None
    n: int = 1
    max_new_tokens: int = 500
    temperature: float = 0.0
    top_p: float = 0.95
    stop: list[str] = field(default_factory=list)


@dataclass
class GenerationFailed:
    """In place of a request's texts: the endpoint refused this one request (e.g. HTTP 400, a
    prompt longer than the model's context). The run records an error sample and goes on."""

    error: str


class Backend:
    """``generate(requests)`` returns, per request, ``n`` generated texts (new text only, cut
    at the first stop sequence), or a :class:`GenerationFailed` for a request the endpoint
    refused."""

    name = "backend"

    def generate(self, requests: list[GenRequest]) -> list[list[str] | GenerationFailed]:
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


def cut_at_stop(text: str, stop: list[str]) -> str:
    """`text` up to the first occurrence of any stop string (the stop string excluded)."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]
