"""The error every layer may raise for bad user input (ground floor: imports nothing of repoloom).

The ``repoloom`` command prints a :class:`UserError` as ``repoloom: error: ...`` and exits 2,
without a traceback; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class UserError(Exception):
    """An error caused by the user's input (bad config, missing path): printed without a traceback."""


@contextmanager
def as_user_error(*errors: type[BaseException]) -> Iterator[None]:
    """Re-raise ``errors`` from the block as a :class:`UserError` with the same message (and
    without the chained traceback): for library errors that are the user's input at a CLI."""
    try:
        yield
    except errors as exc:
        raise UserError(str(exc)) from None
