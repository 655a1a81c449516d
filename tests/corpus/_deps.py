"""Helpers for the dependency-parser tests: write a small repository to disk, parse it."""

from __future__ import annotations

from pathlib import Path

from repoloom.corpus.deps import DependencyResult, parse_dependencies

EXT = {
    ".py": "python",
    ".pyi": "python",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "c-sharp",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".php": "php",
}


def write_repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


def parse_dir(root: Path) -> DependencyResult:
    files: dict[str, str] = {}
    langs: dict[str, str | None] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            rel = p.relative_to(root).as_posix()
            files[rel] = p.read_text(encoding="utf-8")
            langs[rel] = EXT.get(p.suffix)
    return parse_dependencies(files, langs)


def edges(tmp_path: Path, files: dict[str, str]) -> set[tuple[str, str]]:
    return set(parse_dir(write_repo(tmp_path, files)).edges)
