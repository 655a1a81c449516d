"""Token report of a ``repoloom tokenize`` run: ``report.json`` and ``report.png``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

COUNTERS = (
    "docs",
    "tokens",
    "bytes",
    "chars",
    "fim_units",
    "fim_psm",
    "fim_spm",
    "fim_tokens",
    "file_split_failed",
    "docs_longer_than_seq_len",
)


def _sum(stats: list[dict[str, Any]]) -> dict[str, Any]:
    tot: dict[str, Any] = {k: sum(int(s.get(k, 0)) for s in stats) for k in COUNTERS}
    skipped: dict[str, int] = {}
    langs: dict[str, float] = {}
    for s in stats:
        for k, v in s.get("skipped", {}).items():
            skipped[k] = skipped.get(k, 0) + int(v)
        for k, v in s.get("languages", {}).items():
            langs[k] = langs.get(k, 0.0) + float(v)
    fim_samples = tot["fim_psm"] + tot["fim_spm"]
    tot["fim_samples"] = fim_samples
    tot["fim_share_of_units"] = fim_samples / tot["fim_units"] if tot["fim_units"] else 0.0
    tot["fim_share_of_tokens"] = tot["fim_tokens"] / tot["tokens"] if tot["tokens"] else 0.0
    tot["bytes_per_token"] = tot["bytes"] / tot["tokens"] if tot["tokens"] else 0.0
    tot["skipped"] = dict(sorted(skipped.items()))
    tot["_languages"] = langs
    return tot


def build_report(
    settings: Any, manifest: dict[str, Any], chunk_stats: list[dict[str, Any]]
) -> dict[str, Any]:
    totals = _sum(chunk_stats)
    langs = totals.pop("_languages")
    total_tokens = totals["tokens"]
    seq_len = manifest["seq_len"]
    totals["windows"] = max(0, (total_tokens - 1) // seq_len)
    corpora = {}
    for c in settings.corpora:
        t = _sum([s for s in chunk_stats if s["corpus"] == c.name])
        t.pop("_languages")
        t["share_of_tokens"] = t["tokens"] / total_tokens if total_tokens else 0.0
        t["kind"] = c.kind
        t["path"] = c.path
        corpora[c.name] = t
    languages = {
        k: {"tokens": round(v), "share": v / total_tokens if total_tokens else 0.0}
        for k, v in sorted(langs.items(), key=lambda kv: (-kv[1], kv[0]))
    }
    return {
        "settings": json.loads(json.dumps(asdict(settings))),
        "format": manifest["format"],
        "dtype": manifest["dtype"],
        "totals": totals,
        "corpora": corpora,
        "languages": languages,
        "mix": manifest.get("mix"),
    }


def write_report(rep: dict[str, Any], out: Path) -> None:
    (out / "report.json").write_text(json.dumps(rep, indent=2) + "\n", encoding="utf-8")
    write_chart(rep, out / "report.png")


def write_chart(rep: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = list(rep["languages"].items())[:20]
    corpora = list(rep["corpora"].items())
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    ax = axes[0]
    ax.barh([k for k, _ in langs][::-1], [100 * v["share"] for _, v in langs][::-1])
    ax.set_xlabel("% of tokens")
    ax.set_title("Token share by language (top 20)")
    ax = axes[1]
    names = [k for k, _ in corpora]
    tokens = [v["tokens"] for _, v in corpora]
    bars = ax.bar(names, tokens)
    for b, (_, v) in zip(bars, corpora, strict=True):
        ax.annotate(
            f"FIM {100 * v['fim_share_of_units']:.1f}%",
            (b.get_x() + b.get_width() / 2, b.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    t = rep["totals"]
    ax.set_ylabel("tokens")
    ax.set_title(
        f"{t['tokens']:,} tokens, {t['docs']:,} docs, FIM {100 * t['fim_share_of_units']:.1f}%"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)
