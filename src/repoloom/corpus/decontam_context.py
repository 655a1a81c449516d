"""Decontamination's context rule: a rare word in an ordinary phrase does not make a 10-gram
task-specific.

A benchmark 10-gram is indexed when it holds a word rare in real code (`decontam_index`). Some
such windows are still ordinary text: the rare word sits in a phrase that real projects use too
(MBPP/607's pangram ``text = "The quick brown fox jumps over the``, MATH/40's ``the roots of
$ax^2 + bx +``, MBPP/39's ``return ''.join(ans) +``), or the window is one identifier called with
numbers (MBPP/601's test ``), Pair(3, 4), Pair``, a MultiPL-E C++ test's
``std::make_tuple(1, 2)))``). `common_in_context` finds these windows, given what a clean
background corpus holds (`benchmarks/decontam_common.py` measures it and ships the result in
``decontam_common.json``, so an index build needs no corpus and no network):

* every rare word of the window lies inside an m-gram of the window that occurs in a background
  file; m is `ContextRule.strong` (5) for a word in fewer than `weak_min_files` background files,
  and for the others (rare, but seen in `weak_min_files` files or more) `weak_prose` (3) in the
  prose benchmarks (MATH, GSM8K: ``common divisor of``) or `weak_code` (4) in the code ones;
* or, in a code benchmark, the window's words are one identifier (numbers and punctuation
  aside) that occurs in the background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repoloom.corpus.minhash import ngram_hashes

PROSE_BENCHMARKS = ("math", "gsm8k")


@dataclass(frozen=True)
class ContextRule:
    weak_min_files: int = 20  # a rare word in this many background files or more is "weak"
    weak_prose: int = 3  # m for a weak word in a prose benchmark
    weak_code: int = 4  # m for a weak word in a code benchmark
    strong: int = 5  # m for the other rare words


def _member(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    if not len(table):
        return np.zeros(len(values), dtype=bool)
    pos = np.searchsorted(table, values)
    pos[pos == len(table)] = 0
    return table[pos] == values


def common_in_context(
    strings: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]],
    common_mgrams: dict[int, np.ndarray],
    weak_words: np.ndarray,
    seen_words: np.ndarray,
    rule: ContextRule = ContextRule(),
    n: int = 10,
) -> np.ndarray:
    """The sorted hashes of the n-token windows (holding a rare word) that are common in context.

    `strings`: per benchmark string, its token hashes, which tokens hold a letter, which are rare
    words, and whether it is prose; `common_mgrams`: m -> the sorted hashes of the m-grams seen in
    a background file (m = the rule's lengths); `weak_words` / `seen_words`: the sorted hashes of
    the words in at least `rule.weak_min_files` / 1 background files."""
    strings = [s for s in strings if len(s[0]) >= n]
    if not strings:
        return np.zeros(0, dtype=np.uint64)
    lengths = np.array([len(s[0]) for s in strings], dtype=np.int64)
    flat = np.concatenate([s[0] for s in strings])
    letters = np.concatenate([s[1] for s in strings])
    rare = np.concatenate([s[2] for s in strings])
    prose = np.repeat([s[3] for s in strings], lengths)
    string_start = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    string_end = np.repeat(string_start + lengths, lengths)
    windows = lengths - n + 1
    starts = np.repeat(string_start, windows) + (
        np.arange(windows.sum()) - np.repeat(np.cumsum(windows) - windows, windows)
    )
    grams = ngram_hashes(flat, n)[starts]
    at = starts[:, None] + np.arange(n)[None, :]  # token positions of every window
    has_rare = rare[at].any(1)
    starts, grams, at = starts[has_rare], grams[has_rare], at[has_rare]

    # m per token: which common m-gram may explain it
    weak = _member(weak_words, flat)
    m_of = np.where(weak, np.where(prose, rule.weak_prose, rule.weak_code), rule.strong)
    covered = np.zeros(at.shape, dtype=bool)
    for m in sorted(set(m_of[rare].tolist())):
        position = np.arange(len(flat) - m + 1)
        common = _member(common_mgrams.get(m, np.zeros(0, np.uint64)), ngram_hashes(flat, m))
        common &= position + m <= string_end[position]  # inside one string
        prefix = np.concatenate(([0], np.cumsum(common)))
        # an m-gram inside the window [s, s+n) holding token r starts in [max(s, r-m+1), min(r, s+n-m)]
        low = np.maximum(starts[:, None], at - m + 1)
        high = np.minimum(at, starts[:, None] + n - m)
        here = m_of[at] == m
        covered |= here & (high >= low) & (prefix[np.maximum(high + 1, low)] - prefix[low] > 0)
    explained = ~(rare[at] & ~covered).any(1)

    # code: one identifier (numbers and punctuation aside) seen in the background
    words = np.where(letters[at], flat[at], np.uint64(0))
    top = words.max(1)
    one_word = ((words == 0) | (words == top[:, None])).all(1)
    explained |= one_word & ~prose[starts] & _member(seen_words, top)
    return np.unique(grams[explained])
