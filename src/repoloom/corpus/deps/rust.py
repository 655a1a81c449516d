"""Moved to `repoloom.codebase.deps.rust`; this name stays for one release (as the same module)."""

import sys

from repoloom.codebase.deps import rust as _module

sys.modules[__name__] = _module
