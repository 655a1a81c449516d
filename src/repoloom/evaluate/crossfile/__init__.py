"""CrossCodeEval-style cross-file code completion, built by repoloom from held-out repositories.

Public API (used by ``benchmarks/ablations.py`` too)::

    from repoloom.evaluate.crossfile import (
        CrossfilePoint, build_points, crossfile_context, score_line,
    )

- ``build_points(repo_root, languages, max_points, seed)``: completion points whose ground-truth
  line uses a name defined in another file of the repository (``builder``);
- ``crossfile_context(point, files, languages, mode, count_tokens, max_tokens=512)``: the
  ``none`` / ``bm25`` / ``deps`` context to put before the left context (``context``);
- ``score_line(prediction, groundtruth, language)``: CrossCodeEval's EM, ES, identifier EM/F1
  (``metrics``).

Importing this package registers ``repoloom eval crossfile-build`` (``cli``) and the ``crossfile``
benchmark of ``repoloom eval run`` (``benchmark``); heavy libraries load only when used.
"""

from __future__ import annotations

from repoloom.evaluate.crossfile import benchmark as _benchmark  # noqa: F401,E402  (registers)
from repoloom.evaluate.crossfile import cli as _cli  # noqa: F401,E402  (adds eval commands)
from repoloom.evaluate.crossfile.builder import build_points, load_source
from repoloom.evaluate.crossfile.context import MODES, crossfile_context
from repoloom.evaluate.crossfile.metrics import score_line
from repoloom.evaluate.crossfile.point import CrossfilePoint

__all__ = [
    "MODES",
    "CrossfilePoint",
    "build_points",
    "crossfile_context",
    "load_source",
    "score_line",
]
