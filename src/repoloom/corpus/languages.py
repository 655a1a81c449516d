"""Moved to `repoloom.codebase.languages` (the language table); this name stays for one release."""

from repoloom.codebase.languages import *  # noqa: F403
from repoloom.codebase.languages import _EXTENSION_TO_LANGUAGE, _MAX_SUFFIX_PARTS  # noqa: F401
