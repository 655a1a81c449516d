"""Rule filters at their exact thresholds (PAPER_NOTES section 1), decoding and language id."""

import pytest

from repoloom.codebase.languages import LANGUAGES, identify_language
from repoloom.codebase.sources import RawFile
from repoloom.corpus.config import CorpusConfig, FilterConfig
from repoloom.corpus.steps import (
    FileDoc,
    StepLog,
    alpha_fraction,
    apply_rule_filters,
    decode_files,
    identify_languages,
    rule_alpha_fraction,
    rule_avg_line_length,
    rule_data_file_size,
    rule_html_visible_text,
    rule_max_line_length,
    rule_xml_header,
    visible_text_length,
)

CFG = FilterConfig()


def doc(text, language="python", path="a.py"):
    return FileDoc(repo="r", path=path, text=text, n_bytes=len(text.encode()), language=language)


def test_avg_line_length_boundary():
    # two lines of 100 letters: average exactly 100 is kept; 101 is dropped
    assert rule_avg_line_length(doc("a" * 100 + "\n" + "b" * 100), CFG) is None
    assert rule_avg_line_length(doc("a" * 101 + "\n" + "b" * 101), CFG) == "avg-line-length"
    assert (
        rule_avg_line_length(doc("a" * 102 + "\n" + "b" * 100), CFG) == "avg-line-length"
    )  # mean 101


def test_max_line_length_boundary():
    short = "x = 1\n" * 50
    assert rule_max_line_length(doc(short + "a" * 1000), CFG) is None
    assert rule_max_line_length(doc(short + "a" * 1001), CFG) == "max-line-length"


def test_alpha_fraction_boundary():
    assert rule_alpha_fraction(doc("ab" + "12" * 3), CFG) is None  # 2/8 = 0.25 kept
    assert rule_alpha_fraction(doc("a" + "1" * 4), CFG) == "alpha-fraction"  # 0.2 dropped
    assert alpha_fraction("héllo 12") == pytest.approx(5 / 8)  # non-ASCII letters count
    assert alpha_fraction("") == 0.0


def test_xml_header_in_first_100_chars_except_xslt():
    header = '<?xml version="1.0"?>\n<root/>'
    assert rule_xml_header(doc(header, "html", "a.html"), CFG) == "xml-header"
    assert rule_xml_header(doc(" " * 86 + header, "html"), CFG) == "xml-header"  # ends at char 100
    assert rule_xml_header(doc(" " * 87 + header, "html"), CFG) is None  # window ends mid-string
    assert rule_xml_header(doc(header, "xslt", "a.xsl"), CFG) is None


def test_html_visible_text_thresholds():
    text = "w" * 100
    page = f"<html><body><p>{text}</p></body></html>"
    assert visible_text_length(page) == 100
    assert rule_html_visible_text(doc(page, "html"), CFG) is None  # 100 chars, 100/139 >= 20%
    short = f"<html><body><p>{'w' * 99}</p></body></html>"
    assert rule_html_visible_text(doc(short, "html"), CFG) == "html-visible-text"
    # 100 visible characters inside 500 characters of markup is exactly 20%: kept
    padded = f"<p>{text}</p><script>{'x' * (500 - 7 - 100 - 17)}</script>"
    assert len(padded) == 500
    assert rule_html_visible_text(doc(padded, "html"), CFG) is None
    assert rule_html_visible_text(doc(padded + " ", "html"), CFG) == "html-visible-text"
    assert rule_html_visible_text(doc("<b>" * 5, "python"), CFG) is None  # HTML only


def test_json_yaml_size_window():
    for language in ("json", "yaml"):
        assert rule_data_file_size(doc("a" * 49, language), CFG) == "data-file-size"
        assert rule_data_file_size(doc("a" * 50, language), CFG) is None
        assert rule_data_file_size(doc("a" * 5000, language), CFG) is None
        assert rule_data_file_size(doc("a" * 5001, language), CFG) == "data-file-size"
    assert rule_data_file_size(doc("a" * 10, "python"), CFG) is None


def test_filters_count_every_drop_with_its_rule():
    docs = [doc("value = 1\n" * 3), doc("1" * 50, path="b.py"), doc("   \n", path="c.py")]
    log = StepLog()
    kept = apply_rule_filters(docs, CorpusConfig(), log)
    assert [d.path for d in kept] == ["a.py"]
    assert {(r.path, r.reason) for r in log.removed} == {
        ("b.py", "alpha-fraction"),
        ("c.py", "empty"),
    }
    assert log.counts["empty"] == {"in": 3, "out": 2, "dropped:empty": 1}


def test_decode_counts_binary_invalid_utf8_and_read_skips():
    raws = [
        RawFile("ok.py", 6, b"x = 1\n"),
        RawFile("bom.py", 9, b"\xef\xbb\xbfx = 1\n"),
        RawFile("img.png", 8, b"\x89PNG\x00\x00\x01\x02"),
        RawFile("latin1.c", 6, "caf\xe9;\n".encode("latin-1")),
        RawFile("big.py", 10**8, None, skip_reason="too-large"),
    ]
    log = StepLog()
    docs = decode_files("r", raws, CorpusConfig(), log)
    assert [(d.path, d.text) for d in docs] == [("ok.py", "x = 1\n"), ("bom.py", "x = 1\n")]
    assert {r.path: r.reason for r in log.removed} == {
        "img.png": "binary",
        "latin1.c": "invalid-utf8",
        "big.py": "too-large",
    }
    assert log.counts["read"]["in"] == 5 and log.counts["read"]["out"] == 2


@pytest.mark.parametrize(
    "path,head,language",
    [
        ("src/x.py", b"", "python"),
        ("types/index.d.ts", b"", "typescript"),
        ("a/Makefile", b"", "makefile"),
        ("Dockerfile", b"", "dockerfile"),
        ("CMakeLists.txt", b"", "cmake"),
        ("lib/foo.h", b"", "c"),
        ("lib/foo.hpp", b"", "cpp"),
        ("Foo.cs", b"", "c-sharp"),
        ("bin/tool", b"#!/usr/bin/env python3\nprint(1)\n", "python"),
        ("bin/run", b"#!/bin/bash\n", "shell"),
        ("bin/x", b"#!/usr/bin/env -S node --flag\n", None),
        ("README", b"hello", None),
        ("data.bin", b"", None),
        ("style.xsl", b"", "xslt"),
        ("nb.ipynb", b"", "jupyter-notebook"),
    ],
)
def test_language_identification(path, head, language):
    assert identify_language(path, head) == language


def test_every_release_language_is_reachable():
    assert len(LANGUAGES) == 89
    from repoloom.codebase.languages import EXTENSIONS

    for language in LANGUAGES:
        ext = EXTENSIONS[language][0]
        assert identify_language("x" + ext) == language, language


def test_unknown_language_files_are_counted_not_guessed():
    log = StepLog()
    kept = identify_languages(
        [doc("hello", None, "NOTES"), doc("x=1", None, "a.py")], CorpusConfig(), log
    )
    assert [d.language for d in kept] == ["python"]
    assert log.removed[0].reason == "unknown-language"
    assert log.counts["language"]["lang:python"] == 1
