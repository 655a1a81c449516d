"""Report phase of benchmarks/ablations.py: paired bootstrap CIs, the results JSON, plots and
the markdown tables."""

from __future__ import annotations

import json
from typing import Any

from ablations_common import (
    PHASES,
    Ctx,
    read_json,
    write_json,
)
from ablations_eval import (
    REPLICATE,
    _mean,
    eval_variants,
)

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
