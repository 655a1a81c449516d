"""CrossCodeEval's line metrics against hand-computed values."""

from __future__ import annotations

import pytest

from repoloom.evaluate.crossfile import score_line
from repoloom.evaluate.crossfile.metrics import edit_similarity, extract_identifiers


def test_exact_line_scores_one_everywhere():
    s = score_line("    foo(bar)  \nnext_line()\n", "    foo(bar)", "python")
    assert s == {"em": 1.0, "es": 1.0, "id_em": 1.0, "id_f1": 1.0}


def test_first_non_empty_line_is_scored_and_comments_ignored():
    assert score_line("\n\n   x = load(path)\n", "x = load(path)", "python")["em"] == 1.0
    assert score_line("return x  # the result", "return x", "python")["em"] == 1.0
    assert score_line("call(a); // done", "call(a);", "java")["em"] == 1.0
    # Only the first line counts: a right second line does not rescue a wrong first one.
    assert score_line("wrong()\nx = load(path)", "x = load(path)", "python")["em"] == 0.0


def test_edit_similarity_is_the_rounded_levenshtein_ratio():
    # "abc" -> "abd": InDel distance 2 over 6 characters: 100 * (1 - 2/6) = 66.67 -> 67.
    assert edit_similarity("abc", "abd") == 0.67
    # 10 + 10 characters, one substitution = InDel 2: 100 * (1 - 2/20) = 90.
    assert edit_similarity("x = a.b(c)", "x = a.b(d)") == 0.90
    # "foo(bar)" (8) vs "foo(baz, 1)" (11): common subsequence "foo(ba" + ")" = 7,
    # InDel = 8 + 11 - 2*7 = 5: 100 * (1 - 5/19) = 73.68 -> 74.
    assert edit_similarity("foo(bar)", "foo(baz, 1)") == 0.74
    assert edit_similarity("  same ", "same") == 1.0
    assert edit_similarity("", "x") == 0.0
    s = score_line("value = compute(a)", "value = compute(b)", "python")
    # 18 + 18 characters, InDel 2: 100 * (1 - 2/36) = 94.44 -> 94.
    assert s["em"] == 0.0 and s["es"] == 0.94


def test_identifiers_drop_strings_and_keywords_per_language():
    # CrossCodeEval's Python list is keyword.kwlist without True/False: True is an identifier.
    code = 'self.name = "hello world" + other_var2 if True else None'
    assert extract_identifiers(code, "python") == ["self", "name", "other_var2", "True"]
    # "3d" is one \w+ token that does not start like an identifier; x2 does.
    assert extract_identifiers("int count = list.size(3d, x2);", "java") == [
        "count",
        "list",
        "size",
        "x2",
    ]
    # `var` is not in CrossCodeEval's C# keyword list; `new` is.
    assert extract_identifiers("var x = new Foo('c');", "c-sharp") == ["var", "x", "Foo"]
    assert extract_identifiers("const y = await this.repo.find(id);", "typescript") == [
        "y",
        "await",
        "repo",
        "find",
        "id",
    ]


def test_identifier_em_and_f1():
    s = score_line("foo(bar)", "bar(foo)", "python")
    assert s["id_em"] == 0.0 and s["id_f1"] == 1.0  # same set, other order
    # {a, b, c} vs {a, b, d, e}: tp 2, fp 1, fn 2 -> 2*2 / (4 + 1 + 2) = 4/7.
    s = score_line("a.b(c)", "a.b(d, e)", "python")
    assert s["id_f1"] == pytest.approx(4 / 7)
    assert s["id_em"] == 0.0
    # No identifiers on either side: EM of the lists holds, F1 is 0 as in CrossCodeEval.
    s = score_line("}", "}", "java")
    assert s == {"em": 1.0, "es": 1.0, "id_em": 1.0, "id_f1": 0.0}


def test_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="no keyword list"):
        score_line("x", "x", "cobol")
