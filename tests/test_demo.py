"""`make demo` runs `repoloom demo`: fetch the pinned demo repositories, build the corpus."""

import json
import subprocess
import sys

import pytest

from tests.corpus.test_fetch import _pypi_reachable


@pytest.mark.network
def test_demo_builds_a_corpus_from_the_pinned_repositories(tmp_path):
    if not _pypi_reachable():
        pytest.skip("the package registries are not reachable (offline)")
    # A relative --out, as the Makefile passes it.
    run = subprocess.run(
        [sys.executable, "-m", "repoloom", "demo", "--out", "data/demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "dependency-ordered multi-file samples" in run.stdout
    report = json.loads((tmp_path / "data/demo/corpus/report.json").read_text())
    assert report["repositories"] == 6 and not report["repositories_failed"]
    assert report["ordering"]["edges_in_order"]["scc"]["all"]["fraction"] == 1.0
