"""Is the cross-file context a comment in the file's language? Each language's own parser says.

CrossCodeEval's prompt puts the retrieved context before the file's left context: a header line
and every fragment's lines behind the language's line-comment prefix (`render_bm25`). The prefix
now comes from the language table (`comment_prefix`: the row's first comment prefix); before, it
was ``#`` for Python and ``//`` for every other language. A prefix that is not a comment in the
language makes the prompt a program the language rejects.

For each language with a syntax front end here (`repoloom.corpus.frontends`: compile(), gcc/g++,
javac's parser, V8 / the TypeScript parser, gofmt, rustfmt, php -l, ruby -c, mcs), files of real
pinned projects that the front end accepts on their own (up to ``--per-language``, at most
``--per-repo`` from one repository, files read as the corpus build reads them); for each, the
context is retrieved from its own repository by the evaluation code (`RepoContext.bm25_fragments`,
the whole file as the left context, 512 whitespace-separated words as the budget), rendered with
the table's prefix and with the rule before, put before the file, and the front end asked again.

    PYTHONPATH=src .venv/bin/python benchmarks/crossfile_context_syntax.py

Corpora: the pinned benchmark corpus (``repoloom corpus fetch --manifest benchmark``), the pinned
GitHub snapshots of benchmarks/syntax_precision.py (C#, header-only C++, TypeScript) and two of
the Ruby projects of benchmarks/deps_kotlin_ruby_scala.py (rack, sinatra), from git mirrors.
"""

from __future__ import annotations

import argparse
import warnings
from collections import Counter, defaultdict
from pathlib import Path

from deps_kotlin_ruby_scala import PROJECTS, export
from syntax_precision import export_github, repository_docs

from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.frontends import FrontEnds
from repoloom.corpus.steps import FileDoc
from repoloom.evaluate.crossfile import context as crossfile_context
from repoloom.evaluate.crossfile.context import RepoContext, render_bm25
from repoloom.evaluate.crossfile.point import CrossfilePoint
from repoloom.io import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
RUBY_PROJECTS = ("rack/rack", "sinatra/sinatra")


def rule_before(language: str) -> str:
    """The comment prefix before it came from the language table."""
    return "#" if language == "python" else "//"


def count_words(text: str) -> int:
    return len(text.split())


def contexts(docs: list[FileDoc], doc: FileDoc) -> dict[str, str]:
    """The rendered context of ``doc`` (its whole text as the left context) under both rules."""
    repo = RepoContext({d.path: d.text for d in docs}, {d.path: d.language for d in docs})
    point = CrossfilePoint(doc.path, doc.repo, doc.path, doc.language or "", doc.text, "", "", [])
    fragments = repo.fragments(point, "bm25")
    table = render_bm25(fragments, point.language, count_words)
    table_prefix = crossfile_context.comment_prefix
    crossfile_context.comment_prefix = rule_before  # render_bm25 looks the name up per call
    try:
        before = render_bm25(fragments, point.language, count_words)
    finally:
        crossfile_context.comment_prefix = table_prefix
    return {"table": table, "before": before}


def ask(front_ends: FrontEnds, docs: list[FileDoc], variant: dict[str, FileDoc]) -> dict:
    """Verdicts on the ``variant`` texts, the rest of the repository as it is (C/C++ headers)."""
    repository = [variant.get(d.path, d) for d in docs]
    return front_ends.check(repository, list(variant.values()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=Path.home() / ".cache/repoloom/benchmark-corpus")
    p.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    p.add_argument("--github-out", type=Path, default=ROOT / "data" / "github-pinned")
    p.add_argument("--work", type=Path, default=ROOT / "data" / "crossfile-context-syntax")
    p.add_argument("--per-language", type=int, default=40)
    p.add_argument("--per-repo", type=int, default=4)
    p.add_argument(
        "--result", type=Path, default=ROOT / "benchmarks/results/crossfile_context_syntax.json"
    )
    args = p.parse_args()
    warnings.simplefilter("ignore")
    export_github(args.mirrors, args.github_out)
    ruby = [export(args.mirrors, r, PROJECTS["ruby"][r]).parent for r in RUBY_PROJECTS]
    directories = [d for d in (args.data, args.github_out, *set(ruby)) if d.is_dir()]
    front_ends = FrontEnds(args.work, timeout=120)
    counts: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, str] = {}
    for name, docs in repository_docs(directories, CorpusConfig()):
        by_language: dict[str, list[FileDoc]] = defaultdict(list)
        for doc in sorted(docs, key=lambda d: d.path):
            lang = doc.language or ""
            if not front_ends.available(lang):
                continue
            room = args.per_language - counts[lang]["files"]
            if len(by_language[lang]) < min(args.per_repo, room):
                by_language[lang].append(doc)
        chosen = [d for group in by_language.values() for d in group]
        if not chosen:
            continue
        alone = ask(front_ends, docs, {d.path: d for d in chosen})
        accepted = [d for d in chosen if alone[d.path][0] == "accept"]
        rendered = {d.path: contexts(docs, d) for d in accepted}
        accepted = [d for d in accepted if rendered[d.path]["table"]]  # no fragment: no context
        for rule in ("table", "before"):
            variant = {
                d.path: FileDoc(
                    d.repo, d.path, rendered[d.path][rule] + d.text, d.n_bytes, d.language
                )
                for d in accepted
            }
            verdicts = ask(front_ends, docs, variant)
            for d in accepted:
                verdict, message = verdicts[d.path]
                counts[d.language][f"{rule}:{verdict}"] += 1
                if verdict == "reject":
                    examples.setdefault(f"{d.language} {rule}", f"{name}/{d.path}: {message}")
        for d in accepted:
            counts[d.language]["files"] += 1
            counts[d.language]["same_text"] += (
                rendered[d.path]["table"] == rendered[d.path]["before"]
            )
        print(name, {lang: len(group) for lang, group in by_language.items() if group}, flush=True)

    rows = {lang: dict(c) for lang, c in sorted(counts.items()) if c["files"]}
    write_json_atomic(args.result, {"languages": rows, "reject_examples": examples})
    print(
        "\n| language | files | context unchanged | accepted, table prefix | accepted, rule before |"
    )
    print("|---|---|---|---|---|")
    for lang, c in rows.items():
        n = c["files"]
        print(
            f"| {lang} | {n} | {c['same_text']} | {c.get('table:accept', 0)} "
            f"| {c.get('before:accept', 0)} |"
        )
    for key, text in examples.items():
        print(f"- {key}: {text[:200]}")


if __name__ == "__main__":
    main()
