"""Moved to `repoloom.codebase.deps.go`; this name stays for one release (as the same module)."""

import sys

from repoloom.codebase.deps import go as _module

sys.modules[__name__] = _module
