"""MinHash signatures, LSH banding and union-find, vectorised with numpy.

* Tokens are word tokens: maximal runs of ASCII letters, digits, ``_`` and non-ASCII characters
  (case kept); whitespace and punctuation never matter, so a re-indented or reformatted copy has
  the same tokens.
* Tokenising and hashing are vectorised over the UTF-8 bytes (no Python work per token): each
  token's bytes hash polynomially modulo 2**64 and go through the splitmix64 finaliser, so a hash
  is the same in every process and on every machine (Python's ``hash`` is salted per process).
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

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MAX64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd: the polynomial base of the n-gram combination
_BYTE_BASE = np.uint64(0x100000001B3)  # odd: the polynomial base of the token hash (FNV prime)
_BLOCK = 256
_CHUNK = 1 << 20  # bytes tokenised at once (bounds the temporary arrays)

# Word bytes: ASCII letters, digits, underscore, and every byte of a multi-byte UTF-8 character
# (so non-ASCII identifiers stay whole). A token is a maximal run of word bytes.
_WORD_BYTE = np.zeros(256, dtype=bool)
for _lo, _hi in ((48, 57), (65, 90), (97, 122), (95, 95), (128, 255)):
    _WORD_BYTE[_lo : _hi + 1] = True
_LETTER_BYTE = _WORD_BYTE.copy()
_LETTER_BYTE[48:58] = False
_LETTER_BYTE[95] = False


@dataclass(frozen=True)
class Tokens:
    """The word tokens of a text: byte spans into `data` and one 64-bit hash each."""

    data: bytes
    starts: np.ndarray  # int64 byte offsets
    ends: np.ndarray
    hashes: np.ndarray  # uint64

    def __len__(self) -> int:
        return len(self.starts)

    def has_letter(self) -> np.ndarray:
        """Per token: does it hold a letter (ASCII letter or any non-ASCII character)?"""
        if not len(self.starts):
            return np.zeros(0, dtype=bool)
        arr = np.frombuffer(self.data, dtype=np.uint8)
        letters = _LETTER_BYTE[arr].astype(np.int64)  # non-word bytes are never letters
        return np.add.reduceat(letters, self.starts) > 0

    def text(self, i: int, n: int = 1) -> str:
        """Tokens i .. i+n-1, space-joined."""
        return " ".join(
            self.data[s:e].decode("utf-8", "replace")
            for s, e in zip(
                self.starts[i : i + n].tolist(), self.ends[i : i + n].tolist(), strict=True
            )
        )


_POWERS = np.ones(1, dtype=np.uint64)


def _byte_powers(n: int) -> np.ndarray:
    global _POWERS
    if len(_POWERS) < n:
        size = max(n, 2 * len(_POWERS))
        powers = np.full(size, _BYTE_BASE, dtype=np.uint64)
        powers[0] = 1
        _POWERS = np.cumprod(powers, dtype=np.uint64)  # wraps modulo 2**64
    return _POWERS


def _tokenize_chunk(arr: np.ndarray, word: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    edges = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    if not len(starts):
        return starts, ends, np.empty(0, dtype=np.uint64)
    lengths = ends - starts
    positions = np.flatnonzero(word)  # word bytes, token by token
    exponents = np.repeat(ends - 1, lengths) - positions
    powers = _byte_powers(int(lengths.max()))
    with np.errstate(over="ignore"):
        values = arr[positions].astype(np.uint64) * powers[exponents]
        first = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        hashes = np.add.reduceat(values, first)
        hashes = splitmix64(hashes ^ (lengths.astype(np.uint64) * _MULT))
    return starts, ends, hashes


def chunk_cuts(separator: np.ndarray) -> list[int]:
    """Offsets that cut a byte array into pieces of about `_CHUNK` bytes, each cut at a byte where
    `separator` is true (so that no token spans two pieces); first 0, last the length."""
    cuts = [0]
    if len(separator) > _CHUNK:
        gaps = np.flatnonzero(separator)
        for target in range(_CHUNK, len(separator), _CHUNK):
            at = np.searchsorted(gaps, max(target, cuts[-1] + 1))
            if at < len(gaps):
                cuts.append(int(gaps[at]))
    return cuts + [len(separator)]


def tokenize(text: str) -> Tokens:
    """Word tokens and their hashes, fully vectorised (no Python work per token): each token's
    UTF-8 bytes are hashed polynomially modulo 2**64, then through the splitmix64 finaliser."""
    data = text.encode("utf-8", "surrogatepass")
    arr = np.frombuffer(data, dtype=np.uint8)
    word = _WORD_BYTE[arr]
    cuts = chunk_cuts(~word)  # cut only at non-word bytes: no token spans two chunks
    parts = []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        if hi > lo:
            starts, ends, hashes = _tokenize_chunk(arr[lo:hi], word[lo:hi])
            parts.append((starts + lo, ends + lo, hashes))
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return Tokens(data, empty, empty, np.empty(0, dtype=np.uint64))
    return Tokens(
        data,
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def word_tokens(text: str) -> list[str]:
    tokens = tokenize(text)
    return [tokens.text(i) for i in range(len(tokens))]


def token_hashes(tokens: Sequence[str]) -> np.ndarray:
    """Hash of each token (tokens as `word_tokens` returns them)."""
    return tokenize(" ".join(tokens)).hashes


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


def ngram_hashes_at(hashes: np.ndarray, n: int, starts: np.ndarray) -> np.ndarray:
    """`ngram_hashes(hashes, n)[starts]`, computed only at those window starts."""
    starts = np.asarray(starts, dtype=np.int64)
    powers = _powers(n)
    acc = np.zeros(len(starts), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            acc += hashes[starts + k] * powers[k]
    return splitmix64(acc ^ np.uint64(n))


def shingle_set(text: str, ngram: int) -> np.ndarray:
    """The distinct shingle hashes of a text, sorted. A text with fewer than `ngram` tokens (but at
    least one) is a single shingle of all its tokens; an empty text has none."""
    hashes = tokenize(text).hashes
    if len(hashes) == 0:
        return hashes
    return sorted_unique(ngram_hashes(hashes, min(ngram, len(hashes))))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique for a 1-d array by sort + mask (several times faster on uint64 in numpy 2)."""
    values = np.sort(values)
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


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
