"""The DeepSeek-Coder ablations in miniature: FIM rate and repository- vs file-level data.

Trains four `tiny`-class models (configs/train/tiny.yaml, vocabulary shrunk to the BPE trained
here) on the same slice of the real `benchmark` corpus, same token budget, same seed:

    repo_fim0    repository-level samples, FIM rate 0
    repo_fim05   repository-level samples, FIM rate 0.5 (PSM)
    repo_fim1    repository-level samples, FIM rate 1.0 (PSM)
    file_fim05   file-level samples (the same files, each its own sample), FIM rate 0.5 (PSM)

and evaluates them on held-out repositories (never in the training data: checked by content hash):
left-to-right loss per token on held-out files, loss of held-out middle lines given a PSM prompt
(infilling), and loss / exact match of cross-file ground-truth lines with no, BM25 and
dependency-ordered repository context (`repoloom.evaluate.crossfile`).

Phases (each writes its outputs atomically under --work and is skipped when its marker
``WORK/done/PHASE.json`` exists, so an interrupted run resumes):

    fetch      `repoloom corpus fetch --manifest benchmark` into --data (skipped when locked)
    build      `repoloom corpus build --repos-dir DATA --out BUILD` (skipped when built)
    probe      ~30 s of `repoloom train` on synthetic tokens -> tokens/s -> token budget
    split      held-out repositories out; the rest cut into chunks of consecutive files, shuffled
    tokenizer  `repoloom tokenizer train` on the training split (DeepSeek special tokens)
    select     the training slice (token budget x bytes/token) at repository and at file level
    tokenize   `repoloom tokenize` x 4 (FIM per file of a sample, `--fim-unit file`)
    train      `repoloom train` x 4 (two side by side, one torch thread each)
    replicate  repo_fim05 again with seed+1: the seed-to-seed noise (--no-replicate skips it)
    eval_lm    left-to-right and infilling losses (PSM prompt and prefix only; infilling EM)
    crossfile  cross-file ground-truth lines: loss and exact match per context mode
    report     JSON of all numbers, bootstrap CIs, plots in --results

    .venv/bin/python benchmarks/ablations.py --work ~/.cache/repoloom/ablations
    .venv/bin/python benchmarks/ablations.py --work /tmp/abl-smoke --smoke     # minutes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path("~/.cache/repoloom/benchmark-corpus").expanduser()
DEFAULT_BUILD = Path("~/.cache/repoloom/benchmark-build").expanduser()
DEFAULT_WORK = Path("~/.cache/repoloom/ablations").expanduser()
DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "ablations"
HELDOUT = [
    "httpx-0.26.0",
    "attrs-23.2.0",
    "jdk17-java.logging",
    "jdk17-jdk.httpserver",
    "zod-3.22.4",
    "tanstack-query-core-5.17.9",
]
EVAL_LANGUAGES = ("python", "java", "typescript")
# name -> (sample level, FIM rate)
VARIANTS: dict[str, tuple[str, float]] = {
    "repo_fim0": ("repo", 0.0),
    "repo_fim05": ("repo", 0.5),
    "repo_fim1": ("repo", 1.0),
    "file_fim05": ("file", 0.5),
}
PHASES = [
    "fetch",
    "build",
    "probe",
    "split",
    "tokenizer",
    "select",
    "tokenize",
    "train",
    "replicate",
    "eval_lm",
    "crossfile",
    "report",
]
HEADER = "# {path}"
# settings that change the trained models (a resumed run must keep them)
TRAINING_KEYS = (
    "heldout",
    "vocab_size",
    "seq_len",
    "batch",
    "lr",
    "seed",
    "shuffle_windows",
    "chunk_bytes",
    "minutes_per_variant",
    "budget_tokens",
    "tokenizer_mb",
    "data_margin",
    "train_threads",
    "parallel",
    "smoke",
)


# --------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows with the corpus builder's sample columns, written atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from repoloom.corpus.build import SAMPLE_SCHEMA

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, row_group_size=256)
    os.replace(tmp, path)


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[k] = str(threads)
    env["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_cli(args: list[str], threads: int, log_file: Path | None = None) -> float:
    """Run `repoloom ARGS` (the real CLI) in a child process; returns wall seconds."""
    cmd = [sys.executable, "-m", "repoloom.cli", *args]
    log("+ repoloom " + " ".join(args))
    start = time.perf_counter()
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a") as fh:
            rc = subprocess.run(cmd, env=child_env(threads), stdout=fh, stderr=fh).returncode
    else:
        rc = subprocess.run(cmd, env=child_env(threads)).returncode
    if rc != 0:
        where = f" (log: {log_file})" if log_file else ""
        raise SystemExit(f"repoloom {args[0]} failed with exit code {rc}{where}")
    return time.perf_counter() - start


def body_hash(text: str) -> str:
    norm = "\n".join(line.rstrip() for line in text.strip().splitlines())
    return hashlib.blake2b(norm.encode(), digest_size=16).hexdigest()


def split_pieces(row: dict[str, Any]) -> list[tuple[str, str, str]] | None:
    """(path, language, rendered piece) of every file of a corpus sample (header kept)."""
    from repoloom.tokenize.fim import split_files

    pieces = split_files(row["text"], list(row["paths"]), HEADER)
    if pieces is None:
        return None
    langs = list(row["languages"]) or ["unknown"] * len(pieces)
    if len(langs) != len(pieces):
        langs = [langs[0]] * len(pieces)
    return list(zip(row["paths"], langs, pieces, strict=True))


def piece_body(path: str, piece: str) -> str:
    header = HEADER.format(path=path) + "\n"
    return piece[len(header) :] if piece.startswith(header) else piece


# --------------------------------------------------------------------------- phases


class Ctx:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work: Path = args.work.expanduser()
        self.data: Path = args.data.expanduser()
        self.build: Path = args.build.expanduser()
        self.results: Path = args.results.expanduser()
        self.threads: int = args.threads

    def marker(self, phase: str) -> Path:
        return self.work / "done" / f"{phase}.json"

    def done(self, phase: str) -> dict[str, Any] | None:
        m = self.marker(phase)
        return read_json(m) if m.is_file() else None

    def finish(self, phase: str, info: dict[str, Any]) -> dict[str, Any]:
        write_json(self.marker(phase), info)
        return info


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


# --------------------------------------------------------------------------- evaluation


class Scorer:
    """A trained variant: summed NLL of target tokens and greedy continuation."""

    def __init__(self, hf_dir: Path, tok_dir: Path, threads: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(tok_dir)
        self.model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
        self.eos = self.tok.eos_token_id

    def ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"] if text else []

    def special(self, token: str) -> int:
        return int(self.tok.convert_tokens_to_ids(token))

    def nll(self, context: list[int], target: list[int]) -> tuple[float, int]:
        torch = self.torch
        x = torch.tensor([context + target])
        with torch.no_grad():
            logits = self.model(x).logits[0, len(context) - 1 : -1]
        loss = torch.nn.functional.cross_entropy(
            logits.float(), torch.tensor(target), reduction="sum"
        )
        return float(loss), len(target)

    def greedy(self, context: list[int], max_new: int, stop_ids: set[int]) -> str:
        torch = self.torch
        x = torch.tensor([context])
        out: list[int] = []
        past = None
        with torch.no_grad():
            for _ in range(max_new):
                res = self.model(x, past_key_values=past, use_cache=True)
                past = res.past_key_values
                nxt = int(res.logits[0, -1].argmax())
                if nxt in stop_ids:
                    break
                out.append(nxt)
                # stop at the end of the first non-empty line (a leading newline is not a line)
                if "\n" in self.tok.decode(out).lstrip():
                    break
                x = torch.tensor([[nxt]])
        return self.tok.decode(out)


def eval_items(ctx: Ctx, scorer_tok: Callable[[str], list[int]]) -> dict[str, Any]:
    """Held-out files (L2R) and single-line infilling items, fixed once for every model."""
    path = ctx.work / "eval" / "items.json"
    if path.is_file():
        return read_json(path)
    a = ctx.args
    held = read_json(ctx.work / "split" / "heldout.json")
    rng = random.Random(a.seed + 7)
    files = [h for h in held if h["language"] in EVAL_LANGUAGES and len(h["body"].strip()) > 200]
    by_repo: dict[str, list[dict[str, Any]]] = {}
    for f in files:
        by_repo.setdefault(f["repo"], []).append(f)
    chosen = []
    for repo in sorted(by_repo):
        fs = by_repo[repo]
        rng.shuffle(fs)
        chosen.extend(fs[: a.eval_files_per_repo])
    l2r, fim = [], []
    budget = a.seq_len
    for f in chosen:
        header = scorer_tok(HEADER.format(path=f["path"]) + "\n")
        body = scorer_tok(f["body"])[: budget - 1 - len(header)]
        l2r.append(
            {
                "repo": f["repo"],
                "path": f["path"],
                "language": f["language"],
                "context": header,
                "target": body,
            }
        )
        lines = f["body"].splitlines(keepends=True)
        offsets = [0]
        for line in lines:
            offsets.append(offsets[-1] + len(line))
        cands = [i for i, line in enumerate(lines) if len(line.strip()) >= 4]
        for i in rng.sample(cands, min(a.fim_lines_per_file, len(cands))):
            prefix = f["body"][: offsets[i]]
            middle = lines[i]
            suffix = f["body"][offsets[i + 1] :]
            p_ids = scorer_tok(prefix)[-a.fim_side_tokens :] if prefix else []
            s_ids = scorer_tok(suffix)[: a.fim_side_tokens] if suffix else []
            fim.append(
                {
                    "repo": f["repo"],
                    "path": f["path"],
                    "language": f["language"],
                    "prefix": p_ids,
                    "suffix": s_ids,
                    "middle": scorer_tok(middle),
                    "middle_text": middle,
                }
            )
    items = {"l2r": l2r, "fim": fim}
    write_json(path, items)
    return items


def phase_eval_lm(ctx: Ctx) -> dict[str, Any]:
    from repoloom.tokenize.release import FIM_BEGIN, FIM_END, FIM_HOLE

    a = ctx.args
    out: dict[str, Any] = {}
    for name in eval_variants(ctx):
        res_path = ctx.work / "eval" / f"lm_{name}.json"
        if res_path.is_file():
            res = read_json(res_path)
            if "fim_prefix_only" not in res:  # added later: computed for older results too
                sc = Scorer(ctx.work / "runs" / name / "hf", ctx.work / "tokenizer", ctx.threads)
                res["fim_prefix_only"] = prefix_only(sc, eval_items(ctx, sc.ids))
                res["summary"]["fim_prefix_only_loss"] = _ratio(res["fim_prefix_only"])
                write_json(res_path, res)
            out[name] = res["summary"]
            continue
        start = time.perf_counter()
        sc = Scorer(ctx.work / "runs" / name / "hf", ctx.work / "tokenizer", ctx.threads)
        items = eval_items(ctx, sc.ids)
        begin, hole, end = sc.special(FIM_BEGIN), sc.special(FIM_HOLE), sc.special(FIM_END)
        l2r = []
        for it in items["l2r"]:
            nll, n = sc.nll([sc.eos] + it["context"], it["target"])
            l2r.append([nll, n])
        fim = []
        for k, it in enumerate(items["fim"]):
            ctx_ids = [sc.eos, begin] + it["prefix"] + [hole] + it["suffix"] + [end]
            nll, n = sc.nll(ctx_ids, it["middle"])
            em = None
            if k < a.fim_em_items:
                pred = sc.greedy(ctx_ids, len(it["middle"]) + 8, {sc.eos})
                em = int(pred.strip() == it["middle_text"].strip())
            fim.append([nll, n, em])
        fim_prefix = prefix_only(sc, items)
        summary = {
            "fim_prefix_only_loss": _ratio(fim_prefix),
            "l2r_loss": sum(x[0] for x in l2r) / sum(x[1] for x in l2r),
            "l2r_tokens": sum(x[1] for x in l2r),
            "fim_loss": sum(x[0] for x in fim) / sum(x[1] for x in fim),
            "fim_tokens": sum(x[1] for x in fim),
            "fim_items": len(fim),
            "fim_em": _mean([x[2] for x in fim if x[2] is not None]),
            "fim_em_items": sum(1 for x in fim if x[2] is not None),
            "seconds": round(time.perf_counter() - start, 1),
        }
        write_json(
            res_path, {"summary": summary, "l2r": l2r, "fim": fim, "fim_prefix_only": fim_prefix}
        )
        log(
            f"eval {name}: "
            + ", ".join(f"{k} {v:.4g}" for k, v in summary.items() if isinstance(v, float))
        )
        out[name] = summary
    return out


def prefix_only(sc: Scorer, items: dict[str, Any]) -> list[list[float]]:
    """The infilling items' middle lines scored left to right (prefix only, no suffix): what a
    model gains from the suffix is fim_prefix_only_loss - fim_loss."""
    res = []
    for it in items["fim"]:
        nll, n = sc.nll([sc.eos] + it["prefix"], it["middle"])
        res.append([nll, n])
    return res


def _ratio(pairs: list[list[float]]) -> float:
    return sum(x[0] for x in pairs) / max(1, sum(x[1] for x in pairs))


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


# --------------------------------------------------------------------------- seed replicate

REPLICATE = "repo_fim05_seed1"


def phase_replicate(ctx: Ctx) -> dict[str, Any]:
    """repo_fim05 again with another initialisation seed: the seed-to-seed noise of a result."""
    probe = ctx.done("probe")
    assert probe
    if not ctx.args.replicate:
        return {"skipped": True}
    run = ctx.work / "runs" / REPLICATE
    args = train_overrides(
        ctx,
        ctx.work / "tokens" / "repo_fim05",
        run,
        probe["steps"],
        model_vocab(ctx.args.vocab_size),
    )
    args = [a for a in args if not a.startswith("seed=")] + [f"seed={ctx.args.seed + 1}"]
    seconds = run_cli(args, ctx.args.train_threads, ctx.work / "logs" / f"train_{REPLICATE}.txt")
    summ = read_json(run / "summary.json")
    write_json(
        ctx.work / "done" / f"train_{REPLICATE}.json",
        {"seconds": round(seconds, 1), "summary": summ},
    )
    return {"seconds": round(seconds, 1), "seed": ctx.args.seed + 1}


def eval_variants(ctx: Ctx) -> list[str]:
    names = list(VARIANTS)
    if (ctx.work / "done" / f"train_{REPLICATE}.json").is_file():
        names.append(REPLICATE)
    if ctx.args.eval_only:  # scheduling aid: evaluate these now (e.g. beside another run)
        names = [n for n in names if n in ctx.args.eval_only]
    return names


# --------------------------------------------------------------------------- cross-file


def find_source(data: Path, repo: str) -> Path:
    for p in sorted(data.iterdir()):
        if p.name == repo or (p.name.startswith(repo + ".") and p.is_file()):
            return p
    raise SystemExit(f"crossfile: {repo} not found in {data}")


def crossfile_points(ctx: Ctx, ids: Callable[[str], list[int]]) -> list[dict[str, Any]]:
    """Points of the held-out repositories with their three contexts, tokenized once."""
    path = ctx.work / "eval" / "crossfile_points.json"
    if path.is_file():
        return read_json(path)
    from repoloom.evaluate.crossfile import build_points, crossfile_context, load_source

    a = ctx.args
    out = []
    for repo in a.heldout:
        src = find_source(ctx.data, repo)
        points = build_points(src, list(EVAL_LANGUAGES), a.crossfile_points, a.seed)
        source = load_source(src)
        log(f"crossfile: {repo}: {len(points)} points")
        for pt in points:
            gt = ids(pt.groundtruth)[: a.gt_tokens]
            if not gt:
                continue
            contexts = {}
            for mode in ("none", "bm25", "deps"):
                text = crossfile_context(
                    pt, source.files, source.languages, mode, lambda t: len(ids(t)), a.ctx_tokens
                )
                contexts[mode] = ids(text)[-a.ctx_tokens :] if text else []
            out.append(
                {
                    "task_id": pt.task_id,
                    "repo": repo,
                    "language": pt.language,
                    "left": ids(pt.left_context)[-a.left_tokens :],
                    "target": gt,
                    "groundtruth": pt.groundtruth,
                    "contexts": contexts,
                }
            )
    write_json(path, out)
    return out


def phase_crossfile(ctx: Ctx) -> dict[str, Any]:
    a = ctx.args
    out: dict[str, Any] = {}
    for name in eval_variants(ctx):
        res_path = ctx.work / "eval" / f"crossfile_{name}.json"
        if res_path.is_file():
            out[name] = read_json(res_path)["summary"]
            continue
        from repoloom.evaluate.crossfile import score_line

        start = time.perf_counter()
        sc = Scorer(ctx.work / "runs" / name / "hf", ctx.work / "tokenizer", ctx.threads)
        points = crossfile_points(ctx, sc.ids)
        rows = []
        for k, pt in enumerate(points):
            row: dict[str, Any] = {}
            for mode, cids in pt["contexts"].items():
                context = [sc.eos] + cids + pt["left"]
                nll, n = sc.nll(context, pt["target"])
                cell: dict[str, Any] = {"nll": nll, "n": n}
                if k < a.crossfile_em_points:
                    pred = sc.greedy(context, min(len(pt["target"]) + 4, 40), {sc.eos})
                    cell.update(score_line(pred, pt["groundtruth"], pt["language"]))
                row[mode] = cell
            rows.append(row)
        summary: dict[str, Any] = {"points": len(rows), "seconds": 0.0}
        for mode in ("none", "bm25", "deps"):
            cells = [r[mode] for r in rows]
            summary[f"loss_{mode}"] = sum(c["nll"] for c in cells) / max(
                1, sum(c["n"] for c in cells)
            )
            for m in ("em", "es"):
                summary[f"{m}_{mode}"] = _mean([c[m] for c in cells if m in c])
        summary["seconds"] = round(time.perf_counter() - start, 1)
        write_json(res_path, {"summary": summary, "rows": rows})
        log(
            f"crossfile {name}: "
            + ", ".join(f"{k} {v:.4g}" for k, v in summary.items() if isinstance(v, float))
        )
        out[name] = summary
    return out


# --------------------------------------------------------------------------- report


def bootstrap(
    pairs: list[tuple[float, int]],
    reps: int,
    seed: int,
    base: list[tuple[float, int]] | None = None,
) -> dict[str, float]:
    """Token-weighted mean loss (sum nll / sum tokens) and its 95% bootstrap CI over items;
    with ``base`` (the same items under another model) the CI of the paired difference."""
    import numpy as np

    nll = np.array([p[0] for p in pairs])
    n = np.array([p[1] for p in pairs], dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(pairs), size=(reps, len(pairs)))
    stat = nll[idx].sum(1) / n[idx].sum(1)
    res = {
        "mean": float(nll.sum() / n.sum()),
        "lo": float(np.percentile(stat, 2.5)),
        "hi": float(np.percentile(stat, 97.5)),
        "std": float(stat.std()),
    }
    if base is not None:
        bn = np.array([p[0] for p in base])
        bs = np.array([p[1] for p in base], dtype=float)
        d = stat - bn[idx].sum(1) / bs[idx].sum(1)
        res.update(
            {
                "diff": float(nll.sum() / n.sum() - bn.sum() / bs.sum()),
                "diff_lo": float(np.percentile(d, 2.5)),
                "diff_hi": float(np.percentile(d, 97.5)),
            }
        )
    return res


def phase_report(ctx: Ctx) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = ctx.args
    names = eval_variants(ctx)
    res_dir = ctx.results
    res_dir.mkdir(parents=True, exist_ok=True)
    reps, ref = a.bootstrap, "repo_fim05"
    lm = {n: read_json(ctx.work / "eval" / f"lm_{n}.json") for n in names}
    cf_paths = {n: ctx.work / "eval" / f"crossfile_{n}.json" for n in names}
    cf = {n: read_json(p) for n, p in cf_paths.items() if p.is_file()}
    result: dict[str, Any] = {
        "settings": read_json(ctx.work / "settings.json"),
        "phases": {ph: ctx.done(ph) for ph in PHASES if ph not in ("report",)},
        "variants": {},
    }
    for n in names:
        tr = read_json(ctx.work / "done" / f"train_{n}.json")
        run_dir = ctx.work / "runs" / n
        recs = [
            json.loads(x)
            for x in (ctx.work / "runs" / n / "metrics.jsonl").read_text().splitlines()
        ]
        v: dict[str, Any] = {
            # model built (config.json) -> exported (summary.json): the run's own wall time
            "train_seconds": round(
                (run_dir / "summary.json").stat().st_mtime
                - (run_dir / "config.json").stat().st_mtime,
                1,
            ),
            "train_process_seconds": tr["seconds"],
            "tokens": tr["summary"]["tokens"],
            "steps": tr["summary"]["steps"],
            "parameters": tr["summary"]["parameters"],
            "final_train_loss": recs[-1]["loss"],
            "train_loss_last10pct": _mean([r["loss"] for r in recs[-max(1, len(recs) // 10) :]]),
            "loss_curve": [[r["tokens"], round(r["loss"], 4)] for r in recs],
        }
        base_l2r = [tuple(x[:2]) for x in lm[ref]["l2r"]]
        base_fim = [tuple(x[:2]) for x in lm[ref]["fim"]]
        v["l2r"] = bootstrap([tuple(x[:2]) for x in lm[n]["l2r"]], reps, 1, base_l2r)
        v["fim"] = bootstrap([tuple(x[:2]) for x in lm[n]["fim"]], reps, 2, base_fim)
        pre = [tuple(x[:2]) for x in lm[n]["fim_prefix_only"]]
        # paired: FIM prompt (prefix + suffix) against prefix only, same middle tokens
        v["fim_vs_prefix_only"] = bootstrap([tuple(x[:2]) for x in lm[n]["fim"]], reps, 4, pre)
        v["fim_prefix_only"] = bootstrap(pre, reps, 4)
        ems = [x[2] for x in lm[n]["fim"] if x[2] is not None]
        v["fim_em"] = {"mean": _mean(ems), "items": len(ems)}
        if n in cf:
            rows = cf[n]["rows"]
            v["crossfile"] = {}
            for mode in ("none", "bm25", "deps"):
                pairs = [(r[mode]["nll"], r[mode]["n"]) for r in rows]
                none = [(r["none"]["nll"], r["none"]["n"]) for r in rows]
                st = bootstrap(pairs, reps, 3, none if mode != "none" else None)
                if ref in cf and mode == "none":
                    refrows = cf[ref]["rows"]
                    st_ref = bootstrap(
                        pairs, reps, 3, [(r["none"]["nll"], r["none"]["n"]) for r in refrows]
                    )
                    st["vs_ref_diff"] = st_ref["diff"]
                    st["vs_ref_lo"], st["vs_ref_hi"] = st_ref["diff_lo"], st_ref["diff_hi"]
                for m in ("em", "es", "id_em"):
                    st[m] = _mean([r[mode][m] for r in rows if m in r[mode]])
                st["em_points"] = sum(1 for r in rows if "em" in r[mode])
                v["crossfile"][mode] = st
            v["crossfile"]["points"] = len(rows)
            v["crossfile"]["by_language_points"] = {}
        result["variants"][n] = v
    if REPLICATE in result["variants"]:
        r0, r1 = result["variants"][ref], result["variants"][REPLICATE]
        seed_noise = {
            "l2r": abs(r0["l2r"]["mean"] - r1["l2r"]["mean"]),
            "fim": abs(r0["fim"]["mean"] - r1["fim"]["mean"]),
        }
        if "crossfile" in r0 and "crossfile" in r1:
            for mode in ("none", "bm25", "deps"):
                seed_noise[f"crossfile_{mode}"] = abs(
                    r0["crossfile"][mode]["mean"] - r1["crossfile"][mode]["mean"]
                )
        result["seed_noise_abs_diff"] = seed_noise
    write_json(res_dir / "ablations.json", result)

    colors = {
        "repo_fim0": "tab:blue",
        "repo_fim05": "tab:orange",
        "repo_fim1": "tab:green",
        "file_fim05": "tab:red",
        REPLICATE: "tab:gray",
    }
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for n in names:
        curve = result["variants"][n]["loss_curve"]
        xs, ys = [c[0] / 1e6 for c in curve], [c[1] for c in curve]
        k = 5  # logged losses are single steps of 4 x 512 tokens: show a moving mean of 5 logs
        smooth = [
            sum(ys[max(0, i - k + 1) : i + 1]) / len(ys[max(0, i - k + 1) : i + 1])
            for i in range(len(ys))
        ]
        ax.plot(xs, ys, color=colors[n], lw=0.5, alpha=0.25)
        ax.plot(
            xs,
            smooth,
            label=n,
            color=colors[n],
            lw=1.4,
            ls="--" if n == REPLICATE else "-",
        )
    ax.set_xlabel("training tokens (M)")
    ax.set_ylabel("training loss (nats/token)")
    ax.set_title("same slice and budget; faint: logged steps, bold: mean of 5 logs")
    ax.set_ylim(top=min(ax.get_ylim()[1], 8.5))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(res_dir / "loss_curves.png", dpi=120)
    plt.close(fig)

    panels = [
        ("l2r", "left-to-right loss\n(held-out files)"),
        ("fim", "infilling loss\n(held-out middle lines, PSM)"),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (key, title) in zip(axes, panels, strict=True):
        means = [result["variants"][n][key]["mean"] for n in names]
        err = [
            [m - result["variants"][n][key]["lo"] for n, m in zip(names, means, strict=True)],
            [result["variants"][n][key]["hi"] - m for n, m in zip(names, means, strict=True)],
        ]
        ax.bar(range(len(names)), means, yerr=err, color=[colors[n] for n in names], capsize=4)
        ax.set_xticks(range(len(names)), names, rotation=20)
        lo = min(result["variants"][n][key]["lo"] for n in names)
        hi = max(result["variants"][n][key]["hi"] for n in names)
        ax.set_ylim(lo - 0.15 * (hi - lo) - 0.05, hi + 0.1 * (hi - lo) + 0.05)
        ax.set_title(title)
        ax.set_ylabel("nats/token (95% bootstrap CI)")
    fig.tight_layout()
    fig.savefig(res_dir / "eval_losses.png", dpi=120)
    plt.close(fig)

    # paired differences against repo_fim05 (same items), with the seed-to-seed difference
    keys = [("l2r", "L2R"), ("fim", "infilling (PSM)"), ("fim_prefix_only", "middle, prefix only")]
    others = [n for n in names if n != ref]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(1, len(others))
    for j, n in enumerate(others):
        diffs, errs = [], [[], []]
        for key, _ in keys:
            st = bootstrap(
                [tuple(x[:2]) for x in lm[n][key]], reps, 5, [tuple(x[:2]) for x in lm[ref][key]]
            )
            diffs.append(st["diff"])
            errs[0].append(st["diff"] - st["diff_lo"])
            errs[1].append(st["diff_hi"] - st["diff"])
        ax.bar(
            [i + (j - (len(others) - 1) / 2) * width for i in range(len(keys))],
            diffs,
            width,
            yerr=errs,
            capsize=3,
            color=colors[n],
            label=n,
            hatch="//" if n == REPLICATE else None,
        )
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(keys)), [k[1] for k in keys])
    ax.set_ylabel(f"loss - loss of {ref} (nats/token)")
    ax.set_title(
        f"paired differences to {ref} (95% bootstrap CI over items); {REPLICATE} = seed noise"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(res_dir / "eval_differences.png", dpi=120)
    plt.close(fig)

    if cf:
        cnames = [n for n in names if "crossfile" in result["variants"][n]]
        fig, ax = plt.subplots(figsize=(8, 4))
        width = 0.26
        for j, mode in enumerate(("none", "bm25", "deps")):
            means = [result["variants"][n]["crossfile"][mode]["mean"] for n in cnames]
            err = [
                [
                    m - result["variants"][n]["crossfile"][mode]["lo"]
                    for n, m in zip(cnames, means, strict=True)
                ],
                [
                    result["variants"][n]["crossfile"][mode]["hi"] - m
                    for n, m in zip(cnames, means, strict=True)
                ],
            ]
            ax.bar(
                [i + (j - 1) * width for i in range(len(cnames))],
                means,
                width,
                yerr=err,
                capsize=3,
                label=f"context: {mode}",
            )
        ax.set_xticks(range(len(cnames)), cnames, rotation=15)
        allv = [
            result["variants"][n]["crossfile"][m][k]
            for n in cnames
            for m in ("none", "bm25", "deps")
            for k in ("lo", "hi")
        ]
        ax.set_ylim(min(allv) - 0.3, max(allv) + 0.2)
        ax.set_ylabel("loss of the ground-truth line (nats/token)")
        ax.set_title("cross-file lines of held-out repositories")
        ax.legend()
        fig.tight_layout()
        fig.savefig(res_dir / "crossfile_losses.png", dpi=120)
        plt.close(fig)
    (res_dir / "tables.md").write_text(tables_md(result, names))
    return {"results": str(res_dir)}


def tables_md(result: dict[str, Any], names: list[str]) -> str:
    V = result["variants"]

    def ci(st: dict[str, float]) -> str:
        return f"{st['mean']:.3f} [{st['lo']:.3f}, {st['hi']:.3f}]"

    def dci(st: dict[str, float]) -> str:
        if "diff" not in st:
            return "-"
        return f"{st['diff']:+.3f} [{st['diff_lo']:+.3f}, {st['diff_hi']:+.3f}]"

    lines = [
        "| variant | tokens | steps | train s | final train loss | L2R loss | vs repo_fim05 | "
        "FIM middle loss | vs repo_fim05 | FIM line EM |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    train_rows = list(lines)
    lines = [
        "| variant | middle line, PSM prompt (prefix + suffix) | same line, prefix only | "
        "PSM - prefix only (suffix gain if < 0) |",
        "|---|---|---|---|",
    ]
    for n in names:
        v = V[n]
        lines.append(
            f"| {n} | {ci(v['fim'])} | {ci(v['fim_prefix_only'])} | "
            f"{dci(v['fim_vs_prefix_only'])} |"
        )
    fim_rows = list(lines)
    lines = train_rows
    for n in names:
        v = V[n]
        em = v["fim_em"]["mean"]
        lines.append(
            f"| {n} | {v['tokens']:,} | {v['steps']} | {v['train_seconds']:.0f} | "
            f"{v['train_loss_last10pct']:.3f} | {ci(v['l2r'])} | {dci(v['l2r'])} | "
            f"{ci(v['fim'])} | {dci(v['fim'])} | "
            + (f"{em:.3f} (n={v['fim_em']['items']})" if em is not None else "-")
            + " |"
        )
    lines += [""] + fim_rows
    if any("crossfile" in V[n] for n in names):
        lines += [
            "",
            "| variant | points | loss, no context | loss, BM25 | BM25 - none | loss, deps | "
            "deps - none | EM none / BM25 / deps | ES none / BM25 / deps |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for n in names:
            c = V[n].get("crossfile")
            if not c:
                continue

            def f(x: float | None) -> str:
                return "-" if x is None else f"{x:.3f}"

            lines.append(
                f"| {n} | {c['points']} | {ci(c['none'])} | {ci(c['bm25'])} | {dci(c['bm25'])} | "
                f"{ci(c['deps'])} | {dci(c['deps'])} | "
                + " / ".join(f(c[m]["em"]) for m in ("none", "bm25", "deps"))
                + " | "
                + " / ".join(f(c[m]["es"]) for m in ("none", "bm25", "deps"))
                + " |"
            )
    if "seed_noise_abs_diff" in result:
        sn = result["seed_noise_abs_diff"]
        lines += [
            "",
            "Seed noise (|repo_fim05 - repo_fim05_seed1|): "
            + ", ".join(f"{k} {v:.3f}" for k, v in sn.items()),
        ]
    return "\n".join(lines) + "\n"


PHASE_FUNCS: dict[str, Callable[[Ctx], dict[str, Any]]] = {
    "fetch": phase_fetch,
    "build": phase_build,
    "probe": phase_probe,
    "split": phase_split,
    "tokenizer": phase_tokenizer,
    "select": phase_select,
    "tokenize": phase_tokenize,
    "train": phase_train,
    "eval_lm": phase_eval_lm,
    "replicate": phase_replicate,
    "crossfile": phase_crossfile,
    "report": phase_report,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="all intermediate outputs")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fetched corpus (cache)")
    p.add_argument("--build", type=Path, default=DEFAULT_BUILD, help="corpus build (reused)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="JSON + PNG output")
    p.add_argument("--manifest", default="benchmark")
    p.add_argument("--build-workers", type=int, default=2)
    p.add_argument("--heldout", nargs="+", default=HELDOUT)
    p.add_argument("--threads", type=int, default=2, help="threads of tokenizing / evaluation")
    p.add_argument("--train-threads", type=int, default=1, help="torch threads per training")
    p.add_argument("--parallel", type=int, default=2, help="trainings side by side")
    p.add_argument("--minutes-per-variant", type=float, default=10.0)
    p.add_argument("--probe-seconds", type=float, default=75.0)
    p.add_argument("--budget-tokens", type=int, help="skip the probe: tokens per variant")
    p.add_argument("--vocab-size", type=int, default=4096, help="BPE vocabulary (+9 special)")
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk-bytes", type=int, default=200_000)
    p.add_argument("--tokenizer-mb", type=float, default=16.0)
    p.add_argument("--data-margin", type=float, default=1.03)
    p.add_argument("--eval-files-per-repo", type=int, default=40)
    p.add_argument("--fim-lines-per-file", type=int, default=3)
    p.add_argument("--fim-side-tokens", type=int, default=200)
    p.add_argument("--fim-em-items", type=int, default=300)
    p.add_argument("--crossfile-points", type=int, default=40, help="per held-out repository")
    p.add_argument("--ctx-tokens", type=int, default=256, help="cross-file context budget")
    p.add_argument("--left-tokens", type=int, default=200, help="in-file left context")
    p.add_argument("--gt-tokens", type=int, default=48, help="cap of a ground-truth line")
    p.add_argument("--crossfile-em-points", type=int, default=150, help="greedy-decoded points")
    p.add_argument(
        "--shuffle-windows",
        choices=["on", "off"],
        default="on",
        help="train.shuffle_windows: windows in a seeded random order (on, the trainer's default) "
        "or in stream order (off: how the first REPRODUCTION.md run was made)",
    )
    p.add_argument(
        "--no-replicate",
        dest="replicate",
        action="store_false",
        help="skip the second seed of repo_fim05 (noise estimate)",
    )
    p.add_argument("--eval-only", nargs="*", help="evaluate only these variants in this call")
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--until", choices=PHASES, help="stop after this phase")
    p.add_argument("--redo", nargs="*", default=[], choices=PHASES, help="forget these phases")
    p.add_argument("--smoke", action="store_true", help="a tiny slice end to end (minutes)")
    args = p.parse_args(argv)
    if args.smoke:
        args.budget_tokens = args.budget_tokens or 30 * args.batch * 128
        args.seq_len = 128
        args.vocab_size = min(args.vocab_size, 600)
        args.tokenizer_mb = 1.0
        args.eval_files_per_repo = 3
        args.fim_em_items = 10
        args.crossfile_points = 4
        args.crossfile_em_points = 6
        args.gt_tokens = 16
        args.ctx_tokens = 32
        args.left_tokens = 48
        args.fim_side_tokens = 40
        args.bootstrap = 50
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ctx = Ctx(args)
    ctx.work.mkdir(parents=True, exist_ok=True)
    for ph in args.redo:
        ctx.marker(ph).unlink(missing_ok=True)
    settings = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in ("until", "redo", "eval_only")
    }
    old = ctx.work / "settings.json"
    if old.is_file():  # the trained models must not silently mix settings
        prev = read_json(old)
        changed = [k for k in TRAINING_KEYS if k in prev and prev[k] != settings.get(k)]
        if changed:
            raise SystemExit(
                f"--work {ctx.work} was made with other {', '.join(changed)}: "
                "use another --work (or the same settings)"
            )
    write_json(ctx.work / "settings.json", settings)
    for ph in PHASES:
        if ctx.done(ph) is not None:
            log(f"{ph}: done (skipped)")
        else:
            start = time.perf_counter()
            log(f"{ph}: start")
            info = PHASE_FUNCS[ph](ctx)
            info.setdefault("phase_seconds", round(time.perf_counter() - start, 1))
            ctx.finish(ph, info)
            log(f"{ph}: finished in {time.perf_counter() - start:.0f} s")
        if ph == args.until:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
