"""Old home of the batch interface; it lives in :mod:`repoloom.inference.base`."""

from __future__ import annotations

from repoloom.inference.base import (  # noqa: F401  (re-exported)
    Backend,
    GenerationFailed,
    GenRequest,
    cut_at_stop,
)
