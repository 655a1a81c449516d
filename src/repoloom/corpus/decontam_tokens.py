"""Decontamination's tokenizer: word runs and single operator/punctuation characters, hashed.

`code_tokens` splits a text as the benchmark index and the scan both see it (whitespace only
separates tokens; double quotes count as single quotes); `code_tokens_many` tokenizes many
benchmark strings in one pass and flags the words that never tell a task apart (short words,
LaTeX markup, math-mode variables, Asymptote figures, lone string literals).
"""

from __future__ import annotations

import numpy as np

from repoloom.corpus.minhash import Tokens, chunk_cuts, splitmix64

TOKENIZER = "code_tokens/1"  # bump when code_tokens changes: the common-code hashes depend on it

# Byte classes of `code_tokens`: word bytes (ASCII letters, digits, ``_`` and every byte of a
# multi-byte UTF-8 character), whitespace, and the rest (operators, punctuation), one token each.
_WORD = np.zeros(256, dtype=bool)
for _lo, _hi in ((48, 57), (65, 90), (97, 122), (95, 95), (128, 255)):
    _WORD[_lo : _hi + 1] = True
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[9, 10, 11, 12, 13, 32]] = True
_PUNCT = ~(_WORD | _SPACE)
_NORMAL = np.arange(256, dtype=np.uint64)
_NORMAL[ord('"')] = ord("'")  # quote style is formatting, not content
_BYTE_BASE = np.uint64(0x100000001B3)
_MULT = np.uint64(0x9E3779B97F4A7C15)


def _byte_powers(n: int) -> np.ndarray:
    powers = np.full(max(n, 1), _BYTE_BASE, dtype=np.uint64)
    powers[0] = 1
    return np.cumprod(powers, dtype=np.uint64)  # wraps modulo 2**64


def _code_tokens_chunk(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    word = _WORD[arr]
    punct = _PUNCT[arr]
    previous_word = np.concatenate(([False], word[:-1]))
    next_word = np.concatenate((word[1:], [False]))
    starts = np.flatnonzero(punct | (word & ~previous_word))
    ends = np.flatnonzero(punct | (word & ~next_word)) + 1
    if not len(starts):
        return starts, ends, np.empty(0, dtype=np.uint64)
    lengths = ends - starts
    positions = np.flatnonzero(word | punct)  # token bytes, token by token
    exponents = np.repeat(ends - 1, lengths) - positions
    powers = _byte_powers(int(lengths.max()))
    with np.errstate(over="ignore"):
        values = _NORMAL[arr[positions]] * powers[exponents]
        first = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        hashes = np.add.reduceat(values, first)
        hashes = splitmix64(hashes ^ (lengths.astype(np.uint64) * _MULT))
    return starts, ends, hashes


def code_tokens(text: str) -> Tokens:
    """Word runs and single operator/punctuation characters, with a 64-bit hash each (the same
    in every process), fully vectorised; whitespace only separates tokens."""
    data = text.encode("utf-8", "surrogatepass")
    arr = np.frombuffer(data, dtype=np.uint8)
    cuts = chunk_cuts(_SPACE[arr])  # cut only at whitespace: no token spans two chunks
    parts = []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        if hi > lo:
            starts, ends, hashes = _code_tokens_chunk(arr[lo:hi])
            parts.append((starts + lo, ends + lo, hashes))
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return Tokens(data, empty, empty, np.empty(0, dtype=np.uint64))
    return Tokens(data, *(np.concatenate([p[i] for p in parts]) for i in range(3)))


_ASY = code_tokens("asy").hashes[0]


def _inside(opens: np.ndarray, closes: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Per token: inside a region that `opens` opens and `closes` closes, per text (`cuts`)."""
    return np.concatenate(
        [
            np.cumsum(o.astype(np.int64) - c) > 0
            for o, c in zip(np.split(opens, cuts), np.split(closes, cuts), strict=True)
        ]
        or [np.zeros(0, dtype=bool)]
    )


def code_tokens_many(
    texts: list[str],
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """`code_tokens` of many texts in one vectorised pass (the texts are joined by newlines, which
    only separate tokens): per text, its token hashes, which tokens hold a letter, and which are
    words that never tell a task apart: at most 2 characters (`i`, `x`, `pi`, `z0`), LaTeX markup
    (a control word right after a backslash, `\\frac`, and the environment of `\\begin{pmatrix}`),
    a math-mode variable (between `$`s, `$ax^2 + bxy$`, or in display math,
    `\\[F_n = F_{n-1}\\]`), a word of an Asymptote figure (MATH's
    `[asy] ... [/asy]`), or a word that is a whole string literal on its own (`"five", "six"`,
    `'red', 'blue'`: data, not code)."""
    if not texts:
        return [], [], []
    encoded = [text.encode("utf-8", "surrogatepass") for text in texts]
    tokens = code_tokens(b"\n".join(encoded).decode("utf-8", "surrogatepass"))
    ends = np.cumsum([len(e) + 1 for e in encoded])
    cuts = np.searchsorted(tokens.starts, ends[:-1])
    first = np.frombuffer(tokens.data, dtype=np.uint8)[tokens.starts]
    glued = np.zeros(len(tokens) + 1, dtype=bool)  # glued[i]: token i-1 ends where token i starts
    glued[1:-1] = tokens.starts[1:] == tokens.ends[:-1]
    previous = np.concatenate(([0], first[:-1]))
    following = np.concatenate((first[1:], [0]))
    after_backslash = (previous == ord("\\")) & glued[:-1]
    environment = np.zeros(len(tokens), dtype=bool)  # \begin{NAME}, \end{NAME}
    environment[2:] = (previous[2:] == ord("{")) & after_backslash[:-2]
    quote = np.isin(first, (ord('"'), ord("'")))
    lone_literal = (
        np.concatenate(([False], quote[:-1]))
        & np.concatenate((quote[1:], [False]))
        & glued[:-1]
        & glued[1:]
        & (following == previous)
    )
    # math mode: inside `$...$` (an odd number of `$` before, per text) or MATH's display math
    # `\\[ ... \\]` (`\\[F_n = F_{n-1} + F_{n-2}\\]`, `\\[x = \\frac{-b \\pm \\sqrt{b^2-4ac}}{2a}\\]`)
    math_mode = np.concatenate(
        [np.cumsum(d) % 2 == 1 for d in np.split(first == ord("$"), cuts)]
        or [np.zeros(0, dtype=bool)]
    )
    display_opens = (first == ord("[")) & after_backslash
    display_closes = (first == ord("]")) & after_backslash
    math_mode |= _inside(display_opens, display_closes, cuts)
    # MATH's Asymptote figures, `[asy] ... draw(Circle((0,0),1)); [/asy]`: drawing code, not text
    asy = tokens.hashes == _ASY
    opens = np.zeros(len(tokens), dtype=bool)
    opens[1:-1] = asy[1:-1] & (first[:-2] == ord("[")) & (first[2:] == ord("]"))
    closes = np.zeros(len(tokens), dtype=bool)  # [ / asy ]
    closes[2:-1] = (
        asy[2:-1] & (first[:-3] == ord("[")) & (first[1:-2] == ord("/")) & (first[3:] == ord("]"))
    )
    figure = _inside(opens & ~closes, closes, cuts)
    plain = (
        ((tokens.ends - tokens.starts) <= 2)
        | after_backslash
        | environment
        | lone_literal
        | math_mode
        | figure
        | closes
    )
    return (
        np.split(tokens.hashes, cuts),
        np.split(tokens.has_letter(), cuts),
        np.split(plain, cuts),
    )
