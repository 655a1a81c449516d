"""Quick checks of benchmarks/ablations.py's pure pieces (the full run is a benchmark, not CI)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def abl():
    spec = importlib.util.spec_from_file_location("ablations", ROOT / "benchmarks" / "ablations.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["ablations"] = mod
    spec.loader.exec_module(mod)
    return mod


def _sample(files: dict[str, str]) -> dict:
    text = "".join(f"# {p}\n{t}\n" for p, t in files.items())
    return {"text": text, "paths": list(files), "languages": ["python"] * len(files)}


def test_repository_sample_cuts_back_into_its_files(abl):
    files = {"pkg/a.py": "import os\n\nX = 1", "pkg/b.py": "from pkg.a import X\nprint(X)"}
    row = _sample(files)
    pieces = abl.split_pieces(row)
    assert [p[0] for p in pieces] == list(files)
    assert "".join(p[2] for p in pieces) == row["text"]
    assert [abl.piece_body(p, piece) for p, _, piece in pieces] == [
        t + "\n" for t in files.values()
    ]
    # a chunk made of those pieces renders the same text (the file-level corpus reuses pieces)
    chunk = {"repo": "r", "sample_id": "s#0", "files": [list(p) for p in pieces]}
    assert abl.chunk_row(chunk)["text"] == row["text"]
    assert abl.chunk_row(chunk)["kind"] == "repo"


def test_body_hash_ignores_trailing_space_only(abl):
    assert abl.body_hash("a = 1  \nb = 2\n") == abl.body_hash("a = 1\nb = 2")
    assert abl.body_hash("a = 1\nb = 2") != abl.body_hash("a = 1\nb = 3")


def test_bootstrap_paired_difference(abl):
    base = [(float(2 + (i % 7)), 10) for i in range(200)]
    same = abl.bootstrap(base, 200, 0, base)
    assert same["diff"] == 0.0 and same["diff_lo"] == 0.0 and same["diff_hi"] == 0.0
    shifted = [(nll + 1.0, n) for nll, n in base]  # +0.1 nats on every token
    res = abl.bootstrap(shifted, 200, 0, base)
    assert res["diff"] == pytest.approx(0.1)
    assert res["diff_lo"] == pytest.approx(0.1) and res["diff_hi"] == pytest.approx(0.1)
    assert res["lo"] < res["mean"] < res["hi"]


def test_model_vocab_holds_the_special_tokens(abl):
    assert abl.model_vocab(4096) >= 4096 + 9
    assert abl.model_vocab(4096) % 64 == 0
