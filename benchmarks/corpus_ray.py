"""Local executor vs Ray Data executor on the pinned benchmark corpus (issue 4), and a projection
of the Ray plan to the report's 798 GB / 603M files.

Both executors run in this process on the same cores (local: process pool of N; Ray: a local
runtime with num_cpus=N), on the same sources and config; the script checks that the outputs are
the same set of rows and reports the wall times and their ratio. The projection multiplies the
measured per-core rate by a cluster's cores and estimates the LSH shuffle volume and the driver's
union-find memory from the measured per-sample figures.

    .venv/bin/python benchmarks/corpus_ray.py                      # corpus from benchmarks/corpus_build.py
    .venv/bin/python benchmarks/corpus_ray.py --data DIR --workers 2 --cores 1024
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path("~/.cache/repoloom/benchmark-corpus").expanduser()
PAPER_BYTES = 798e9  # PAPER_NOTES section 1: 798 GB, 603M files after filtering
PAPER_FILES = 603e6
ROW_BYTES = 24  # one LSH bucket row: band, key, sample (uint64 each)


def _load(out: str, name: str) -> list[dict]:
    from repoloom.corpus.ray_executor import iter_output

    return list(iter_output(out, name))


def _rows(out: str, name: str) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in _load(out, name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fetched repositories")
    parser.add_argument("--out", type=Path, default=Path("/tmp/repoloom-ray-bench"))
    parser.add_argument("--keep", action="store_true", help="keep both builds")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cores", type=int, default=1024, help="cluster size of the projection")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/corpus_ray.json")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"{args.data} is missing: run benchmarks/corpus_build.py first", file=sys.stderr)
        return 2

    import ray

    from repoloom.codebase.sources import expand_sources
    from repoloom.corpus.build import build_corpus
    from repoloom.corpus.config import CorpusConfig
    from repoloom.corpus.dedup import resolve_bands
    from repoloom.corpus.ray_executor import build_corpus_ray

    config = CorpusConfig()
    config.decontam.hub = False  # offline machine: HumanEval from the wheel + local files only
    shutil.rmtree(args.out, ignore_errors=True)
    local_out, ray_out = args.out / "local", args.out / "ray"

    started = time.perf_counter()
    build_corpus(expand_sources([], [str(args.data)]), local_out, config, workers=args.workers)
    local_s = time.perf_counter() - started

    started = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - started
    result = build_corpus_ray([], str(ray_out), config, repos_dirs=[str(args.data)])
    ray_s = time.perf_counter() - started
    stages = json.loads((ray_out / "run.json").read_text())["executor"]["stages"]
    ray.shutdown()

    same = all(_rows(str(local_out), n) == _rows(str(ray_out), n) for n in ("samples", "removed"))
    report = result.report
    # Bytes the pipeline read: what reached samples before dedup plus every file it dropped.
    removed = [r for r in _load(str(ray_out), "removed") if r["step"] != "dedup"]
    input_bytes = report["samples"]["before_dedup"]["bytes"] + sum(r["n_bytes"] for r in removed)
    kept_bytes = report["samples"]["bytes"]
    n_samples = report["dedup"]["samples_in"]
    bands, rows = resolve_bands(
        config.dedup.threshold, config.dedup.num_perm, 0, 0, config.dedup.verify
    )
    per_core = input_bytes / ray_s / args.workers
    # The projection: the report's 798 GB is what survives its filters, which keep 32.8% of the
    # raw data (PAPER_NOTES section 1), so ~2.4 TB are read; samples per byte and candidates per
    # sample as measured here.
    raw_bytes = PAPER_BYTES / 0.328
    paper_samples = PAPER_BYTES / (kept_bytes / max(1, report["samples"]["count"]))
    shuffle_bytes = paper_samples * (bands + 1) * ROW_BYTES
    signature_bytes = paper_samples * (config.dedup.num_perm * 8 + 16)
    candidate_share = report["dedup"]["candidate_pairs"] / max(1, n_samples)
    involved_share = (report["dedup"]["exact_dup"] + report["dedup"]["near_dup"]) * 2 / n_samples
    union_find_bytes = paper_samples * min(1.0, involved_share) * (8 + 8 + 8 + 8 + 16)
    out = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.node()} {os.cpu_count()} cores ({platform.processor() or platform.machine()})",
        "load_average": os.getloadavg(),
        "workers": args.workers,
        "repositories": report["repositories"],
        "input_mb": round(input_bytes / 1e6, 1),
        "local_mb_per_s_per_core": round(input_bytes / local_s / args.workers / 1e6, 3),
        "kept_mb": round(kept_bytes / 1e6, 1),
        "samples": report["samples"]["count"],
        "local_seconds": round(local_s, 1),
        "ray_seconds": round(ray_s, 1),
        "ray_init_seconds": round(init_s, 1),
        "ray_stages": stages,
        "ray_over_local": round(ray_s / local_s, 2),
        "identical_outputs": same,
        "ray_mb_per_s_per_core": round(per_core / 1e6, 3),
        "projection": {
            "cores": args.cores,
            "raw_tb": round(raw_bytes / 1e12, 2),
            "hours": round(raw_bytes / (per_core * args.cores) / 3600, 1),
            "samples": int(paper_samples),
            "bands_rows": [bands, rows],
            "lsh_shuffle_gb": round(shuffle_bytes / 1e9, 1),
            "signatures_gb": round(signature_bytes / 1e9, 1),
            "candidate_pairs_per_sample": round(candidate_share, 4),
            "union_find_driver_gb": round(union_find_bytes / 1e9, 2),
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
