"""Moved to `repoloom.codebase.render` (sample rendering); this name stays for one release."""

from repoloom.codebase.render import *  # noqa: F403
