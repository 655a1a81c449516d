"""Moved to `repoloom.codebase.deps.python`; this name stays for one release (as the same module)."""

import sys

from repoloom.codebase.deps import python as _module

sys.modules[__name__] = _module
