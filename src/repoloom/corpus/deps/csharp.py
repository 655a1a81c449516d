"""Moved to `repoloom.codebase.deps.csharp`; this name stays for one release (as the same module)."""

import sys

from repoloom.codebase.deps import csharp as _module

sys.modules[__name__] = _module
