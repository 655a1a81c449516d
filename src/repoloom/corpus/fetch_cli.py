"""Old home of ``repoloom corpus fetch``'s CLI, now :mod:`repoloom.corpus.fetch.cli` (kept for
one release so that older imports keep working)."""

from repoloom.corpus.fetch.cli import register_fetch, run_fetch

__all__ = ["register_fetch", "run_fetch"]
