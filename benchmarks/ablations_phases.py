"""Phases of benchmarks/ablations.py that make the data and the models: fetch, build, probe,
split, tokenizer, select, tokenize, train (each returns the info written to its done-marker)."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ablations_common import (
    HEADER,
    ROOT,
    VARIANTS,
    Ctx,
    body_hash,
    child_env,
    log,
    piece_body,
    read_json,
    run_cli,
    split_pieces,
    write_json,
    write_parquet,
)

# --------------------------------------------------------------------------- phases


def phase_fetch(ctx: Ctx) -> dict[str, Any]:
    from repoloom.corpus.fetch import LOCK_NAME, fetch_manifest, load_manifest

    lock = ctx.data / LOCK_NAME
    start = time.perf_counter()
    if lock.is_file() and read_json(lock).get("complete"):
        log(f"fetch: {lock} is complete, nothing to download")
        fetched = 0
    else:
        res = fetch_manifest(load_manifest(ctx.args.manifest), ctx.data, jobs=4)
        fetched = res.n_fetched
    info = read_json(lock)
    return {
        "data": str(ctx.data),
        "manifest": info.get("manifest"),
        "repositories": info.get("n_repositories"),
        "source_files": info.get("source_files"),
        "source_bytes": info.get("source_bytes"),
        "fetched_now": fetched,
        "seconds": round(time.perf_counter() - start, 1),
    }


def phase_build(ctx: Ctx) -> dict[str, Any]:
    report = ctx.build / "report.json"
    seconds = 0.0
    if report.is_file() and any((ctx.build / "samples").glob("*.parquet")):
        log(f"build: reusing the finished build in {ctx.build}")
    else:
        seconds = run_cli(
            [
                "corpus",
                "build",
                "--repos-dir",
                str(ctx.data),
                "--out",
                str(ctx.build),
                "--workers",
                str(ctx.args.build_workers),
            ],
            ctx.threads,
        )
    rep = read_json(report)
    return {
        "build": str(ctx.build),
        "files_kept": rep.get("files_kept"),
        "samples": (rep.get("samples") or {}).get("count"),
        "seconds": round(seconds, 1),
    }


def train_overrides(ctx: Ctx, data: Path, out: Path, steps: int, vocab: int) -> list[str]:
    a = ctx.args
    return [
        "train",
        "--config",
        str(ROOT / "configs" / "train" / "tiny.yaml"),
        f"data={data}",
        f"out={out}",
        f"vocab_size={vocab}",
        f"seq_len={a.seq_len}",
        f"micro_batch_size={a.batch}",
        f"max_steps={steps}",
        f"lr={a.lr}",
        f"warmup_steps={max(1, steps // 20)}",
        f"seed={a.seed}",
        "log_every=5" if steps < 200 else "log_every=10",
        f"save_every={max(10, steps // 4)}",
        "keep_checkpoints=1",
        "export_dtype=float32",
        "tensorboard=false",
        "progress=false",
        f"shuffle_windows={'true' if a.shuffle_windows == 'on' else 'false'}",
    ]


def model_vocab(vocab_size: int) -> int:
    """BPE vocabulary + the nine special tokens, rounded up to a multiple of 64."""
    return int(math.ceil((vocab_size + 9) / 64) * 64)


def phase_probe(ctx: Ctx) -> dict[str, Any]:
    """Measure training throughput of the exact model/batch for ~30 s; size the token budget."""
    import numpy as np

    from repoloom.train.data import write_token_shard

    a = ctx.args
    tokens_per_step = a.seq_len * a.batch
    vocab = model_vocab(a.vocab_size)
    if a.budget_tokens:
        return {
            "budget_tokens": a.budget_tokens,
            "steps": a.budget_tokens // tokens_per_step,
            "tokens_per_step": tokens_per_step,
            "measured": False,
        }
    pdir = ctx.work / "probe"
    shutil.rmtree(pdir, ignore_errors=True)
    rng = np.random.default_rng(0)
    write_token_shard(
        pdir / "tokens" / "shard_00000", rng.integers(2, a.vocab_size, 400_000), manifest_eos_id=1
    )
    n = a.parallel
    log(
        f"probe: {n} synthetic trainings side by side ({a.train_threads} thread(s) each) "
        f"for {a.probe_seconds} s"
    )
    procs = []
    start = time.perf_counter()
    for i in range(n):
        cmd = train_overrides(ctx, pdir / "tokens", pdir / f"run{i}", 1000, vocab)
        cmd += ["log_every=2", "save_every=0", "save_final=false", "export=false"]
        fh = (pdir / f"log{i}.txt").open("w")
        procs.append(
            (
                subprocess.Popen(
                    [sys.executable, "-m", "repoloom.cli", *cmd],
                    env=child_env(a.train_threads),
                    stdout=fh,
                    stderr=fh,
                ),
                fh,
            )
        )
    time.sleep(a.probe_seconds)
    for proc, fh in procs:
        proc.terminate()
        proc.wait()
        fh.close()
    wall = time.perf_counter() - start
    per_run = []
    startup = 0.0
    for i in range(n):
        metrics = pdir / f"run{i}" / "metrics.jsonl"
        recs = (
            [json.loads(x) for x in metrics.read_text().splitlines()] if metrics.is_file() else []
        )
        if len(recs) < 3:
            raise SystemExit(f"probe: too few logged steps in {wall:.0f} s (see {pdir})")
        rates = sorted(r["tokens_per_s"] for r in recs[1:])
        per_run.append(rates[len(rates) // 2])
        startup = max(startup, wall - recs[-1]["tokens"] / per_run[-1])
    tps = min(per_run)
    usable = a.minutes_per_variant * 60 * n / len(VARIANTS) * math.ceil(len(VARIANTS) / n)
    usable -= min(startup, 60) + 15  # start-up, export, slack
    steps = max(20, int(tps * usable * 0.9 / tokens_per_step))
    info = {
        "tokens_per_s": round(tps, 1),
        "tokens_per_step": tokens_per_step,
        "startup_seconds": round(startup, 1),
        "probe_wall_seconds": round(wall, 1),
        "tokens_per_s_each": [round(x, 1) for x in per_run],
        "parallel": n,
        "threads_each": a.train_threads,
        "load_average": os.getloadavg()[0],
        "steps": steps,
        "budget_tokens": steps * tokens_per_step,
        "measured": True,
    }
    log(f"probe: {tps:.0f} tokens/s -> {steps} steps, {steps * tokens_per_step:,} tokens/variant")
    return info


def load_build_rows(build: Path, columns: list[str] | None = None) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    files = sorted((build / "samples").glob("*.parquet"))
    if not files:
        raise SystemExit(f"no samples/*.parquet in {build}")
    rows: list[dict[str, Any]] = []
    for f in files:
        rows.extend(pq.read_table(f, columns=columns).to_pylist())
    return rows


def phase_split(ctx: Ctx) -> dict[str, Any]:
    """Held-out repositories out; training pool = chunks of consecutive files (shuffled)."""
    a = ctx.args
    rows = load_build_rows(ctx.build)
    repos = {r["repo"] for r in rows}
    missing = [h for h in a.heldout if h not in repos]
    if missing:
        raise SystemExit(f"held-out repositories not in the build: {missing}")
    held: list[dict[str, Any]] = []
    pool: list[dict[str, Any]] = []
    failed = 0
    for r in rows:
        pieces = split_pieces(r)
        if pieces is None:
            failed += 1
            continue
        if r["repo"] in a.heldout:
            for path, lang, piece in pieces:
                held.append(
                    {
                        "repo": r["repo"],
                        "path": path,
                        "language": lang,
                        "body": piece_body(path, piece),
                    }
                )
            continue
        # chunks of consecutive files in the sample's (dependency) order, <= chunk_bytes
        cur: list[tuple[str, str, str]] = []
        size = 0
        n = 0
        for p in pieces:
            b = len(p[2].encode())
            if cur and size + b > a.chunk_bytes:
                pool.append({"repo": r["repo"], "sample_id": f"{r['sample_id']}#{n}", "files": cur})
                n, cur, size = n + 1, [], 0
            cur.append(p)
            size += b
        if cur:
            pool.append({"repo": r["repo"], "sample_id": f"{r['sample_id']}#{n}", "files": cur})
    # decontamination: no held-out file body may occur in the training pool
    held_hashes = {body_hash(h["body"]) for h in held if h["body"].strip()}
    dropped = 0
    for c in pool:
        keep = [f for f in c["files"] if body_hash(piece_body(f[0], f[2])) not in held_hashes]
        dropped += len(c["files"]) - len(keep)
        c["files"] = keep
    pool = [c for c in pool if c["files"]]
    random.Random(a.seed).shuffle(pool)
    sdir = ctx.work / "split"
    sdir.mkdir(parents=True, exist_ok=True)
    tmp = sdir / "pool.jsonl.tmp"
    with tmp.open("w") as fh:
        for c in pool:
            fh.write(json.dumps(c) + "\n")
    os.replace(tmp, sdir / "pool.jsonl")
    write_json(sdir / "heldout.json", held)
    train_repos = sorted({c["repo"] for c in pool})
    return {
        "heldout_repos": a.heldout,
        "heldout_files": len(held),
        "pool_chunks": len(pool),
        "pool_bytes": sum(len(f[2].encode()) for c in pool for f in c["files"]),
        "train_repos": len(train_repos),
        "overlap_files_dropped": dropped,
        "samples_not_split": failed,
        "chunk_bytes": a.chunk_bytes,
    }


def iter_pool(ctx: Ctx):
    with (ctx.work / "split" / "pool.jsonl").open() as fh:
        for line in fh:
            yield json.loads(line)


def chunk_row(c: dict[str, Any]) -> dict[str, Any]:
    text = "".join(f[2] for f in c["files"])
    multi = len(c["files"]) > 1 or text.startswith(HEADER.format(path=c["files"][0][0]) + "\n")
    return {
        "repo": c["repo"],
        "sample_id": c["sample_id"],
        "text": text,
        "paths": [f[0] for f in c["files"]],
        "languages": [f[1] for f in c["files"]],
        "n_bytes": len(text.encode()),
        "kind": "repo" if multi else "file",
    }


def phase_tokenizer(ctx: Ctx) -> dict[str, Any]:
    a = ctx.args
    tdir = ctx.work / "tokenizer_corpus"
    rows, size = [], 0
    for c in iter_pool(ctx):
        row = chunk_row(c)
        rows.append({"text": row["text"]})
        size += row["n_bytes"]
        if size >= a.tokenizer_mb * 1e6:
            break
    import pyarrow as pa
    import pyarrow.parquet as pq

    tdir.mkdir(parents=True, exist_ok=True)
    tmp = tdir / "train.parquet.tmp"
    pq.write_table(pa.Table.from_pylist(rows), tmp)
    os.replace(tmp, tdir / "train.parquet")
    out = ctx.work / "tokenizer"
    shutil.rmtree(out, ignore_errors=True)
    seconds = run_cli(
        [
            "tokenizer",
            "train",
            "--corpus",
            f"text:{tdir / 'train.parquet'}",
            "--vocab-size",
            str(a.vocab_size),
            "--out",
            str(out),
        ],
        ctx.threads,
    )
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    sample = "".join(r["text"] for r in rows)[:2_000_000]
    n_tok = len(tok(sample, add_special_tokens=False)["input_ids"])
    return {
        "tokenizer": str(out),
        "vocab": len(tok),
        "trained_on_bytes": size,
        "trained_on_chunks": len(rows),
        "bytes_per_token": round(len(sample.encode()) / n_tok, 4),
        "seconds": round(seconds, 1),
    }


def phase_select(ctx: Ctx) -> dict[str, Any]:
    """The training slice: a prefix of the shuffled pool of ~budget tokens, at both levels."""
    a = ctx.args
    probe = ctx.done("probe")
    tokz = ctx.done("tokenizer")
    assert probe and tokz
    target_bytes = probe["budget_tokens"] * tokz["bytes_per_token"] * a.data_margin
    repo_rows: list[dict[str, Any]] = []
    size = 0
    for c in iter_pool(ctx):
        row = chunk_row(c)
        repo_rows.append(row)
        size += row["n_bytes"]
        if size >= target_bytes:
            break
    file_rows = []
    for r in repo_rows:
        for i, (path, lang) in enumerate(zip(r["paths"], r["languages"], strict=True)):
            piece = split_pieces(r)[i][2] if len(r["paths"]) > 1 else r["text"]
            file_rows.append(
                {
                    "repo": r["repo"],
                    # the chunk's sample_id: `--fim-unit file` keys a file's FIM draw by
                    # "repo#sample_id/path", so both levels get the very same FIM cuts
                    "sample_id": r["sample_id"],
                    "text": piece,
                    "paths": [path],
                    "languages": [lang],
                    "n_bytes": len(piece.encode()),
                    "kind": "file",
                }
            )
    random.Random(a.seed + 1).shuffle(file_rows)
    assert "".join(sorted(x["text"] for x in file_rows)) == "".join(
        sorted(p[2] for r in repo_rows for p in split_pieces(r))
    )
    write_parquet(ctx.work / "corpus_repo" / "samples" / "part-00000.parquet", repo_rows)
    write_parquet(ctx.work / "corpus_file" / "samples" / "part-00000.parquet", file_rows)
    langs: dict[str, int] = {}
    for r in file_rows:
        langs[r["languages"][0]] = langs.get(r["languages"][0], 0) + r["n_bytes"]
    return {
        "target_bytes": int(target_bytes),
        "bytes": size,
        "repo_level_samples": len(repo_rows),
        "multi_file_samples": sum(1 for r in repo_rows if len(r["paths"]) > 1),
        "file_level_samples": len(file_rows),
        "repositories": len({r["repo"] for r in repo_rows}),
        "bytes_by_language": dict(sorted(langs.items(), key=lambda kv: -kv[1])[:15]),
    }


def phase_tokenize(ctx: Ctx) -> dict[str, Any]:
    a = ctx.args
    out: dict[str, Any] = {}
    for name, (level, rate) in VARIANTS.items():
        tdir = ctx.work / "tokens" / name
        if (tdir / "report.json").is_file():
            log(f"tokenize {name}: done")
        else:
            seconds = run_cli(
                [
                    "tokenize",
                    "--corpus",
                    f"code=samples:{ctx.work / f'corpus_{level}'}",
                    "--tokenizer",
                    str(ctx.work / "tokenizer"),
                    "--out",
                    str(tdir),
                    "--seq-len",
                    str(a.seq_len),
                    "--fim-rate",
                    str(rate),
                    "--fim-unit",
                    "file",
                    "--seed",
                    str(a.seed),
                    "--workers",
                    "1",
                ],
                ctx.threads,
                ctx.work / "logs" / f"tokenize_{name}.txt",
            )
            log(f"tokenize {name}: {seconds:.0f} s")
        rep = read_json(tdir / "report.json")["totals"]
        out[name] = {
            k: rep.get(k)
            for k in (
                "docs",
                "tokens",
                "bytes_per_token",
                "fim_units",
                "fim_psm",
                "fim_tokens",
                "fim_share_of_units",
                "fim_share_of_tokens",
                "windows",
            )
        }
    return out


def phase_train(ctx: Ctx) -> dict[str, Any]:
    probe = ctx.done("probe")
    tokz = ctx.done("tokenizer")
    assert probe and tokz
    todo = [n for n in VARIANTS if not (ctx.work / "done" / f"train_{n}.json").is_file()]
    vocab = model_vocab(ctx.args.vocab_size)
    for i in range(0, len(todo), ctx.args.parallel):
        group = todo[i : i + ctx.args.parallel]
        procs = []
        for name in group:
            run = ctx.work / "runs" / name
            args = train_overrides(ctx, ctx.work / "tokens" / name, run, probe["steps"], vocab)
            log("+ repoloom " + " ".join(args))
            lf = ctx.work / "logs" / f"train_{name}.txt"
            lf.parent.mkdir(parents=True, exist_ok=True)
            fh = lf.open("a")
            proc = subprocess.Popen(
                [sys.executable, "-m", "repoloom.cli", *args],
                env=child_env(ctx.args.train_threads),
                stdout=fh,
                stderr=fh,
            )
            procs.append((name, proc, fh, time.perf_counter()))
        pending = list(procs)
        while pending:  # poll, so that each run's own wall time is recorded
            time.sleep(2)
            for item in list(pending):
                name, proc, fh, t0 = item
                rc = proc.poll()
                if rc is None:
                    continue
                pending.remove(item)
                fh.close()
                seconds = time.perf_counter() - t0
                if rc != 0:
                    raise SystemExit(f"train {name} failed ({rc}): {ctx.work / 'logs'}")
                summ = read_json(ctx.work / "runs" / name / "summary.json")
                write_json(
                    ctx.work / "done" / f"train_{name}.json",
                    {"seconds": round(seconds, 1), "summary": summ},
                )
                log(f"train {name}: {seconds:.0f} s")
    return {n: read_json(ctx.work / "done" / f"train_{n}.json") for n in VARIANTS}
