"""Decontamination: planted-leak recall and hits on clean real code (issue 13 item 3).

1. Planted leaks: every string of the four benchmarks (HumanEval + the MultiPL-E translations,
   MBPP, GSM8K, MATH) is planted into a real repoloom source file, re-indented (tabs, 2 or 8
   spaces), with 1-3 spaces for every space and ``\\n``, ``\\r\\n`` or ``\\n\\n`` line breaks; and
   each whole task (all its strings, one after the other) likewise. A string whose every sequence
   is left out of the index (under 3 tokens, no letters, scaffolding shared by 3+ tasks, common
   code) cannot be told from ordinary code; it is counted apart, with examples, never as found.
2. Clean corpora: every file of each --clean directory (archives and directories, as
   `--repos-dir` reads them) is scanned; each hit is listed with the text it matched.
3. The files the issue names as false hits.

    python benchmarks/decontam_eval.py --benchmarks-dir ../shared/benchmarks \
        --clean data/sdists --clean ~/.cache/repoloom/benchmark-corpus --clean data/extra
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from decontam_common import corpus_files  # noqa: E402

# The false hits (project directory or archive name prefix, path inside).
NAMED = [
    ("librust-serde-json-dev", "src/ser.rs"),
    ("networkx-3.2.1", "networkx/utils/decorators.py"),
    ("jsoup", "src/main/java/org/jsoup/internal/StringUtil.java"),
]
VS_HEADER = (
    "using System;\nusing System.Collections.Generic;\nusing System.Linq;\nusing System.Text;\n"
)


def disguise(text: str, rng: random.Random) -> str:
    text = textwrap.indent(text.replace("    ", "\t"), " " * rng.choice([2, 8]))
    text = re.sub(r" +", lambda m: " " * rng.choice([1, 2, 3]), text)
    return text.replace("\n", rng.choice(["\n", "\r\n", "\n\n"]))


def planted(index, rows_by_benchmark, hosts, rng) -> dict:
    from repoloom.corpus.decontam import code_tokens, task_key

    def plant(text: str) -> str:
        host = hosts[rng.randrange(len(hosts))].splitlines()
        at = rng.randrange(len(host))
        return "\n".join(host[:at] + [disguise(text, rng)] + host[at:])

    summary = {}
    for benchmark, rows in rows_by_benchmark:
        counts = defaultdict(int)
        examples = defaultdict(list)
        tasks = defaultdict(list)
        for task_id, field, text in rows:
            counts["strings"] += 1
            tasks[task_key(benchmark, task_id)].append(text)
            tokens = code_tokens(text)
            if len(tokens) < 3:
                counts["under_3_tokens"] += 1
                continue
            if not tokens.has_letter().any():
                counts["no_letters"] += 1
                continue
            if index.scan(text) is None:  # nothing of it is indexed: scaffolding or common code
                counts["wholly_common_or_scaffolding"] += 1
                if len(examples["common"]) < 8:
                    examples["common"].append(f"{task_id}:{field}: {' '.join(text.split())[:80]}")
                continue
            counts["planted"] += 1
            if index.scan(plant(text)) is not None:
                counts["found"] += 1
            elif len(examples["missed"]) < 20:
                examples["missed"].append(f"{task_id}:{field}")
        for texts in tasks.values():
            counts["tasks"] += 1
            counts["tasks_found"] += index.scan(plant("\n\n".join(texts))) is not None
        counts["recall"] = (
            round(counts["found"] / counts["planted"], 6) if counts["planted"] else None
        )
        counts["task_recall"] = round(counts["tasks_found"] / counts["tasks"], 6)
        summary[benchmark] = {**counts, **examples}
        print(benchmark, json.dumps(summary[benchmark]), flush=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmarks-dir", required=True)
    parser.add_argument("--clean", action="append", default=[], help="a directory of projects")
    parser.add_argument("--no-planted", action="store_true")
    parser.add_argument("--no-common", action="store_true", help="index without the list")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "decontam.json"))
    args = parser.parse_args()
    from repoloom.corpus.config import DecontamConfig
    from repoloom.corpus.decontam import BenchmarkIndex, build_index, load_benchmarks

    cfg = DecontamConfig(benchmarks_dir=args.benchmarks_dir, hub=False)
    if args.no_common:
        cfg.common_code = False
    started = time.perf_counter()
    index = build_index(cfg)
    result: dict = {
        "index_seconds": round(time.perf_counter() - started, 2),
        "sequences": {n: len(t[0]) for n, t in index.tables.items()},
        "left_out": index.left_out,
        "common_code": cfg.common_code,
    }
    print(json.dumps(result), flush=True)
    if not args.no_planted:
        sources, _ = load_benchmarks(cfg, BenchmarkIndex(ngram=cfg.ngram))
        hosts = [p.read_text() for p in sorted((ROOT / "src" / "repoloom").rglob("*.py"))]
        hosts = [h for h in hosts if len(h) > 2000 and index.scan(h) is None]
        result["planted"] = planted(index, sources, hosts, random.Random(0))
    clean: dict = {}
    for directory in args.clean:
        files = hits = 0
        listed = []
        scan_started = time.perf_counter()
        for project, path, text in corpus_files(Path(directory).expanduser()):
            files += 1
            hit = index.scan(text)
            if any(project.startswith(a) and path.endswith(b) for a, b in NAMED):
                result.setdefault("named", {})[f"{project}:{path}"] = (
                    None if hit is None else f"{hit.reason} {hit.ngram}"
                )
            if hit is not None:
                hits += 1
                listed.append(
                    {
                        "file": f"{project}:{path}",
                        "reason": hit.reason,
                        "field": hit.field,
                        "matched": hit.ngram,
                    }
                )
        clean[directory] = {
            "files": files,
            "hits": hits,
            "listed": listed,
            "scan_seconds": round(time.perf_counter() - scan_started, 1),
        }
        print(directory, json.dumps(clean[directory])[:2000], flush=True)
    result["clean"] = clean
    vs = (
        VS_HEADER
        + "namespace Demo {\n    class Program {\n        static void Main() { }\n    }\n}\n"
    )
    hit = index.scan(vs)
    result.setdefault("named", {})["C# file with the Visual Studio using-header"] = (
        None if hit is None else f"{hit.reason} {hit.ngram}"
    )
    print("named", json.dumps(result["named"], indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
