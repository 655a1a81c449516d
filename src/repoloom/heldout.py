"""Moved to :mod:`repoloom.evaluate.heldout_build` (held-out repositories: split, leak check,
FIM points, evaluation, serve round trip). This old path re-exports it for one release."""

from repoloom.evaluate.heldout_build import *  # noqa: F403
