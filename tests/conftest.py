"""Fixtures shared by every part's tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_repos() -> Path:
    """The pinned demo repositories (PyPI sdists, an npm tarball, Debian Go/Rust/PHP sources),
    fetched once into ~/.cache/repoloom/test-demo-corpus (or $REPOLOOM_TEST_CACHE); the test is
    skipped when no registry can be reached."""
    from repoloom.corpus.fetch import fetch_manifest, load_manifest

    cache = (
        Path(os.environ.get("REPOLOOM_TEST_CACHE", Path.home() / ".cache" / "repoloom"))
        / "test-demo-corpus"
    )
    try:
        fetch_manifest(load_manifest("demo"), cache, progress=False)
    except Exception as exc:  # no registry reachable: nothing real to test on
        pytest.skip(f"could not fetch the pinned demo corpus (offline?): {exc}")
    return cache
