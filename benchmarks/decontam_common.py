"""Build decontamination's common-code list (src/repoloom/corpus/decontam_common.json).

The list holds what a clean background corpus of real projects says is ordinary code:

* ``hashes``: the benchmark sequences (10-grams of the benchmark texts, and the whole 3-9 token
  short strings, as `repoloom.corpus.decontam` indexes them) found in at least --min-files
  background files (``for (int i = 0; i < n; i++) {`` is ordinary code, not a copy of a task);
* ``words``: the benchmark words found in at least --word-min-share of the background files
  (``return``, ``len``, ``string``, ``numbers``): a short string or a 10-gram made only of such
  words is not indexed;
* ``context_hashes``: the benchmark 10-grams that are common in context
  (`repoloom.corpus.decontam_context`): each rare word inside a 3-5 token phrase found in a
  background file, or one identifier called with numbers (--weak-min-files is its cut-off).

The background corpus is `benchmarks/decontam_background.yaml` (pinned by version and sha256;
none of its projects is in the `benchmark` manifest or the 36 sdists that measure false hits),
fetched beforehand:

    repoloom corpus fetch --manifest benchmarks/decontam_background.yaml --out data/background
    python benchmarks/decontam_common.py --background data/background \
        --benchmarks-dir ../shared/benchmarks --counts data/background_counts.npz

Building it needs no network: the fetched corpus and the local benchmark copy only. The output
records the corpus (artefacts and sha256 from the fetch lock), the benchmark files (sha256) and
the cut-offs, so the list is reproducible; --counts keeps the per-file counts, so that other
cut-offs can be written without scanning the corpus again.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import json
import sys
import tarfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from repoloom.corpus.decontam_context import PROSE_BENCHMARKS, ContextRule, common_in_context
from repoloom.corpus.decontam_index import _rare_words

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "repoloom" / "corpus" / "decontam_common.json"
MAX_BYTES = 1_000_000


def corpus_files(root: Path) -> Iterator[tuple[str, str, str]]:
    """(project, path, text) of every UTF-8 text file with a language under `root`: archives
    (.tar.gz/.tgz/.zip) and directories, one project each (what `--repos-dir` reads)."""
    from repoloom.codebase.languages import identify_language

    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.name.endswith(".json"):
            continue
        if entry.is_dir():
            members = (
                (str(p.relative_to(entry)), p.read_bytes)
                for p in sorted(entry.rglob("*"))
                if p.is_file() and not p.is_symlink() and p.stat().st_size <= MAX_BYTES
            )
        elif entry.name.endswith(".zip"):
            archive = zipfile.ZipFile(entry)
            members = (
                (m.filename, lambda m=m, a=archive: a.read(m))
                for m in archive.infolist()
                if not m.is_dir() and m.file_size <= MAX_BYTES
            )
        elif entry.name.endswith((".tar.gz", ".tgz")):
            archive = tarfile.open(entry)
            members = (
                (m.name, lambda m=m, a=archive: a.extractfile(m).read())
                for m in archive.getmembers()
                if m.isfile() and m.size <= MAX_BYTES
            )
        else:
            continue
        for name, read in members:
            data = read()
            if b"\x00" in data[:8192]:
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if text.strip() and identify_language(name, data[:256]):
                yield entry.name, name, text


class Matcher:
    """Which candidate sequences occur in a token stream: 10-grams through a bitmap of their top
    bits, short sequences only where a text's bigram starts one of them (as the index scans)."""

    BITS = 24

    def __init__(self, candidates: dict[int, np.ndarray], first_bigrams: np.ndarray) -> None:
        self.longest = max(candidates)
        self.candidates = candidates
        self.everything = np.unique(np.concatenate(list(candidates.values())))
        self.bitmap = np.zeros(1 << self.BITS, dtype=bool)
        self.bitmap[candidates[self.longest] >> np.uint64(64 - self.BITS)] = True
        self.first_bigrams = np.unique(first_bigrams)

    def __call__(self, hashes: np.ndarray) -> np.ndarray:
        from repoloom.corpus.minhash import ngram_hashes, ngram_hashes_at

        found = []
        if len(hashes) >= self.longest:
            grams = ngram_hashes(hashes, self.longest)
            found.append(grams[self.bitmap[grams >> np.uint64(64 - self.BITS)]])
        starts = np.flatnonzero(np.isin(ngram_hashes(hashes, 2), self.first_bigrams))
        for n in self.candidates:
            if n != self.longest:
                at = starts[starts + n <= len(hashes)]
                found.append(ngram_hashes_at(hashes, n, at))
        found = np.unique(np.concatenate(found or [np.zeros(0, np.uint64)]))
        pos = np.searchsorted(self.everything, found)  # sorted: no per-file sort of 1M hashes
        pos[pos == len(self.everything)] = 0
        return found[self.everything[pos] == found]


def benchmark_sequences(
    benchmarks_dir: str,
) -> tuple[dict[int, np.ndarray], dict, np.ndarray, np.ndarray, list]:
    """n -> the hashes the index would hold without a common-code list; benchmark file sha256s;
    the first bigrams of the short sequences; the hashes of the benchmarks' words; per benchmark
    string its token hashes, letter and plain-word flags, and whether it is prose."""
    from repoloom.corpus.config import DecontamConfig
    from repoloom.corpus.decontam import (
        BenchmarkIndex,
        code_tokens_many,
        index_sequences,
        load_benchmarks,
    )

    # min_alpha_tokens=1: the list also serves configs that index more than the default does
    cfg = DecontamConfig(
        benchmarks_dir=benchmarks_dir, hub=False, common_code=False, min_alpha_tokens=1
    )
    index = BenchmarkIndex(ngram=cfg.ngram)
    sources, base = load_benchmarks(cfg, index)
    if index.missing:
        sys.exit(f"benchmarks missing under {base}: {index.missing}")
    sequences = index_sequences(sources, cfg, index)
    files = {}
    for where in index.sources.values():
        for path in where.split(", "):
            if Path(path).is_file():
                files[f"{Path(path).parent.name}/{Path(path).name}"] = hashlib.sha256(
                    Path(path).read_bytes()
                ).hexdigest()
    first_bigrams = np.concatenate([np.zeros(0, np.uint64), *index.short_first_bigrams.values()])
    words = []  # every token holding a letter, of every benchmark string
    strings = []  # (hashes, letters, plain, prose) of every string, for the context rule
    for benchmark, rows in sources:
        hashes, letters, plain = code_tokens_many([text for _, _, text in rows])
        words += [h[has_letter] for h, has_letter in zip(hashes, letters, strict=True)]
        prose = benchmark in PROSE_BENCHMARKS
        strings += [(*s, prose) for s in zip(hashes, letters, plain, strict=True)]
    words = np.unique(np.concatenate(words))
    sequences = {n: np.unique(h) for n, (h, _) in sequences.items()}
    return sequences, files, first_bigrams, words, strings


def benchmark_mgrams(strings: list, lengths: tuple[int, ...]) -> dict[int, np.ndarray]:
    """m -> the sorted distinct m-grams inside the benchmark strings (the context rule's)."""
    from repoloom.corpus.minhash import ngram_hashes

    out = {}
    for m in lengths:
        out[m] = np.unique(
            np.concatenate([np.zeros(0, np.uint64)] + [ngram_hashes(s[0], m) for s in strings])
        )
    return out


def scan_background(
    background: Path,
    candidates: dict[int, np.ndarray],
    first_bigrams: np.ndarray,
    words: np.ndarray,
    mgrams: dict[int, np.ndarray],
    started: float,
) -> tuple[np.ndarray, Counter, Counter, int, dict[int, np.ndarray]]:
    """Per benchmark word and per candidate sequence, the number of background files holding it;
    files per project; bytes read; per benchmark m-gram (the context rule's), its file count."""
    from repoloom.corpus.decontam import code_tokens
    from repoloom.corpus.minhash import ngram_hashes

    files_with_mgram = {m: np.zeros(len(g), dtype=np.int64) for m, g in mgrams.items()}
    files_with_word = np.zeros(len(words), dtype=np.int64)
    matcher = Matcher(candidates, first_bigrams)
    print(f"{len(matcher.everything)} benchmark sequences, lengths {sorted(candidates)}")
    files_with: Counter = Counter()
    projects: Counter = Counter()
    total_bytes = 0
    for project, _, text in corpus_files(background):
        if project not in projects:
            print(f"  {project} ({time.perf_counter() - started:.0f} s)", flush=True)
        projects[project] += 1
        total_bytes += len(text.encode("utf-8", "surrogatepass"))
        tokens = code_tokens(text)
        if len(tokens) < 2:
            continue
        present = np.unique(tokens.hashes)
        pos = np.searchsorted(words, present)
        pos[pos == len(words)] = 0
        files_with_word[pos[words[pos] == present]] += 1
        for h in matcher(tokens.hashes).tolist():
            files_with[h] += 1
        for m, table in mgrams.items():
            if len(tokens) >= m:
                present = np.unique(ngram_hashes(tokens.hashes, m))
                pos = np.searchsorted(table, present)
                pos[pos == len(table)] = 0
                files_with_mgram[m][pos[table[pos] == present]] += 1
    return files_with_word, files_with, projects, total_bytes, files_with_mgram


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--background", default=str(ROOT / "data" / "background"))
    parser.add_argument("--benchmarks-dir", required=True)
    parser.add_argument("--min-files", type=int, default=1, help="the cut-off K")
    parser.add_argument(
        "--word-min-share",
        type=float,
        default=0.004,
        help="a benchmark word in at least this share of the files is common",
    )
    parser.add_argument(
        "--weak-min-files",
        type=int,
        default=ContextRule.weak_min_files,
        help="a rare word in at least this many files is weak (the context rule)",
    )
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument(
        "--counts", help="an .npz of the background counts: written after a scan, read if there"
    )
    args = parser.parse_args()
    from repoloom.corpus.decontam import TOKENIZER

    started = time.perf_counter()
    candidates, benchmark_files, first_bigrams, words, strings = benchmark_sequences(
        args.benchmarks_dir
    )
    rule = ContextRule(weak_min_files=args.weak_min_files)
    mgrams = benchmark_mgrams(
        strings, tuple(sorted({rule.weak_prose, rule.weak_code, rule.strong}))
    )
    counts = Path(args.counts) if args.counts else None
    if counts is not None and counts.is_file():  # re-cut without scanning the corpus again
        saved = np.load(counts)
        assert np.array_equal(saved["words"], words), "counts were taken for other benchmarks"
        files_with_word = saved["files_with_word"]
        files_with = Counter(
            dict(zip(saved["seq"].tolist(), saved["seq_files"].tolist(), strict=True))
        )
        projects = Counter(json.loads(str(saved["projects"])))
        total_bytes = int(saved["bytes"])
        files_with_mgram = {m: saved[f"mgram{m}_files"] for m in mgrams}
        assert all(np.array_equal(saved[f"mgram{m}"], g) for m, g in mgrams.items())
    else:
        files_with_word, files_with, projects, total_bytes, files_with_mgram = scan_background(
            Path(args.background), candidates, first_bigrams, words, mgrams, started
        )
        if counts is not None:
            np.savez(
                counts,
                words=words,
                files_with_word=files_with_word,
                seq=np.array(list(files_with), dtype=np.uint64),
                seq_files=np.array(list(files_with.values()), dtype=np.int64),
                projects=json.dumps(projects),
                bytes=total_bytes,
                **{f"mgram{m}": g for m, g in mgrams.items()},
                **{f"mgram{m}_files": c for m, c in files_with_mgram.items()},
            )
    common = np.array(
        sorted(h for h, count in files_with.items() if count >= args.min_files), dtype="<u8"
    )
    files = sum(projects.values())
    word_min_files = max(1, int(np.ceil(args.word_min_share * files)))
    common_words = np.sort(words[files_with_word >= word_min_files]).astype("<u8")
    # the context rule: windows whose rare words sit in phrases the background holds
    context = common_in_context(
        [
            (h, letters, _rare_words(h, letters, plain, common_words), prose)
            for h, letters, plain, prose in strings
        ],
        {m: g[files_with_mgram[m] >= 1] for m, g in mgrams.items()},
        np.sort(words[files_with_word >= rule.weak_min_files]),
        np.sort(words[files_with_word >= 1]),
        rule,
    ).astype("<u8")
    lock_path = Path(args.background) / "manifest.lock.json"
    lock = json.loads(lock_path.read_text()) if lock_path.is_file() else {}
    artefacts = [
        {k: a.get(k) for k in ("source", "package", "version", "sha256")}
        for a in lock.get("entries", [])
    ]
    payload = {
        "what": "benchmark sequences common in real code: left out of the decontam index",
        "tokenizer": TOKENIZER,
        "built_by": "benchmarks/decontam_common.py",
        "background": {
            "manifest": "benchmarks/decontam_background.yaml",
            "artefacts": artefacts,
            "projects": len(projects),
            "files": sum(projects.values()),
            "bytes": total_bytes,
        },
        "cutoff": {
            "min_files": args.min_files,
            "word_min_share": args.word_min_share,
            "word_min_files": word_min_files,
            "context": dataclasses.asdict(rule) | {"mgram_min_files": 1},
        },
        "benchmarks": benchmark_files,
        "count": len(common),
        "words_count": len(common_words),
        "hashes": base64.b64encode(common.tobytes()).decode("ascii"),
        "words": base64.b64encode(common_words.tobytes()).decode("ascii"),
        "context_ngram": 10,
        "context_count": len(context),
        "context_hashes": base64.b64encode(context.tobytes()).decode("ascii"),
    }
    Path(args.out).write_text(json.dumps(payload, indent=1) + "\n")
    print(
        f"{len(common)} common sequences (in >= {args.min_files} of {files} files,"
        f" {total_bytes / 1e6:.1f} MB, {len(projects)} projects) -> {args.out}"
        f" ({time.perf_counter() - started:.0f} s); {len(common_words)} of {len(words)}"
        f" benchmark words in >= {word_min_files} files; {len(context)} 10-grams common in"
        " context"
    )


if __name__ == "__main__":
    main()
