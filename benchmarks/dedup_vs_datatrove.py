"""Near-dedup quality and speed: repoloom vs datatrove 0.10.1 (4-stage MinHash) vs datasketch.

Input: real PyPI sdists (consecutive releases of the same projects are near-duplicate
repositories, plus unrelated projects), at two levels on the same bytes:

* ``repo``: one document per sdist (every file with a known language, sorted by path, each under
  a ``# path`` header: what a repository sample looks like);
* ``file``: one document per file.

Ground truth: the exact Jaccard similarity of the 5-gram word-shingle sets of every pair of
documents (a sparse shingle-matrix product), clusters = connected components of the pairs with
Jaccard >= the threshold. Each method's clusters are scored by pairwise precision, recall and F1
(pairs of documents that share a cluster). Throughput is input MB / wall seconds of the method's
whole run (reading, shingling, signatures, LSH, clustering, writing), peak RSS the largest
resident set of any of its processes (``wait4``).

Setup (once; the peer venv keeps datatrove, datasketch, spacy and scipy out of the project)::

    python3 -m venv /tmp/dedup_bench/venv
    /tmp/dedup_bench/venv/bin/pip install "datatrove[io,processing]==0.10.1" datasketch==2.0.0 \\
        spacy==3.8.18 scipy
    .venv/bin/python benchmarks/dedup_vs_datatrove.py --peer-python /tmp/dedup_bench/venv/bin/python

Results go to ``--out`` (``results.json``, ``results.md``) and are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling dedup_sdists module

from dedup_sdists import fetch, read_archive  # noqa: E402

THRESHOLD = 0.85
NGRAM = 5
# (label, num_perm, bands, rows): datatrove's default 14 x 8 = 112 hashes, and repoloom's
# default 256 permutations with the bands/rows it derives for 0.85 with verification (18 x 14).
PARAMS = [("112 (14x8)", 112, 14, 8), ("256 (18x14)", 256, 18, 14)]


# ---------------------------------------------------------------------------------------------
# Input: the documents of both levels, repoloom's sample files and the shingles (dedup_sdists.py)


def prepare(args) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from repoloom.corpus.minhash import shingle_set

    out = Path(args.out)
    archives = fetch(Path(args.cache).expanduser())
    print(f"{len(archives)} sdists")
    for level in ("repo", "file"):
        docs = []
        for archive in archives:
            repo = archive.name.rsplit(".tar", 1)[0].rsplit(".zip", 1)[0]
            files = read_archive(archive)
            if level == "repo":
                text = "".join(f"# {p}\n{files[p].rstrip()}\n" for p in sorted(files))
                docs.append({"repo": repo, "path": "", "text": text})
            else:
                docs.extend({"repo": repo, "path": p, "text": files[p]} for p in sorted(files))
        folder = out / level
        (folder / "repos").mkdir(parents=True, exist_ok=True)
        with open(folder / "docs.jsonl", "w", encoding="utf-8") as handle:
            for i, doc in enumerate(docs):
                handle.write(json.dumps({"id": str(i), "text": doc["text"]}) + "\n")
        # repoloom's input: per-repository sample files, as the corpus builder leaves them
        by_repo: dict[str, list[int]] = {}
        for i, doc in enumerate(docs):
            by_repo.setdefault(doc["repo"], []).append(i)
        keys = []
        for r, (repo, members) in enumerate(by_repo.items()):
            key = f"{r:04d}"
            keys.append(key)
            rows = [
                {
                    "repo": repo,
                    "sample_id": f"{i:020d}",
                    "text": docs[i]["text"],
                    "paths": [docs[i]["path"] or repo],
                    "languages": ["python"],
                    "n_bytes": len(docs[i]["text"].encode()),
                    "kind": "file",
                }
                for i in members
            ]
            pq.write_table(pa.Table.from_pylist(rows), folder / "repos" / f"{key}.samples.parquet")
        (folder / "keys.json").write_text(json.dumps(keys))
        shingles = [shingle_set(d["text"], NGRAM) for d in docs]
        np.savez(
            folder / "shingles.npz",
            values=np.concatenate(shingles),
            offsets=np.cumsum([0] + [len(s) for s in shingles]),
        )
        total = sum(len(d["text"].encode()) for d in docs)
        (folder / "info.json").write_text(json.dumps({"docs": len(docs), "bytes": total}))
        print(f"{level}: {len(docs)} documents, {total / 1e6:.1f} MB")


# ---------------------------------------------------------------------------------------------
# Ground truth (peer venv: scipy)


def truth(args) -> None:
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    folder = Path(args.folder)
    data = np.load(folder / "shingles.npz")
    values, offsets = data["values"], data["offsets"]
    n = len(offsets) - 1
    _, columns = np.unique(values, return_inverse=True)
    rows = np.repeat(np.arange(n), np.diff(offsets))
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, columns)),
        shape=(n, int(columns.max()) + 1 if len(columns) else 1),
    )
    sizes = np.diff(offsets).astype(np.float64)
    inter = (matrix @ matrix.T).tocoo()
    keep = inter.row < inter.col
    a, b, common = inter.row[keep], inter.col[keep], inter.data[keep]
    jaccard = common / (sizes[a] + sizes[b] - common)
    good = jaccard >= args.threshold
    graph = sp.coo_matrix((np.ones(good.sum()), (a[good], b[good])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # identical empty documents are duplicates too (Jaccard of two empty sets is 1)
    json.dump(
        {"labels": labels.tolist(), "pairs_above": int(good.sum())},
        open(folder / "truth.json", "w"),
    )


# ---------------------------------------------------------------------------------------------
# Methods: each writes labels (one cluster label per document) to --result


def run_repoloom(args) -> None:
    import numpy as np

    from repoloom.corpus.config import CorpusConfig
    from repoloom.corpus.dedup import run_corpus_dedup

    folder = Path(args.folder)
    keys = json.loads((folder / "keys.json").read_text())
    config = CorpusConfig()
    config.dedup.num_perm, config.dedup.bands, config.dedup.rows = (
        args.num_perm,
        args.bands,
        args.rows,
    )
    config.dedup.verify = not args.no_verify
    config.dedup.exact_samples = False  # near-dedup only, as the peers
    work = Path(args.work)
    n = json.loads((folder / "info.json").read_text())["docs"]
    result = run_corpus_dedup(
        keys, keys, folder / "repos", work, config, n_samples=n, workers=args.workers
    )
    clusters = np.load(work / "clusters.npz")
    labels = np.arange(n)
    labels[clusters["dropped"]] = clusters["cluster"]
    labels[clusters["kept"]] = clusters["cluster"]  # the cluster id is its smallest member
    json.dump({"labels": labels.tolist(), "stats": result.stats}, open(args.result, "w"))


def _tokens(text: str) -> list[str]:
    import re

    return re.findall(r"\w+", text)


def run_datasketch(args) -> None:
    from datasketch import MinHash, MinHashLSH

    docs = [json.loads(line)["text"] for line in open(Path(args.folder) / "docs.jsonl")]
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=args.num_perm, params=(args.bands, args.rows))
    hashes = []
    for i, text in enumerate(docs):
        tokens = _tokens(text)
        n = min(NGRAM, len(tokens))
        shingles = {" ".join(tokens[j : j + n]).encode() for j in range(len(tokens) - n + 1)}
        m = MinHash(num_perm=args.num_perm, seed=1)
        m.update_batch(list(shingles))
        hashes.append(m)
        lsh.insert(str(i), m)
    parent = list(range(len(docs)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, m in enumerate(hashes):
        for other in lsh.query(m):
            a, b = find(i), find(int(other))
            if a != b:
                parent[max(a, b)] = min(a, b)
    json.dump({"labels": [find(i) for i in range(len(docs))]}, open(args.result, "w"))


def run_datatrove(args) -> None:
    import struct

    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    folder, work = Path(args.folder), Path(args.work)
    lines = open(folder / "docs.jsonl", encoding="utf-8").read().splitlines(keepends=True)
    half = (len(lines) + 1) // 2
    shards = work / "input"
    shards.mkdir(parents=True, exist_ok=True)
    (shards / "00000.jsonl").write_text("".join(lines[:half]), encoding="utf-8")
    (shards / "00001.jsonl").write_text("".join(lines[half:]), encoding="utf-8")
    config = MinhashConfig(
        n_grams=NGRAM,
        num_buckets=args.bands,
        hashes_per_bucket=args.rows,
        hash_config=HashConfig(precision=64),
    )
    tasks, workers = 2, args.workers
    stage1 = LocalPipelineExecutor(
        [
            JsonlReader(str(shards)),
            MinhashDedupSignature(output_folder=str(work / "sigs"), config=config, language="en"),
        ],
        tasks=tasks,
        workers=workers,
        logging_dir=str(work / "logs1"),
        start_method="fork",
    )
    stage2 = LocalPipelineExecutor(
        [
            MinhashDedupBuckets(
                input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=config
            )
        ],
        tasks=config.num_buckets,
        workers=workers,
        logging_dir=str(work / "logs2"),
        start_method="fork",
    )
    stage3 = LocalPipelineExecutor(
        [
            MinhashDedupCluster(
                input_folder=str(work / "buckets"),
                output_folder=str(work / "remove"),
                config=config,
                save_cluster_id=True,
            )
        ],
        tasks=1,
        logging_dir=str(work / "logs3"),
        start_method="fork",
    )
    stage4 = LocalPipelineExecutor(
        [
            JsonlReader(str(shards)),
            MinhashDedupFilter(input_folder=str(work / "remove"), load_cluster_ids=True),
            JsonlWriter(str(work / "output")),
        ],
        tasks=tasks,
        workers=workers,
        logging_dir=str(work / "logs4"),
        start_method="fork",
    )
    for stage in (stage1, stage2, stage3, stage4):
        stage.run()
    n = len(lines)
    labels = list(range(n))
    for rank, offset in ((0, 0), (1, half)):
        path = work / "remove" / f"{rank:06d}.clusters"
        if not path.exists():
            continue
        data = path.read_bytes()
        for doc, cluster in struct.iter_unpack("<2I", data):
            labels[offset + doc] = n + cluster  # cluster ids live above the document ids
    json.dump({"labels": labels}, open(args.result, "w"))


# ---------------------------------------------------------------------------------------------
# Decontamination: planted recall over every benchmark string, hits on the clean corpus


def decontam_recall(args) -> None:
    import random
    import re
    import textwrap

    from repoloom.corpus.config import DecontamConfig
    from repoloom.corpus.decontam import benchmark_rows, build_index, resolve_benchmarks_dir
    from repoloom.corpus.minhash import tokenize

    started = time.perf_counter()
    cfg = DecontamConfig(benchmarks_dir=args.benchmarks_dir)
    index = build_index(cfg)
    build_seconds = time.perf_counter() - started
    hosts = [p.read_text() for p in sorted(Path(__file__).parents[1].glob("src/repoloom/**/*.py"))]
    hosts = [h for h in hosts if len(h) > 2000 and index.scan(h) is None]
    rng = random.Random(0)

    def disguise(text: str) -> str:
        text = textwrap.indent(text.replace("    ", "\t"), " " * rng.choice([2, 8]))
        text = re.sub(r" +", lambda m: " " * rng.choice([1, 2, 3]), text)
        return text.replace("\n", rng.choice(["\n", "\r\n", "\n\n"]))

    summary = {}
    base = resolve_benchmarks_dir(args.benchmarks_dir)
    for benchmark in cfg.benchmarks:
        rows, _ = benchmark_rows(benchmark, base)
        planted = found = too_short = numeric = 0
        misses = []
        for task_id, field, text in rows:
            tokens = tokenize(text)
            if len(tokens) < cfg.min_short_tokens:
                too_short += 1
                continue
            if not tokens.has_letter().any():
                numeric += 1
                continue
            host = hosts[rng.randrange(len(hosts))].splitlines()
            at = rng.randrange(len(host))
            planted += 1
            hit = index.scan("\n".join(host[:at] + [disguise(text)] + host[at:]))
            if hit is not None:
                found += 1
            else:
                misses.append(f"{task_id}:{field}")
        summary[benchmark] = {
            "strings": len(rows),
            "planted": planted,
            "found": found,
            "recall": round(found / planted, 6) if planted else None,
            "not_indexed_under_3_tokens": too_short,
            "not_indexed_no_letters": numeric,
            "misses": misses[:20],
        }
        print(benchmark, json.dumps(summary[benchmark]), flush=True)
    clean = []
    if args.cache:
        for archive in fetch(Path(args.cache).expanduser()):
            for path, text in read_archive(archive).items():
                hit = index.scan(text)
                if hit is not None:
                    clean.append(
                        {"file": f"{archive.name}:{path}", "reason": hit.reason, "ngram": hit.ngram}
                    )
    result = {
        "index_seconds": round(build_seconds, 2),
        "ngrams": {n: len(t[0]) for n, t in index.tables.items()},
        "planted": summary,
        "clean_corpus_hits": clean,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "decontam.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({"clean_corpus_hits": clean}, indent=1))


# ---------------------------------------------------------------------------------------------
# Scoring and the driver


def pair_scores(truth: list[int], predicted: list[int]) -> dict:
    from collections import Counter

    def pairs(counter) -> int:
        return sum(c * (c - 1) // 2 for c in counter.values())

    true_pairs = pairs(Counter(truth))
    predicted_pairs = pairs(Counter(predicted))
    both = pairs(Counter(zip(truth, predicted, strict=True)))
    precision = both / predicted_pairs if predicted_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "true_pairs": true_pairs,
        "predicted_pairs": predicted_pairs,
    }


def measured(command: list[str]) -> tuple[float, float]:
    """Run a command; (wall seconds, peak RSS in MB of its largest process)."""
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer-python", default="/tmp/dedup_bench/venv/bin/python")
    parser.add_argument("--cache", default="~/.cache/repoloom/dedup-bench")
    parser.add_argument("--out", default="/tmp/dedup-bench-out")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--levels", default="repo,file")
    parser.add_argument("--methods", default="repoloom,repoloom-noverify,datasketch,datatrove")
    parser.add_argument(
        "--decontam-recall",
        action="store_true",
        help="instead: plant every benchmark string into real files (recall), scan the sdists",
    )
    parser.add_argument("--benchmarks-dir", help="local benchmark copy (else $REPOLOOM_DATA)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--num-perm", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--bands", type=int, default=13, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=19, help=argparse.SUPPRESS)
    parser.add_argument("--no-verify", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = {
        "prepare": prepare,
        "truth": truth,
        "repoloom": run_repoloom,
        "datasketch": run_datasketch,
        "datatrove": run_datatrove,
    }
    if args.step:
        steps[args.step](args)
        return
    if args.decontam_recall:
        decontam_recall(args)
        return

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    me = str(Path(__file__).resolve())
    if not (out / "file" / "info.json").exists():
        subprocess.run(
            [sys.executable, me, "--step", "prepare", "--out", str(out), "--cache", args.cache],
            check=True,
        )
    results = []
    for level in args.levels.split(","):
        folder = out / level
        info = json.loads((folder / "info.json").read_text())
        if not (folder / "truth.json").exists():
            subprocess.run(
                [args.peer_python, me, "--step", "truth", "--folder", str(folder)], check=True
            )
        truth_labels = json.loads((folder / "truth.json").read_text())["labels"]
        for label, num_perm, bands, rows in PARAMS:
            for method in args.methods.split(","):
                step = method.split("-")[0]
                python = sys.executable if step == "repoloom" else args.peer_python
                work = out / "work" / f"{level}-{method}-{num_perm}"
                subprocess.run(["rm", "-rf", str(work)], check=True)
                result = work.with_suffix(".json")
                command = [python, me, "--step", step, "--folder", str(folder), "--work", str(work)]
                command += ["--result", str(result), "--workers", str(args.workers)]
                command += ["--num-perm", str(num_perm), "--bands", str(bands), "--rows", str(rows)]
                if method.endswith("noverify"):
                    command.append("--no-verify")
                wall, rss = measured(command)
                labels = json.loads(result.read_text())["labels"]
                row = {
                    "level": level,
                    "documents": info["docs"],
                    "MB": round(info["bytes"] / 1e6, 2),
                    "hashes": label,
                    "method": method,
                    "seconds": round(wall, 2),
                    "MB/s": round(info["bytes"] / 1e6 / wall, 2),
                    "peak_rss_MB": round(rss, 1),
                    **pair_scores(truth_labels, labels),
                }
                results.append(row)
                print(json.dumps(row), flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    header = [
        "level",
        "documents",
        "MB",
        "hashes",
        "method",
        "seconds",
        "MB/s",
        "peak_rss_MB",
        "precision",
        "recall",
        "f1",
        "true_pairs",
        "predicted_pairs",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in results]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
