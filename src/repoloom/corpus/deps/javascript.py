"""Moved to `repoloom.codebase.deps.javascript`; this name stays for one release (as the same module)."""

import sys

from repoloom.codebase.deps import javascript as _module

sys.modules[__name__] = _module
