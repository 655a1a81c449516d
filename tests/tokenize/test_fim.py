from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from repoloom.tokenize import fim
from repoloom.tokenize.pipeline import Encoder, TokenizeSettings
from repoloom.tokenize.readers import Document
from repoloom.tokenize.release import EOS, FIM_BEGIN, FIM_END, FIM_HOLE

from .helpers import STDLIB, stdlib_repos


def real_texts(n: int) -> list[str]:
    """Up to n real documents: lines windows of standard-library files."""
    out = []
    for f in sorted(STDLIB.glob("*.py")):
        lines = f.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        for i in range(0, len(lines), 40):
            out.append("".join(lines[i : i + 40]))
            if len(out) == n:
                return out
    return out


def test_rate_half_on_10k_documents() -> None:
    n = 10_000
    texts = real_texts(200)
    hits = sum(
        fim.fim_split(texts[i % len(texts)], f"doc-{i}", fim_rate=0.5, seed=3).mode != fim.NONE
        for i in range(n)
    )
    assert abs(hits / n - 0.5) <= 0.02
    spm = [
        fim.fim_split("abc" * 10, f"d{i}", fim_rate=1.0, spm_rate=0.25).mode for i in range(4000)
    ]
    assert abs(spm.count(fim.SPM) / 4000 - 0.25) <= 0.03
    assert fim.fim_split("abc", "x", fim_rate=0.0).mode == fim.NONE
    assert fim.fim_split("abc", "x", fim_rate=1.0).mode == fim.PSM


def test_parts_cover_document_and_inverse_recovers_it() -> None:
    for i, text in enumerate(real_texts(500) + ["", "x", "ü½你好\r\n"]):
        s = fim.fim_split(text, f"id{i}", fim_rate=1.0, spm_rate=0.5, seed=11)
        assert s.prefix + s.middle + s.suffix == text
        assert s.text == text
        sample = fim.fim_text(s)
        assert fim.undo_fim(sample) == text
        if s.mode == fim.PSM:
            assert sample == FIM_BEGIN + s.prefix + FIM_HOLE + s.suffix + FIM_END + s.middle
        else:
            assert sample == FIM_BEGIN + FIM_HOLE + s.suffix + FIM_END + s.prefix + s.middle
    # cut positions are uniform over characters: the mean cut lands mid-document
    cuts = [len(fim.fim_split("a" * 1000, f"u{i}", fim_rate=1.0).prefix) for i in range(3000)]
    assert 300 < sum(cuts) / len(cuts) < 370  # E[min of two uniforms] = 1/3


def test_draw_depends_only_on_seed_and_document_id() -> None:
    text = "def f(x):\n    return x * 2\n"
    a = fim.fim_split(text, "repo#1", fim_rate=0.5, seed=5)
    for _ in range(3):
        assert fim.fim_split(text, "repo#1", fim_rate=0.5, seed=5) == a
    ids = [f"r#{i}" for i in range(300)]
    forward = {d: fim.fim_split(text, d, seed=1) for d in ids}
    shuffled = ids[:]
    random.Random(0).shuffle(shuffled)
    assert all(fim.fim_split(text, d, seed=1) == forward[d] for d in shuffled)
    other_seed = [fim.fim_split(text, d, seed=2) for d in ids]
    assert other_seed != [forward[d] for d in ids]


def test_bad_rates_and_bad_samples_raise() -> None:
    with pytest.raises(ValueError):
        fim.fim_split("x", "d", fim_rate=1.5)
    with pytest.raises(ValueError):
        fim.undo_fim(FIM_BEGIN + "no hole")
    assert fim.undo_fim("plain text") == "plain text"


@pytest.mark.parametrize("which", ["small", "release"])
def test_decoding_token_samples_and_undoing_the_permutation(which: str, request) -> None:
    tokdir: Path = request.getfixturevalue("small_tokdir" if which == "small" else "release_tokdir")
    settings = TokenizeSettings(tokenizer=str(tokdir), fim_rate=1.0, spm_rate=0.5, seed=4)
    enc = Encoder(settings)
    texts = real_texts(60) + ["unicode: café ½ 你好 🎉\n"]
    docs = [Document(f"d{i}", t, ["python"]) for i, t in enumerate(texts)]
    arrays, stats = enc.encode_chunk(docs)
    assert stats["fim_psm"] + stats["fim_spm"] == len(docs)
    assert stats["fim_psm"] > 0 and stats["fim_spm"] > 0
    for doc, arr in zip(docs, arrays, strict=True):
        ids = arr.tolist()
        assert ids[-1] == enc.eos_id and ids.count(enc.eos_id) == 1
        decoded = enc.tok.decode(ids[:-1], skip_special_tokens=False)
        assert fim.undo_fim(decoded) == doc.text
    assert enc.tok.decode([enc.eos_id], skip_special_tokens=False) == EOS


def test_split_files_and_file_level_fim(small_tokdir: Path) -> None:
    row = stdlib_repos(("json",))[0]
    pieces = fim.split_files(row["text"], row["paths"])
    assert pieces is not None and "".join(pieces) == row["text"]
    assert all(p.startswith(f"# {path}\n") for p, path in zip(pieces, row["paths"], strict=True))
    assert fim.split_files(row["text"], [row["paths"][0], "json/missing.py"]) is None
    assert fim.split_files("x = 1\n", ["a.py"]) == ["x = 1\n"]  # file-level sample, no header
    settings = TokenizeSettings(tokenizer=str(small_tokdir), fim_rate=1.0, fim_unit="file")
    enc = Encoder(settings)
    doc = Document("json#0", row["text"], row["languages"], row["paths"])
    (arr,), stats = enc.encode_chunk([doc])
    assert stats["fim_units"] == len(row["paths"]) == stats["fim_psm"]
    ids = arr.tolist()
    begin = enc.sentinel_ids[FIM_BEGIN]
    assert ids.count(begin) == len(row["paths"]) and ids.count(enc.eos_id) == 1
    # each file is its own FIM sample; undoing each gives the sample back
    text = enc.tok.decode(ids[:-1], skip_special_tokens=False)
    parts = [FIM_BEGIN + p for p in text.split(FIM_BEGIN)[1:]]
    assert "".join(fim.undo_fim(p) for p in parts) == row["text"]


def test_fragment_fim_after_packing(small_tokdir: Path) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(small_tokdir / "tokenizer.json"))
    texts = real_texts(3)
    eos = tok.token_to_id(EOS)
    window = []
    for t in texts:
        window += tok.encode(t, add_special_tokens=False).ids + [eos]
    window = np.asarray(window[:-20], dtype=np.int64)  # the last document is cut by the window
    same, keep = fim.FragmentFim(str(small_tokdir), fim_rate=0.0)(window, 7)
    assert same.tolist() == window.tolist() and keep.all()
    ff = fim.FragmentFim(str(small_tokdir), fim_rate=1.0, spm_rate=0.5, seed=1)
    out, keep = ff(window, 7)
    assert out.shape == window.shape
    again, _ = ff(window, 7)
    assert again.tolist() == out.tolist()
    assert ff(window, 8)[0].tolist() != out.tolist()  # keyed by the sample index
    decoded = tok.decode(out[keep].tolist(), skip_special_tokens=False).split(EOS)
    # the complete fragments come back whole after undoing the permutation
    assert [fim.undo_fim(d) for d in decoded[:2]] == texts[:2]
    assert out.tolist().count(tok.token_to_id(FIM_BEGIN)) >= 2


@pytest.mark.parametrize("which", ["small", "release"])
def test_newline_cuts_are_exact(which: str, request, monkeypatch: pytest.MonkeyPatch) -> None:
    """Huge documents are encoded in newline-cut segments: the ids must not change."""
    from tokenizers import Tokenizer, pre_tokenizers

    from repoloom.tokenize import pipeline

    tokdir: Path = request.getfixturevalue("small_tokdir" if which == "small" else "release_tokdir")
    tok = Tokenizer.from_file(str(tokdir / "tokenizer.json"))
    assert pipeline.newline_cuts_are_exact(tok)
    texts = real_texts(30) + ["a\r\nb\n\n  c 12½\n你好\n世界 x\n\t\n", "no newline " * 50]
    for text in texts:
        segments = pipeline.cut_at_newlines(text, 50)
        assert "".join(segments) == text
        whole = tok.encode(text, add_special_tokens=False).ids
        assert [i for s in segments for i in tok.encode(s, add_special_tokens=False).ids] == whole
    docs = [Document(f"d{i}", t, ["python"]) for i, t in enumerate(texts)]
    settings = TokenizeSettings(tokenizer=str(tokdir), fim_rate=0.5, seed=2)
    ref, _ = Encoder(settings).encode_chunk(docs)
    monkeypatch.setattr(pipeline, "MAX_SEGMENT_CHARS", 40)
    monkeypatch.setattr(pipeline, "ENCODE_BATCH_CHARS", 300)
    cut, _ = Encoder(settings).encode_chunk(docs)
    assert [a.tolist() for a in cut] == [a.tolist() for a in ref]
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # GPT-2 regex: not exact
    assert not pipeline.newline_cuts_are_exact(tok)
