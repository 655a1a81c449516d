"""Corpus build configuration: nested dataclasses loaded from YAML with strict validation.

`configs/corpus/default.yaml` spells out every default; a user copies it and changes values.
Unknown keys and wrongly typed values are errors that name the full key
(``filters.max_avg_line_length: expected a number, got 'abc'``) rather than being ignored. The
loading, type rules and ``KEY=VALUE`` overrides are :mod:`repoloom.config`'s (the one loader); this
module holds the settings and the checks beyond a single value's type.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from repoloom import config as config_loader
from repoloom.codebase.config import OrderConfig, ReadConfig
from repoloom.codebase.languages import SCREENED_BY_DEFAULT
from repoloom.config import ConfigError


@dataclass
class FilterConfig:
    # StarCoder rules as DeepSeek-Coder states them (PAPER_NOTES section 1).
    max_avg_line_length: float = 100.0  # drop when the average line length is > this
    max_line_length: int = 1000  # drop when the longest line is > this
    min_alpha_fraction: float = 0.25  # drop when the alphabetic share is < this
    xml_header_window: int = 100  # drop '<?xml version=' in the first N characters (not XSLT)
    html_min_visible_fraction: float = 0.20  # keep HTML only when visible text >= 20% ...
    html_min_visible_chars: int = 100  # ... and >= 100 characters
    data_min_chars: int = 50  # JSON/YAML kept only from 50 ...
    data_max_chars: int = 5000  # ... to 5000 characters
    data_languages: list[str] = field(default_factory=lambda: ["json", "yaml"])


@dataclass
class OutputConfig:
    rows_per_part: int = 2000  # rows of one samples/removed parquet part
    compression: str = "zstd"


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: {message}")


@dataclass
class DedupConfig:
    # Exact dedup (content hash) and MinHash-LSH near-dedup; docs/corpus-dedup.md.
    exact_files_in_repo: bool = True  # identical files inside one repository: keep the first path
    exact_samples: bool = True  # identical whole samples across the corpus
    near: bool = True  # MinHash + LSH near-dedup of whole samples (the paper's repo level)
    level: str = "sample"  # near-dedup unit: "sample" (repository level) or "file"
    exact_files_across_repos: bool = False  # identical files in different repositories: keep one
    ngram: int = 5  # word-token shingles
    num_perm: int = 256
    threshold: float = 0.85  # Jaccard similarity that makes two samples near-duplicates
    bands: int = 0  # 0: chosen from the threshold (minimal false positive + negative area)
    rows: int = 0
    seed: int = 1
    verify: bool = True  # keep an LSH pair only when its signature estimate >= threshold
    keep: str = "largest"  # per cluster: "largest" sample (ties: first), or the "first" one
    partitions: int = 16  # LSH bucket shards on disk

    def __post_init__(self) -> None:
        _check(0.0 < self.threshold < 1.0, "dedup.threshold", "must be between 0 and 1")
        _check(self.ngram > 0, "dedup.ngram", "must be positive")
        _check(self.num_perm > 0, "dedup.num_perm", "must be positive")
        _check(self.partitions > 0, "dedup.partitions", "must be positive")
        _check(
            self.bands >= 0 and self.rows >= 0 and self.bands * self.rows <= self.num_perm,
            "dedup.bands",
            "bands * rows must be at most num_perm (0 and 0: chosen from the threshold)",
        )
        _check(
            (self.bands == 0) == (self.rows == 0),
            "dedup.rows",
            "set both bands and rows or neither",
        )

    def file_pass(self) -> bool:
        """Whether dedup runs a file-level pass (cross-repository exact or file-level near)."""
        return self.exact_files_across_repos or (self.near and self.level == "file")


@dataclass
class ScreeningConfig:
    # Syntax and quality screening of single files; docs/corpus-dedup.md.
    syntax: bool = True
    syntax_languages: list[str] = field(default_factory=lambda: list(SCREENED_BY_DEFAULT))
    # drop when > this share of the non-whitespace bytes are tokens tree-sitter could not place
    syntax_max_error_share: float = 0.05
    # ... and, where the language's own parser is installed, only when it rejects the file too
    syntax_confirm: bool = True
    syntax_confirm_timeout: float = 60.0  # seconds per front-end call (no verdict: kept)
    quality: bool = True  # the quality steps below (each also switchable)
    # Defaults measured on labelled drops of the pinned corpora (BENCHMARKS.md, "Quality rules",
    # issue 13): a rule whose precision stayed under 95% at every threshold is off by default.
    generated: bool = True  # generator markers in comments / the header of the first window
    generated_window: int = 1000
    minified: bool = True  # ".min." in the name, or low whitespace share AND long lines
    minified_min_chars: int = 1000
    minified_max_whitespace_share: float = 0.08
    minified_min_mean_line_chars: float = 200.0  # include / re-export lists are not minified
    comment_share: bool = False  # 23% precision: package docs, Javadoc-heavy interfaces
    comment_min_lines: int = 10  # files shorter than this (non-blank lines) are not judged
    max_comment_share: float = 0.95
    min_comment_share: float = 0.0
    longest_function: bool = False  # 24% precision: IIFE/UMD wrappers, table-driven tests
    max_function_lines: int = 1000
    identifier_length: bool = True
    min_mean_identifier_length: float = 1.5
    max_mean_identifier_length: float = 35.0
    duplicated_lines: bool = False  # 9% precision: overload-heavy APIs, table tests
    duplicate_line_min_chars: int = 10  # lines shorter than this (stripped) are not counted
    duplicate_min_lines: int = 20
    max_duplicated_line_share: float = 0.7
    scorer: str = "compression"  # "none", "compression", or "package.module:factory"
    # keep when scorer_min <= score <= scorer_max; the low side (repetitive text) measured 37%
    # precision at 0.1 and no cut-off reached 95%, so only random-looking data is dropped
    scorer_min: float = 0.0
    scorer_max: float = 0.9
    scorer_min_chars: int = 1000

    def __post_init__(self) -> None:
        for name in (
            "syntax_max_error_share",
            "minified_max_whitespace_share",
            "max_comment_share",
            "min_comment_share",
            "max_duplicated_line_share",
        ):
            _check(0.0 <= getattr(self, name) <= 1.0, f"screening.{name}", "must be in [0, 1]")
        _check(self.syntax_confirm_timeout > 0, "screening.syntax_confirm_timeout", "must be > 0")
        _check(
            self.minified_min_mean_line_chars >= 0,
            "screening.minified_min_mean_line_chars",
            "must be >= 0",
        )


@dataclass
class DecontamConfig:
    # Drop files sharing a word 10-gram with a benchmark (exact match for 3..9-token strings).
    enabled: bool = True
    ngram: int = 10
    min_short_tokens: int = 3  # benchmark strings shorter than `ngram` but this long: exact match
    min_alpha_tokens: int = 3  # sequences with fewer tokens holding a letter are not indexed
    benchmarks: list[str] = field(default_factory=lambda: ["humaneval", "mbpp", "gsm8k", "math"])
    benchmarks_dir: str | None = None  # local copy (--benchmarks-dir; else $REPOLOOM_DATA)
    extra_jsonl: list[str] = field(default_factory=list)  # more JSONL files: every string field
    require_all_benchmarks: bool = False  # a benchmark that cannot be found is an error
    # A benchmark without local copy (MBPP, GSM8K) from its public hub: true = ask it, false =
    # never, null = ask only when the hub answers a reachability check within 2 s.
    hub: bool | None = None
    scaffold_min_tasks: int = 3  # sequences in this many distinct tasks are scaffolding (0: off)
    # Leave out the packaged common-code list: benchmark sequences seen in real code, and the
    # short strings whose every word is common in real code (`return len(string)`).
    common_code: bool = True
    ngram_needs_rare_word: bool = True  # the word rule for the n-grams too

    def __post_init__(self) -> None:
        _check(self.ngram >= 2, "decontam.ngram", "must be at least 2")
        _check(
            0 < self.min_short_tokens <= self.ngram,
            "decontam.min_short_tokens",
            "must be between 1 and decontam.ngram",
        )
        _check(self.scaffold_min_tasks >= 0, "decontam.scaffold_min_tasks", "must be >= 0")


@dataclass
class CorpusConfig:
    read: ReadConfig = field(default_factory=ReadConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    order: OrderConfig = field(default_factory=OrderConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    screening: ScreeningConfig = field(default_factory=ScreeningConfig)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Stable hash of every setting: a resumed run must use the same configuration."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


_CHOICES = {
    "order.mode": ("scc", "paper"),
    "order.unparsed_mode": ("file", "random"),
    "output.compression": ("zstd", "snappy", "gzip", "none"),
    "dedup.keep": ("largest", "first"),
    "dedup.level": ("sample", "file"),
}


def config_from_dict(data: dict[str, Any]) -> CorpusConfig:
    """Validate a parsed YAML mapping into a CorpusConfig (missing keys keep their defaults)."""
    return _checked(config_loader.from_dict(CorpusConfig, data, choices=_CHOICES))


def _checked(config: CorpusConfig) -> CorpusConfig:
    """Checks beyond a value's type that no section's __post_init__ makes."""
    if "{path}" not in config.order.header_template:
        raise ConfigError("order.header_template: must contain {path}")
    for key in ("read.max_file_bytes", "output.rows_per_part", "order.max_sample_bytes"):
        section, name = key.split(".")
        if getattr(getattr(config, section), name) <= 0:
            raise ConfigError(f"{key}: must be positive")
    return config


def load_config(
    path: str | Path | None,
    overrides: Sequence[str] = (),
    *,
    settings: Mapping[str, Any] | None = None,
) -> CorpusConfig:
    """Load a YAML config file (None: the defaults), then flag ``settings`` (dotted key -> value)
    and ``KEY=VALUE`` ``overrides`` (``dedup.threshold=0.8``), all checked by one loader."""
    config = config_loader.load(CorpusConfig, path, overrides, settings=settings, choices=_CHOICES)
    return _checked(config)


def dump_config(config: CorpusConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
