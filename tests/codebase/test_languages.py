"""The language table: one row per release language, and the tables derived from it."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import repoloom.codebase
from repoloom.codebase import languages as L
from repoloom.codebase.deps import _REGISTRY, PARSED_LANGUAGES
from repoloom.codebase.files import RawFile, decode_text


def test_one_row_per_release_language():
    assert len(L.LANGUAGE_TABLE) == 89
    assert list(L.LANGUAGES) == sorted(L.LANGUAGES)  # the release's alphabetical order
    assert L.LANGUAGES == tuple(row.name for row in L.LANGUAGE_TABLE)


def test_no_extension_file_name_or_interpreter_is_claimed_twice():
    for attribute in ("extensions", "filenames", "interpreters"):
        seen: dict[str, str] = {}
        for row in L.LANGUAGE_TABLE:
            for value in getattr(row, attribute):
                assert value not in seen, f"{attribute} {value!r}: {seen[value]} and {row.name}"
                seen[value] = row.name
    for row in L.LANGUAGE_TABLE:
        assert row.extensions, row.name
        assert all(e.startswith(".") and e == e.lower() for e in row.extensions), row.name
        assert all(f == f.lower() for f in row.filenames), row.name


@pytest.mark.parametrize(
    ("path", "head", "language"),
    [
        ("src/app.d.ts", b"", "typescript"),
        ("CMakeLists.txt", b"", "cmake"),
        ("Gemfile", b"", "ruby"),
        ("bin/tool", b"#!/usr/bin/env python3.11\n", "python"),
        ("bin/run", b"#!/bin/bash\n", "shell"),
        ("notes.unknownext", b"", None),
    ],
)
def test_identification_uses_the_table(path, head, language):
    assert L.identify_language(path, head) == language


def test_dependency_registry_is_the_tables():
    assert {row.name for row in L.LANGUAGE_TABLE if row.deps} == PARSED_LANGUAGES
    for row in L.LANGUAGE_TABLE:
        if row.deps:
            module = _REGISTRY[row.name]
            assert module.__name__ == f"repoloom.codebase.deps.{row.deps}"
            assert row.name in module.LANGUAGES
            assert callable(module.prepare) and callable(module.resolve_file)


def test_every_grammar_loads_and_has_the_rows_function_nodes():
    tree_sitter = pytest.importorskip("tree_sitter")
    for row in L.LANGUAGE_TABLE:
        assert bool(row.function_nodes) == bool(row.grammar), row.name
        if row.grammar is None:
            continue
        for name, (module, function) in ((row.name, row.grammar), *row.dialects):
            grammar = tree_sitter.Language(getattr(importlib.import_module(module), function)())
            for kind in row.function_nodes:
                assert grammar.id_for_node_kind(kind, True), f"{name}: no node type {kind!r}"


def test_grammars_for_adds_dialects():
    assert L.grammars_for(["typescript", "python"]) == {
        "typescript": ("tree_sitter_typescript", "language_typescript"),
        "tsx": ("tree_sitter_typescript", "language_tsx"),
        "python": ("tree_sitter_python", "language"),
    }


def test_screening_crossfile_and_multiple_derive_from_the_table():
    from repoloom.corpus import quality, screening
    from repoloom.evaluate.benchmarks import multiple
    from repoloom.evaluate.crossfile import analysis

    assert screening.SYNTAX_LANGUAGES == {row.name for row in L.LANGUAGE_TABLE if row.grammar}
    assert "python" not in screening._GRAMMARS  # Python is screened with compile()
    assert set(screening._GRAMMARS) == set(L.GRAMMARS) - {"python"}
    assert quality.CODE_LANGUAGES == {row.name for row in L.LANGUAGE_TABLE if row.is_code}
    assert quality.comment_share("# a\nx = 1\n", "python") == 0.5
    assert quality.comment_share("// a\nx = 1\n", "java") == 0.5
    assert set(analysis.GRAMMARS) == {*analysis.SUPPORTED_LANGUAGES, "tsx"}
    keys = [row.toolchain.key for row in L.LANGUAGE_TABLE if row.toolchain]
    assert len(set(keys)) == len(keys) and set(multiple.LANGUAGES) == set(keys)


def test_decode_text_rules():
    assert decode_text(RawFile("a.py", 4, data=b"\xef\xbb\xbfx=1"), 8192) == ("x=1", "", "")
    assert decode_text(RawFile("a.bin", 3, data=b"a\x00b"), 8192)[:2] == (None, "binary")
    assert decode_text(RawFile("a.bin", 3, data=b"a\x00b"), 1)[0] == "a\x00b"  # past the probe
    assert decode_text(RawFile("a.txt", 2, data=b"a\xff"), 8192) == (None, "invalid-utf8", "byte 1")
    skipped = RawFile("big.py", 9, skip_reason="too-large", detail="9")
    assert decode_text(skipped, 8192) == (None, "too-large", "9")


def test_codebase_imports_nothing_above_the_ground_floor():
    allowed = {"codebase", "io", "prompts", "progress", "config"}
    root = Path(repoloom.codebase.__file__).parent
    paths = sorted(root.rglob("*.py"))
    assert len(paths) > 10
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                parts = name.split(".")
                if parts[0] == "repoloom" and len(parts) > 1:
                    assert parts[1] in allowed, f"{path.name} imports {name}"
