"""Where decontamination's benchmark texts come from: (task id, field, text) rows of HumanEval
(+ the MultiPL-E translations), MBPP, GSM8K and MATH through `repoloom.benchdata`'s loaders, and
of any JSONL named in ``decontam.extra_jsonl``; a benchmark that cannot be found is recorded in
the index (and raises with ``require_all_benchmarks``).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import repoloom.benchdata.hub as benchmark_hub
from repoloom.benchdata import (
    MATH_SETS,
    MBPP_HUB,
    DataNotFound,
    find_local,
    humaneval_file,
    humaneval_records,
    load_mbpp_records,
    local_mbpp,
    local_multiple,
    math_records,
    multiple_records,
)
from repoloom.codebase.languages import TOOLCHAINS


class LoadRecord(Protocol):
    """Where loading is recorded (``decontam_index.BenchmarkIndex``, which imports this module)."""

    missing: list[str]
    sources: dict[str, str]
    warnings: list[str]


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


class BenchmarkNotFound(RuntimeError):
    """A benchmark the config asks for cannot be found and require_all_benchmarks is set."""


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
    try:
        path = humaneval_file(None)
    except DataNotFound:
        path = humaneval_file(base)  # raises DataNotFound when there is no local copy either
    records = humaneval_records(path)
    where = [str(path)]
    for key in sorted(toolchain.key for toolchain in TOOLCHAINS):
        if key == "py":
            continue
        local = local_multiple(base, key, top_level=False)
        if local is not None:
            records += multiple_records(key, base)
            where.append(str(local))
    return records, where


def benchmark_records(benchmark: str, base: Path | None, hub: bool) -> tuple[list[dict], str]:
    """Raw records of one benchmark through `repoloom.benchdata`'s loaders (the local copy under
    `base`, else the public hub when `hub` is on), and where they came from. Raises
    `repoloom.benchdata.DataNotFound` naming why when neither has it."""
    if benchmark == "humaneval":
        records, where = _humaneval_records(base)
        return records, ", ".join(where)
    if benchmark == "mbpp":
        local = local_mbpp(base)
        if local is None and not hub:
            raise DataNotFound("MBPP: no local copy and decontam.hub is off")
        return load_mbpp_records(base), str(local or f"hub:{MBPP_HUB}")
    spec = MATH_SETS[benchmark]
    if not hub:
        spec = dataclasses.replace(spec, hub=None)
    rows, where = math_records(spec, base)
    return [record for _, record in rows], where


def benchmark_rows(
    benchmark: str, base: Path | None, hub: bool = True
) -> tuple[list[tuple[str, str, str]], str]:
    """(task_id, field, text) of one benchmark, and where they came from; raises
    FileNotFoundError naming why the benchmark cannot be found."""
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
    cfg: Any, index: LoadRecord
) -> tuple[list[tuple[str, list[tuple[str, str, str]]]], Path | None]:
    """(benchmark, rows) of every benchmark the config names; the missing ones are recorded in
    `index` (and raise with require_all_benchmarks)."""
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
            hub = benchmark_hub.hub_reachable()  # null: ask the hub only when it answers within 2 s
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
    relative = {"mbpp": ("mbpp/mbpp.jsonl",), "gsm8k": ("pal-math/gsm8k/test.json",)}
    return find_local(base, *relative.get(benchmark, ())) is not None
