"""Per-repository file screening: exact in-repository dedup and syntax screening (the quality
rules are `repoloom.corpus.quality`; the pipeline runs both, `pipeline.screen_documents`).

Every rule is a small step in the style of `repoloom.corpus.steps`: it keeps or drops each
document and records the drop (``log.drop(step, reason, doc, detail=...)``), so every removed
file lands in ``removed/`` with its reason. Thresholds live in `ScreeningConfig` (the
``screening`` section of the corpus config); each step can be switched off there.

Syntax: Python files go through ``compile()``; the other nine languages of the dependency parser
(java, c, cpp, c-sharp, javascript, typescript, go, rust, php) through their tree-sitter
grammar; a file is dropped when the bytes under ERROR nodes (plus one byte per MISSING node) are
more than ``syntax_max_error_share`` of the file. A ``c`` file (``.h`` maps to c) that fails the C
grammar passes when the C++ grammar accepts it, since C++ headers are named ``.h`` too.

Quality: auto-generated markers, minified code, comment-line share, longest function, mean
identifier length, duplicated lines, and a pluggable scorer (`QualityScorer`) with one working
scorer shipped (`CompressionScorer`, the zlib compression ratio; a user plugs a classifier or a
small LM's perplexity in through ``screening.scorer: "package.module:factory"``).
"""

from __future__ import annotations

import hashlib
import importlib
import time
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from repoloom.codebase.languages import (
    FUNCTION_NODE_TYPES,
    GRAMMAR_LANGUAGES,
    GRAMMARS,
)
from repoloom.corpus.frontends import FrontEnds
from repoloom.corpus.steps import FileDoc, StepLog, Verdict, filter_step

# Languages screened for syntax, and which grammar parses each (module, function); Python is
# screened with compile(), the others with their tree-sitter grammar (the language table's).
_GRAMMARS: dict[str, tuple[str, str]] = {k: g for k, g in GRAMMARS.items() if k != "python"}
SYNTAX_LANGUAGES = GRAMMAR_LANGUAGES

# Node types that are one function (or method) in each grammar: the longest-function rule.
_FUNCTION_NODES = FUNCTION_NODE_TYPES


@dataclass(frozen=True)
class SyntaxVerdict:
    error_share: float
    error_where: str  # "line L" of the first error, or ""
    # Lines of the longest function/method; 0 when none was found, or when it was not measured
    # because the whole file has no more lines than `function_lines_above` (see syntax_verdict).
    longest_function: int


# ---------------------------------------------------------------------------------------------
# Exact dedup inside one repository


def dedup_repository_files(
    docs: list[FileDoc], log: StepLog, step: str = "file_dedup"
) -> list[FileDoc]:
    """Keep one file per distinct content (the first by path); drop the other copies."""
    started = time.perf_counter()
    kept: list[FileDoc] = []
    first: dict[bytes, str] = {}
    for doc in sorted(docs, key=lambda d: d.path):
        digest = hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).digest()
        if digest in first:
            log.drop(step, "exact-dup-in-repo", doc, detail=f"kept={first[digest]}")
        else:
            first[digest] = doc.path
            kept.append(doc)
    order = {id(d): i for i, d in enumerate(docs)}
    kept.sort(key=lambda d: order[id(d)])  # keep the incoming order of the survivors
    log.count(step, "in", len(docs))
    log.count(step, "out", len(kept))
    log.time(step, time.perf_counter() - started)
    return kept


# ---------------------------------------------------------------------------------------------
# Syntax


@cache
def _parser(name: str):
    import tree_sitter

    module, function = _GRAMMARS[name]
    language = tree_sitter.Language(getattr(importlib.import_module(module), function)())
    error_query = tree_sitter.Query(language, "(ERROR) @error (MISSING) @missing")
    return tree_sitter.Parser(language), error_query


@cache
def _function_query(name: str):
    """A query capturing every function node type the grammar has (matched in C, instead of a
    Python-level walk over every node)."""
    import tree_sitter

    module, function = _GRAMMARS[name]
    language = tree_sitter.Language(getattr(importlib.import_module(module), function)())
    kinds = sorted(k for k in _FUNCTION_NODES if language.id_for_node_kind(k, True))
    if not kinds:
        return None
    return tree_sitter.Query(language, "[" + " ".join(f"({k})" for k in kinds) + "] @function")


def _line_count(text: str) -> int:
    """Lines a node can span at most in this text (tree-sitter rows are 0-based newline counts)."""
    return text.count("\n") + 1


def _grammar_for(doc: FileDoc) -> str:
    if doc.language == "typescript" and doc.path.lower().endswith(".tsx"):
        return "tsx"
    return doc.language or ""


def _tree_sitter_source(doc: FileDoc) -> tuple[str, bytes] | None:
    """The grammar and bytes a tree-sitter parse of ``doc`` takes; None: no grammar screens it."""
    grammar = _grammar_for(doc)
    if grammar not in _GRAMMARS:
        return None
    return grammar, doc.text.encode("utf-8", "surrogatepass")


def _unplaced_bytes(error_nodes, missing_nodes) -> tuple[int, int | None]:
    """(bytes of the tokens tree-sitter could not place, first row holding one).

    A token is unplaced when it is a direct leaf child of an ERROR node (comments aside); a
    MISSING token counts one byte. Subtrees that parsed cleanly inside an ERROR node are not
    counted: where the grammar lacks one construct, error recovery often wraps a whole valid
    file (or a long stretch of it) in one ERROR node whose children are still well-formed
    statements, and only the few tokens around the gap are left over."""
    unplaced, first = 0, None
    for node in error_nodes:
        for child in node.children:
            if child.child_count or child.is_extra or "comment" in child.type:
                continue
            unplaced += child.end_byte - child.start_byte
            row = child.start_point[0]
            first = row if first is None else min(first, row)
    for node in missing_nodes:
        unplaced += 1
        row = node.start_point[0]
        first = row if first is None else min(first, row)
    return unplaced, first


def _code_bytes(data: bytes) -> int:
    """Non-whitespace bytes: the denominator of the error share (indentation is not code)."""
    return len(data) - sum(data.count(c) for c in (b" ", b"\t", b"\n", b"\r"))


def _tree_sitter_verdict(
    grammar: str, data: bytes, measure_functions: bool = True
) -> SyntaxVerdict:
    import tree_sitter

    parser, error_query = _parser(grammar)
    tree = parser.parse(data)
    root = tree.root_node
    longest = _longest_function_query(grammar, root) if measure_functions else 0
    if not root.has_error:
        return SyntaxVerdict(0.0, "", longest)
    captures = tree_sitter.QueryCursor(error_query).captures(root)
    unplaced, first = _unplaced_bytes(captures.get("error", []), captures.get("missing", []))
    if first is None:  # an ERROR node with only subtrees inside: some structure went missing
        rows = [n.start_point[0] for n in captures.get("error", [])]
        first, unplaced = min(rows, default=0), 1
    share = unplaced / max(_code_bytes(data), 1)
    return SyntaxVerdict(min(share, 1.0), f"line {first + 1}", longest)


def _longest_function_query(grammar: str, root) -> int:
    """Lines of the longest function node under `root`, found by a tree-sitter query."""
    import tree_sitter

    query = _function_query(grammar)
    if query is None:
        return 0
    nodes = tree_sitter.QueryCursor(query).captures(root).get("function", [])
    return max((n.end_point[0] - n.start_point[0] + 1 for n in nodes), default=0)


def _longest_function(root) -> int:
    """The same measure by a Python-level walk over every node (the reference the query-based
    `_longest_function_query` is tested against)."""
    longest = 0
    cursor = root.walk()
    visited_children = False
    while True:  # iterative pre-order walk: no recursion limit on deep trees
        if not visited_children:
            node = cursor.node
            if node.type in _FUNCTION_NODES:
                longest = max(longest, node.end_point[0] - node.start_point[0] + 1)
            if cursor.goto_first_child():
                continue
        if cursor.goto_next_sibling():
            visited_children = False
            continue
        if not cursor.goto_parent():
            break
        visited_children = True
    return longest


def _python_verdict(doc: FileDoc, measure_functions: bool = True) -> SyntaxVerdict:
    """`compile()` to bytecode: the parser's and the compiler's checks ('return' outside a
    function, 'async with' outside an async function, ...; 18 files of the benchmark corpus
    parse but do not compile). Without `measure_functions` the source goes straight to bytecode
    (no Python AST objects: 1.6x faster); with it, it is parsed once into an AST, the tree is
    compiled, and functions are measured by walking statements only (expressions hold no def)."""
    import ast

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if not measure_functions:
                compile(doc.text, doc.path, "exec", dont_inherit=True)
                return SyntaxVerdict(0.0, "", 0)
            tree = compile(doc.text, doc.path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
            compile(tree, doc.path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            return SyntaxVerdict(1.0, f"line {exc.lineno}: {exc.msg}", 0)
        except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
            return SyntaxVerdict(1.0, type(exc).__name__, 0)
    longest = 0
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            longest = max(longest, (node.end_lineno or node.lineno) - node.lineno + 1)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
                stack.append(child)
    return SyntaxVerdict(0.0, "", longest)


def syntax_verdict(
    doc: FileDoc, function_lines_above: int = 0, max_error_share: float | None = None
) -> SyntaxVerdict | None:
    """Parse one file; None when its language is not screened.

    Two shortcuts that leave every keep/drop decision unchanged (tests/corpus/test_screening.py
    checks this on real files): the longest function is only measured when the file has more
    lines than `function_lines_above` (a function cannot be longer than its file, so a shorter
    file can never exceed that bound; its ``longest_function`` is 0), and a ``c`` file whose C
    parse already has an error share <= `max_error_share` is not parsed again as C++ unless its
    functions are measured (it is kept either way; only the reported share may be the C one)."""
    measure = _line_count(doc.text) > function_lines_above
    if doc.language == "python":
        return _python_verdict(doc, measure)
    if (source := _tree_sitter_source(doc)) is None:
        return None
    grammar, data = source
    if grammar == "c" and not measure and doc.path.lower().endswith(".h"):
        # Headers are mostly C++ here; the C grammar's error recovery on C++ costs 3x the C++
        # parse. C++ first gives the same verdict: a clean C++ parse means share 0 either way.
        as_cpp = _tree_sitter_verdict("cpp", data, False)
        if as_cpp.error_share == 0:
            return as_cpp
        as_c = _tree_sitter_verdict("c", data, False)
        return as_c if as_c.error_share <= as_cpp.error_share else as_cpp
    verdict = _tree_sitter_verdict(grammar, data, measure)
    passes = max_error_share is not None and verdict.error_share <= max_error_share
    if verdict.error_share > 0 and grammar == "c" and (measure or not passes):
        as_cpp = _tree_sitter_verdict("cpp", data, measure)
        if as_cpp.error_share < verdict.error_share:
            verdict = as_cpp
    return verdict


def reference_syntax_verdict(doc: FileDoc) -> SyntaxVerdict | None:
    """The straightforward algorithm `syntax_verdict` shortcuts: functions always measured by a
    Python-level walk over every node, `c` parsed as C first and every C error retried as C++.
    Kept for the equivalence tests and benchmarks/syntax_speed.py."""
    if doc.language == "python":
        return _python_verdict(doc, True)
    if (source := _tree_sitter_source(doc)) is None:
        return None
    grammar, data = source

    def parse(name: str) -> SyntaxVerdict:
        verdict = _tree_sitter_verdict(name, data, False)
        longest = _longest_function(_parser(name)[0].parse(data).root_node)
        return SyntaxVerdict(verdict.error_share, verdict.error_where, longest)

    verdict = parse(grammar)
    if verdict.error_share > 0 and grammar == "c":
        as_cpp = parse("cpp")
        if as_cpp.error_share < verdict.error_share:
            verdict = as_cpp
    return verdict


# ---------------------------------------------------------------------------------------------
# The steps as the pipeline runs them


@lru_cache(maxsize=4)
def _front_ends(timeout: float):
    return FrontEnds(timeout=timeout)


def screen_syntax(
    docs: list[FileDoc], cfg: Any, log: StepLog, verdicts: dict[str, SyntaxVerdict]
) -> list[FileDoc]:
    """Drop files that do not parse; fills `verdicts` (path -> verdict) for the quality steps.

    With ``syntax_confirm`` a file tree-sitter flags is asked about again with the language's
    own front end where one is installed (repoloom.corpus.frontends): it is dropped when that
    parser rejects it too, kept when it accepts it or cannot judge (a missing header, a
    timeout). Without a front end for its language, tree-sitter's verdict stands."""
    started = time.perf_counter()
    languages = set(cfg.syntax_languages)
    # Functions only need measuring where the longest-function rule could fire.
    function_lines = cfg.max_function_lines if cfg.longest_function else 1 << 62
    flagged: dict[str, SyntaxVerdict] = {}
    for doc in docs:
        if doc.language not in languages:
            continue
        verdict = syntax_verdict(doc, function_lines, cfg.syntax_max_error_share)
        if verdict is None:
            continue
        verdicts[doc.path] = verdict
        log.count("syntax", f"checked:{doc.language}")
        if verdict.error_share > cfg.syntax_max_error_share:
            flagged[doc.path] = verdict
    second: dict[str, tuple[str, str]] = {}
    if flagged and cfg.syntax_confirm:
        front_ends = _front_ends(cfg.syntax_confirm_timeout)
        # Python's verdict is already compile()'s own; the others get a second opinion.
        ask = [
            d
            for d in docs
            if d.path in flagged and d.language != "python" and front_ends.available(d.language)
        ]
        if ask:
            second = front_ends.check(docs, ask)

    def final(doc: FileDoc) -> Verdict:
        verdict = flagged.get(doc.path)
        if verdict is None:
            return None
        detail = f"error share {verdict.error_share:.3f} {verdict.error_where}".strip()
        answer, message = second.get(doc.path, ("", ""))
        if answer in ("accept", "unknown"):
            log.count("syntax", f"overruled:{answer}:{doc.language}")
            return None
        if answer == "reject":
            detail += f"; {message}"
        return f"syntax-error:{doc.language}", detail

    return filter_step("syntax", docs, log, final, started)
