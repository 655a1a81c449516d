"""Benchmark registry: ``REGISTRY[name]`` is a zero-argument factory returning a Benchmark.

A new benchmark registers itself with :func:`register` (a decorator usable on a class or
on a factory function) in a module listed in ``_MODULES`` or imported by the caller.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from repoloom.evaluate.benchmarks.base import Benchmark, Task, Verdict

REGISTRY: dict[str, Callable[[], Benchmark]] = {}

_MODULES = (
    "repoloom.evaluate.benchmarks.humaneval",
    "repoloom.evaluate.benchmarks.multiple",
    "repoloom.evaluate.benchmarks.mbpp",
    "repoloom.evaluate.benchmarks.infilling",
    "repoloom.evaluate.benchmarks.pal_math",
    "repoloom.evaluate.benchmarks.leetcode",
    "repoloom.evaluate.crossfile.benchmark",
    "repoloom.evaluate.benchmarks.heldout",
)
_loaded = False


def register(name: str, factory: Callable[[], Benchmark] | None = None):
    """Register ``factory`` under ``name``; as a decorator when ``factory`` is omitted."""

    def deco(f: Callable[[], Benchmark]) -> Callable[[], Benchmark]:
        if name in REGISTRY and REGISTRY[name] is not f:
            raise ValueError(f"benchmark {name!r} registered twice")
        REGISTRY[name] = f
        return f

    return deco(factory) if factory is not None else deco


def _load_all() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in _MODULES:
            try:
                importlib.import_module(mod)
            except ModuleNotFoundError as exc:  # a benchmark module not written yet
                if exc.name != mod:
                    raise


def names() -> list[str]:
    _load_all()
    return sorted(REGISTRY)


def get(name: str) -> Benchmark:
    _load_all()
    if name not in REGISTRY:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]()


__all__ = ["REGISTRY", "Benchmark", "Task", "Verdict", "get", "names", "register"]
