"""Evaluation phases of benchmarks/ablations.py: held-out left-to-right and infilling losses
(`Scorer`, eval_lm), the seed replicate and the cross-file ground-truth lines."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ablations_common import (
    EVAL_LANGUAGES,
    HEADER,
    VARIANTS,
    Ctx,
    log,
    read_json,
    run_cli,
    write_json,
)
from ablations_phases import (
    model_vocab,
    train_overrides,
)

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
