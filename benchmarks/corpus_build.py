"""Benchmark `repoloom corpus build` on the pinned real corpus (issue 2, "Benchmarks").

Fetches the `benchmark` manifest (PyPI sdists, npm tarballs, Debian source packages, JDK modules)
into --data, builds it with `repoloom corpus build --repos-dir DATA --out OUT --workers N` and
reports files/s, MB/s per core, peak RSS of the whole process tree and the share of time spent in
dependency parsing. Writes a JSON result and a markdown snippet for BENCHMARKS.md.

    .venv/bin/python benchmarks/corpus_build.py                 # fetch (cached) + build
    .venv/bin/python benchmarks/corpus_build.py --workers 1 --skip-fetch
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path("~/.cache/repoloom/benchmark-corpus").expanduser()
DEFAULT_OUT = Path("~/.cache/repoloom/benchmark-build").expanduser()


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids.extend(int(k) for k in fh.read().split())
    except OSError:
        pass
    return kids


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_pids(pid: int) -> list[int]:
    """A process and all its live descendants."""
    out = []
    stack = [pid]
    seen = set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        out.append(p)
        stack.extend(_children(p))
    return out


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants (Linux /proc), in bytes."""
    return sum(_rss_bytes(p) for p in tree_pids(pid))


class RssSampler(threading.Thread):
    """Samples the summed RSS of a process tree every `interval` seconds; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.cpu: dict[int, float] = {}  # pid -> last CPU seconds seen (processes come and go)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            pids = tree_pids(self.pid)
            self.peak = max(self.peak, sum(_rss_bytes(p) for p in pids))
            for p in pids:
                self.cpu[p] = max(self.cpu.get(p, 0.0), _cpu_seconds(p))
            self._halt.wait(self.interval)

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())

    def stop(self) -> None:
        self._halt.set()
        self.join()


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    commit = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "commit": commit or None,
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
    }


def fetch(manifest: str, data: Path, jobs: int) -> dict:
    from repoloom.corpus.fetch import LOCK_NAME, fetch_manifest, load_manifest

    started = time.perf_counter()
    result = fetch_manifest(load_manifest(manifest), data, jobs=jobs)
    lock = json.loads((data / LOCK_NAME).read_text())
    lock["_fetch_seconds"] = round(time.perf_counter() - started, 1)
    lock["_fetched_now"] = result.n_fetched
    return lock


def run_build(data: Path, out: Path, workers: int, extra: list[str]) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "repoloom.cli",
        "corpus",
        "build",
        "--repos-dir",
        str(data),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--overwrite",
        *extra,
    ]
    print("+", " ".join(cmd), file=sys.stderr)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd)
    sampler = RssSampler(proc.pid)
    sampler.start()
    rc = proc.wait()
    wall = time.perf_counter() - started
    sampler.stop()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc != 0:
        raise SystemExit(f"corpus build failed with exit code {rc}")
    return {
        "command": cmd,
        "wall_seconds": wall,
        "peak_rss_tree_bytes": sampler.peak,
        # ru_maxrss is the largest single descendant (KiB on Linux), not the sum of the tree.
        "max_rss_single_process_bytes": usage.ru_maxrss * 1024,
        # CPU of the tree as sampled (a process's last 0.2 s before it exits can be missed);
        # RUSAGE_CHILDREN only counts descendants that were waited for.
        "cpu_seconds": max(sampler.cpu_seconds, usage.ru_utime + usage.ru_stime),
    }


def summarize(lock: dict, build: dict, out: Path, workers: int, load_before: float) -> dict:
    report_path = out / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    run_path = out / "run.json"
    run = json.loads(run_path.read_text()) if run_path.is_file() else {}
    timings = run.get("timings") or report.get("timings") or {}
    step_total = sum(timings.values())
    deps_seconds = timings.get("deps")
    cores = min(workers, os.cpu_count() or workers)
    wall = build["wall_seconds"]
    mb = lock["source_bytes"] / 1e6
    files = report.get("files_in") or lock["source_files"]
    languages = report.get("languages_kept") or {}
    return {
        "machine": machine(),
        "workers": workers,
        "corpus": {
            "manifest": lock["manifest"],
            "repositories": lock["n_repositories"],
            "download_mb": round(lock["artefact_bytes"] / 1e6, 1),
            "source_files": lock["source_files"],
            "source_mb": round(mb, 1),
            "files_in_report": report.get("files_in"),
            "files_kept": report.get("files_kept"),
            "samples": (report.get("samples") or {}).get("count"),
            "languages_kept": {
                k: {"files": v["files"], "mb": round(v["bytes"] / 1e6, 2)}
                for k, v in list(languages.items())[:15]
            },
        },
        "wall_seconds": round(wall, 2),
        "files_per_second": round(files / wall, 1),
        "mb_per_second": round(mb / wall, 2),
        "mb_per_second_per_core": round(mb / wall / cores, 2),
        "peak_rss_tree_mb": round(build["peak_rss_tree_bytes"] / 2**20, 1),
        "max_rss_single_process_mb": round(build["max_rss_single_process_bytes"] / 2**20, 1),
        "cpu_seconds": round(build["cpu_seconds"], 1),
        "mb_per_cpu_second": round(mb / build["cpu_seconds"], 3) if build["cpu_seconds"] else None,
        "load_average_before": load_before,
        "step_seconds": {k: round(v, 2) for k, v in sorted(timings.items())},
        "deps_share_of_step_time": (
            round(deps_seconds / step_total, 4) if deps_seconds is not None and step_total else None
        ),
        "repositories_failed": len(report.get("repositories_failed") or []),
        # Edges outside cycles whose dependency comes first, per mode and importer language.
        "edges_in_order": (report.get("ordering") or {}).get("edges_in_order") or {},
        "ordering": {
            k: v for k, v in (report.get("ordering") or {}).items() if k != "edges_in_order"
        },
    }


def markdown(res: dict) -> str:
    m = res["machine"]
    c = res["corpus"]
    share = res["deps_share_of_step_time"]
    share_text = f"{share:.1%}" if share is not None else "n/a (no `deps` timing)"
    lines = [
        f"Corpus: `{c['manifest']}` manifest, {c['repositories']} repositories, "
        f"{c['source_files']} files, {c['source_mb']} MB of source ({c['download_mb']} MB "
        "downloaded).",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}; "
        f"commit {m['commit']}; {m['date_utc']} UTC; `--workers {res['workers']}`.",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| wall time | {res['wall_seconds']} s |",
        f"| files/s | {res['files_per_second']} |",
        f"| MB/s | {res['mb_per_second']} |",
        f"| MB/s per core | {res['mb_per_second_per_core']} |",
        f"| CPU seconds (whole tree) / MB per CPU-second | {res['cpu_seconds']} / "
        f"{res['mb_per_cpu_second']} |",
        f"| machine load average (1 min) at start | {res['load_average_before']} |",
        f"| peak RSS, whole process tree | {res['peak_rss_tree_mb']} MiB |",
        f"| peak RSS, largest single process | {res['max_rss_single_process_mb']} MiB |",
        f"| dependency parsing share of step time | {share_text} (target < 20%) |",
        f"| files kept / samples | {c['files_kept']} / {c['samples']} |",
        f"| repositories failed | {res['repositories_failed']} |",
    ]
    if res["step_seconds"]:
        steps = ", ".join(f"{k} {v}" for k, v in res["step_seconds"].items())
        lines += ["", f"Seconds per step (summed over workers): {steps}."]
    lines += ordering_markdown(res.get("edges_in_order") or {})
    return "\n".join(lines) + "\n"


def ordering_markdown(edges_in_order: dict) -> list[str]:
    """Share of dependency edges outside cycles that are in order, per mode and language."""
    if not edges_in_order.get("scc"):
        return []
    lines = [
        "",
        "| importer language | edges outside cycles | path order | Algorithm 1 (`paper`) | SCC (`scc`) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for language, figures in edges_in_order["scc"].items():
        cells = []
        for mode in ("path", "paper", "scc"):
            fraction = edges_in_order.get(mode, {}).get(language, {}).get("fraction")
            cells.append(f"{fraction:.1%}" if fraction is not None else "-")
        lines.append(f"| {language} | {figures['edges']:,} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="corpus cache (fetched here)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="build output directory")
    p.add_argument("--manifest", default="benchmark", help="manifest name or path")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--jobs", type=int, default=6, help="parallel downloads while fetching")
    p.add_argument("--skip-fetch", action="store_true", help="use DATA as it is (needs its lock)")
    p.add_argument(
        "--result",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "corpus_build.json",
        help="JSON result file",
    )
    p.add_argument("--markdown", type=Path, help="also write the markdown snippet here")
    p.add_argument("--keep-out", action="store_true", help="keep the build output directory")
    p.add_argument("build_args", nargs="*", help="extra arguments for `corpus build` (after --)")
    args = p.parse_args(argv)

    data = args.data.expanduser()
    if args.skip_fetch:
        from repoloom.corpus.fetch import LOCK_NAME

        lock_path = data / LOCK_NAME
        if not lock_path.is_file():
            raise SystemExit(f"{lock_path} not found: run without --skip-fetch first")
        lock = json.loads(lock_path.read_text())
    else:
        lock = fetch(args.manifest, data, args.jobs)
    out = args.out.expanduser()
    # A finished build in OUT would be reused (resume) and time nothing: always start empty,
    # but only ever delete a directory that is empty or holds a corpus build.
    if out.exists():
        markers = ("report.json", "_work", "samples", "removed", "run.json")
        if any(out.iterdir()) and not any((out / m).exists() for m in markers):
            raise SystemExit(
                f"--out {out} is not empty and not a corpus build: refusing to clear it"
            )
        shutil.rmtree(out)
    load_before = round(os.getloadavg()[0], 2)
    build = run_build(data, out, args.workers, args.build_args)
    res = summarize(lock, build, out, args.workers, load_before)
    if not args.keep_out:
        shutil.rmtree(out, ignore_errors=True)
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(res, indent=1) + "\n")
    md = markdown(res)
    if args.markdown:
        args.markdown.write_text(md)
    print(md)
    print(f"result: {args.result}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
