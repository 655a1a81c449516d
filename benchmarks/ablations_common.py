"""Shared base of benchmarks/ablations.py: settings, paths, run state (`Ctx`) and the small
helpers every phase uses (JSON/parquet writes, running the real `repoloom` CLI, file pieces of a
repository-level sample). Imports no other ablations module."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
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


# --------------------------------------------------------------------------- run state


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
