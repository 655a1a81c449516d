"""Moved to `repoloom.codebase.deps`; this name stays for one release.

The parser modules are the same module objects under both names (``repoloom.corpus.deps.go`` is
``repoloom.codebase.deps.go``), so old imports, and modules in this directory that import
``._base`` relatively, keep working.
"""

import sys

from repoloom.codebase import deps as _deps
from repoloom.codebase.deps import *  # noqa: F403
from repoloom.codebase.deps import (  # noqa: F401
    _MODULES,
    _REGISTRY,
    Found,
    Repo,
    _base,
    c_family,
    csharp,
    go,
    java,
    javascript,
    php,
    python,
    rust,
)

for _name in ("_base", "c_family", "csharp", "go", "java", "javascript", "php", "python", "rust"):
    sys.modules[f"{__name__}.{_name}"] = getattr(_deps, _name)
