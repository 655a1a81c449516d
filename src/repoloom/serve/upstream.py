"""Old home of the upstream engine; it lives in :mod:`repoloom.inference.upstream`."""

from __future__ import annotations

from repoloom.inference.upstream import (  # noqa: F401  (re-exported)
    LLAMA_CPP_NEUTRAL_SAMPLING,
    UpstreamEngine,
    detect_upstream_kind,
)
