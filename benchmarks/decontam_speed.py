"""The decontam step's cost before and after issue 13, in one process (issue 13 item 8).

The code before the issue (`git show REV:src/repoloom/corpus/decontam.py`, word tokens, no
common-code list) and the current module each build their index and scan the same files of a
corpus directory; the scans alternate (old, new, new, old, ...) so that a change in machine load
hits both alike. CPU seconds of this process are the figure to compare on a loaded machine.

    python benchmarks/decontam_speed.py --benchmarks-dir ../shared/benchmarks \
        --corpus ~/.cache/repoloom/benchmark-corpus --max-files 4000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from decontam_common import corpus_files  # noqa: E402
from module_at_commit import module_at_commit  # noqa: E402


def old_module(rev: str):
    return module_at_commit(rev, "src/repoloom/corpus/decontam.py", "decontam_before")


def timed(function, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    value = function(*args)
    return value, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmarks-dir", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--before", default="main", help="git revision of the code before")
    parser.add_argument("--max-files", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "decontam_speed.json")
    )
    args = parser.parse_args()
    from repoloom.corpus import decontam
    from repoloom.corpus.config import DecontamConfig

    cfg = DecontamConfig(benchmarks_dir=args.benchmarks_dir, hub=False)
    before = old_module(args.before)
    indexes = {}
    result: dict = {"index": {}, "scan": {"before": [], "after": []}}
    configs = {"before": dataclasses.replace(cfg, min_alpha_tokens=1), "after": cfg}  # defaults
    for label, module in (("before", before), ("after", decontam)):
        index, wall, cpu = timed(module.build_index, configs[label])
        indexes[label] = index
        result["index"][label] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
    texts = []
    for _, _, text in corpus_files(Path(args.corpus).expanduser()):
        texts.append(text)
        if len(texts) >= args.max_files:
            break
    result["files"] = len(texts)
    result["mb"] = round(sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6, 1)
    order = [("before", "after"), ("after", "before")] * args.rounds
    hits = {}
    for pair in order[: args.rounds]:
        for label in pair:
            scan = indexes[label].scan
            found, wall, cpu = timed(lambda s=scan: sum(s(t) is not None for t in texts))
            hits[label] = found
            result["scan"][label].append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)})
            print(label, result["scan"][label][-1], "hits", found, flush=True)
    result["hits"] = hits
    for label in ("before", "after"):
        runs = result["scan"][label]
        result[f"{label}_cpu_s"] = round(min(r["cpu_s"] for r in runs), 2)
    result["cpu_ratio_after_over_before"] = round(result["after_cpu_s"] / result["before_cpu_s"], 3)
    print(json.dumps(result, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
