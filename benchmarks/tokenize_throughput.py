"""Throughput of ``repoloom tokenize`` end to end versus bare ``tokenizers`` ``encode_batch``.

Both read the same text: real Python source (the running interpreter's standard library),
repeated until ``--mb`` megabytes, stored as a corpus-builder ``samples/*.parquet`` corpus (one
file per sample, row groups of 256). Each measurement runs in its own process so its peak RSS
is its own:

* ``bare``: ``Tokenizer.encode_batch_fast`` over batches of 256 texts (the Rust library's own
  thread pool uses every core), texts already in memory, nothing written;
* ``repoloom``: ``run_tokenize`` (Parquet read + FIM at rate 0.5 + encode + Megatron shards +
  report), ``--workers`` processes.

Reported per run: wall seconds, MB/s, CPU seconds (user+sys of the process, its threads and its
worker processes; setup such as reading Parquet and loading the tokenizer included for both),
MB per CPU-second, and the ratio of each to the bare run. On a shared machine the CPU-second
figure is the steadier one: wall time depends on the other load.

Usage::

    python benchmarks/tokenize_throughput.py --tokenizer TOKDIR --mb 50 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build_corpus(root: Path, mb: float) -> tuple[Path, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    stdlib = Path(json.__file__).parent.parent
    files = sorted(stdlib.rglob("*.py"))
    rows, size, i = [], 0, 0
    while size < mb * 1e6:
        f = files[i % len(files)]
        i += 1
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if not text.strip():
            continue
        path = str(f.relative_to(stdlib))
        text = f"# {path}\n{text}\n"
        rows.append(
            {
                "repo": "cpython",
                "sample_id": f"{i}",
                "text": text,
                "paths": [path],
                "languages": ["python"],
                "n_bytes": len(text.encode()),
            }
        )
        size += len(text.encode())
    (root / "samples").mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist(rows), root / "samples" / "part-0.parquet", row_group_size=256
    )
    return root, size


def child_bare(corpus: Path, tokdir: Path) -> dict:
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer

    texts = pq.read_table(corpus / "samples").column("text").to_pylist()
    tok = Tokenizer.from_file(str(tokdir / "tokenizer.json"))
    t0 = time.perf_counter()
    n = 0
    for i in range(0, len(texts), 256):
        n += sum(
            len(e.ids) for e in tok.encode_batch_fast(texts[i : i + 256], add_special_tokens=False)
        )
    dt = time.perf_counter() - t0
    return {"seconds": dt, "tokens": n}


def child_repoloom(corpus: Path, tokdir: Path, out: Path, workers: int) -> dict:
    from repoloom.tokenize.pipeline import CorpusSpec, TokenizeSettings, run_tokenize

    settings = TokenizeSettings(
        tokenizer=str(tokdir),
        seq_len=4096,
        fim_rate=0.5,
        corpora=[CorpusSpec("code", "samples", str(corpus))],
    )
    t0 = time.perf_counter()
    rep = run_tokenize(settings, out, workers=workers)
    dt = time.perf_counter() - t0
    return {
        "seconds": dt,
        "tokens": rep["totals"]["tokens"],
        "fim_share": rep["totals"]["fim_share_of_units"],
    }


def run_child(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tokenizer", type=Path, required=False)
    ap.add_argument("--mb", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--child", nargs="+")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    if args.child:
        kind, corpus, tokdir, *rest = args.child
        if kind == "bare":
            res = child_bare(Path(corpus), Path(tokdir))
        else:
            res = child_repoloom(Path(corpus), Path(tokdir), Path(rest[0]), int(rest[1]))
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        self_rss, child_rss = me.ru_maxrss, kids.ru_maxrss
        # CPU seconds of the whole child (threads and worker processes), setup included
        res["cpu_seconds"] = round(me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, 2)
        res["peak_rss_mib"] = round(self_rss / 1024, 1)
        res["peak_worker_rss_mib"] = round(child_rss / 1024, 1)
        print(json.dumps(res))
        return
    if args.tokenizer is None:
        ap.error("--tokenizer is required")
    tmp = Path(tempfile.mkdtemp(prefix="tok_bench_"))
    try:
        corpus, size = build_corpus(tmp / "corpus", args.mb)
        bare = run_child(["bare", str(corpus), str(args.tokenizer)])
        results = {"bytes": size, "cpus": os.cpu_count(), "bare": bare}
        for w in sorted({1, args.workers}):
            out = tmp / f"out{w}"
            results[f"repoloom_w{w}"] = run_child(
                ["repoloom", str(corpus), str(args.tokenizer), str(out), str(w)]
            )
            shutil.rmtree(out)
        for v in results.values():
            if isinstance(v, dict):
                v["mb_per_s"] = round(size / 1e6 / v["seconds"], 3)
                v["mb_per_cpu_s"] = round(size / 1e6 / v["cpu_seconds"], 3)
                base = results["bare"]
                v["ratio_to_bare"] = round(v["mb_per_s"] / base["mb_per_s"], 3)
                v["cpu_ratio_to_bare"] = round(v["mb_per_cpu_s"] / base["mb_per_cpu_s"], 3)
        text = json.dumps(results, indent=2)
        print(text)
        if args.json:
            args.json.write_text(text + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
