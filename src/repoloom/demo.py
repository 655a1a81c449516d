"""`repoloom demo` (what `make demo` runs): the system on real code, end to end, on one machine.

Today it fetches a small pinned set of real repositories from the package registries (PyPI
sdists, an npm tarball, Debian source packages; `src/repoloom/corpus/manifests/demo.yaml`),
builds the repository-level corpus from them and prints where everything is.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo", help="run the main job on a small pinned set of real repositories"
    )
    demo.add_argument("--out", default="data/demo", help="working directory (default: data/demo)")
    demo.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: the core count)"
    )
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq

    from repoloom.corpus.build import build_corpus
    from repoloom.corpus.config import CorpusConfig
    from repoloom.corpus.fetch import fetch_manifest, load_manifest
    from repoloom.corpus.sources import expand_sources

    out = Path(args.out)
    repos, corpus = out / "repos", out / "corpus"
    print(f"[1/2] fetching the pinned demo repositories into {repos}")
    fetch_manifest(load_manifest("demo"), repos)
    print(f"[2/2] building the repository-level corpus into {corpus}")
    shutil.rmtree(corpus, ignore_errors=True)  # the demo always shows a fresh build
    result = build_corpus(
        expand_sources([], [str(repos)]), corpus, CorpusConfig(), workers=args.workers
    )
    report = result.report

    samples = pq.read_table(
        corpus / "samples", columns=["repo", "paths", "languages", "kind"]
    ).to_pylist()
    multi = sorted((s for s in samples if s["kind"] == "repo"), key=lambda s: -len(s["paths"]))
    scc = report["ordering"]["edges_in_order"].get("scc", {}).get("all", {})
    paper = report["ordering"]["edges_in_order"].get("paper", {}).get("all", {})
    print()
    print(f"repositories       {report['repositories']}")
    print(f"files in / kept    {report['files_in']:,} / {report['files_kept']:,}")
    print(
        f"samples            {report['samples']['count']:,} ({report['samples']['bytes'] / 1e6:.1f} MB), {len(multi)} dependency-ordered multi-file samples"
    )
    print(
        "languages kept     "
        + ", ".join(f"{k} {v['files']}" for k, v in list(report["languages_kept"].items())[:8])
    )
    print(
        f"dependency edges   {report['dependencies']['edges']:,} resolved inside their repository"
    )
    if scc.get("edges"):
        print(
            f"edges in order     scc {scc['fraction']:.1%}, Algorithm 1 {paper['fraction']:.1%} (of {scc['edges']:,} edges outside cycles)"
        )
    if multi:
        example = multi[0]
        print(f"\nlargest sample: {example['repo']}, {len(example['paths'])} files, in this order:")
        for path in example["paths"][:8]:
            print(f"  # {path}")
        if len(example["paths"]) > 8:
            print(f"  ... {len(example['paths']) - 8} more")
    print(f"\nsamples  {corpus / 'samples'}")
    print(f"removed  {corpus / 'removed'}")
    print(f"report   {corpus / 'report.html'}  (filter funnel, language mix)")
    return 0
