"""Helpers for the dependency-parser tests: write a small repository to disk, parse it."""

from __future__ import annotations

from pathlib import Path

from repoloom.codebase.deps import DependencyResult, parse_dependencies
from repoloom.codebase.repo import load_repository


def write_repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


def parse_dir(root: Path) -> DependencyResult:
    """Parse a repository on disk the way the corpus builder reads it (same loader, same language id)."""
    repo = load_repository(root)
    return parse_dependencies(repo.texts, repo.languages)


def edges(tmp_path: Path, files: dict[str, str]) -> set[tuple[str, str]]:
    return set(parse_dir(write_repo(tmp_path, files)).edges)
