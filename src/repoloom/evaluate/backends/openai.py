"""Old home of the openai batch backend; it lives in :mod:`repoloom.inference.openai_client`."""

from __future__ import annotations

from repoloom.inference.openai_client import (  # noqa: F401  (re-exported)
    FATAL_STATUS,
    RETRY_STATUS,
    EndpointError,
    OpenAIBackend,
    RequestRefused,
)
