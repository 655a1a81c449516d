"""Moved to `repoloom.codebase.deps.php`; this name stays for one release (as the same module)."""

import sys

from repoloom.codebase.deps import php as _module

sys.modules[__name__] = _module
