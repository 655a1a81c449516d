"""Moved to `repoloom.codebase.deps._base`; this name stays for one release (as the same module)."""

import sys

from repoloom.codebase.deps import _base as _module

sys.modules[__name__] = _module
