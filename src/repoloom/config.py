"""The one configuration loader: a YAML file and ``key=value`` overrides -> a (nested) dataclass.

Every command with a config (``corpus build``, ``corpus order``, ``train``) reads it here, so the
rules are the same everywhere:

- A config is a dataclass whose fields may be dataclasses themselves (sections). In YAML a section
  is a mapping (``dedup: {threshold: 0.8}``); on the command line and in a dict it may also be a
  dotted key (``dedup.threshold=0.8``, ``{"lora.r": 8}``).
- An unknown key or a value of the wrong type is an error that names the full key
  (``filters.max_avg_line_length: expected a number, got 'abc'``), never silently ignored: a
  typo must not run the default.
- Values from YAML or Python already have a type, which must match the field (an int is taken for
  a float; a numeric string for a number, because YAML 1.1 reads ``1e5`` as a string).
  Values from the command line are text, parsed for the field's type: ``none``/``null`` for an
  optional field, ``true/false/yes/no/on/off/1/0`` for a bool, YAML for numbers and lists
  (``[0.8,0.9]``), a comma list (``q,v,down``) for a list, the text itself for a string.
- A command-line flag that sets a config field is an override too (:func:`flag_settings`), so a
  flag and ``key=value`` mean the same thing. Order: YAML, then flags, then ``key=value``.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

# A dotted key of identifiers: `dedup.threshold`, `max_steps`. Used to tell `KEY=VALUE` from a
# path or URI that happens to hold '=' (`s3://bucket/date=2024/`).
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_NONE = ("none", "null", "~", "")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type; the message names the key."""


# ------------------------------------------------------------------------------- coercion


def _optional_inner(annotation: Any) -> Any | None:
    """``X | None`` -> X; anything else -> None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0]
    return None


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check a typed value (from YAML or Python) against a field's annotation and convert it."""
    if dataclasses.is_dataclass(annotation):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        return from_dict(annotation, value, prefix=key)
    inner = _optional_inner(annotation)
    if inner is not None:
        return None if value is None else coerce(value, inner, key)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, str):
            value = _number(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, str):
            value = _number(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # `out: 123`, `model: 1.3` read as numbers by YAML
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if typing.get_origin(annotation) is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
    if annotation is Any:
        return value
    raise ConfigError(f"{key}: unsupported setting type {annotation!r}")  # pragma: no cover


def _number(text: str) -> Any:
    """A numeric string as a number ('1e5' -> 100000.0); anything else unchanged."""
    try:
        return float(text)
    except ValueError:
        return text


def parse_text(text: str, annotation: Any, key: str) -> Any:
    """Parse command-line text for a field's annotation, then check it as :func:`coerce` does."""
    if dataclasses.is_dataclass(annotation):
        raise ConfigError(f"{key}: is a section; set its keys as {key}.KEY=VALUE")
    inner = _optional_inner(annotation)
    if inner is not None:
        return None if text.strip().lower() in _NONE else parse_text(text, inner, key)
    if annotation is str:
        return text
    if annotation is bool:
        word = text.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ConfigError(f"{key}: expected true or false, got {text!r}")
    if typing.get_origin(annotation) is list:
        (item_type,) = typing.get_args(annotation)
        parsed = yaml_value(text)
        if isinstance(parsed, list | dict):  # `[a, b]`; a mapping is an error
            return coerce(parsed, annotation, key)
        items = [t.strip() for t in text.strip().strip("[]").split(",") if t.strip()]
        return [parse_text(t, item_type, f"{key}[{i}]") for i, t in enumerate(items)]
    return coerce(yaml_value(text), annotation, key)


def yaml_value(text: str) -> Any:
    """Command-line text read as YAML (`[0.8,0.9]` -> a list, `1` -> 1); bad YAML stays text."""
    try:
        return yaml.safe_load(text) if text != "" else None
    except yaml.YAMLError:
        return text


# ------------------------------------------------------------------------------- dataclasses


def field_types(cls: type) -> dict[str, Any]:
    """Field name -> resolved annotation of a config dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _unknown(key: str, known: typing.Iterable[str]) -> ConfigError:
    """An unknown key's error: the nearest known key when one is close, else every known one."""
    known = sorted(known)
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], known, n=1)
    hint = f"did you mean {close[0]}?" if close else f"known here: {', '.join(known)}"
    return ConfigError(f"{key}: unknown setting ({hint})")


def _nest(data: Mapping[str, Any]) -> dict[str, Any]:
    """``{"lora.r": 8, "lora": {"alpha": 4}}`` -> ``{"lora": {"alpha": 4, "r": 8}}``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        head, dot, rest = str(key).partition(".")
        if not dot:
            if isinstance(value, Mapping) and isinstance(out.get(head), dict):
                out[head].update(value)
            else:
                out[head] = value
            continue
        section = out.setdefault(head, {})
        if dataclasses.is_dataclass(section) and not isinstance(section, type):
            section = out[head] = dataclasses.asdict(section)
        if not isinstance(section, dict):
            raise ConfigError(f"{head}: expected a mapping of settings, got {section!r}")
        section.update(_nest({rest: value}))
    return out


def from_dict(
    cls: type[T],
    data: Any,
    *,
    prefix: str = "",
    choices: Mapping[str, Sequence[Any]] | None = None,
) -> T:
    """Build ``cls`` from a mapping (missing keys keep their defaults), checking every value.

    ``choices`` maps full dotted keys to the values they may take."""
    where = prefix or "top level"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of settings, got {type(data).__name__}")
    data = _nest(data)
    types_ = field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise _unknown(f"{prefix}.{unknown[0]}" if prefix else unknown[0], types_)
    kwargs = {}
    for name, annotation in types_.items():
        if name not in data:
            continue
        key = f"{prefix}.{name}" if prefix else name
        if dataclasses.is_dataclass(annotation):
            value = from_dict(annotation, data[name], prefix=key, choices=choices)
        else:
            value = coerce(data[name], annotation, key)
        allowed = (choices or {}).get(key)
        if allowed is not None and value not in allowed:
            shown = ", ".join(str(c) for c in allowed)
            raise ConfigError(f"{key}: expected one of {shown}, got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


def annotation_of(cls: type, key: str) -> Any:
    """The annotation of a dotted key (``dedup.threshold`` -> float); unknown keys are errors."""
    annotation: Any = cls
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(annotation):
            raise ConfigError(f"{key}: unknown setting ({'.'.join(parts[:i])} has no sub-keys)")
        types_ = field_types(annotation)
        if part not in types_:
            raise _unknown(".".join(parts[: i + 1]), types_)
        annotation = types_[part]
    return annotation


# ------------------------------------------------------------------------------- overrides


def split_override(item: str) -> tuple[str, str]:
    """``"dedup.threshold=0.8"`` -> ``("dedup.threshold", "0.8")``."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not _KEY_RE.match(key):
        raise ConfigError(f"override {item!r} is not KEY=VALUE (e.g. dedup.threshold=0.8)")
    return key, text


def is_override(arg: str) -> bool:
    """Whether a positional argument is ``KEY=VALUE`` rather than a path: it holds '=' after a
    dotted key and no file or directory of that name exists."""
    key, sep, _ = arg.partition("=")
    return bool(sep) and bool(_KEY_RE.match(key.strip())) and not os.path.exists(arg)


def split_sources_and_overrides(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Positional arguments -> (sources, ``KEY=VALUE`` overrides), in their order."""
    sources = [a for a in args if not is_override(a)]
    return sources, [a for a in args if is_override(a)]


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    head, dot, rest = key.partition(".")
    if not dot:
        data[head] = value
        return
    section = data.get(head)
    if dataclasses.is_dataclass(section) and not isinstance(section, type):
        section = dataclasses.asdict(section)
    if not isinstance(section, dict):
        section = {}
    data[head] = section
    _set(section, rest, value)


def merge(
    cls: type,
    data: Mapping[str, Any] | None,
    *,
    settings: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """``data`` (a YAML mapping) with typed ``settings`` (dotted key -> value, e.g. from flags)
    and then ``KEY=VALUE`` text ``overrides`` applied; each key is checked against ``cls``."""
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"top level: expected a mapping of settings, got {type(data).__name__}")
    merged = _nest(dict(data or {}))
    for key, value in (settings or {}).items():
        annotation_of(cls, key)
        _set(merged, key, value)
    for item in overrides:
        key, text = split_override(item)
        _set(merged, key, parse_text(text, annotation_of(cls, key), key))
    return merged


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML file's top-level mapping ({} for an empty file); errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def load(
    cls: type[T],
    path: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    *,
    settings: Mapping[str, Any] | None = None,
    choices: Mapping[str, Sequence[Any]] | None = None,
) -> T:
    """``cls`` from a YAML file (None: the defaults), flag ``settings`` and ``KEY=VALUE``
    ``overrides``. Errors from the file's own values name the file."""
    data = read_yaml(path) if path is not None else {}
    if path is not None:
        try:
            from_dict(cls, data, choices=choices)  # the file alone: its errors name it
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    merged = merge(cls, data, settings=settings, overrides=overrides)
    return from_dict(cls, merged, choices=choices)


def replace(
    config: T,
    overrides: Sequence[str] = (),
    *,
    settings: Mapping[str, Any] | None = None,
    choices: Mapping[str, Sequence[Any]] | None = None,
) -> T:
    """A copy of ``config`` with ``settings`` and ``overrides`` applied (``config`` unchanged)."""
    cls = type(config)
    merged = merge(cls, dataclasses.asdict(config), settings=settings, overrides=overrides)
    return from_dict(cls, merged, choices=choices)


def flag_settings(args: argparse.Namespace, flags: Mapping[str, str]) -> dict[str, Any]:
    """Command-line flags that set config fields, as ``{dotted key: value}``.

    ``flags`` maps an argparse ``dest`` to its dotted key (``{"order_mode": "order.mode"}``). A
    flag left at None, or a ``store_true`` flag left False, sets nothing: the config decides."""
    out: dict[str, Any] = {}
    for dest, key in flags.items():
        value = getattr(args, dest)
        if value is None or value is False:
            continue
        out[key] = str(value) if isinstance(value, os.PathLike) else value
    return out


def keyword_args(args: argparse.Namespace, function: Any, **flag_of: str) -> dict[str, Any]:
    """The keyword-only parameters of ``function`` that a command's flags set, by the parameter's
    name or the flag ``flag_of[parameter]`` names: a command passes its flags on in one line
    instead of copying them field by field. A parameter no flag sets keeps its default."""
    out: dict[str, Any] = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        dest = flag_of.get(name, name)
        if hasattr(args, dest):
            out[name] = getattr(args, dest)
    unknown = set(flag_of) - set(out)
    if unknown:  # a misspelt mapping would silently leave the default
        raise TypeError(f"{getattr(function, '__name__', function)}: no flag for {sorted(unknown)}")
    return out
