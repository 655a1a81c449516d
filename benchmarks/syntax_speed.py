"""Syntax screening speed per language: the fast path of `syntax_verdict` against the reference
algorithm (`reference_syntax_verdict`), on the files the syntax step sees in a real corpus.

Reads every repository under --data (default: the benchmark corpus of benchmarks/corpus_build.py),
runs read -> language -> rule filters -> in-repository dedup as the pipeline does, then times
both algorithms on each file of the ten screened languages in one process, splits the time into
parse and function measurement, and checks that both make the same keep/drop decision.

    .venv/bin/python benchmarks/syntax_speed.py [--data DIR] [--result FILE]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections import Counter
from pathlib import Path

from repoloom.codebase.sources import TaskOptions, expand_repos_dir, iter_repository_files
from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.screening import (
    SYNTAX_LANGUAGES,
    reference_syntax_verdict,
    syntax_verdict,
)
from repoloom.corpus.steps import StepLog, apply_rule_filters, decode_files, identify_languages

ROOT = Path(__file__).resolve().parents[1]


def collect(data: Path, config: CorpusConfig):
    from repoloom.corpus.screening import dedup_repository_files

    for task in expand_repos_dir(str(data), TaskOptions()):
        log = StepLog()
        docs = decode_files(task.name, iter_repository_files(task, config.read), config, log)
        docs = apply_rule_filters(identify_languages(docs, config, log), config, log)
        yield from (d for d in dedup_repository_files(docs, log) if d.language in SYNTAX_LANGUAGES)


def decision(verdict, cfg) -> tuple:
    if verdict.error_share > cfg.syntax_max_error_share:
        return ("syntax", round(verdict.error_share, 3), verdict.error_where)
    if verdict.longest_function > cfg.max_function_lines:
        return ("long-function", verdict.longest_function)
    return ("keep",)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("~/.cache/repoloom/benchmark-corpus"))
    p.add_argument("--result", type=Path, default=ROOT / "benchmarks/results/syntax_speed.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    config = CorpusConfig()
    cfg = config.screening
    files, mb = Counter(), Counter()
    before, after = Counter(), Counter()
    differ = []
    for doc in collect(args.data.expanduser(), config):
        lang = doc.language
        files[lang] += 1
        mb[lang] += doc.n_bytes / 1e6
        started = time.perf_counter()
        slow = reference_syntax_verdict(doc)
        middle = time.perf_counter()
        fast = syntax_verdict(doc, cfg.max_function_lines, cfg.syntax_max_error_share)
        before[lang] += middle - started
        after[lang] += time.perf_counter() - middle
        if decision(slow, cfg) != decision(fast, cfg):
            differ.append(f"{doc.repo}/{doc.path}")
    rows = {
        lang: {
            "files": files[lang],
            "mb": round(mb[lang], 1),
            "reference_s": round(before[lang], 2),
            "fast_s": round(after[lang], 2),
            "speedup": round(before[lang] / max(after[lang], 1e-9), 2),
        }
        for lang in sorted(files, key=lambda k: -before[k])
    }
    result = {
        "files": sum(files.values()),
        "reference_s": round(sum(before.values()), 1),
        "fast_s": round(sum(after.values()), 1),
        "decisions_differ": differ,
        "per_language": rows,
    }
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(result, indent=1) + "\n")
    print("| language | files | MB | reference s | fast s | speed-up |\n|---|---|---|---|---|---|")
    for lang, r in rows.items():
        print(
            f"| {lang} | {r['files']} | {r['mb']} | {r['reference_s']} | {r['fast_s']} | "
            f"{r['speedup']}x |"
        )
    print(f"| all | {result['files']} | | {result['reference_s']} | {result['fast_s']} | |")
    print(f"decisions that differ: {len(differ)}")


if __name__ == "__main__":
    main()
