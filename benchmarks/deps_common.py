"""What the dependency benchmarks share: the cache, the measured languages, loading a source tree,
precision/recall and the table row. ``deps_accuracy``, ``deps_speed``, ``deps_sanity`` and
``deps_kotlin_ruby_scala`` import it; it imports none of them (no import cycle).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("REPOLOOM_DEPS_BENCH", Path.home() / ".cache/repoloom/deps-bench"))

# The languages this benchmark measures, named as the corpus builder names them.
MEASURED = frozenset({"python", "java", "c", "cpp", "javascript", "typescript"})


def language_of(path: str) -> str | None:
    """The corpus builder's language of a path when this benchmark measures it, else None."""
    from repoloom.codebase.languages import identify_language

    language = identify_language(path)
    return language if language in MEASURED else None


def run(cmd: list[str], cwd: Path | None = None, check: bool = True) -> str:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {p.stderr[-2000:]}")
    return p.stdout


def load_repo(root: Path) -> tuple[dict[str, str], dict[str, str | None]]:
    files: dict[str, str] = {}
    langs: dict[str, str | None] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.is_symlink() or "node_modules" in p.parts:
            continue
        rel = p.relative_to(root).as_posix()
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        files[rel] = text
        langs[rel] = language_of(rel)
    return files, langs


def prf(ours: set, truth: set) -> dict[str, float | int]:
    tp = len(ours & truth)
    return {
        "tp": tp,
        "fp": len(ours - truth),
        "fn": len(truth - ours),
        "precision": tp / len(ours) if ours else 1.0,
        "recall": tp / len(truth) if truth else 1.0,
    }


def fmt_row(name: str, r: dict, tool: str, corpus: str) -> str:
    return (
        f"| {name} | {tool} | {corpus} | {r['tp'] + r['fn']} | {r['tp'] + r['fp']} | "
        f"{100 * r['precision']:.1f}% | {100 * r['recall']:.1f}% |"
    )
