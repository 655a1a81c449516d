"""Syntax and quality screening: every rule at its boundary, exact in-repository dedup."""

import dataclasses
import sys
import types

import pytest

from repoloom.corpus.config import ConfigError, CorpusConfig, ScreeningConfig, config_from_dict
from repoloom.corpus.pipeline import screen_documents
from repoloom.corpus.quality import (
    CompressionScorer,
    comment_share,
    duplicated_line_share,
    load_scorer,
    mean_identifier_length,
    whitespace_share,
)
from repoloom.corpus.screening import (
    SYNTAX_LANGUAGES,
    dedup_repository_files,
    reference_syntax_verdict,
    syntax_verdict,
)
from repoloom.corpus.steps import FileDoc, StepLog


def doc(path, text, language):
    return FileDoc(repo="r", path=path, text=text, n_bytes=len(text.encode()), language=language)


def screen(docs, **settings):
    """Run the screening with only the named settings changed; returns (kept paths, log)."""
    config = CorpusConfig()
    config.screening = dataclasses.replace(ScreeningConfig(), **settings)
    log = StepLog()
    kept = screen_documents(list(docs), config, log)
    return [d.path for d in kept], log


OFF = dict(
    generated=False,
    minified=False,
    comment_share=False,
    longest_function=False,
    identifier_length=False,
    duplicated_lines=False,
    scorer="none",
)

VALID = {
    "python": ("a.py", "def f(x):\n    return x + 1\n"),
    "java": ("A.java", "class A { int f(int x) { return x + 1; } }\n"),
    "c": ("a.c", "int f(int x) { return x + 1; }\n"),
    "cpp": ("a.cpp", "template <class T> T f(T x) { return x + 1; }\n"),
    "c-sharp": ("A.cs", "class A { int F(int x) { return x + 1; } }\n"),
    "javascript": ("a.js", "function f(x) { return x + 1; }\n"),
    "typescript": ("a.ts", "function f(x: number): number { return x + 1; }\n"),
    "go": ("a.go", "package a\n\nfunc F(x int) int { return x + 1 }\n"),
    "rust": ("a.rs", "fn f(x: i32) -> i32 { x + 1 }\n"),
    "php": ("a.php", "<?php function f($x) { return $x + 1; }\n"),
    "kotlin": (
        "A.kt",
        "package a\n\nfun f(x: Int): Int = x + 1\n\nclass A {\n    val y = f(1)\n}\n",
    ),
    "ruby": ("a.rb", "module A\n  def self.f(x)\n    x + 1\n  end\nend\n"),
    "scala": ("A.scala", "package a\n\nobject A {\n  def f(x: Int): Int = x + 1\n}\n"),
}
BROKEN = {
    "python": "def f(x:\n    return x +\n",
    "java": "class A { int f(int x) { return x + ; }\n",
    "c": "int f(int x) { return x + ; \n",
    "cpp": "template <class T> T f(T x) { return x + ; \n",
    "c-sharp": "class A { int F(int x) { return x + ; }\n",
    "javascript": "function f(x) { return x + ; \n",
    "typescript": "function f(x: number): number { return x + ; \n",
    "go": "package a\n\nfunc F(x int) int { return x + \n",
    "rust": "fn f(x: i32) -> i32 { x + \n",
    "php": "<?php function f($x) { return $x + ; \n",
    "kotlin": "package a\n\nfun f(x: Int): Int { return x + ; \n",
    "ruby": "module A\n  def self.f(x\n    x + \n  end\n",
    "scala": "package a\n\nobject A {\n  def f(x: Int): Int = x + \n",
}


@pytest.mark.parametrize("language", sorted(SYNTAX_LANGUAGES))
def test_syntax_screening_for_each_language(language):
    path, text = VALID[language]
    good = doc(path, text, language)
    bad = doc("broken_" + path, BROKEN[language], language)
    assert syntax_verdict(good).error_share == 0.0
    assert syntax_verdict(bad).error_share > 0.0
    # Kotlin, Ruby and Scala are screened when the config names them (not by default).
    kept, log = screen([good, bad], **OFF, syntax_max_error_share=0.0, syntax_languages=[language])
    assert kept == [path]
    assert log.removed[0].reason == f"syntax-error:{language}"
    assert log.counts["syntax"][f"checked:{language}"] == 2


def test_syntax_error_share_boundary():
    bad = doc("b.java", "class A { int f() { return 1; } }\n" * 20 + "int = ;\n", "java")
    share = syntax_verdict(bad).error_share
    assert 0 < share < 0.2
    assert screen([bad], **OFF, syntax_max_error_share=share)[0] == ["b.java"]  # == is kept
    assert screen([bad], **OFF, syntax_max_error_share=share * 0.99)[0] == []


def test_cpp_header_named_dot_h_passes_as_c():
    header = doc("v.h", "namespace n { class V { public: int x() const { return 1; } }; }\n", "c")
    assert syntax_verdict(header).error_share == 0.0


def test_python_syntax_uses_compile_and_reports_the_line():
    verdict = syntax_verdict(doc("x.py", "x = 1\nprint 'py2'\n", "python"))
    assert verdict.error_share == 1.0 and verdict.error_where.startswith("line 2")
    # compile() catches what the parser alone accepts
    assert syntax_verdict(doc("y.py", "return 5\n", "python")).error_share == 1.0
    assert syntax_verdict(doc("z.py", "x = 'a\x00b'\n", "python")).error_share in (0.0, 1.0)


def test_syntax_screening_switch_and_unscreened_languages():
    bad = doc("a.py", BROKEN["python"], "python")
    assert screen([bad], **OFF, syntax=False)[0] == ["a.py"]
    ruby = doc("a.rb", "def f(\n", "ruby")
    assert screen([ruby], **OFF)[0] == ["a.rb"]


def test_generated_marker_window_boundary():
    marker = "// Code generated by protoc-gen-go. DO NOT EDIT.\n"
    body = "package p\n\nfunc F() int { return 1 }\n"
    at_start = doc("a.go", marker + body, "go")
    kept, log = screen([at_start], **{**OFF, "generated": True})
    assert kept == [] and log.removed[0].reason == "auto-generated"
    late = doc("b.go", "// x\n" * 40 + marker + body, "go")  # marker starts at char 200
    assert screen([late], **{**OFF, "generated": True}, generated_window=200)[0] == ["b.go"]
    assert screen([late], **{**OFF, "generated": True}, generated_window=230)[0] == []


def test_generated_markers_in_prose_or_after_code_are_not_generated():
    on = {**OFF, "generated": True}
    docstring = doc("n.py", '"""AST nodes generated by the parser."""\nX = 1\n', "python")
    version = doc("v.py", '__version__ = "2.0.1"  # DO NOT EDIT THIS LINE MANUALLY\n', "python")
    scm = doc("s.py", "# file generated by setuptools_scm\nversion = '1'\n", "python")
    tables = doc("t.py", '"""Lexer data.\n\nThis file is autogenerated by x.py\n"""\n', "python")
    assert screen([docstring, version, scm, tables], **on)[0] == ["n.py", "v.py"]


def test_minified_whitespace_boundary_and_name():
    code = "var a=1;" * 200 + "\n" + "function f(x){return x+1}\n" * 5
    share = whitespace_share(code)
    minified = doc("m.js", code, "javascript")
    on = {**OFF, "minified": True}
    assert screen([minified], **on, minified_max_whitespace_share=share)[0] == ["m.js"]
    assert screen([minified], **on, minified_max_whitespace_share=share + 1e-6)[0] == []
    assert screen([minified], **on, minified_min_chars=len(code) + 1)[0] == ["m.js"]
    named = doc("lib/jquery.min.js", "function f(x) { return x + 1; }\n", "javascript")
    assert screen([named], **on)[0] == []


def test_comment_share_boundaries():
    text = "# comment\n" * 9 + "x = 1\n"  # 10 lines, 90% comments
    assert comment_share(text, "python") == pytest.approx(0.9)
    assert comment_share("// a\n/* b\n * c\n */\nint x;\n", "c") == pytest.approx(0.8)
    on = {**OFF, "comment_share": True}
    python = doc("c.py", text, "python")
    assert screen([python], **on, max_comment_share=0.9)[0] == ["c.py"]
    kept, log = screen([python], **on, max_comment_share=0.89)
    assert kept == [] and log.removed[0].reason == "too-many-comments"
    assert screen([python], **on, min_comment_share=0.91)[0] == []
    assert screen([python], **on, max_comment_share=0.5, comment_min_lines=11)[0] == ["c.py"]


def test_longest_function_boundary():
    body = "".join(f"    y{i} = {i}\n" for i in range(48))
    text = "def f():\n" + body + "    return 0\n"  # a 50-line function
    python = doc("f.py", text, "python")
    on = {**OFF, "longest_function": True}
    assert screen([python], **on, max_function_lines=50)[0] == ["f.py"]
    kept, log = screen([python], **on, max_function_lines=49)
    assert kept == [] and log.removed[0].detail == "50 lines"
    java = doc("F.java", "class F {\n void f() {\n" + "  int a = 1;\n" * 7 + " }\n}\n", "java")
    assert screen([java], **on, max_function_lines=9)[0] == ["F.java"]
    assert screen([java], **on, max_function_lines=8)[0] == []
    # longest function works with syntax screening off too
    assert screen([java], **on, syntax=False, max_function_lines=8)[0] == []


def test_identifier_length_boundaries():
    text = "a = bb + ccc\n"  # identifiers of 1, 2, 3 characters: mean 2.0
    assert mean_identifier_length(text) == 2.0
    python = doc("i.py", text, "python")
    on = {**OFF, "identifier_length": True}
    assert screen([python], **on, min_mean_identifier_length=2.0)[0] == ["i.py"]
    assert screen([python], **on, min_mean_identifier_length=2.01)[0] == []
    assert screen([python], **on, max_mean_identifier_length=2.0)[0] == ["i.py"]
    kept, log = screen([python], **on, max_mean_identifier_length=1.99)
    assert kept == [] and log.removed[0].reason == "long-identifiers"


def test_duplicated_lines_boundaries():
    lines = [f"value_{i} = compute({i})" for i in range(10)] + ["value_0 = compute(0)"] * 10
    text = "\n".join(lines) + "\n"
    assert duplicated_line_share(text, 10) == (0.5, 20)
    python = doc("d.py", text, "python")
    on = {**OFF, "duplicated_lines": True}
    assert screen([python], **on, max_duplicated_line_share=0.5)[0] == ["d.py"]
    assert screen([python], **on, max_duplicated_line_share=0.49)[0] == []
    assert screen([python], **on, max_duplicated_line_share=0.49, duplicate_min_lines=21)[0] == [
        "d.py"
    ]
    # short lines ("}" / "end") are not counted
    assert duplicated_line_share("}\n" * 50, 10) == (0.0, 0)


def test_compression_scorer_range_and_pluggable_scorers(monkeypatch):
    repetitive = doc("r.py", "x = 1\n" * 500, "python")
    score = CompressionScorer().score(repetitive)
    assert score < 0.05
    on = {**OFF, "scorer": "compression", "scorer_min_chars": 100}
    assert screen([repetitive], **on, scorer_min=score)[0] == ["r.py"]
    kept, log = screen([repetitive], **on, scorer_min=score + 1e-6)
    assert kept == [] and log.removed[0].reason == "score:compression"

    module = types.ModuleType("my_scorers")

    class Length:
        name = "length"

        def score(self, d):
            return float(len(d.text))

    module.make = Length
    monkeypatch.setitem(sys.modules, "my_scorers", module)
    scorer = load_scorer("my_scorers:make")
    assert scorer.score(repetitive) == 3000.0
    kept, log = screen(
        [repetitive], **{**OFF, "scorer": "my_scorers:make"}, scorer_min=0, scorer_max=2999
    )
    assert kept == [] and log.removed[0].reason == "score:length"
    with pytest.raises(ValueError, match="module:factory"):
        load_scorer("nocolon")


def test_exact_in_repository_dedup_keeps_the_first_path():
    docs = [
        doc("b/x.py", "same = 1\n", "python"),
        doc("a/x.py", "same = 1\n", "python"),
        doc("c.py", "other = 2\n", "python"),
    ]
    log = StepLog()
    kept = dedup_repository_files(docs, log)
    assert [d.path for d in kept] == ["a/x.py", "c.py"]  # survivors keep their incoming order
    assert log.removed[0].path == "b/x.py" and log.removed[0].detail == "kept=a/x.py"
    assert log.counts["file_dedup"] == {"dropped:exact-dup-in-repo": 1, "in": 3, "out": 2}


def test_screening_config_is_validated():
    with pytest.raises(ConfigError, match="screening.max_comment_share"):
        config_from_dict({"screening": {"max_comment_share": 1.5}})
    with pytest.raises(ConfigError, match="screening.syntax: expected true or false"):
        config_from_dict({"screening": {"syntax": "yes"}})


# ---------------------------------------------------------------------------------------------
# The fast syntax path (function lengths measured only where the rule can fire, a tree-sitter
# query instead of a Python walk, C++ first for .h) must give the same decisions as the full one.


def decision(verdict, max_share, max_lines):
    if verdict.error_share > max_share:
        return ("syntax", f"{verdict.error_share:.3f} {verdict.error_where}")
    if verdict.longest_function > max_lines:
        return ("long-function", verdict.longest_function)
    return "keep"


def assert_same_decisions(docs, max_lines):
    checked = 0
    for d in docs:
        fast = syntax_verdict(d, max_lines, 0.05)
        if fast is None:
            continue
        slow = reference_syntax_verdict(d)
        assert decision(fast, 0.05, max_lines) == decision(slow, 0.05, max_lines), d.path
        if d.text.count("\n") + 1 > max_lines:  # measured: the query finds the same functions
            assert fast.longest_function == slow.longest_function, d.path
        checked += 1
    return checked


def test_fast_syntax_path_measures_functions_only_where_the_rule_can_fire():
    body = "    x = 1\n" * 30
    text = "def f():\n" + body + "\n\ndef g():\n" + body * 2
    python = doc("f.py", text, "python")
    assert syntax_verdict(python).longest_function == 61
    assert syntax_verdict(python, function_lines_above=text.count("\n") + 1).longest_function == 0
    assert syntax_verdict(python, function_lines_above=text.count("\n")).longest_function == 61
    js = doc(
        "f.js", "function f() {\n" + "  g();\n" * 20 + "}\nconst h = () => {\n};\n", "javascript"
    )
    assert syntax_verdict(js, 5).longest_function == 22
    assert syntax_verdict(js, 100).longest_function == 0
    # C++ first for headers: the same share and error line as C first when both have errors
    header = doc("h.h", "namespace n { class V { int x() { return +; } }; }\nint = ;\n", "c")
    assert syntax_verdict(header, 10**9) == dataclasses.replace(
        reference_syntax_verdict(header), longest_function=0
    )


def test_fast_syntax_path_keeps_the_decisions_on_real_files():
    """Real files available offline: this Python's standard library and the system C headers,
    at a function bound low enough that both paths (measured and not) run."""
    import random
    import sysconfig
    from pathlib import Path

    stdlib = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    headers = sorted(Path("/usr/include").glob("*.h"))
    rng = random.Random(0)
    files = rng.sample(stdlib, min(60, len(stdlib))) + rng.sample(headers, min(40, len(headers)))
    docs = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        docs.append(doc(path.name, text, "python" if path.suffix == ".py" else "c"))
    docs.append(doc("bad.py", "def f():\n    pass\nreturn 1\n", "python"))  # compile-only error
    assert assert_same_decisions(docs, max_lines=200) >= 50


# ---------------------------------------------------------------------------------------------
# Issue 13: an error confined to one region, the language's own front end, markers in prose

# A valid C# class whose `#if` splits a method header: tree-sitter's recovery wraps the whole
# file in one ERROR node (the old span measure read 100% error), but only the `#else` /
# `#endif` tokens are left unplaced.
_METHODS = "".join(
    f"        public int M{i}(int x)\n        {{\n            return x + {i};\n        }}\n\n"
    for i in range(12)
)
WRAPPED_CSHARP = (
    "namespace N\n{\n    public class A\n    {\n"
    + _METHODS
    + "#if X\n        protected A()\n#else\n        [SetUp]\n        protected void Setup()\n"
    + "#endif\n        {\n            Run();\n        }\n"
    + _METHODS.replace("M", "K")
    + "    }\n\n    public static class B\n    {\n"
    + _METHODS.replace("M", "L")
    + "    }\n}\n"
)
# The minimal case of issue 13: tsc accepts it; tree-sitter-typescript 0.23 reads the call
# signature after `: T` as a generic type and loses the rest of the file.
ISSUE_TS = """export interface ActionFactory {
    <T extends Function>(fn: T): T
    <T extends Function>(name: string, fn: T): T
    bound: number
}
export function makeFactory(): ActionFactory { const r = function a(x: any, y?: any): any { \
return y === undefined ? x : y } as any; r.bound = 1; return r }
"""


def test_an_error_confined_to_one_region_does_not_condemn_the_file():
    import tree_sitter

    from repoloom.corpus.screening import _parser

    parser, _ = _parser("c-sharp")
    root = parser.parse(WRAPPED_CSHARP.encode()).root_node
    assert root.children[0].type == "ERROR"  # the whole file under one ERROR node
    assert root.children[0].end_byte >= len(WRAPPED_CSHARP.encode()) - 2
    verdict = syntax_verdict(doc("A.cs", WRAPPED_CSHARP, "c-sharp"))
    assert 0 < verdict.error_share < 0.05
    assert screen([doc("A.cs", WRAPPED_CSHARP, "c-sharp")], **OFF, syntax_confirm=False)[0] == [
        "A.cs"
    ]
    # errors all over the file still condemn it, with no second opinion asked
    broken = "".join(f"int f{i}(int x) {{ return x + ; }}\nint = ;\n" for i in range(20))
    assert syntax_verdict(doc("b.c", broken, "c")).error_share > 0.05
    assert screen([doc("b.c", broken, "c")], **OFF, syntax_confirm=False)[0] == []
    assert tree_sitter  # imported above for the grammar objects


def test_front_end_overrules_tree_sitter_on_the_issue_typescript_case():
    from repoloom.corpus.frontends import FrontEnds

    ts = doc("action.ts", ISSUE_TS, "typescript")
    assert syntax_verdict(ts).error_share > 0.05  # tree-sitter alone flags it
    kept, log = screen([ts], **OFF, syntax_confirm=False)
    assert kept == [] and log.removed[0].reason == "syntax-error:typescript"
    if not FrontEnds().available("typescript"):
        pytest.skip("node with a typescript module is not installed")
    kept, log = screen([ts], **OFF)
    assert kept == ["action.ts"]
    assert log.counts["syntax"]["overruled:accept:typescript"] == 1
    broken = doc("b.ts", "export function f(x: number { return x +; \n" * 3, "typescript")
    kept, log = screen([broken], **OFF)
    assert kept == [] and "line 1" in log.removed[0].detail  # rejected by both


@pytest.mark.parametrize("language", sorted(SYNTAX_LANGUAGES))
def test_front_ends_accept_valid_and_reject_broken_files(language, tmp_path):
    from repoloom.corpus.frontends import FrontEnds

    front_ends = FrontEnds(cache_dir=tmp_path)
    if not front_ends.available(language):
        pytest.skip(f"no front end for {language} installed")
    path, text = VALID[language]
    good, bad = doc(path, text, language), doc("broken_" + path, BROKEN[language], language)
    verdicts = front_ends.check([good, bad], [good, bad])
    assert verdicts[path][0] == "accept", verdicts[path]
    assert verdicts["broken_" + path][0] == "reject", verdicts["broken_" + path]


def test_c_front_end_missing_header_is_no_verdict(tmp_path):
    from repoloom.corpus.frontends import FrontEnds

    front_ends = FrontEnds(cache_dir=tmp_path)
    if not front_ends.available("cpp"):
        pytest.skip("g++ not installed")
    uses = doc("src/a.cpp", '#include "b.h"\nint f() { return B; }\n', "cpp")
    header = doc("include/b.h", "#define B 2\n", "c")
    alone = front_ends.check([uses], [uses])
    assert alone["src/a.cpp"][0] == "unknown" and "no verdict" in alone["src/a.cpp"][1]
    with_headers = front_ends.check([uses, header], [uses])  # include/ is on the -I path
    assert with_headers["src/a.cpp"][0] == "accept"


def test_generated_markers_only_in_comments_and_headers():
    from repoloom.corpus.quality import generated_marker

    assert (
        generated_marker("# Notes\n\nSome auto-generated notes on releases.\n", "markdown", 999)
        is None
    )
    assert generated_marker("<!-- auto-generated by tool -->\n# T\n", "markdown", 999)
    assert generated_marker("Generated by Sphinx\n===\n", "restructuredtext", 999) is None
    c_header = "/*\n * This file was automatically generated by gen.py\n */\nint x;\n"
    assert generated_marker(c_header, "c", 999).lower() == "this file was automatically generated"
    code = 'MESSAGE = "this value is auto-generated"\nx = 1\n'
    assert generated_marker(code, "python", 999) is None
    late_comment = "x = 1\n# Code generated by protoc. DO NOT EDIT.\n"
    assert generated_marker(late_comment, "python", 999) == "generated by"
    trailing = 'var fp = require("./x"); // This file is generated automatically by fp.ts\n'
    assert generated_marker(trailing, "javascript", 999) == "This file is generated"


def test_include_lists_are_not_minified():
    """Little whitespace but short lines (an umbrella header): not minified code (issue 13)."""
    includes = "".join(f'#include "asio/detail/part_{i:03d}_impl.hpp"\n' for i in range(60))
    assert whitespace_share(includes) < 0.08
    on = {**OFF, "minified": True}
    assert screen([doc("asio.hpp", includes, "cpp")], **on)[0] == ["asio.hpp"]
    packed = "a=b+1;" * 500 + "\n"  # one 3,000-character line, no whitespace
    assert screen([doc("b.js", packed, "javascript")], **on)[0] == []


def test_gcc_errors_about_names_declared_elsewhere_are_no_verdict():
    from repoloom.corpus.frontends import c_verdict

    assert c_verdict("a.c", "a.c:1:9: error: expected ';' before '}' token")[0] == "reject"
    assert c_verdict("a.c", "a.c:2:4: error: expected ')' before 'GOPKGPATH'")[0] == "unknown"
    assert c_verdict("a.cc", "a.cc:3:1: error: 'EIGEN_DEVICE_FUNC' does not name a type")[0] == (
        "unknown"
    )
    assert c_verdict("a.h", "a.h:1:9: error: expected ';' before '}' token")[0] == "unknown"
