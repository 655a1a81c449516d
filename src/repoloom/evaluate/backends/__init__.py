"""Model backends: ``hf`` (local transformers model) and ``openai`` (HTTP endpoint)."""

from __future__ import annotations

from repoloom.inference.base import Backend, GenRequest


def guess_backend(model: str) -> str:
    return "openai" if model.startswith(("http://", "https://")) else "hf"


__all__ = ["Backend", "GenRequest", "guess_backend"]
