"""`report.json` and `report.html`: the counts of every step, the filter funnel and language mix.

The JSON is the record (every number a later issue or a user compares); the HTML shows the two
charts people look at (funnel, language mix) as PNGs next to it, plus the tables.

The funnel (`steps`) counts files after every stage: the per-file steps of the workers, then
the corpus-level dedup stages (`dedup_files` when a file-level pass runs, `dedup_samples`
always), whose output is counted in the written `samples/` parts themselves, so `files_kept`
is the number of files in the samples (see docs/corpus.md, "Report").
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.pipeline import SCREEN_STEPS
from repoloom.corpus.steps import RULES
from repoloom.io import write_bytes_atomic

FUNNEL_STEPS = ("read", "language", *(name for name, _ in RULES), *SCREEN_STEPS)


def _add(target: dict, key: str, n: int | float) -> None:
    target[key] = target.get(key, 0) + n


def aggregate(summaries: Sequence[dict]) -> dict:
    counts: dict[str, dict[str, int]] = {}
    timings: dict[str, float] = {}
    languages_kept: dict[str, dict[str, int]] = {}
    deps = {
        "statements": 0,
        "resolved": 0,
        "edges": 0,
        "edges_between_kept_files": 0,
        "per_language": {},
    }
    ordering = {"cycles_broken": 0, "cyclic_groups": 0, "files_in_cycles": 0, "components_split": 0}
    order_eval: dict[str, dict[str, list[int]]] = {}
    failed = []
    samples = sample_bytes = 0
    for s in summaries:
        for step, bucket in s["counts"].items():
            for key, n in bucket.items():
                _add(counts.setdefault(step, {}), key, n)
        for step, seconds in s["timings"].items():
            _add(timings, step, seconds)
        for language, (files, nbytes) in s["kept_languages"].items():
            entry = languages_kept.setdefault(language, {"files": 0, "bytes": 0})
            entry["files"] += files
            entry["bytes"] += nbytes
        stats = s.get("stats") or {}
        if stats:
            deps["statements"] += stats["dependency_statements"]
            deps["resolved"] += stats["dependency_resolved"]
            deps["edges"] += stats["dependency_edges"]
            deps["edges_between_kept_files"] += stats["dependency_edges_kept_files"]
            for language, figures in (stats.get("per_language_deps") or {}).items():
                target = deps["per_language"].setdefault(language, {})
                for key, n in figures.items():
                    _add(target, key, n)
            for key in ("cycles_broken", "cyclic_groups", "files_in_cycles", "components_split"):
                ordering[key] += stats.get(key, 0)
            for mode, per_language in stats.get("order_eval", {}).items():
                for language, (good, total) in per_language.items():
                    for key in ("all", language):
                        entry = order_eval.setdefault(mode, {}).setdefault(key, [0, 0])
                        entry[0] += good
                        entry[1] += total
        if s.get("error"):
            failed.append({"repo": s["repo"], "error": s["error"].strip().splitlines()[-1]})
        samples += s["samples"]
        sample_bytes += s["sample_bytes"]

    steps = []
    previous_out = None
    for step in FUNNEL_STEPS:
        bucket = counts.get(step, {})
        dropped = {
            k.split(":", 1)[1]: n for k, n in sorted(bucket.items()) if k.startswith("dropped:")
        }
        n_in = bucket.get("in", previous_out if previous_out is not None else 0)
        n_out = bucket.get("out", n_in - sum(dropped.values()))
        steps.append({"step": step, "in": n_in, "out": n_out, "dropped": dropped})
        previous_out = n_out
    identified = {
        k.split(":", 1)[1]: n
        for k, n in sorted(counts.get("language", {}).items())
        if k.startswith("lang:")
    }
    # Per ordering mode and importer language ("all" sums them): edges outside cycles whose
    # dependency comes first.
    ordering["edges_in_order"] = {
        mode: {
            language: {"in_order": g, "edges": t, "fraction": (g / t if t else None)}
            for language, (g, t) in sorted(per_language.items())
        }
        for mode, per_language in sorted(order_eval.items())
    }
    return {
        "repositories": len(summaries),
        "repositories_failed": failed,
        "files_in": steps[0]["in"],
        "files_kept": steps[-1]["out"],
        "steps": steps,
        "languages_identified": identified,
        "languages_kept": dict(sorted(languages_kept.items(), key=lambda kv: -kv[1]["bytes"])),
        "dependencies": deps,
        "ordering": ordering,
        "samples": {"count": samples, "bytes": sample_bytes},
        "_timings": {k: round(v, 3) for k, v in sorted(timings.items())},
    }


def count_samples(path: str | Path, filesystem: Any = None) -> dict[str, int]:
    """Samples, files and bytes in the written `samples/` parts (read column by column, so no
    text is loaded): the figures the report gives as kept."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    dataset = pads.dataset(str(path), filesystem=filesystem, format="parquet")
    samples = files = n_bytes = 0
    for batch in dataset.to_batches(columns=["paths", "n_bytes"]):
        samples += batch.num_rows
        files += int(pc.sum(pc.list_value_length(batch.column(0))).as_py() or 0)
        n_bytes += int(pc.sum(batch.column(1)).as_py() or 0)
    return {"samples": samples, "files": files, "bytes": n_bytes}


def add_corpus_stages(report: dict, dedup: dict, final: dict[str, int]) -> None:
    """Append the corpus-level stages to the funnel and make every "kept" figure the written
    samples' own: `dedup_files` (file-level dedup pass, when it ran) and `dedup_samples`
    (whole-sample exact and near dedup; files of dropped samples leave with them)."""
    steps = report["steps"]
    before = steps[-1]["out"] if steps else 0
    report["files_before_dedup"] = before
    files = (dedup or {}).get("files") or {}
    if files:
        steps.append(
            {
                "step": "dedup_files",
                "in": before,
                "out": files["files_out"],
                "dropped": {
                    k: n
                    for k, n in (
                        ("exact-dup-file", files["exact_dup"]),
                        ("near-dup-file", files["near_dup"]),
                    )
                    if n
                },
                "samples_in": files["samples_in"],
                "samples_out": files["samples_out"],
            }
        )
        before = files["files_out"]
    enabled = bool((dedup or {}).get("enabled"))
    samples_dropped = {
        k: n
        for k, n in (
            ("exact-dup", dedup.get("exact_dup", 0) if enabled else 0),
            ("near-dup", dedup.get("near_dup", 0) if enabled else 0),
        )
        if n
    }
    steps.append(
        {
            "step": "dedup_samples",
            "in": before,
            "out": final["files"],
            "dropped": {"files-of-duplicate-samples": before - final["files"]}
            if before != final["files"]
            else {},
            "samples_in": dedup.get("samples_in", final["samples"])
            if enabled
            else final["samples"],
            "samples_out": final["samples"],
            "samples_dropped": samples_dropped,
        }
    )
    report["files_kept"] = final["files"]
    samples = dict(report.get("samples") or {})
    samples.update(count=final["samples"], bytes=final["bytes"], files=final["files"])
    report["samples"] = samples


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _charts(report: dict) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = {}
    steps = report["steps"]
    fig, ax = plt.subplots(figsize=(8, 0.45 * (len(steps) + 1) + 1))
    names = ["files in", *(s["step"] for s in steps)][::-1]
    outs = [report["files_in"], *(s["out"] for s in steps)][::-1]
    ax.barh(names, outs, color="#4c72b0")
    for y, value in enumerate(outs):
        ax.text(value, y, f" {value:,}", va="center", fontsize=8)
    ax.set_xlabel("files remaining after the step")
    ax.set_title(f"Filter funnel ({report['files_in']:,} files in, {report['files_kept']:,} kept)")
    charts["funnel"] = _png(fig)
    plt.close(fig)

    mix = list(report["languages_kept"].items())[:25]
    fig, ax = plt.subplots(figsize=(8, 0.35 * max(len(mix), 1) + 1))
    if mix:
        labels = [m[0] for m in mix][::-1]
        values = [m[1]["bytes"] / 1e6 for m in mix][::-1]
        ax.barh(labels, values, color="#55a868")
    ax.set_xlabel("MB in samples")
    ax.set_title("Language mix of the kept files (top 25 by bytes)")
    charts["languages"] = _png(fig)
    plt.close(fig)
    return charts


def _table(rows: list[list], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: dict, charts: dict[str, bytes]) -> str:
    images = "".join(
        f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        for name, data in charts.items()
    )
    steps = _table(
        [
            [s["step"], s["in"], s["out"], ", ".join(f"{k}: {v}" for k, v in s["dropped"].items())]
            for s in report["steps"]
        ],
        ["step", "in", "out", "dropped"],
    )
    langs = _table(
        [[k, v["files"], f"{v['bytes'] / 1e6:.2f}"] for k, v in report["languages_kept"].items()],
        ["language", "files", "MB"],
    )
    order = report["ordering"]
    eval_rows = [
        [
            m,
            language,
            e["in_order"],
            e["edges"],
            f"{e['fraction']:.4f}" if e["fraction"] is not None else "-",
        ]
        for m, per_language in order["edges_in_order"].items()
        for language, e in per_language.items()
    ]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>repoloom corpus report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}img{{max-width:100%;display:block;margin:1em 0}}</style></head><body>
<h1>Corpus report</h1>
<p>{report["repositories"]} repositories, {report["files_in"]:,} files in, {report["files_kept"]:,} kept,
{report["samples"]["count"]:,} samples ({report["samples"]["bytes"] / 1e6:.1f} MB); ordering mode <b>{html.escape(report["config"]["order"]["mode"])}</b>;
{len(report["repositories_failed"])} repositories failed.</p>
{images}
<h2>Steps</h2>{steps}
<h2>Languages kept</h2>{langs}
{render_section(report)}
<h2>Dependencies and ordering</h2>
<p>{report["dependencies"]["statements"]:,} dependency statements, {report["dependencies"]["resolved"]:,} resolved inside their repository,
{report["dependencies"]["edges"]:,} edges; {order["cyclic_groups"]} cycles ({order["files_in_cycles"]} files), {order["cycles_broken"]} cycle-breaking placements.</p>
<p>Edges outside cycles whose dependency comes first, per ordering:</p>
{_table(eval_rows, ["order", "importer language", "in order", "edges", "fraction"])}
</body></html>"""


def render_report(
    summaries: Sequence[dict],
    manifest: dict,
    config: CorpusConfig,
    wall_seconds: float,
    workers: int,
    parts: tuple[int, int],
    extra: dict | None = None,
    final: dict[str, int] | None = None,
    executor: dict | None = None,
) -> tuple[dict, dict[str, bytes]]:
    """The report and its files (name -> bytes): report.json, report.html, its charts, run.json.
    `final`: `count_samples` of the written samples (the funnel's last stage); `executor`: what
    run.json says about the executor (the Ray one's cluster and stage timings)."""
    report = aggregate(summaries)
    if extra:  # issue 3: corpus-level dedup and decontamination figures
        report.update(report_section(extra, report))
    if final is not None:
        add_corpus_stages(report, (extra or {}).get("dedup") or {}, final)
    timings = report.pop("_timings")
    report.update(
        {
            "manifest": manifest,
            "config": config.to_dict(),
            "parts": {"samples": parts[0], "removed": parts[1]},
        }
    )
    charts = _charts(report)
    files = {f"report_{name}.png": data for name, data in charts.items()}
    files["report.html"] = render_html(report, charts).encode("utf-8")
    files["report.json"] = (json.dumps(report, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    # Times vary between runs: they live in run.json, so report.json is reproducible byte for byte.
    run: dict[str, Any] = {"wall_seconds": round(wall_seconds, 3), "workers": workers}
    run["timings"] = timings
    if executor is not None:
        run["executor"] = executor
    files["run.json"] = (json.dumps(run, indent=1) + "\n").encode("utf-8")
    return report, files


def write_report(out: Path, *args: Any, **kwargs: Any) -> dict:
    """`render_report`, its files written (atomically) into the directory `out`."""
    report, files = render_report(*args, **kwargs)
    for name, data in files.items():
        write_bytes_atomic(out / name, data)
    return report


# ---------------------------------------------------------------------------------------------
# Sections of issue 3: dedup figures, contamination hits per benchmark


def report_section(extra: dict, report: dict) -> dict:
    """The report.json entries of issue 3: dedup figures, contamination hits per benchmark."""
    section: dict[str, Any] = {}
    decontam = dict(extra.get("decontamination") or {})
    if decontam:
        step = next((s for s in report.get("steps", []) if s["step"] == "decontam"), None)
        hits: dict[str, int] = {}
        tasks: dict[str, int] = {}
        for reason, n in (step or {}).get("dropped", {}).items():
            parts = reason.split(":", 2)
            if len(parts) == 3 and parts[0] == "decontam":
                hits[parts[1]] = hits.get(parts[1], 0) + n
                tasks[f"{parts[1]}:{parts[2]}"] = n
        decontam["hits"] = {b: hits.get(b, 0) for b in (*decontam.get("benchmarks", {}), *hits)}
        decontam["files_removed"] = sum(hits.values())
        decontam["tasks_hit"] = len(tasks)
        section["decontamination"] = decontam
        section["warnings"] = list(report.get("warnings", [])) + list(decontam.get("warnings", []))
    dedup = dict(extra.get("dedup") or {})
    if dedup:
        section["dedup"] = dedup
        if dedup.get("enabled"):
            before = dict(report.get("samples", {}))
            section["samples"] = {
                "count": dedup["samples_out"],
                "bytes": before.get("bytes", 0) - dedup["bytes_removed"],
                "before_dedup": before,
            }
    return section


def _dedup_rows(
    stats: dict, unit: str, what: str, between: Sequence[tuple[str, Any]] = ()
) -> list[tuple[str, Any]]:
    """The rows both dedup tables share: `unit` (samples, files) in and out, `what` removed
    exactly and nearly, the `between` rows, then the bytes removed and the clusters."""
    return [
        (f"{unit} in", stats[f"{unit}_in"]),
        (f"exact {what} removed", stats["exact_dup"]),
        (f"near {what} removed", stats["near_dup"]),
        (f"{unit} out", stats[f"{unit}_out"]),
        *between,
        ("MB removed", f"{stats['bytes_removed'] / 1e6:.2f}"),
        ("duplicate clusters", stats["clusters"]),
        ("largest cluster", stats["largest_cluster"]),
    ]


def render_section(report: dict) -> str:
    """The HTML part of issue 3 (warnings first, then dedup and contamination tables)."""

    def table(rows: list[tuple[Any, Any]]) -> str:
        body = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        return f"<table>{body}</table>"

    parts = []
    for warning in report.get("warnings", []):
        parts.append(f'<p style="color:#b00;font-weight:bold">WARNING: {html.escape(warning)}</p>')
    dedup = report.get("dedup") or {}
    if dedup.get("enabled"):
        parts.append("<h2>Dedup (whole samples)</h2>")
        parts.append(
            table(
                [
                    *_dedup_rows(dedup, "samples", "duplicates"),
                    (
                        "MinHash",
                        f"{dedup['num_perm']} permutations, {dedup['ngram']}-gram shingles, "
                        f"{dedup['bands']} bands x {dedup['rows']} rows, threshold {dedup['threshold']}",
                    ),
                    (
                        "LSH candidate pairs / verified",
                        f"{dedup['candidate_pairs']} / {dedup['verified_pairs']}",
                    ),
                ]
            )
        )
    files = dedup.get("files") or {}
    if files:
        parts.append("<h2>Dedup (files, before whole samples)</h2>")
        parts.append(
            table(
                _dedup_rows(
                    files,
                    "files",
                    "duplicate files",
                    [("samples in / out", f"{files['samples_in']} / {files['samples_out']}")],
                )
            )
        )
    decontam = report.get("decontamination") or {}
    if decontam.get("enabled"):
        parts.append("<h2>Decontamination</h2>")
        rows = [
            (f"{b} ({decontam['benchmarks'].get(b, 0)} strings indexed)", f"{n} files removed")
            for b, n in decontam.get("hits", {}).items()
        ]
        rows += [(m, "NOT FOUND") for m in decontam.get("missing", [])]
        parts.append(table(rows))
    return "\n".join(parts)
