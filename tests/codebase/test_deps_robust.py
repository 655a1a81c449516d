"""The dependency parser never raises, stays fast on pathological input and is deterministic."""

from __future__ import annotations

import random
import time

import pytest

from repoloom.codebase.deps import (
    MAX_PARSE_CHARS,
    PARSED_LANGUAGES,
    DependencyResult,
    parse_dependencies,
)
from repoloom.codebase.languages import EXTENSIONS

# One file per parsed language, named with the language's first extension in the table (so a
# parser added to the table is covered here without editing this file).
EXT_OF = {lang: EXTENSIONS[lang][0].lstrip(".") for lang in sorted(PARSED_LANGUAGES)}

NASTY = [
    "",
    "\x00\x01\x02\xff\ufffd" * 100,
    "import",
    "from . import",
    "from .... import (",
    "#include",
    '#include "',
    "#include <",
    "import static ;",
    "using ;",
    "use {{{{{{;",
    "use crate::{a::{b, c}, d::{e::{f}}};",
    'mod ;\n#[path = "../../../../etc/passwd"]\nmod x;',
    "require(`x`); import('",
    "/* never closed",
    "'''never closed",
    '"""',
    "<?php use A\\{B, C as ; require __DIR__ . ;",
    'package main\nimport (\n "a"\n "b',
    "namespace A { namespace { class",
    "import a.b.{C => , _\npackage object\npackage a {",
    "=begin\nrequire 'x'\n<<~EOS\nautoload :A,\nrequire_relative File.join(__dir__,",
    "fun <T> List<T>.\nval `x\nimport a.b.* as",
]

# ~100-200 kB each: a regex that is quadratic on any of them takes minutes, linear ones < 1 s
PATHOLOGICAL = [
    "import " + "a " * 100_000,
    "import {" * 20_000,
    ("x." * 60_000) + "y",
    ("x." * 60_000) + "Y",
    "#[" * 60_000 + "mod x;",
    "from x import (" * 10_000,
    "use A\\{" * 20_000,
    "delegate " + "a " * 60_000,
    "/" * 150_000,
    "'" * 150_000,
    "`" * 100_000,
    "import a.{" * 20_000,
    "<<~EOS\n" * 20_000,
    "require File.expand_path(" * 20_000,
    "fun <" * 30_000,
    "val " * 40_000,
    "class A {}; val a = 1; " * 8_000,  # many declarations on one line
]


def _repo(text: str) -> tuple[dict[str, str], dict[str, str | None]]:
    files: dict[str, str] = {}
    langs: dict[str, str | None] = {}
    for lang, ext in EXT_OF.items():
        files[f"d/{lang}.{ext}"] = text
        langs[f"d/{lang}.{ext}"] = lang
    files.update(
        {
            "go.mod": text,
            "composer.json": text,
            "tsconfig.json": text,
            "Cargo.toml": text,
            "package.json": text,
        }
    )
    langs.update(dict.fromkeys(["go.mod", "composer.json", "tsconfig.json", "Cargo.toml"]))
    langs["package.json"] = "json"
    return files, langs


def test_every_screened_language_has_a_parser():
    from repoloom.codebase.languages import BY_NAME, SCREENED_BY_DEFAULT
    from repoloom.corpus.config import CorpusConfig

    # the paper's ten dependency-parser languages, screened by default, straight from the table
    assert sorted(SCREENED_BY_DEFAULT) == sorted(
        ["python", "java", "c", "cpp", "c-sharp", "javascript", "typescript", "go", "rust", "php"]
    )
    assert set(SCREENED_BY_DEFAULT) <= PARSED_LANGUAGES
    assert all(BY_NAME[name].grammar for name in SCREENED_BY_DEFAULT)
    assert CorpusConfig().screening.syntax_languages == list(SCREENED_BY_DEFAULT)


@pytest.mark.parametrize("text", NASTY)
def test_nasty_input_never_raises(text):
    files, langs = _repo(text)
    res = parse_dependencies(files, langs)
    assert isinstance(res, DependencyResult)
    assert all(st["errors"] == 0 for st in res.per_language.values()), res.per_language


@pytest.mark.parametrize("text", PATHOLOGICAL, ids=lambda t: repr(t[:12]))
def test_pathological_input_is_fast(text):
    files, langs = _repo(text)
    t0 = time.perf_counter()
    parse_dependencies(files, langs)
    # 11 languages x ~200-600 kB each; quadratic behaviour would take minutes
    assert time.perf_counter() - t0 < 20


def test_huge_file_is_parsed_up_to_the_cap():
    early = "import pkg.early\n"
    late = "import pkg.late\n"
    body = early + ("x = 1\n" * (MAX_PARSE_CHARS // 6 + 10)) + late
    files = {"pkg/__init__.py": "", "pkg/early.py": "", "pkg/late.py": "", "main.py": body}
    langs = dict.fromkeys(files, "python")
    res = parse_dependencies(files, langs)
    assert ("main.py", "pkg/early.py") in res.edges
    assert ("main.py", "pkg/late.py") not in res.edges


def test_unknown_languages_and_missing_entries_are_ignored():
    files = {"a.py": "import b", "b.py": "", "c.txt": "import a", "d.py": "import a"}
    langs = {"a.py": "python", "b.py": "python", "c.txt": None}  # d.py absent from languages
    res = parse_dependencies(files, langs)
    assert res.edges == [("a.py", "b.py")]
    assert res.n_statements == 1 and res.n_resolved == 1


def test_deterministic_under_input_order():
    files = {
        "p/__init__.py": "",
        "p/a.py": "from . import b, c\nimport p.d\n",
        "p/b.py": "from .c import x\n",
        "p/c.py": "from p import a\n",
        "p/d.py": "",
        "inc/x.h": '#include "y.h"\n',
        "inc/y.h": "",
        "src/m.c": '#include "x.h"\n#include <y.h>\n',
        "web/a.ts": "import './b';\n",
        "web/b.ts": "export {} from './a';\n",
    }
    langs = {
        k: {"py": "python", "h": "c", "c": "c", "ts": "typescript"}[k.rsplit(".", 1)[1]]
        for k in files
    }
    ref = parse_dependencies(files, langs)
    assert ref.edges == sorted(set(ref.edges))
    assert all(a != b for a, b in ref.edges)
    keys = list(files)
    for seed in range(5):
        random.Random(seed).shuffle(keys)
        res = parse_dependencies({k: files[k] for k in keys}, {k: langs[k] for k in reversed(keys)})
        assert res == ref
