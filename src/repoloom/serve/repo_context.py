"""Moved to `repoloom.codebase.context` (repository-aware prompts); this name stays for one
release."""

from repoloom.codebase.context import *  # noqa: F403
from repoloom.codebase.context import _cut  # noqa: F401
