"""Old home of the generation engines; they live in :mod:`repoloom.inference` (the one
model-access layer for evaluate and serve). Kept as a re-export for one release."""

from __future__ import annotations

from repoloom.inference.base import (  # noqa: F401  (re-exported)
    BackendError,
    Done,
    Emit,
    EngineClosed,
    Event,
    Handle,
    Job,
    Overloaded,
    SamplingParams,
    StopChecker,
)
from repoloom.inference.local import LocalEngine  # noqa: F401
