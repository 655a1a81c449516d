"""The decontamination index: the task-specific sequences of the benchmark texts, and its scan.

`build_index` tokenizes every benchmark string (`repoloom.corpus.decontam_tokens`), takes the
10-grams of the long strings and the whole short strings, leaves out the generic, scaffolding
and common-code sequences, and stores one sorted hash table per length; `BenchmarkIndex.scan`
finds the first indexed sequence in a file.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repoloom.corpus.decontam_sources import DISPLAY, load_benchmarks
from repoloom.corpus.decontam_tokens import TOKENIZER, code_tokens, code_tokens_many
from repoloom.corpus.minhash import ngram_hashes, ngram_hashes_at

log = logging.getLogger(__name__)

_BITMAP_BITS = 24  # 16 MB of flags: about 5% of the windows of a file pass to the binary search
COMMON_FILE = "decontam_common.json"


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
        # a sequence generic where it occurs in one string is generic everywhere: `\\sqrt{b^2-4ac}`
        # is math inside `$...$` of MATH/40, and in a `\\begin{align*}` of MATH/91 too
        keep &= ~np.isin(grams, grams[~keep])
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

        # the context rule's windows (decontam_context), under the metadata's "context_hashes"
        data["context_hashes"] = hashes("context_hashes")
        _COMMON = (hashes("hashes"), hashes("words"), data)
    return _COMMON


_COMMON: tuple[np.ndarray, np.ndarray, dict] | None = None


def build_index(cfg: Any) -> BenchmarkIndex:
    """Index the benchmarks the decontam config names (missing ones are recorded, or raise)."""
    started = time.perf_counter()
    index = BenchmarkIndex(ngram=cfg.ngram)
    sources, _ = load_benchmarks(cfg, index)
    common, words, meta = common_code() if cfg.common_code else (np.zeros(0, np.uint64), None, {})
    in_context = meta.get("context_hashes", np.zeros(0, np.uint64))
    sequences = index_sequences(sources, cfg, index, words)
    for n, (hashes, entry_ids) in sorted(sequences.items()):
        if len(in_context) and n == meta.get(
            "context_ngram"
        ):  # an ordinary phrase around a rare word
            keep = ~np.isin(hashes, in_context)
            index.left_out["common_context"] = index.left_out.get("common_context", 0) + len(
                np.unique(hashes[~keep])
            )
            hashes, entry_ids = hashes[keep], entry_ids[keep]
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
