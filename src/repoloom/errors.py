"""The error every layer may raise for bad user input (ground floor: imports nothing of repoloom).

The ``repoloom`` command prints a :class:`UserError` as ``repoloom: error: ...`` and exits 2,
without a traceback; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An error caused by the user's input (bad config, missing path): printed without a traceback."""
