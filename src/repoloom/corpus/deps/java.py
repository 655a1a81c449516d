"""Moved to `repoloom.codebase.deps.java`; this name stays for one release (as the same module)."""

import sys

from repoloom.codebase.deps import java as _module

sys.modules[__name__] = _module
