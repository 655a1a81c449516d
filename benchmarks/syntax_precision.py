"""Syntax screening against each language's own front end (issue 13, item 2).

Runs the corpus builder's read -> language -> rule filters -> in-repository dedup on real
projects, screens every file of the ten syntax languages with `repoloom.corpus.screening`, and
asks the language's own parser, in a syntax-only mode, about every file the screening drops and
about a seeded random sample of the files it keeps:

    python      compile() (the screening itself uses it: a self-check)
    c, cpp      gcc -fsyntax-only -std=gnu17 / g++ -fsyntax-only -std=gnu++20 with the project's
                include directories; a `.h` passes when either accepts it; a missing header
                ("No such file or directory") is no verdict
    java        javac's parser only (com.sun.source JavacTask.parse(), a small helper compiled at
                run time; --release 17 --enable-preview)
    javascript  V8 (vm.Script, then vm.SourceTextModule: CommonJS or ES module), as node --check
    typescript  the TypeScript compiler API's syntactic diagnostics (parseDiagnostics of
                createSourceFile), TypeScript 5.3.3 from the benchmark corpus' npm tarball, else
                the Debian node-typescript module
    go          gofmt -e
    rust        rustc -Z parse-crate-root-only (RUSTC_BOOTSTRAP=1: parses this file only)
    php         php -l
    c-sharp     mcs --parse (Mono 6.8: C# 7 syntax; newer syntax such as records is reported
                as rejected by mcs and read by hand, see BENCHMARKS.md)

Corpora: the pinned `benchmark` manifest (fetched by `repoloom corpus fetch --manifest benchmark`
into --data) and the GitHub repositories in PINNED_GITHUB at their pinned commits, exported from
the mirrors under --mirrors (GitHub snapshots fetched beforehand; missing ones are skipped and
said so). Verdicts are cached in --cache (keyed by tool and content hash), so reruns are cheap.
Compilers run under `nice -n 10`, at most --jobs at once.

    python benchmarks/syntax_precision.py [--data DIR] [--mirrors DIR] [--sample 120]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import tarfile
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.screening import SYNTAX_LANGUAGES, dedup_repository_files, syntax_verdict
from repoloom.corpus.sources import TaskOptions, expand_repos_dir, iter_repository_files
from repoloom.corpus.steps import FileDoc, StepLog, apply_rule_filters, decode_files
from repoloom.corpus.steps import identify_languages

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

HEADER_SUFFIXES = (".h", ".hh", ".hpp", ".hxx", ".h++", ".inl", ".ipp", ".tcc")


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


def collect(directories: list[Path], config: CorpusConfig):
    """(repository name, its screened-language docs) as the pipeline sees them."""
    for directory in directories:
        for task in expand_repos_dir(str(directory), TaskOptions()):
            log = StepLog()
            docs = decode_files(task.name, iter_repository_files(task, config.read), config, log)
            docs = apply_rule_filters(identify_languages(docs, config, log), config, log)
            docs = dedup_repository_files(docs, log)
            yield task.name, [d for d in docs if d.language in SYNTAX_LANGUAGES]


# ---------------------------------------------------------------------------------------------
# The reference parsers. Each returns (verdict, message): "accept", "reject" or "unknown".


def _run(cmd: list[str], cwd: Path | None = None, stdin: bytes | None = None, env=None):
    try:
        proc = subprocess.run(
            ["nice", "-n", "10", *cmd],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            timeout=120,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return None
    return proc


def _first_error(text: str) -> str:
    for line in text.splitlines():
        if "error" in line.lower():
            return line.strip()[:200]
    return text.strip().splitlines()[0][:200] if text.strip() else ""


class Checkers:
    def __init__(self, work: Path, corpus_dirs: list[Path]) -> None:
        self.work = work
        self.work.mkdir(parents=True, exist_ok=True)
        self.node_helper = self._typescript(corpus_dirs)
        self.java_helper = self._java()

    # -- set-up ---------------------------------------------------------------------------------

    def _typescript(self, corpus_dirs: list[Path]) -> Path:
        """TypeScript 5.3.3 from the benchmark corpus' npm tarball (its lib/typescript.js), else
        the Debian module."""
        lib = self.work / "typescript-5.3.3" / "package" / "lib" / "typescript.js"
        if not lib.exists():
            for d in corpus_dirs:
                for tgz in d.glob("typescript-5.3.3*.tgz"):
                    with tarfile.open(tgz) as tf:
                        member = tf.getmember("package/lib/typescript.js")
                        tf.extractall(self.work / "typescript-5.3.3", members=[member])
        self.typescript = str(lib) if lib.exists() else "/usr/share/nodejs/typescript"
        return TOOLS / "syntax_check.js"

    def _java(self) -> Path:
        out = self.work / "java"
        if not (out / "ParseOnly.class").exists():
            out.mkdir(parents=True, exist_ok=True)
            subprocess.run(["javac", "-d", str(out), str(TOOLS / "ParseOnly.java")], check=True)
        return out

    # -- batch helpers (one process for many files) ----------------------------------------------

    def node_batch(self, items: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
        """items: (mode, file name, text); mode "ts" (TypeScript parse diagnostics) or "js"
        (V8 script, then module)."""
        request = json.dumps(
            {"typescript": self.typescript, "files": [list(i) for i in items]}
        ).encode()
        proc = _run(
            ["node", "--experimental-vm-modules", "--no-warnings", str(self.node_helper)],
            stdin=request,
        )
        if proc is None or proc.returncode:
            message = "node helper failed" if proc is None else proc.stderr.decode()[-300:]
            return [("unknown", message)] * len(items)
        return [tuple(r) for r in json.loads(proc.stdout)]

    def java_batch(self, paths: list[Path]) -> list[tuple[str, str]]:
        proc = _run(
            ["java", "-cp", str(self.java_helper), "ParseOnly"],
            stdin="\n".join(map(str, paths)).encode(),
        )
        if proc is None or proc.returncode:
            return [("unknown", "java helper failed")] * len(paths)
        rows = proc.stdout.decode().splitlines()
        return [tuple(r.split("\t", 1)) if "\t" in r else (r, "") for r in rows]

    # -- one file ---------------------------------------------------------------------------------

    def c_family(self, path: Path, root: Path, language: str) -> tuple[str, str]:
        includes = {root, path.parent}
        includes.update(p for p in root.rglob("include") if p.is_dir())
        includes.update(p for p in (root / "src", root / "lib") if p.is_dir())
        flags = [f"-I{p}" for p in sorted(includes)]
        suffix = path.suffix.lower()
        if suffix == ".c":
            modes = [("gcc", "-std=gnu17", "c")]
        elif language == "c" or suffix == ".h":  # a `.h` may be C or C++: either may accept it
            modes = [("gcc", "-std=gnu17", "c-header"), ("g++", "-std=gnu++20", "c++-header")]
        else:
            header = suffix in HEADER_SUFFIXES
            modes = [("g++", "-std=gnu++20", "c++-header" if header else "c++")]
        messages, missing_header = [], False
        for compiler, std, kind in modes:
            proc = _run(
                [compiler, std, "-fsyntax-only", "-w", "-fmax-errors=3", "-x", kind, *flags,
                 str(path)],
                cwd=path.parent,
            )
            if proc is None:
                messages.append(f"{compiler}: timeout")
                continue
            if proc.returncode == 0:
                return "accept", f"{compiler} {std}"
            err = proc.stderr.decode("utf-8", "replace")
            if "No such file or directory" in err or "file not found" in err:
                missing_header = True
            messages.append(f"{compiler}: {_first_error(err)}")
        if missing_header:
            return "unknown", "missing header: " + " | ".join(messages)
        return "reject", " | ".join(messages)

    def single(self, language: str, path: Path, text: str) -> tuple[str, str]:
        if language == "python":
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    compile(text, str(path), "exec", dont_inherit=True)
            except (SyntaxError, ValueError) as exc:
                return "reject", f"compile: {exc}"
            return "accept", "compile"
        if language == "go":
            proc = _run(["gofmt", "-e", "-l", str(path)])
            if proc is None:
                return "unknown", "gofmt timeout"
            return ("accept", "gofmt -e") if proc.returncode == 0 else (
                "reject", _first_error(proc.stderr.decode("utf-8", "replace"))
            )
        if language == "rust":
            env = {**os.environ, "RUSTC_BOOTSTRAP": "1"}
            proc = _run(
                ["rustc", "-Z", "parse-crate-root-only", "--edition", "2021",
                 "--crate-type", "lib", "-o", os.devnull, str(path)],
                env=env,
            )
            if proc is None:
                return "unknown", "rustc timeout"
            err = proc.stderr.decode("utf-8", "replace")
            return ("accept", "rustc parse") if proc.returncode == 0 else ("reject", _first_error(err))
        if language == "php":
            proc = _run(["php", "-n", "-l", str(path)])
            if proc is None:
                return "unknown", "php timeout"
            out = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
            return ("accept", "php -l") if proc.returncode == 0 else ("reject", _first_error(out))
        if language == "c-sharp":
            proc = _run(["mcs", "--parse", "-langversion:experimental", str(path)])
            if proc is None:
                return "unknown", "mcs timeout"
            out = proc.stdout.decode("utf-8", "replace")
            return ("accept", "mcs --parse") if proc.returncode == 0 else ("reject", _first_error(out))
        raise ValueError(language)


# ---------------------------------------------------------------------------------------------


class VerdictCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[str, list[str]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                row = json.loads(line)
                self.rows[row["key"]] = row["verdict"]
        self.fh = path.open("a")

    @staticmethod
    def key(language: str, doc: FileDoc) -> str:
        digest = hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).hexdigest()
        # c/cpp verdicts depend on the project's headers too: keyed by repository and path
        where = f"{doc.repo}/{doc.path}" if language in ("c", "cpp") else ""
        return f"{language}:{digest}:{where}"

    def get(self, key: str):
        return self.rows.get(key)

    def put(self, key: str, verdict: tuple[str, str]) -> None:
        self.rows[key] = list(verdict)
        self.fh.write(json.dumps({"key": key, "verdict": list(verdict)}) + "\n")
        self.fh.flush()


def materialize(doc: FileDoc, root: Path) -> Path:
    path = root / doc.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc.text, encoding="utf-8", errors="surrogatepass")
    return path


def check_repository(
    name: str,
    docs: list[FileDoc],
    chosen: list[FileDoc],
    checkers: Checkers,
    cache: VerdictCache,
    jobs: int,
) -> dict[str, tuple[str, str]]:
    """Verdicts for `chosen` (files of one repository), keyed by path."""
    verdicts: dict[str, tuple[str, str]] = {}
    todo = []
    for doc in chosen:
        hit = cache.get(VerdictCache.key(doc.language, doc))
        if hit:
            verdicts[doc.path] = tuple(hit)
        else:
            todo.append(doc)
    if not todo:
        return verdicts
    with tempfile.TemporaryDirectory(prefix="syntax-", dir=checkers.work) as tmp:
        root = Path(tmp)
        if any(d.language in ("c", "cpp") for d in todo):  # the project's headers, for -I
            for doc in docs:
                if doc.language in ("c", "cpp"):
                    materialize(doc, root)
        paths = {doc.path: materialize(doc, root) for doc in todo}
        results: dict[str, tuple[str, str]] = {}
        node_items = [d for d in todo if d.language in ("javascript", "typescript")]
        if node_items:
            rows = checkers.node_batch(
                [
                    ("ts" if d.language == "typescript" else "js", d.path, d.text)
                    for d in node_items
                ]
            )
            results.update({d.path: r for d, r in zip(node_items, rows, strict=True)})
        java_items = [d for d in todo if d.language == "java"]
        if java_items:
            rows = checkers.java_batch([paths[d.path] for d in java_items])
            results.update({d.path: r for d, r in zip(java_items, rows, strict=True)})
        rest = [d for d in todo if d.path not in results]

        def one(doc: FileDoc) -> tuple[str, str]:
            if doc.language in ("c", "cpp"):
                return checkers.c_family(paths[doc.path], root, doc.language)
            return checkers.single(doc.language, paths[doc.path], doc.text)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results.update(zip([d.path for d in rest], pool.map(one, rest), strict=True))
    for doc in todo:
        verdict = results[doc.path]
        if verdict[0] != "unknown" or "missing header" in verdict[1]:
            cache.put(VerdictCache.key(doc.language, doc), verdict)
        verdicts[doc.path] = verdict
    return verdicts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT / "data" / "benchmark-corpus")
    p.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    p.add_argument("--github-out", type=Path, default=ROOT / "data" / "github-pinned")
    p.add_argument("--work", type=Path, default=ROOT / "data" / "syntax-precision")
    p.add_argument("--sample", type=int, default=120, help="kept files checked per language")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument(
        "--max-error-share", type=float, default=None, help="screen at this bound (default: config)"
    )
    p.add_argument("--result", type=Path, default=ROOT / "benchmarks/results/syntax_precision.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    config = CorpusConfig()
    cfg = config.screening
    if args.max_error_share is not None:
        cfg.syntax_max_error_share = args.max_error_share
    missing = export_github(args.mirrors, args.github_out)
    if missing:
        print(f"not available (fetch the GitHub snapshots first): {', '.join(missing)}")
    directories = [d for d in (args.data, args.github_out) if d.is_dir()]
    checkers = Checkers(args.work, directories)
    cache = VerdictCache(args.work / "verdicts.jsonl")
    rng = random.Random(args.seed)

    # Pass 1: screen every file (keep the repository's docs only where something is checked).
    started = time.perf_counter()
    screen_seconds = 0.0
    files, kept_pool = Counter(), defaultdict(list)
    drops: list[tuple[FileDoc, object]] = []
    by_repo: dict[str, list[FileDoc]] = {}
    for name, docs in collect(directories, config):
        for doc in docs:
            files[doc.language] += 1
            t0 = time.perf_counter()
            verdict = syntax_verdict(doc, 1 << 62, cfg.syntax_max_error_share)
            screen_seconds += time.perf_counter() - t0
            if verdict.error_share > cfg.syntax_max_error_share:
                drops.append((doc, verdict))
            else:
                kept_pool[doc.language].append(doc)
        by_repo[name] = docs
    sample = {
        lang: rng.sample(pool, min(args.sample, len(pool))) for lang, pool in kept_pool.items()
    }
    print(f"screened {sum(files.values())} files in {time.perf_counter() - started:.0f}s "
          f"(syntax_verdict {screen_seconds:.1f}s); {len(drops)} drops")

    # Pass 2: the reference parsers, repository by repository.
    chosen: dict[str, list[FileDoc]] = defaultdict(list)
    for doc, _ in drops:
        chosen[doc.repo].append(doc)
    for docs in sample.values():
        for doc in docs:
            chosen[doc.repo].append(doc)
    verdicts: dict[tuple[str, str], tuple[str, str]] = {}
    for repo, docs in chosen.items():
        got = check_repository(repo, by_repo[repo], docs, checkers, cache, args.jobs)
        verdicts.update({(repo, path): v for path, v in got.items()})

    rows = {}
    drop_rows = []
    for lang in sorted(files):
        lang_drops = [(d, v) for d, v in drops if d.language == lang]
        judged = [verdicts[(d.repo, d.path)][0] for d, _ in lang_drops]
        accepted = judged.count("accept")
        rejected = judged.count("reject")
        kept_judged = [verdicts[(d.repo, d.path)][0] for d in sample.get(lang, [])]
        kept_rejected = kept_judged.count("reject")
        kept_known = kept_judged.count("accept") + kept_rejected
        kept_n = len(kept_pool[lang])
        est_missed = kept_rejected / kept_known * kept_n if kept_known else 0.0
        rows[lang] = {
            "files": files[lang],
            "drops": len(lang_drops),
            "drops_parser_accepts": accepted,
            "drops_parser_rejects": rejected,
            "drops_no_verdict": len(judged) - accepted - rejected,
            "precision": round(rejected / (accepted + rejected), 4) if accepted + rejected else None,
            "kept_sample": len(kept_judged),
            "kept_sample_rejected": kept_rejected,
            "kept_sample_no_verdict": len(kept_judged) - kept_known,
            "recall_estimate": round(rejected / (rejected + est_missed), 4)
            if rejected + est_missed
            else None,
        }
        for d, v in lang_drops:
            drop_rows.append(
                {
                    "repo": d.repo,
                    "path": d.path,
                    "language": lang,
                    "error_share": round(v.error_share, 4),
                    "where": v.error_where,
                    "reference": verdicts[(d.repo, d.path)],
                }
            )
        for d in sample.get(lang, []):
            verdict = verdicts[(d.repo, d.path)]
            if verdict[0] == "reject":
                drop_rows.append(
                    {"repo": d.repo, "path": d.path, "language": lang, "kept": True,
                     "reference": verdict}
                )
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "corpora": [str(d) for d in directories],
        "github": PINNED_GITHUB,
        "github_missing": missing,
        "syntax_max_error_share": cfg.syntax_max_error_share,
        "screen_seconds": round(screen_seconds, 1),
        "typescript": checkers.typescript,
        "languages": rows,
        "files": sum(files.values()),
        "details": drop_rows,
    }
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(result, indent=1) + "\n")
    print("| language | files | drops | drops the parser accepts | no verdict | precision "
          "| kept sample (rejected) | recall (est.) |")
    print("|---|---|---|---|---|---|---|---|")
    for lang, r in rows.items():
        precision = "-" if r["precision"] is None else f"{100 * r['precision']:.1f}%"
        recall = "-" if r["recall_estimate"] is None else f"{100 * r['recall_estimate']:.1f}%"
        print(f"| {lang} | {r['files']:,} | {r['drops']} | {r['drops_parser_accepts']} "
              f"| {r['drops_no_verdict']} | {precision} | {r['kept_sample']} "
              f"({r['kept_sample_rejected']}) | {recall} |")
    shutil.rmtree(args.work / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
