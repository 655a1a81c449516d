"""MinHash signatures, LSH banding and union-find, vectorised with numpy.

* Tokens are word tokens (``\\w+``, case kept); whitespace and punctuation never matter, so a
  re-indented or reformatted copy has the same tokens.
* Each distinct token is hashed once to 64 bits (BLAKE2b, deterministic across processes and
  machines; Python's ``hash`` is salted per process) and cached per process.
* An n-gram (shingle) hash combines its token hashes polynomially modulo 2**64 and goes through
  the splitmix64 finaliser, all on numpy arrays: no Python loop per shingle.
* A signature holds, for each of ``num_perm`` hash functions ``h_i(x) = a_i * x + b_i mod 2**64``
  (``a_i`` odd, so each is a permutation of the 64-bit space), the minimum over the document's
  distinct shingles. The shingle x permutation products are computed in blocks of 256 shingles so
  the working set stays in cache.
* LSH: ``bands x rows <= num_perm``; two documents are candidates when all ``rows`` values of one
  band agree. `lsh_params` picks bands and rows for a Jaccard threshold by minimising the weighted
  false-positive and false-negative areas of the S-curve ``1 - (1 - s**r)**b``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

WORD_RE = re.compile(r"\w+")
MAX64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd: the polynomial base of the n-gram combination
_TOKEN_CACHE: dict[str, int] = {}
_TOKEN_CACHE_MAX = 1 << 20
_BLOCK = 256


def word_tokens(text: str) -> list[str]:
    return WORD_RE.findall(text)


def _hash_token(token: str) -> int:
    digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    if len(_TOKEN_CACHE) >= _TOKEN_CACHE_MAX:
        _TOKEN_CACHE.clear()
    _TOKEN_CACHE[token] = value
    return value


def token_hashes(tokens: Sequence[str]) -> np.ndarray:
    """64-bit hash of each token (uint64 array aligned with `tokens`)."""
    cache = _TOKEN_CACHE
    get = cache.get
    values = [get(t) for t in tokens]
    if None in values:
        values = [
            v if v is not None else _hash_token(t) for v, t in zip(values, tokens, strict=True)
        ]
    return np.array(values, dtype=np.uint64)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, element-wise on a uint64 array (returns a new array)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


@lru_cache(maxsize=64)
def _powers(n: int) -> np.ndarray:
    powers = np.ones(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(n - 2, -1, -1):
            powers[i] = powers[i + 1] * _MULT
    return powers


def ngram_hashes(hashes: np.ndarray, n: int) -> np.ndarray:
    """Hash of every window of `n` consecutive token hashes (``len - n + 1`` values, or none)."""
    count = len(hashes) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    powers = _powers(n)
    acc = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            acc += hashes[k : k + count] * powers[k]
    return splitmix64(acc ^ np.uint64(n))


def shingle_set(text: str, ngram: int) -> np.ndarray:
    """The distinct shingle hashes of a text, sorted. A text with fewer than `ngram` tokens (but at
    least one) is a single shingle of all its tokens; an empty text has none."""
    hashes = token_hashes(word_tokens(text))
    if len(hashes) == 0:
        return hashes
    return np.unique(ngram_hashes(hashes, min(ngram, len(hashes))))


class MinHasher:
    """Signatures of `num_perm` 64-bit min-hashes; the same seed always gives the same functions."""

    def __init__(self, num_perm: int = 256, ngram: int = 5, seed: int = 1) -> None:
        if num_perm < 1 or ngram < 1:
            raise ValueError("num_perm and ngram must be positive")
        self.num_perm = num_perm
        self.ngram = ngram
        rng = np.random.Generator(np.random.PCG64(seed))
        self.a = rng.integers(0, np.iinfo(np.uint64).max, size=num_perm, dtype=np.uint64)
        self.a |= np.uint64(1)
        self.b = rng.integers(0, np.iinfo(np.uint64).max, size=num_perm, dtype=np.uint64)
        self._buffer = np.empty((_BLOCK, num_perm), dtype=np.uint64)

    def signature_of_shingles(self, shingles: np.ndarray) -> np.ndarray:
        """Min-hashes of a set of shingle hashes; an empty set gives all-MAX (matches nothing)."""
        out = np.full(self.num_perm, MAX64, dtype=np.uint64)
        a, b = self.a[None, :], self.b[None, :]
        with np.errstate(over="ignore"):
            for start in range(0, len(shingles), _BLOCK):
                block = shingles[start : start + _BLOCK]
                buf = self._buffer[: len(block)]
                np.multiply(block[:, None], a, out=buf)
                np.add(buf, b, out=buf)
                np.minimum(out, buf.min(axis=0), out=out)
        return out

    def signature(self, text: str) -> np.ndarray:
        return self.signature_of_shingles(shingle_set(text, self.ngram))


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Share of equal min-hashes: an unbiased estimate of the Jaccard similarity."""
    if len(sig_a) == 0:
        return 0.0
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique hash arrays (1.0 for two empty sets)."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def candidate_probability(s: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that a pair of Jaccard `s` shares at least one band."""
    return 1.0 - (1.0 - np.power(s, rows)) ** bands


def lsh_params(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) with ``bands * rows <= num_perm`` that minimise the weighted areas of false
    positives (below the threshold) and false negatives (above it) under the S-curve."""
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be between 0 and 1")
    grid = np.linspace(0.0, 1.0, 2001)
    below, above = grid <= threshold, grid >= threshold
    best, best_cost = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            p = candidate_probability(grid, bands, rows)
            fp = np.trapezoid(p[below], grid[below])
            fn = np.trapezoid(1.0 - p[above], grid[above])
            cost = fp_weight * fp + fn_weight * fn
            if cost < best_cost - 1e-12:
                best, best_cost = (bands, rows), cost
    return best


def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64: one hash per band of each signature row (band index mixed in)."""
    signatures = np.atleast_2d(signatures)
    n = signatures.shape[0]
    out = np.empty((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            block = signatures[:, band * rows : (band + 1) * rows]
            acc = np.full(n, np.uint64(band + 1) * _MULT, dtype=np.uint64)
            for column in range(rows):
                acc = splitmix64(acc ^ block[:, column])
            out[:, band] = acc
    return out


class UnionFind:
    """Disjoint sets over 0..n-1; the root of a set is always its smallest member."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = int(parent[root])
        while parent[x] != root:  # path compression
            parent[x], x = root, int(parent[x])
        return root

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        low, high = (ra, rb) if ra < rb else (rb, ra)
        self.parent[high] = low
        return low

    def union_pairs(self, pairs: np.ndarray) -> None:
        for a, b in np.asarray(pairs, dtype=np.int64).reshape(-1, 2).tolist():
            self.union(a, b)

    def roots(self) -> np.ndarray:
        """The root of every element (compresses every path)."""
        return np.array([self.find(i) for i in range(len(self.parent))], dtype=np.int64)
