"""Corpus build configuration: nested dataclasses loaded from YAML with strict validation.

`configs/corpus/default.yaml` spells out every default; a user copies it and changes values.
Unknown keys and wrongly typed values are errors that name the full key
(``filters.max_avg_line_length: expected a number, got 'abc'``) rather than being ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type; the message names the key."""


@dataclass
class ReadConfig:
    max_file_bytes: int = 1_000_000  # The Stack's cap: larger files are dropped, never read whole
    binary_probe_bytes: int = 8192  # a NUL byte in this prefix marks a file binary
    max_archive_bytes: int = 4_000_000_000  # decompressed bytes read from one archive at most
    max_archive_members: int = 500_000  # members of one archive at most (bomb guard)
    max_repo_files: int = 1_000_000


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
class OrderConfig:
    mode: str = "scc"  # "scc" (SCC condensation + Algorithm 1 inside) or "paper" (Algorithm 1)
    header_template: str = "# {path}"  # line put before every file of a multi-file sample
    header_single_files: bool = False  # also put the header before single-file samples
    unparsed_mode: str = "file"  # languages without a parser: "file" samples or "random" order
    seed: int = 0  # seeds the "random" order, per repository
    max_sample_bytes: int = 8_000_000  # larger components are split into consecutive samples


@dataclass
class OutputConfig:
    rows_per_part: int = 2000  # rows of one samples/removed parquet part
    compression: str = "zstd"


@dataclass
class CorpusConfig:
    read: ReadConfig = field(default_factory=ReadConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    order: OrderConfig = field(default_factory=OrderConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

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
}


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        return _from_dict(annotation, value, key)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key)
    raise ConfigError(f"{key}: unsupported setting type {annotation!r}")  # pragma: no cover


def _from_dict(cls: type, data: Any, prefix: str = "") -> Any:
    where = prefix or "top level"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else str(unknown[0])
        raise ConfigError(f"{key}: unknown setting (known here: {', '.join(sorted(names))})")
    kwargs = {}
    for name in names & set(data):
        key = f"{prefix}.{name}" if prefix else name
        value = _coerce(data[name], hints[name], key)
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ConfigError(f"{key}: expected one of {', '.join(_CHOICES[key])}, got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> CorpusConfig:
    """Validate a parsed YAML mapping into a CorpusConfig (missing keys keep their defaults)."""
    config = _from_dict(CorpusConfig, data)
    if "{path}" not in config.order.header_template:
        raise ConfigError("order.header_template: must contain {path}")
    for key in ("read.max_file_bytes", "output.rows_per_part", "order.max_sample_bytes"):
        section, name = key.split(".")
        if getattr(getattr(config, section), name) <= 0:
            raise ConfigError(f"{key}: must be positive")
    return config


def load_config(path: str | Path | None) -> CorpusConfig:
    """Load a YAML config file; None gives the defaults."""
    if path is None:
        return CorpusConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return config_from_dict(data if data is not None else {})
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def dump_config(config: CorpusConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
