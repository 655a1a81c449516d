"""Moved to `repoloom.codebase.deps`; this name stays for one release.

The parser modules are the same module objects under both names (``repoloom.corpus.deps.go`` is
``repoloom.codebase.deps.go``: each file here puts the moved module in its place), so old imports,
and modules in this directory that import ``._base`` relatively, keep working.
"""

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
