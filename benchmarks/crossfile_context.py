"""Cross-file completion benchmark: how many points the builder finds on real repositories, how
fast, and how often each context variant (bm25, deps) actually carries what the ground-truth
line needs, under CrossCodeEval's 512-token budget of the release tokenizer.

For every point and mode it records
- ``name_recall``: at least one of the line's cross-file names occurs (as a word) in the
  rendered context;
- ``def_recall``: at least one file that defines one of those names contributes to the rendered
  context (a bm25 fragment from it survives the budget; for deps, its last 200 characters are
  in the kept tail).

Needs the cached pinned repositories (~/.cache/repoloom/{test-demo,benchmark}-corpus, made by
the corpus tests / corpus benchmarks) and ../shared's release tokenizer (else the tiny test
tokenizer, noted in the output). Writes benchmarks/results/crossfile_context.json.

    .venv/bin/python benchmarks/crossfile_context.py
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "repoloom"
REPOS = [
    "test-demo-corpus/click-8.1.7.tar.gz",
    "test-demo-corpus/rich-13.7.1.tar.gz",
    "benchmark-corpus/attrs-23.2.0.tar.gz",
    "benchmark-corpus/jdk17-java.logging",
    "benchmark-corpus/jdk17-java.net.http",
    "benchmark-corpus/rxjs-7.8.1.tgz",
]


def tokenizer(shared: Path):
    from transformers import AutoTokenizer

    gguf = shared / "reference" / "deepseek-coder-tokenizer" / "ggml-vocab-deepseek-coder.gguf"
    if gguf.exists():
        from repoloom.tokenize.gguf_import import import_gguf

        out = Path(tempfile.mkdtemp()) / "tok"
        import_gguf(gguf, out)
        return AutoTokenizer.from_pretrained(out), "deepseek-coder release (GGUF import)"
    from repoloom.testing import tiny_tokenizer

    return tiny_tokenizer(), "tiny test tokenizer (../shared absent)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shared", default=str(ROOT.parent / "shared"))
    p.add_argument("--max-points", type=int, default=40)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "crossfile_context.json"))
    args = p.parse_args()

    from repoloom.evaluate.crossfile.builder import analyze_repository, load_source, select_points
    from repoloom.evaluate.crossfile.context import render, repo_context, token_counter

    tok, tok_name = tokenizer(Path(args.shared))
    count = token_counter(tok)
    rows = []
    for rel in REPOS:
        src = CACHE / rel
        if not src.exists():
            print(f"skip {rel}: not cached", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        repo = load_source(src)
        analysis = analyze_repository(repo)
        points = select_points(repo, analysis, max_points=args.max_points, seed=0)
        build_s = time.perf_counter() - t0
        ctx = repo_context(repo.files, repo.languages)
        stats = {m: {"name": 0, "def": 0, "tokens": 0} for m in ("bm25", "deps")}
        t1 = time.perf_counter()
        for pt in points:
            defs = {f for fs in pt.definitions.values() for f in fs}
            for mode in ("bm25", "deps"):
                frags = ctx.fragments(pt, mode)
                text = render(frags, mode, pt.language, pt.path, count, 512)
                s = stats[mode]
                s["tokens"] += count(text)
                if any(re.search(rf"\b{re.escape(n)}\b", text) for n in pt.crossfile_names):
                    s["name"] += 1
                if mode == "bm25":
                    kept = set(re.findall(r"fragment is found in (.+)$", text, flags=re.M))
                else:
                    kept = {f.path for f in frags if f.text.strip() and f.text[-200:] in text}
                if kept & defs:
                    s["def"] += 1
        ctx_s = time.perf_counter() - t1
        n = len(points) or 1
        row = {
            "repo": repo.name,
            "files": len(repo.files),
            "points": len(points),
            "languages": sorted({pt.language for pt in points}),
            "build_s": round(build_s, 2),
            "context_s_per_point": round(ctx_s / n, 3),
        }
        for mode, s in stats.items():
            row[f"{mode}_name_recall"] = round(s["name"] / n, 3)
            row[f"{mode}_def_recall"] = round(s["def"] / n, 3)
            row[f"{mode}_mean_tokens"] = round(s["tokens"] / n, 1)
        rows.append(row)
        print(json.dumps(row))
    out = {"tokenizer": tok_name, "max_points_per_repo": args.max_points, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
