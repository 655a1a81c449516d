"""Moved to tests/codebase/_deps.py (the dependency parsers moved to repoloom.codebase.deps)."""

from ..codebase._deps import edges, parse_dir, write_repo  # noqa: F401
