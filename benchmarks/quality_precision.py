"""Precision of each quality rule on real projects (issue 13, item 5).

Runs the corpus builder's read -> language -> rule filters -> in-repository dedup -> syntax on the
pinned corpora (the `benchmark` manifest and the GitHub repositories of syntax_precision.py), then
each quality rule ALONE on the files the syntax step keeps (so every rule is measured on the same
files, not only on what the rules before it left), and lists what each rule drops.

    python benchmarks/quality_precision.py --list     # data/quality-drops.jsonl + a sample to label
    python benchmarks/quality_precision.py            # precision per rule from the labels

Labels (benchmarks/labels/quality_labels.jsonl, one JSON object a line: repo, path, rule, label,
reason, sample) were made by reading each sampled file (`sample`: "random" = the seeded sample
of --list on the rules before retuning, on which the old precision is computed; "changed" = a
drop the retuned rule no longer makes, read to see what the change gave up): `generated`, `data` or `boilerplate` mean the drop
is right, `hand-written` means the rule removed code a person wrote and maintains. Precision of a
rule = right drops / labelled drops. Labels are joined by (repo, path, rule); a drop of the current
rules without a label is counted as unlabelled, and a label whose file the rule no longer drops is
reported as "no longer dropped" (what a retuned threshold fixed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import warnings
from collections import Counter, defaultdict
from pathlib import Path

from syntax_precision import repository_docs

from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.quality import QUALITY_STEPS, _cached_scorer, screen_quality
from repoloom.corpus.screening import SyntaxVerdict, screen_syntax
from repoloom.corpus.steps import StepLog

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "benchmarks" / "labels" / "quality_labels.jsonl"
RIGHT = {"generated", "data", "boilerplate"}
RULE_SWITCH = {
    "generated": "generated",
    "minified": "minified",
    "comment_share": "comment_share",
    "longest_function": "longest_function",
    "identifier_length": "identifier_length",
    "duplicated_lines": "duplicated_lines",
    "quality_score": "scorer",
}


def drops_per_rule(directories: list[Path], config: CorpusConfig) -> list[dict]:
    cfg = config.screening
    # functions measured for the longest-function rule; tree-sitter's verdict without the
    # front ends' second opinion (a few flagged files more leave here; keeps this run fast)
    syntax_cfg = dataclasses.replace(cfg, longest_function=True, syntax_confirm=False)
    switches = [name for name in RULE_SWITCH.values() if name != "scorer"]
    rows = []
    for _, docs in repository_docs(directories, config):
        verdicts: dict[str, SyntaxVerdict] = {}
        docs = screen_syntax(docs, syntax_cfg, StepLog(), verdicts)
        for step in QUALITY_STEPS:
            one = dataclasses.replace(cfg, **{s: s == RULE_SWITCH[step] for s in switches})
            scorer = _cached_scorer(cfg.scorer) if step == "quality_score" else None
            rule_log = StepLog()
            screen_quality(list(docs), one, rule_log, verdicts, scorer)
            rows.extend(
                {
                    "repo": r.repo,
                    "path": r.path,
                    "language": r.language,
                    "rule": r.step,
                    "reason": r.reason,
                    "detail": r.detail,
                }
                for r in rule_log.removed
            )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT / "data" / "benchmark-corpus")
    p.add_argument("--github", type=Path, default=ROOT / "data" / "github-pinned")
    p.add_argument("--drops", type=Path, default=ROOT / "data" / "quality-drops.jsonl")
    p.add_argument(
        "--drops-before",
        type=Path,
        default=ROOT / "data" / "quality-drops-before.jsonl",
        help="the drops of the rules before retuning (--list run on the old code)",
    )
    p.add_argument("--list", action="store_true", help="screen and list the drops per rule")
    p.add_argument("--sample", type=int, default=60, help="drops per rule to label (--list)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument(
        "--result", type=Path, default=ROOT / "benchmarks/results/quality_precision.json"
    )
    args = p.parse_args()
    warnings.simplefilter("ignore")
    if args.list:
        directories = [d for d in (args.data, args.github) if d.is_dir()]
        rows = drops_per_rule(directories, CorpusConfig())
        args.drops.parent.mkdir(parents=True, exist_ok=True)
        args.drops.write_text("".join(json.dumps(r) + "\n" for r in rows))
        by_rule = defaultdict(list)
        for r in rows:
            by_rule[r["rule"]].append(r)
        rng = random.Random(args.seed)
        for rule in QUALITY_STEPS:
            picked = by_rule[rule]
            picked = rng.sample(picked, min(args.sample, len(picked)))
            print(f"## {rule}: {len(by_rule[rule])} drops, {len(picked)} to label")
            for r in picked:
                print(json.dumps(r))
        return
    if not args.drops.exists():
        sys.exit(f"{args.drops}: run with --list first")
    cfg = CorpusConfig().screening

    def load(path: Path) -> dict[tuple[str, str, str], dict]:
        return {(r["repo"], r["path"], r["rule"]): r for r in map(json.loads, path.open())}

    now = load(args.drops)
    before = load(args.drops_before) if args.drops_before and args.drops_before.exists() else {}
    labels = [json.loads(line) for line in LABELS.read_text().splitlines() if line.strip()]
    table = {}
    print(
        "| rule | drops, old rules | labelled | precision, old rules | default now | drops now "
        "| labelled drops still dropped | precision now | labelled drops no longer dropped |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for rule in QUALITY_STEPS:
        mine = [label for label in labels if label["rule"] == rule]
        sampled = [label for label in mine if label.get("sample") == "random"]
        right = sum(label["label"] in RIGHT for label in sampled)
        switch = RULE_SWITCH[rule]
        enabled = bool(getattr(cfg, switch)) if switch != "scorer" else cfg.scorer != "none"
        if rule == "quality_score" and cfg.scorer_min <= 0.0:
            enabled_note = "high side only"
        else:
            enabled_note = "on" if enabled else "off"
        kept_dropping = [x for x in mine if (x["repo"], x["path"], rule) in now] if enabled else []
        gone = [x for x in mine if x not in kept_dropping]
        right_now = sum(x["label"] in RIGHT for x in kept_dropping)
        drops_now = sum(1 for key in now if key[2] == rule) if enabled else 0
        gone_labels = Counter(x["label"] for x in gone)
        row = {
            "drops_old_rules": sum(1 for key in before if key[2] == rule),
            "labelled": len(mine),
            "sampled": len(sampled),
            "right": right,
            "precision_old_rules": right / len(sampled) if sampled else None,
            "default": enabled_note,
            "drops_now": drops_now,
            "labelled_still_dropped": len(kept_dropping),
            "precision_now": right_now / len(kept_dropping) if kept_dropping else None,
            "no_longer_dropped": dict(gone_labels),
        }
        table[rule] = row

        def pct(x: float | None) -> str:
            return "-" if x is None else f"{100 * x:.1f}%"

        print(
            f"| {rule} | {row['drops_old_rules']} | {len(sampled)} | {pct(row['precision_old_rules'])} "
            f"| {enabled_note} | {drops_now} | {len(kept_dropping)} | {pct(row['precision_now'])} "
            f"| {', '.join(f'{n} {k}' for k, n in sorted(gone_labels.items())) or '-'} |"
        )
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
