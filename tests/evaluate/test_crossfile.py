"""The cross-file completion benchmark: points are truly cross-file (checked with Python's own
``ast``, independently of the tree-sitter analysis), the held-out check refuses training
repositories (by name and a renamed copy by content), BM25 context comes only from other files,
``deps`` context follows the dependency order, and ``eval run crossfile`` works end to end.

Real repositories: the pinned demo corpus (click, rich from PyPI), cached under
~/.cache/repoloom/test-demo-corpus (or $REPOLOOM_TEST_CACHE); skipped when it cannot be fetched.
"""

from __future__ import annotations

import ast
import json
import os
import re
import tarfile
import textwrap
from pathlib import Path

import pytest

from repoloom.evaluate.crossfile import (
    CrossfilePoint,
    build_points,
    crossfile_context,
    load_source,
)
from repoloom.evaluate.crossfile.builder import build_benchmark
from repoloom.evaluate.crossfile.context import (
    bm25_scores,
    chunk_lines,
    repo_context,
)

from .helpers import run_cli

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _archive(demo_repos: Path, prefix: str) -> Path:
    found = sorted(demo_repos.glob(f"{prefix}-*.tar.gz"))
    if not found:
        pytest.skip(f"{prefix} is not in the demo corpus")
    return found[0]


@pytest.fixture(scope="session")
def click(demo_repos) -> Path:
    return _archive(demo_repos, "click")


@pytest.fixture(scope="session")
def click_points(click) -> list[CrossfilePoint]:
    return build_points(click, languages=("python",), max_points=25, seed=0)


def write_repo(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


# ---- independent check of "cross-file" with Python's ast ------------------------------------


def _ast_api(text: str) -> set[str]:
    """Names a Python module defines for others: defs, classes, assignments, self.x."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            out.add(node.attr)
    return out


def _ast_bound(text: str) -> set[str]:
    """Every name a module binds other than by import (incl. parameters, except/for targets)."""
    out = _ast_api(text)
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
    return out


def test_click_points_are_truly_cross_file(click, click_points):
    repo = load_source(click)
    assert len(click_points) >= 15
    assert len({p.path for p in click_points}) >= 5  # spread over files
    for p in click_points:
        text = repo.files[p.path]
        assert p.language == "python" and p.repo == repo.name
        assert "\n" not in p.groundtruth and p.groundtruth.strip()
        assert p.left_context.endswith("\n") and p.left_context.strip()
        assert p.left_context + p.groundtruth + "\n" + p.right_context == text
        assert p.left_context.count("\n") == p.line
        bound_here = _ast_bound(text)
        assert p.crossfile_names
        for name in p.crossfile_names:
            assert re.search(rf"\b{re.escape(name)}\b", p.groundtruth), (p.task_id, name)
            assert name not in bound_here, f"{p.task_id}: {name} is defined in the file itself"
            others = p.definitions[name]
            assert others and p.path not in others
            assert any(name in _ast_api(repo.files[o]) for o in others), (p.task_id, name)
        assert not p.groundtruth.lstrip().startswith(("import ", "from ", "#"))


def test_points_are_deterministic_and_capped(click, click_points):
    again = build_points(click, languages=("python",), max_points=25, seed=0)
    assert [p.task_id for p in again] == [p.task_id for p in click_points]
    other = build_points(click, languages=("python",), max_points=25, seed=1)
    assert [p.task_id for p in other] != [p.task_id for p in click_points]
    few = build_points(click, languages=("python",), max_points=4, seed=0, max_per_file=1)
    assert len(few) == 4 and len({p.path for p in few}) == 4
    with pytest.raises(ValueError, match="unsupported language"):
        build_points(click, languages=("cobol",))


def test_java_typescript_csharp_points(tmp_path):
    root = write_repo(
        tmp_path / "polyglot",
        {
            "java/com/acme/util/Helper.java": """
                package com.acme.util;
                public class Helper {
                    public static int twice(int x) { return 2 * x; }
                    public boolean hasRemaining() { return false; }
                }
            """,
            "java/com/acme/Main.java": """
                package com.acme;
                import com.acme.util.Helper;
                public class Main {
                    static int local(int v) { return v; }
                    public static void main(String[] args) {
                        int y = Helper.twice(3);
                        int z = local(y);
                    }
                    static boolean drained(java.nio.ByteBuffer input, Helper h) {
                        boolean a = input.hasRemaining();
                        return h.hasRemaining();
                    }
                }
            """,
            "src/util.ts": """
                export function formatName(first: string, last: string): string {
                  return first + " " + last;
                }
                export function shadowed(): number { return 1; }
            """,
            "src/app.ts": """
                import { formatName } from './util';
                function shadowed(): number { return 2; }
                const who = 'Ada';
                const s = formatName(who, 'Lovelace');
                const t = shadowed();
            """,
            "py/pkg/__init__.py": "",
            "py/pkg/base.py": "def system():\n    return 'repo'\n",
            "py/pkg/top.py": """
                import platform
                from .base import system


                def f():
                    a = platform.system()
                    b = system()
                    return a, b
            """,
            "cs/Calc.cs": """
                namespace Acme.Util {
                    public class Calc {
                        public static int AddThree(int a) { return a + 3; }
                    }
                }
            """,
            "cs/Program.cs": """
                using Acme.Util;
                namespace Acme {
                    class Program {
                        static void Main() {
                            var r = Calc.AddThree(1);
                            var q = r + 1;
                        }
                    }
                }
            """,
        },
    )
    points = build_points(root, max_points=50)
    got = {(p.path, p.groundtruth.strip()): p for p in points}
    java = got[("java/com/acme/Main.java", "int y = Helper.twice(3);")]
    assert set(java.crossfile_names) == {"Helper", "twice"}
    assert java.definitions["twice"] == ["java/com/acme/util/Helper.java"]
    ts = got[("src/app.ts", "const s = formatName(who, 'Lovelace');")]
    assert ts.crossfile_names == ["formatName"] and ts.language == "typescript"
    cs = got[("cs/Program.cs", "var r = Calc.AddThree(1);")]
    assert set(cs.crossfile_names) == {"Calc", "AddThree"} and cs.language == "c-sharp"
    # Lines whose names are the file's own (a local method, a shadowing function) are not points.
    assert got[("java/com/acme/Main.java", "return h.hasRemaining();")].crossfile_names == [
        "hasRemaining"
    ]
    assert got[("py/pkg/top.py", "b = system()")].crossfile_names == ["system"]
    lines = {g for _, g in got}
    # Members of an external module or of a variable of an external type are not cross-file,
    # even when the repository defines a method of that name.
    assert "boolean a = input.hasRemaining();" not in lines
    assert "a = platform.system()" not in lines
    assert "int z = local(y);" not in lines
    assert "const t = shadowed();" not in lines
    assert "var q = r + 1;" not in lines
    only_ts = build_points(root, languages=("typescript",), max_points=50)
    assert {p.language for p in only_ts} == {"typescript"}


# ---- context ---------------------------------------------------------------------------------


def test_bm25_scores_match_hand_computed_okapi():
    from collections import Counter

    docs = [Counter(["a", "b"]), Counter(["b", "c"]), Counter(["c", "c", "d"])]
    lengths = [2, 2, 3]
    # idf(d) = ln(3 - 1 + 0.5) - ln(1 + 0.5) = 0.5108256; avgdl = 7/3; doc 3 (f=1, dl=3):
    # 0.5108256 * 2.5 / (1 + 1.5 * (0.25 + 0.75 * 3 / (7/3))) = 1.277064 / 2.8214286 = 0.452630.
    assert bm25_scores(["d"], docs, lengths) == pytest.approx([0.0, 0.0, 0.452630], abs=1e-6)
    # "c" is in 2 of 3 documents: negative idf, replaced by 0.25 * mean idf (= 0 here).
    assert bm25_scores(["c"], docs, lengths) == pytest.approx([0.0, 0.0, 0.0])
    assert chunk_lines("a\n\nb\n" + "x\n" * 12, size=10, stride=10) == [
        "a\nb" + "\nx" * 8,
        "x\nx\nx\nx",
    ]


def test_bm25_context_comes_from_other_files_only(click, click_points):
    repo = load_source(click)
    ctx = repo_context(repo.files, repo.languages)

    def count(text: str) -> int:  # a stand-in tokenizer: whitespace-separated words
        return len(text.split())

    for p in click_points[:8]:
        frags = ctx.fragments(p, "bm25")
        assert 1 <= len(frags) <= 5
        for f in frags:
            assert f.path != p.path and repo.languages[f.path] == "python"
            assert f.text in chunk_lines(repo.files[f.path])
        text = crossfile_context(p, repo.files, repo.languages, "bm25", count, max_tokens=120)
        assert text.startswith("# Here are some relevant code fragments from other files")
        assert count(text) <= 120
        assert all(line.startswith("#") for line in text.splitlines() if line)
        named = re.findall(r"^# the below code fragment is found in (.+)$", text, flags=re.M)
        assert named and p.path not in named
        assert crossfile_context(p, repo.files, repo.languages, "none", count) == ""


def test_deps_context_is_dependency_ordered_and_tail_truncated(tmp_path):
    root = write_repo(
        tmp_path / "pkgrepo",
        {
            "pkg/__init__.py": "",
            "pkg/base.py": "def helper(x):\n    return x + 1\n",
            "pkg/mid.py": "from .base import helper\n\n\ndef twice(x):\n    return helper(helper(x))\n",
            "pkg/top.py": (
                "from .mid import twice\nfrom .base import helper\n\n\n"
                "def run(v):\n    a = helper(v)\n    return twice(a)\n"
            ),
            "pkg/other.py": "def unrelated():\n    return 0\n",
        },
    )
    repo = load_source(root)
    points = build_points(root, languages=("python",))
    top = next(p for p in points if p.path == "pkg/top.py" and "twice" in p.crossfile_names)
    words = lambda s: len(s.split())  # noqa: E731
    text = crossfile_context(top, repo.files, repo.languages, "deps", words, max_tokens=10_000)
    # base before mid (mid imports base), each as in a corpus sample, then the file's header.
    assert text == (
        "# pkg/base.py\n" + repo.files["pkg/base.py"] + "# pkg/mid.py\n" + repo.files["pkg/mid.py"]
        + "# pkg/top.py\n"
    )  # fmt: skip
    short = crossfile_context(top, repo.files, repo.languages, "deps", words, max_tokens=12)
    assert words(short) <= 12 and text.endswith(short) and short.endswith("# pkg/top.py\n")
    assert "unrelated" not in text


# ---- held-out check --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def click_corpus(click, tmp_path_factory) -> Path:
    """A real `repoloom corpus build` of click: the 'training corpus' of the held-out test."""
    from repoloom.codebase.sources import expand_sources
    from repoloom.corpus.build import build_corpus
    from repoloom.corpus.config import CorpusConfig

    out = tmp_path_factory.mktemp("train") / "corpus"
    build_corpus(expand_sources([str(click)]), out, CorpusConfig(), workers=1, progress=False)
    return out


def test_heldout_check_refuses_training_repositories(click, click_corpus, demo_repos, tmp_path):
    # A renamed copy of click (same files, another name) and a repository that holds one
    # click file among its own.
    with tarfile.open(click) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    (copy,) = (tmp_path / "x").iterdir()
    renamed = copy.rename(tmp_path / "my-cli-toolkit")
    mixed = write_repo(
        tmp_path / "mixed",
        {
            "app/models.py": (
                "class Model:\n    def save(self, where):\n        return where\n\n"
                "    def load(self, where):\n        return where\n"
            ),
            "app/util.py": "def slugify(text):\n    return '-'.join(text.lower().split())\n",
            "app/views.py": (
                "from app.models import Model\nfrom app.util import slugify\n\n\n"
                "def view(request):\n"
                "    m = Model()\n    return m.save(request)\n"
                "\n\ndef slug_view(request):\n    return slugify(request.title)\n"
            ),
        },
    )
    (mixed / "app" / "vendored.py").write_text((renamed / "src/click/parser.py").read_text())
    out = tmp_path / "bench.jsonl"
    summary = build_benchmark(
        [click, renamed, mixed], out, exclude_corpus=click_corpus, progress=False
    )
    assert "repository name" in summary.refused[click.name.removesuffix(".tar.gz")]
    assert "same content" in summary.refused["my-cli-toolkit"]
    assert summary.repositories == {"mixed": summary.points} and summary.points >= 1
    assert summary.files_in_corpus["mixed"] == ["app/vendored.py"]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {r["repo"] for r in rows} == {"mixed"}
    assert all(r["path"] != "app/vendored.py" for r in rows)
    # The CLI: every repository refused is an error; a directory that is no corpus too.
    argv = ["eval", "crossfile-build", str(click), "--out", str(tmp_path / "none.jsonl")]
    assert run_cli([*argv, "--exclude-corpus", str(click_corpus)]) == 2
    assert run_cli([*argv, "--exclude-corpus", str(tmp_path)]) == 2


# ---- eval run / score ------------------------------------------------------------------------


def test_eval_run_crossfile_end_to_end(click, tiny_model, tmp_path, capsys):
    from transformers import AutoTokenizer

    from repoloom.evaluate.crossfile.benchmark import CrossfileBenchmark

    data = tmp_path / "crossfile.jsonl"
    argv = ["eval", "crossfile-build", str(click), "--out", str(data), "--languages", "python"]
    assert run_cli([*argv, "--max-points-per-repo", "3", "--seed", "7"]) == 0
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert len(rows) == 3 and all(r["contexts"]["bm25"] for r in rows)

    # Prompts: context first, left context truncated from the left, within 2048 - 50 tokens.
    tok = AutoTokenizer.from_pretrained(tiny_model)
    for mode in ("none", "bm25", "deps"):
        bench = CrossfileBenchmark()
        bench.mode = mode
        bench.set_tokenizer(tok)
        for task in bench.load(data):
            assert len(tok(task.prompt)["input_ids"]) <= 1998
            assert task.prompt.endswith(task.data["left_context"][-100:])
            if mode == "none":
                assert task.data["left_context"].endswith(task.prompt)
            if mode == "bm25":
                assert task.prompt.startswith("# Here are some relevant code fragments")

    base = ["eval", "run", "crossfile", "--data-dir", str(data), "--model", str(tiny_model)]
    base += ["--device", "cpu", "--k", "1"]
    out = tmp_path / "run-bm25"
    assert run_cli([*base, "--out", str(out), "--crossfile-context", "bm25"]) == 0
    summary = json.loads((out / "samples.jsonl_results.json").read_text())
    assert summary["n_scored"] == 3
    for key in ("mean_em", "mean_es", "mean_id_em", "mean_id_f1"):
        assert 0.0 <= summary[key] <= 1.0
    assert json.loads((out / "run.json").read_text())["crossfile_context"] == "bm25"
    # The same --out with another context is refused rather than mixed.
    capsys.readouterr()
    assert run_cli([*base, "--out", str(out), "--context", "deps"]) == 2
    assert "other settings" in capsys.readouterr().out

    # `eval score` with the true lines as completions: every metric is perfect.
    perfect = tmp_path / "perfect.jsonl"
    perfect.write_text(
        "".join(json.dumps({"task_id": r["task_id"], "completion": r["groundtruth"]}) + "\n"
                for r in rows)
    )  # fmt: skip
    assert run_cli(["eval", "score", "crossfile", "--data-dir", str(data), "--samples",
                    str(perfect)]) == 0  # fmt: skip
    scored = json.loads(Path(str(perfect) + "_results.json").read_text())
    assert scored["mean_em"] == 1.0 and scored["mean_es"] == 1.0
    assert scored["pass_at_k"]["pass@1"] == 1.0


def test_stored_fragments_render_like_the_repository(click, tmp_path):
    """A benchmark file carries each point's fragments; rendering them gives the same context
    as retrieving from the whole repository (so `eval run` needs no checkout)."""
    from repoloom.evaluate.crossfile.context import Fragment, render

    out = tmp_path / "cf.jsonl"
    build_benchmark([click], out, languages=("python",), max_points=6, progress=False)
    repo = load_source(click)
    chars = lambda s: len(s) // 3  # noqa: E731  (a stand-in tokenizer)
    for line in out.read_text().splitlines():
        rec = json.loads(line)
        point = CrossfilePoint.from_record(rec)
        for mode in ("bm25", "deps"):
            frags = [Fragment.from_dict(d) for d in rec["contexts"][mode]]
            stored = render(frags, mode, point.language, point.path, chars, 512)
            live = crossfile_context(point, repo.files, repo.languages, mode, chars, 512)
            assert stored == live and chars(live) <= 512


def test_context_comment_prefix_comes_from_the_language_table():
    from repoloom.evaluate.crossfile.context import Fragment, comment_prefix, render_bm25

    # CrossCodeEval's choices for its four languages, and the table's for the others
    assert [comment_prefix(x) for x in ("python", "java", "typescript", "c-sharp")] == [
        "#",
        "//",
        "//",
        "//",
    ]
    assert comment_prefix("ruby") == "#" and comment_prefix("coffeescript") == "#"
    assert comment_prefix("no-such-language") == "//"
    frag = Fragment("lib/util.rb", "def twice(x)\n  x * 2\nend", score=1.0)
    text = render_bm25([frag], "ruby", lambda s: len(s.split()), max_tokens=100)
    assert text.startswith("# Here are some relevant code fragments")
    assert "# def twice(x)\n" in text and "//" not in text
