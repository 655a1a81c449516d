"""Precision of each quality rule on real projects (issue 13, item 5).

Runs the corpus builder's read -> language -> rule filters -> in-repository dedup -> syntax on the
pinned corpora (the `benchmark` manifest and the GitHub repositories of syntax_precision.py), then
each quality rule ALONE on the files the syntax step keeps (so every rule is measured on the same
files, not only on what the rules before it left), and lists what each rule drops.

    python benchmarks/quality_precision.py --list     # data/quality-drops.jsonl + a sample to label
    python benchmarks/quality_precision.py            # precision per rule from the labels

Labels (benchmarks/labels/quality_labels.jsonl, one JSON object a line: repo, path, rule, label,
reason) were made by reading each sampled file: `generated`, `data` or `boilerplate` mean the drop
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

from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.screening import (
    QUALITY_STEPS,
    SyntaxVerdict,
    _cached_scorer,
    dedup_repository_files,
    screen_quality,
    screen_syntax,
)
from repoloom.corpus.sources import TaskOptions, expand_repos_dir, iter_repository_files
from repoloom.corpus.steps import StepLog, apply_rule_filters, decode_files, identify_languages

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
    rows = []
    for directory in directories:
        for task in expand_repos_dir(str(directory), TaskOptions()):
            log = StepLog()
            docs = decode_files(task.name, iter_repository_files(task, config.read), config, log)
            docs = apply_rule_filters(identify_languages(docs, config, log), config, log)
            docs = dedup_repository_files(docs, log)
            verdicts: dict[str, SyntaxVerdict] = {}
            docs = screen_syntax(docs, cfg, log, verdicts)
            for step in QUALITY_STEPS:
                switches = [name for name in RULE_SWITCH.values() if name != "scorer"]
                one = dataclasses.replace(cfg, **{s: s == RULE_SWITCH[step] for s in switches})
                scorer = _cached_scorer(cfg.scorer) if step == "quality_score" else None
                rule_log = StepLog()
                screen_quality(list(docs), one, rule_log, verdicts, scorer)
                for r in rule_log.removed:
                    rows.append(
                        {
                            "repo": r.repo,
                            "path": r.path,
                            "language": r.language,
                            "rule": r.step,
                            "reason": r.reason,
                            "detail": r.detail,
                        }
                    )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT / "data" / "benchmark-corpus")
    p.add_argument("--github", type=Path, default=ROOT / "data" / "github-pinned")
    p.add_argument("--drops", type=Path, default=ROOT / "data" / "quality-drops.jsonl")
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
    current = {(r["repo"], r["path"], r["rule"]): r for r in map(json.loads, args.drops.open())}
    labels = [json.loads(line) for line in LABELS.read_text().splitlines() if line.strip()]
    per_rule: dict[str, Counter] = defaultdict(Counter)
    for label in labels:
        key = (label["repo"], label["path"], label["rule"])
        bucket = per_rule[label["rule"]]
        if key not in current:
            bucket["no_longer_dropped"] += 1
            bucket[f"no_longer_dropped:{label['label']}"] += 1
            continue
        bucket["labelled"] += 1
        bucket["right" if label["label"] in RIGHT else "wrong"] += 1
    drops = Counter(r["rule"] for r in current.values())
    table = {}
    print("| rule | drops (rule alone) | labelled | right | hand-written | precision |")
    print("|---|---|---|---|---|---|")
    for rule in QUALITY_STEPS:
        b = per_rule[rule]
        precision = b["right"] / b["labelled"] if b["labelled"] else None
        table[rule] = {"drops": drops[rule], **b, "precision": precision}
        shown = "-" if precision is None else f"{100 * precision:.1f}%"
        print(
            f"| {rule} | {drops[rule]} | {b['labelled']} | {b['right']} | {b['wrong']} | {shown} |"
        )
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
