"""Syntax screening against each language's own front end (issue 13, item 2).

Runs the corpus builder's read -> language -> rule filters -> in-repository dedup on real
projects and screens every file of the ten syntax languages with tree-sitter
(`repoloom.corpus.screening.syntax_verdict`). Then the referee, each language's own parser in a
syntax-only mode (`repoloom.corpus.frontends`: compile(); gcc/g++ -fsyntax-only with the
project's include directories, where a missing header or a lone header rejected out of its
includer's context is no verdict; javac's parser; V8 and the TypeScript parser; gofmt -e;
rustfmt; php -l; mcs --parse), judges every file tree-sitter flags and a seeded random sample of
the files it keeps. The TypeScript referee is 5.3.3 from the benchmark corpus' npm tarball; the
screening's own second opinion (`screening.syntax_confirm`) uses the installed module (Debian's
4.8.4 here) and is run too, so the table has both: what tree-sitter alone would drop, and what
the screening drops after its second opinion.

Corpora: the pinned `benchmark` manifest (`repoloom corpus fetch --manifest benchmark --out
data/benchmark-corpus`) and the GitHub repositories in PINNED_GITHUB at their pinned commits,
exported from snapshots under --mirrors (fetched beforehand; missing ones are skipped and said
so). Verdicts are cached under --work (keyed by language and content), so reruns are cheap.
Compilers run under `nice -n 10`, at most --jobs repositories at once. --compare-commit times
that commit's `syntax_verdict` on the same files, alternating file by file (speed before/after).

    python benchmarks/syntax_precision.py [--data DIR] [--mirrors DIR] [--sample 100]
        [--compare-commit 9573664]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import tarfile
import time
import warnings
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from repoloom.codebase.sources import TaskOptions, expand_repos_dir, iter_repository_files
from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.frontends import FrontEnds, c_verdict
from repoloom.corpus.screening import SYNTAX_LANGUAGES, dedup_repository_files, syntax_verdict
from repoloom.corpus.steps import (
    FileDoc,
    StepLog,
    apply_rule_filters,
    decode_files,
    identify_languages,
)

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "benchmarks" / "syntax_tools"

# Header-only C++, recent TypeScript, C# with lambdas and records: the cases issue 13 saw fail.
PINNED_GITHUB = {
    "fmtlib/fmt": "60ccad511fd680cb91d8b60a315759f71c67bef9",
    "mobxjs/mobx": "01211a698b64ea94de8e5f276ff8235fcf8ddf96",
    "immerjs/immer": "061c2425e1c9dff89e4e4189d42af1b7839dfe0a",
    "JamesNK/Newtonsoft.Json": "09bb545d72969ad7fb4ea07db0d5c34f4fc07877",
    "App-vNext/Polly": "173d6d1d2e28a4697f1ac1d22da68f77ff19a0c9",
}


# ---------------------------------------------------------------------------------------------
# Corpora


def export_github(mirrors: Path, out: Path) -> list[str]:
    """Write each pinned commit's tree to out/<owner+name>/ (blobs the snapshot lacks, such as
    large files, are left out). Returns the repositories not available."""
    missing = []
    for repo, commit in PINNED_GITHUB.items():
        name = repo.replace("/", "+")
        git_dir = mirrors / name / "repo"
        target = out / name
        if (target / ".exported").exists():
            continue
        if not git_dir.exists():
            missing.append(repo)
            continue
        listing = subprocess.run(
            ["git", f"--git-dir={git_dir}", "ls-tree", "-r", "-z", commit],
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
        for entry in filter(None, listing):
            meta, path = entry.split(b"\t", 1)
            mode, kind, sha = meta.split()
            if kind != b"blob" or mode == b"120000":
                continue
            blob = subprocess.run(
                ["git", f"--git-dir={git_dir}", "cat-file", "blob", sha], capture_output=True
            )
            if blob.returncode:
                continue
            dest = target / os.fsdecode(path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(blob.stdout)
        (target / ".exported").write_text(commit)
    return missing


def repository_docs(directories: list[Path], config: CorpusConfig):
    """(repository name, its docs) as the screening step sees them: read -> language -> rule
    filters -> in-repository dedup (quality_precision.py reads the corpora the same way)."""
    for directory in directories:
        for task in expand_repos_dir(str(directory), TaskOptions()):
            log = StepLog()
            docs = decode_files(task.name, iter_repository_files(task, config.read), config, log)
            docs = apply_rule_filters(identify_languages(docs, config, log), config, log)
            yield task.name, dedup_repository_files(docs, log)


def collect(directories: list[Path], config: CorpusConfig):
    """(repository name, its docs in the syntax-screened languages)."""
    for name, docs in repository_docs(directories, config):
        yield name, [d for d in docs if d.language in SYNTAX_LANGUAGES]


class VerdictCache:
    """Reference verdicts on disk, keyed by language and content (C/C++ also by repository
    and path: their verdict depends on the project's headers)."""

    def __init__(self, path: Path) -> None:
        self.rows: dict[str, list[str]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                row = json.loads(line)
                self.rows[row["key"]] = row["verdict"]
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = path.open("a")

    @staticmethod
    def key(doc: FileDoc) -> str:
        digest = hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).hexdigest()
        where = f"{doc.repo}/{doc.path}" if doc.language in ("c", "cpp") else ""
        return f"{doc.language}:{digest}:{where}"

    def put(self, doc: FileDoc, verdict: tuple[str, str]) -> None:
        self.rows[self.key(doc)] = list(verdict)
        self.fh.write(json.dumps({"key": self.key(doc), "verdict": list(verdict)}) + "\n")
        self.fh.flush()


def typescript_5(work: Path, corpus_dirs: list[Path]) -> str | None:
    """lib/typescript.js of TypeScript 5.3.3 from the benchmark corpus' npm tarball."""
    lib = work / "typescript-5.3.3" / "package" / "lib" / "typescript.js"
    if not lib.exists():
        for directory in corpus_dirs:
            for tgz in directory.glob("typescript-5.3.3*.tgz"):
                with tarfile.open(tgz) as tf:
                    member = tf.getmember("package/lib/typescript.js")
                    tf.extractall(work / "typescript-5.3.3", members=[member], filter="data")
    return str(lib) if lib.exists() else None


def load_commit_screening(commit: str):
    """`repoloom.corpus.screening` as it was at `commit` (git show), as a separate module."""
    from module_at_commit import module_at_commit

    return module_at_commit(commit, "src/repoloom/corpus/screening.py", f"screening_{commit[:12]}")


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT / "data" / "benchmark-corpus")
    p.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    p.add_argument("--github-out", type=Path, default=ROOT / "data" / "github-pinned")
    p.add_argument("--work", type=Path, default=ROOT / "data" / "syntax-precision")
    p.add_argument("--sample", type=int, default=100, help="kept files checked per language")
    p.add_argument("--jobs", type=int, default=2, help="repositories checked at once")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument(
        "--max-error-share", type=float, default=None, help="screen at this bound (default: config)"
    )
    p.add_argument(
        "--compare-commit",
        default="",
        help="also time this commit's syntax_verdict on every file, alternating (speed before)",
    )
    p.add_argument("--result", type=Path, default=ROOT / "benchmarks/results/syntax_precision.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    config = CorpusConfig()
    cfg = config.screening
    bound = cfg.syntax_max_error_share if args.max_error_share is None else args.max_error_share
    missing = export_github(args.mirrors, args.github_out)
    if missing:
        print(f"not available (fetch the GitHub snapshots first): {', '.join(missing)}")
    directories = [d for d in (args.data, args.github_out) if d.is_dir()]
    args.work.mkdir(parents=True, exist_ok=True)
    nice = ["nice", "-n", "10"]
    # The referee: TypeScript 5.3.3 where the corpus has it; the screening's own second opinion
    # uses whatever `typescript` module is installed (Debian's 4.8.4 here).
    referee = FrontEnds(
        args.work, timeout=120, prefix=nice, typescript=typescript_5(args.work, directories)
    )
    product = FrontEnds(args.work, timeout=cfg.syntax_confirm_timeout, prefix=nice)
    cache = VerdictCache(args.work / "verdicts.jsonl")
    confirm_cache = VerdictCache(args.work / "confirm.jsonl")
    rng = random.Random(args.seed)
    before = load_commit_screening(args.compare_commit) if args.compare_commit else None
    before_seconds, before_flagged = 0.0, Counter()

    # Pass 1: tree-sitter on every file.
    started = time.perf_counter()
    screen_seconds = 0.0
    files: Counter = Counter()
    kept_pool: dict[str, list[FileDoc]] = defaultdict(list)
    flagged: list[tuple[FileDoc, object]] = []
    by_repo: dict[str, list[FileDoc]] = {}
    for name, docs in collect(directories, config):
        for doc in docs:
            files[doc.language] += 1
            t0 = time.perf_counter()
            verdict = syntax_verdict(doc, 1 << 62, bound)
            screen_seconds += time.perf_counter() - t0
            if before is not None:
                t0 = time.perf_counter()
                old = before.syntax_verdict(doc, 1 << 62, bound)
                before_seconds += time.perf_counter() - t0
                before_flagged[doc.language] += old.error_share > bound
            if verdict.error_share > bound:
                flagged.append((doc, verdict))
            else:
                kept_pool[doc.language].append(doc)
        by_repo[name] = docs
    sample = {
        lang: rng.sample(pool, min(args.sample, len(pool))) for lang, pool in kept_pool.items()
    }
    print(
        f"tree-sitter screened {sum(files.values())} files in {time.perf_counter() - started:.0f}s"
        f" (syntax_verdict {screen_seconds:.1f}s); {len(flagged)} flagged",
        flush=True,
    )
    if before is not None:
        print(
            f"commit {args.compare_commit}: syntax_verdict {before_seconds:.1f}s, "
            f"{sum(before_flagged.values())} flagged {dict(before_flagged)}",
            flush=True,
        )

    # Pass 2: the referee on flagged files and the kept sample; the screening's own second
    # opinion on flagged files (what `syntax_confirm` decides).
    def judge(front_ends: FrontEnds, store: VerdictCache, repo: str, docs: list[FileDoc]):
        todo = [d for d in docs if VerdictCache.key(d) not in store.rows]
        if todo:
            for path, verdict in front_ends.check(by_repo[repo], todo).items():
                doc = next(d for d in todo if d.path == path)
                if verdict[0] != "unknown" or verdict[1].startswith("no verdict"):
                    store.put(doc, verdict)
                else:
                    store.rows[VerdictCache.key(doc)] = list(verdict)  # retried next run

    chosen: dict[str, list[FileDoc]] = defaultdict(list)
    for doc, _ in flagged:
        chosen[doc.repo].append(doc)
    for docs in sample.values():
        for doc in docs:
            chosen[doc.repo].append(doc)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(lambda item: judge(referee, cache, *item), chosen.items()))
    referee_seconds = time.perf_counter() - started
    flagged_by_repo: dict[str, list[FileDoc]] = defaultdict(list)
    for doc, _ in flagged:
        if doc.language != "python":
            flagged_by_repo[doc.repo].append(doc)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(lambda item: judge(product, confirm_cache, *item), flagged_by_repo.items()))
    confirm_seconds = time.perf_counter() - started

    def full_verdict(store: VerdictCache, doc: FileDoc) -> list[str]:
        answer = store.rows[VerdictCache.key(doc)]
        if doc.language in ("c", "cpp") and answer[0] == "reject":  # cached before c_verdict
            return list(c_verdict(doc.path, answer[1]))
        return answer

    def verdict_of(store: VerdictCache, doc: FileDoc) -> str:
        return full_verdict(store, doc)[0]

    def ref(doc: FileDoc) -> str:
        return verdict_of(cache, doc)

    def dropped_with_confirm(doc: FileDoc) -> bool:
        if doc.language == "python" or not product.available(doc.language):
            return True
        return verdict_of(confirm_cache, doc) == "reject"

    rows, details = {}, []
    for lang in sorted(files):
        lang_flagged = [d for d, _ in flagged if d.language == lang]
        drops = [d for d in lang_flagged if dropped_with_confirm(d)]
        kept_judged = [ref(d) for d in sample.get(lang, [])]
        kept_rejected = kept_judged.count("reject")
        kept_known = kept_judged.count("accept") + kept_rejected
        missed = kept_rejected / kept_known * len(kept_pool[lang]) if kept_known else 0.0
        row = {"files": files[lang], "kept_sample": len(kept_judged)}
        for label, group in (("tree_sitter", lang_flagged), ("screening", drops)):
            judged = [ref(d) for d in group]
            accepted, rejected = judged.count("accept"), judged.count("reject")
            # recall: rejected drops over those plus the invalid files estimated among the kept
            # (for the screening column, flagged files the front end overruled are kept too)
            kept_invalid = missed + (
                sum(1 for d in lang_flagged if not dropped_with_confirm(d) and ref(d) == "reject")
                if label == "screening"
                else 0
            )
            row[label] = {
                "drops": len(group),
                "parser_accepts": accepted,
                "parser_rejects": rejected,
                "no_verdict": len(group) - accepted - rejected,
                "precision": rejected / (accepted + rejected) if accepted + rejected else None,
                "recall_estimate": rejected / (rejected + kept_invalid)
                if rejected + kept_invalid
                else None,
            }
        row["kept_sample_rejected"] = kept_rejected
        row["kept_sample_no_verdict"] = len(kept_judged) - kept_known
        rows[lang] = row
        share_of = {(d.repo, d.path): v for d, v in flagged}
        for d in lang_flagged:
            details.append(
                {
                    "repo": d.repo,
                    "path": d.path,
                    "language": lang,
                    "error_share": round(share_of[(d.repo, d.path)].error_share, 4),
                    "where": share_of[(d.repo, d.path)].error_where,
                    "reference": full_verdict(cache, d),
                    "dropped": dropped_with_confirm(d),
                }
            )
        for d in sample.get(lang, []):
            if ref(d) != "accept":
                details.append(
                    {
                        "repo": d.repo,
                        "path": d.path,
                        "language": lang,
                        "kept_sample": True,
                        "reference": full_verdict(cache, d),
                    }
                )
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "corpora": [str(d) for d in directories],
        "github": PINNED_GITHUB,
        "github_missing": missing,
        "syntax_max_error_share": bound,
        "tree_sitter_seconds": round(screen_seconds, 1),
        "compare_commit": args.compare_commit or None,
        "compare_commit_seconds": round(before_seconds, 1) if before else None,
        "compare_commit_flagged": dict(before_flagged) if before else None,
        "referee_seconds": round(referee_seconds, 1),
        "confirm_seconds": round(confirm_seconds, 1),
        "referee_typescript": referee.typescript_module(),
        "screening_typescript": product.typescript_module(),
        "files": sum(files.values()),
        "languages": rows,
        "details": details,
    }
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(result, indent=1) + "\n")
    print(
        "| language | files | tree-sitter flags | of which the parser accepts | screening drops "
        "| of which the parser accepts | no verdict | precision | kept sample (parser rejects) "
        "| recall (est.) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for lang, r in rows.items():
        t, s = r["tree_sitter"], r["screening"]
        recall = "-" if s["recall_estimate"] is None else f"{100 * s['recall_estimate']:.1f}%"
        print(
            f"| {lang} | {r['files']:,} | {t['drops']} | {t['parser_accepts']} | {s['drops']} "
            f"| {s['parser_accepts']} | {s['no_verdict']} "
            f"| {pct(s['parser_rejects'], s['parser_rejects'] + s['parser_accepts'])} "
            f"| {r['kept_sample']} ({r['kept_sample_rejected']}) | {recall} |"
        )


if __name__ == "__main__":
    main()
