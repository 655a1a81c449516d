"""Moved to `repoloom.codebase.repo`; this name stays for one release."""

from repoloom.codebase.repo import LoadedRepository, load_repository  # noqa: F401
