"""Moved to `repoloom.codebase.deps.c_family`; this name stays for one release (as the same module)."""

import sys

from repoloom.codebase.deps import c_family as _module

sys.modules[__name__] = _module
