"""Decontamination's context rule and the false hits it removes (issue 13 item 3)."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from repoloom.corpus import decontam
from repoloom.corpus.config import DecontamConfig
from repoloom.corpus.decontam import get_index
from repoloom.corpus.decontam_context import ContextRule, common_in_context
from repoloom.corpus.minhash import ngram_hashes
from tests.corpus.test_decontam import SHARED, plant


def string(text: str, rare_words: set[str], prose: bool = False):
    tokens = decontam.code_tokens(text)
    rare = np.array([tokens.text(i) in rare_words for i in range(len(tokens))], dtype=bool)
    return tokens.hashes, tokens.has_letter(), rare, prose


def mgrams(background: str, m: int) -> np.ndarray:
    return np.unique(ngram_hashes(decontam.code_tokens(background).hashes, m))


def words(*names: str) -> np.ndarray:
    return np.sort(decontam.code_tokens(" ".join(names)).hashes)


def window(text: str, first: int, n: int = 10) -> int:
    return int(ngram_hashes(decontam.code_tokens(text).hashes, n)[first])


def test_a_rare_word_inside_a_background_phrase_is_common_in_context():
    code = 'text = "The quick brown fox jumps over the lazy dog"'
    pangram = string(code, {"quick", "brown", "fox", "jumps", "lazy"})
    background = {5: mgrams("# The quick brown fox jumps over the lazy dog.", 5)}
    none = np.zeros(0, np.uint64)
    common = common_in_context([pangram], background, none, none)
    assert window(code, 0) in common  # `text = " The quick brown fox jumps over the`
    assert len(common_in_context([pangram], {5: none}, none, none)) == 0  # not in the background
    # a strong rare word needs 5 tokens of context: the phrase's 4-grams do not explain it
    assert len(common_in_context([pangram], {4: mgrams(code, 4)}, none, none)) == 0

    # a weak word (seen in >= weak_min_files background files) needs 3 tokens in prose, 4 in code
    math = "the roots of $ax^2 + bx + c$ are real"
    roots = words("roots")
    three = {3: mgrams("the roots of", 3), 4: none, 5: none}
    assert window(math, 0) in common_in_context([string(math, {"roots"}, True)], three, roots, none)
    assert len(common_in_context([string(math, {"roots"}, False)], three, roots, none)) == 0
    assert len(common_in_context([string(math, {"roots"}, True)], three, none, none)) == 0
    assert ContextRule() == ContextRule(weak_min_files=20, weak_prose=3, weak_code=4, strong=5)


def test_one_identifier_called_with_numbers_is_common_in_code_only():
    test = "[Pair(1, 2), Pair(3, 4), Pair(5, 6), Pair(7, 8)]"
    pair = words("Pair")
    none = np.zeros(0, np.uint64)
    found = common_in_context([string(test, {"Pair"})], {5: none}, none, pair)
    assert len(found) == len(ngram_hashes(decontam.code_tokens(test).hashes, 10))
    assert len(common_in_context([string(test, {"Pair"}, True)], {5: none}, none, pair)) == 0
    assert len(common_in_context([string(test, {"Pair"})], {5: none}, none, none)) == 0
    # two identifiers: a function's own name with its test data stays specific
    call = "assert max_chain_length([Pair(5, 24), Pair(15, 25)], 4) == 3"
    rare = {"max_chain_length", "Pair"}
    specific = common_in_context([string(call, rare)], {5: none}, none, pair)
    assert window(call, 0) not in specific


def test_display_math_words_are_plain():
    text = "Fibonacci numbers \\[ F_n = F_{n-1} + F_{n-2}\\] for every integer"
    tokens = decontam.code_tokens(text)
    _, (letters,), (plain,) = decontam.code_tokens_many([text])
    flags = {tokens.text(i): bool(plain[i]) for i in range(len(tokens)) if letters[i]}
    assert flags == {
        "Fibonacci": False, "numbers": False, "F_n": True, "F_": True, "n": True, "for": False,
        "every": False, "integer": False,
    }  # fmt: skip


def test_packaged_list_holds_the_context_rule():
    _, _, meta = decontam.common_code()
    assert meta["context_ngram"] == 10 and len(meta["context_hashes"]) == meta["context_count"]
    assert meta["cutoff"]["context"]["weak_min_files"] == ContextRule().weak_min_files
    assert np.all(np.diff(meta["context_hashes"].astype(np.uint64)) > 0)


# The false hits on the `benchmark` manifest corpus before the context rule (BENCHMARKS.md): lines
# of Django, googletest and sympy, and the task each hit.
FALSE_HITS = {
    "mbpp:MBPP/607": 'a = Article(name="Test", text="The quick brown fox jumps over the lazy dog.")\n'
    "a.save()\n",
    "mbpp:MBPP/601": "WhenSorted(ElementsAre(Pair(1, 1), Pair(1, 2), Pair(2, 3),\n"
    "                      Pair(3, 4), Pair(5, 5), Pair(8, 6))));\n",
    "humaneval:HumanEval_107_even_odd_palindrome": "  Action<long(long, int)> a = "
    "Invoke(plus<long>());  // NOLINT\n  EXPECT_EQ(3L, a.Perform(std::make_tuple(1, 2)));\n}\n",
    "math:MATH/40": "example, finding the roots of $ax^2 + bx + c$ for $x$ yields $x =\n"
    "\\frac{-b\\pm\\sqrt{b^2 - 4ac}}{2a}$.\n",
    "math:MATH/91": "| [ Find the roots of a polynomial ](find-roots-polynomial.md) | $ ax^2 + bx + c"
    " = 0 $ | $ x = \\frac{-b\\pm\\sqrt{b^2 - 4ac}}{2a} $ |\n",
    "math:MATH/3355": '    r"""Computes greatest common divisor of two integers.\n\n    and  $0 \\le r'
    " < b$. Then each common divisor of  $a$  and  $b$\n    divides $r$.\n",
    "math:MATH/2691": "    relation `F_n = F_{n-1} + F_{n-2}`.  This definition\n",
    "mbpp:MBPP/39": "        return ''.join(ans) + ')' * parenthesis_count\n",
}


@pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/benchmarks (local benchmark copy) absent"
)
def test_false_hits_on_real_projects_are_gone_and_their_tasks_still_found():
    index = get_index(DecontamConfig(benchmarks_dir=str(SHARED), hub=False))
    hits = {task: index.scan(text) for task, text in FALSE_HITS.items()}
    assert {task: hit.ngram for task, hit in hits.items() if hit is not None} == {}
    # while a copy of each of those tasks (all its strings) is still found
    rng = random.Random(5)
    for key in FALSE_HITS:
        benchmark, task_id = key.split(":", 1)
        rows, _ = decontam.benchmark_rows(benchmark, Path(SHARED), hub=False)
        texts = [text for tid, _, text in rows if tid == task_id]
        assert texts, key
        assert index.scan(plant("\n\n".join(texts), rng)) is not None, key


@pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/benchmarks (local benchmark copy) absent"
)
def test_issue_false_hits_are_gone_with_all_benchmarks():
    index = get_index(DecontamConfig(benchmarks_dir=str(SHARED), hub=False))
    ordinary = {
        "vs header": "using System;\nusing System.Collections.Generic;\nusing System.Linq;\n"
        "using System.Text;\nusing System.Threading.Tasks;\n\nnamespace App\n{\n"
        "    internal class Program\n    {\n        static void Main(string[] args)\n"
        "        {\n        }\n    }\n}\n",
        "java header": "import java.util.*;\nimport java.lang.reflect.*;\nimport java.io.*;\n"
        "import java.util.stream.*;\n\npublic class Main {\n}\n",
        "c++ header": "#include <assert.h>\n#include <bits/stdc++.h>\n#include <vector>\n"
        "#include <string>\nint main() { return 0; }\n",
        "hex comment": "// digits: 1 2 3 4 5 6 7 8 9 A B C D E F\nconst H = 16;\n",
        "letters": "ALPHABET = 'a b c d e f g h i j k l m n o p q r s t u v w x y z'.split()\n",
        "zeros": "x = [0, 0, 0, 0, 0, 0, 0, 0, 0]\nassert x == [0] * 9\n",
        "double loop": "for i in range(m):\n    for j in range(m):\n        a[i][j] = 0\n",
        "sub": "def sub(x, y):\n    return x - y\n",
    }
    hits = {name: index.scan(text) for name, text in ordinary.items()}
    assert {name: hit for name, hit in hits.items() if hit is not None} == {}
    # while a task's own text is found inside a real file
    java = json.loads((SHARED / "humaneval" / "humaneval-java.jsonl").read_text().splitlines()[5])
    assert index.scan(plant(java["prompt"], random.Random(4))) is not None
