"""MinHash signatures, LSH parameters and union-find, against exact computations on real text."""

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from repoloom.corpus import minhash
from repoloom.corpus.minhash import (
    MinHasher,
    UnionFind,
    band_hashes,
    candidate_probability,
    estimate_jaccard,
    exact_jaccard,
    lsh_params,
    ngram_hashes,
    shingle_set,
    token_hashes,
    tokenize,
    word_tokens,
)

SOURCE = Path(minhash.__file__).parents[1] / "corpus"


def real_texts() -> list[str]:
    return [p.read_text() for p in sorted(SOURCE.glob("*.py")) if p.stat().st_size > 3000]


def test_token_hashes_are_deterministic_and_whitespace_blind():
    text = "def f(x):\n    return x + 1\n"
    reflowed = "def   f( x ) :\n\treturn x+1"
    assert word_tokens(text) == word_tokens(reflowed) == ["def", "f", "x", "return", "x", "1"]
    a = token_hashes(word_tokens(text))
    assert a.dtype == np.uint64 and np.array_equal(a, tokenize(reflowed).hashes)
    assert a[1] != a[0] and a[2] == a[4]  # "x" twice
    # another process (another hash salt) computes the same values
    code = (
        "from repoloom.corpus.minhash import tokenize; print(tokenize('def f x').hashes.tolist())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(other.stdout) == tokenize("def f x").hashes.tolist()
    # non-ASCII identifiers stay whole; the token text is recoverable
    tokens = tokenize("naïve_größe = 1")
    assert [tokens.text(i) for i in range(len(tokens))] == ["naïve_größe", "1"]
    assert tokens.has_letter().tolist() == [True, False]


def test_chunked_tokenizing_equals_whole(monkeypatch):
    text = "".join(real_texts())
    whole = tokenize(text)
    monkeypatch.setattr(minhash, "_CHUNK", 997)  # many chunks, cut only between tokens
    chunked = tokenize(text)
    assert np.array_equal(whole.starts, chunked.starts)
    assert np.array_equal(whole.hashes, chunked.hashes)
    assert len(whole) == len(re.findall(r"[A-Za-z0-9_\x80-\U0010ffff]+", text))


def test_ngram_hashes_windows():
    hashes = token_hashes("a b c d e f".split())
    grams = ngram_hashes(hashes, 5)
    assert len(grams) == 2
    assert len(ngram_hashes(hashes, 7)) == 0
    # the same 5 tokens anywhere hash the same; another order does not
    other = ngram_hashes(token_hashes("x b c d e f".split()), 5)
    assert grams[1] == other[1] and grams[0] != other[0]
    swapped = ngram_hashes(token_hashes("a c b d e".split()), 5)
    assert swapped[0] != grams[0]


def test_short_and_empty_documents():
    assert len(shingle_set("", 5)) == 0
    assert len(shingle_set("only three words", 5)) == 1
    hasher = MinHasher(num_perm=16)
    assert np.all(hasher.signature("   ") == minhash.MAX64)


def test_signature_estimates_exact_jaccard_on_real_files():
    """Edited copies of real source files: estimate within 4 standard errors of the exact value."""
    hasher = MinHasher(num_perm=256, ngram=5, seed=7)
    rng = random.Random(0)
    errors = []
    for text in real_texts():
        lines = text.splitlines()
        for fraction in (0.02, 0.1, 0.3):
            edited = list(lines)
            for i in rng.sample(range(len(lines)), max(1, int(fraction * len(lines)))):
                edited[i] = f"changed_{rng.random()}"
            a, b = shingle_set(text, 5), shingle_set("\n".join(edited), 5)
            exact = exact_jaccard(a, b)
            estimate = estimate_jaccard(
                hasher.signature_of_shingles(a), hasher.signature_of_shingles(b)
            )
            sigma = max(np.sqrt(exact * (1 - exact) / 256), 1 / 256)
            assert abs(estimate - exact) <= 4 * sigma, (exact, estimate)
            errors.append(estimate - exact)
    assert len(errors) >= 15
    assert abs(np.mean(errors)) < 0.02  # no bias


def test_signatures_are_seeded():
    text = real_texts()[0]
    assert np.array_equal(MinHasher(seed=3).signature(text), MinHasher(seed=3).signature(text))
    assert not np.array_equal(MinHasher(seed=3).signature(text), MinHasher(seed=4).signature(text))


@pytest.mark.parametrize("threshold", [0.7, 0.85])
def test_lsh_params_put_the_s_curve_at_the_threshold(threshold):
    bands, rows = lsh_params(threshold, 256)
    assert bands * rows <= 256
    below = candidate_probability(threshold - 0.15, bands, rows)
    above = candidate_probability(threshold + 0.1, bands, rows)
    assert below < 0.2 and above > 0.9
    # the 50% point of the S-curve lies near the threshold
    grid = np.linspace(0, 1, 1001)
    half = grid[np.argmin(np.abs(candidate_probability(grid, bands, rows) - 0.5))]
    assert abs(half - threshold) < 0.1


def test_band_hashes_agree_exactly_where_the_band_agrees():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, size=(1, 12), dtype=np.uint64)
    b = a.copy()
    b[0, 5] += np.uint64(1)  # band 1 of 3 (rows 4..7) differs
    ha, hb = band_hashes(a, 3, 4)[0], band_hashes(b, 3, 4)[0]
    assert ha[0] == hb[0] and ha[2] == hb[2] and ha[1] != hb[1]
    # the band number is mixed in: equal values in different bands do not collide
    same = np.zeros((1, 8), dtype=np.uint64)
    h = band_hashes(same, 2, 4)[0]
    assert h[0] != h[1]


def test_union_find_roots_are_the_smallest_member():
    union = UnionFind(8)
    union.union(5, 3)
    union.union(3, 7)
    union.union(1, 6)
    union.union(7, 6)  # joins {3,5,7} and {1,6}
    roots = union.roots()
    assert roots.tolist() == [0, 1, 2, 1, 4, 1, 1, 1]
    assert union.union(5, 5) == 1


def test_union_find_matches_breadth_first_components():
    rng = random.Random(1)
    n = 300
    pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(250)]
    union = UnionFind(n)
    union.union_pairs(np.array(pairs))
    adjacency = {i: set() for i in range(n)}
    for a, b in pairs:
        adjacency[a].add(b)
        adjacency[b].add(a)
    expected = [-1] * n
    for start in range(n):  # smallest index first: it becomes its component's label
        if expected[start] >= 0:
            continue
        stack = [start]
        expected[start] = start
        while stack:
            node = stack.pop()
            for other in adjacency[node]:
                if expected[other] < 0:
                    expected[other] = start
                    stack.append(other)
    assert union.roots().tolist() == expected
