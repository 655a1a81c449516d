"""Issue 13, item 1: no single file can stop a build.

A file name that is not UTF-8 or holds a control character is removed with its own reason in
every source kind (directory, git, tar, zip, Stack-layout Parquet and JSON lines), its row in
`removed/` carrying the escaped name; an exception a step raises for one file removes that file
as ``error:<step>`` and the build goes on.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repoloom.codebase.sources import (
    TaskOptions,
    expand_source,
    expand_sources,
    iter_repository_files,
    name_problem,
    printable_name,
)
from repoloom.corpus.build import build_corpus
from repoloom.corpus.config import CorpusConfig, ReadConfig
from repoloom.corpus.steps import FAIL_STEP_ENV

from .conftest import assert_funnel_adds_up

# An ordinary module that passes every filter and screen (kept in the default build).
GOOD = (
    "def moving_average(values, window_size):\n"
    '    """Average of each run of window_size consecutive values."""\n'
    "    totals = []\n"
    "    for start in range(len(values) - window_size + 1):\n"
    "        totals.append(sum(values[start : start + window_size]) / window_size)\n"
    "    return totals\n"
)
BAD_BYTES = b"bad\xffname.py"  # not UTF-8
NEWLINE = "zz.py\n# helper.py"  # would be a two-line header
SEPARATOR = "line\u2028sep.py"  # str.splitlines splits here too


# Four unrelated modules (no near duplicates of each other), for the step-error builds.
DISTINCT = (
    GOOD,
    "import json\n\n\ndef load_settings(path):\n    with open(path) as handle:\n"
    "        settings = json.load(handle)\n    settings.setdefault('verbose', False)\n"
    "    return settings\n",
    "class Counter:\n    def __init__(self):\n        self.counts = {}\n\n"
    "    def add(self, word):\n        self.counts[word] = self.counts.get(word, 0) + 1\n\n"
    "    def most_common(self):\n        return max(self.counts, key=self.counts.get)\n",
    "def parse_header(line):\n    name, _, value = line.partition(':')\n"
    "    if not value:\n        raise ValueError(f'not a header: {line!r}')\n"
    "    return name.strip().lower(), value.strip()\n",
)


def _text(i: int) -> str:
    return GOOD.replace("moving_average", f"moving_average_{i}")


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def _reasons(task) -> dict[str, str | None]:
    return {f.path: f.skip_reason for f in iter_repository_files(task, ReadConfig())}


def _one(source) -> object:
    (task,) = expand_source(str(source), TaskOptions())
    return task


def _git_env() -> dict[str, str]:
    return {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }


def make_directory(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "good.py").write_text(_text(0))
    with open(os.path.join(os.fsencode(root), BAD_BYTES), "wb") as handle:
        handle.write(b"y = 2\n")
    (root / NEWLINE).write_text("z = 3\n")
    (root / SEPARATOR).write_text("w = 4\n")
    bad_dir = os.path.join(os.fsencode(root), b"pkg\xfe")
    os.mkdir(bad_dir)
    with open(os.path.join(bad_dir, b"inner.py"), "wb") as handle:
        handle.write(b"v = 5\n")
    return root


def make_tar(path: Path) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT, errors="surrogateescape") as tar:
        for name, data in (
            ("proj/good.py", _text(1).encode()),
            ("proj/" + BAD_BYTES.decode("utf-8", "surrogateescape"), b"y = 2\n"),
            ("proj/" + NEWLINE, b"z = 3\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    # A PAX header may carry any name, a newline included.
    pax = path.with_name("pax.tar")
    with tarfile.open(pax, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("good.py", _text(2).encode()), ("p\nq.py", b"q = 1\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def make_zip(path: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("proj/good.py", _text(3))
        archive.writestr("proj/badXname.py", "y = 2\n")  # renamed below: no UTF-8 flag
        archive.writestr("proj/" + NEWLINE, "z = 3\n")
    # zipfile writes an ASCII name without the UTF-8 flag; the bytes are swapped in place
    # (local header and central directory; the CRC covers the data only).
    path.write_bytes(buffer.getvalue().replace(b"badXname.py", BAD_BYTES))
    return path


def make_git(root: Path) -> str:
    make_directory(root)
    env = _git_env()
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
        subprocess.run(cmd, cwd=root, check=True, env=env, capture_output=True)
    return f"file://{root}"


def make_parquet(path: Path) -> Path:
    rows = {
        "repo_name": ["org/t", "org/t", "org/t", "org/nl\nname"],
        "path": ["good.py", NEWLINE, SEPARATOR, "good.py"],
        "content": [_text(4), "z = 3\n", "w = 4\n", _text(5)],
    }
    pq.write_table(pa.table(rows), path)
    return path


def make_jsonl(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for repo, name, content in (
            ("org/j", "good.py", _text(6)),
            ("org/j", "\ud800.py", "y = 2\n"),  # json.dumps writes the lone surrogate as \ud800
            ("org/j", NEWLINE, "z = 3\n"),
        ):
            handle.write(json.dumps({"repo_name": repo, "path": name, "content": content}) + "\n")
    return path


def test_printable_name_escapes_what_would_break_a_writer_or_a_header():
    assert printable_name("pkg/mod.py") == "pkg/mod.py"
    assert printable_name("caf\u00e9.py") == "caf\u00e9.py"  # ordinary non-ASCII stays
    assert printable_name("bad\udcffname.py") == "bad\\xffname.py"
    assert printable_name(NEWLINE) == "zz.py\\n# helper.py"
    assert printable_name(SEPARATOR) == "line\\u2028sep.py"
    assert printable_name("\ud800.py") == "\\ud800.py"
    for name in ("bad\udcffname.py", NEWLINE, SEPARATOR, "a\x1b[31m.py", "\ud800.py"):
        escaped = printable_name(name)
        escaped.encode("utf-8")  # no surrogates left
        assert len(escaped.splitlines()) == 1
        assert name_problem(escaped) is None
    assert name_problem("bad\udcffname.py") == "path-not-utf8"
    assert name_problem("\ud800.py") == "path-not-utf8"
    assert name_problem(NEWLINE) == name_problem("tab\t.py") == "path-control-char"
    assert name_problem("caf\u00e9.py") is None


def test_directory_names_that_are_not_text_are_removed_with_their_reason(tmp_path):
    reasons = _reasons(_one(make_directory(tmp_path / "repo")))
    assert reasons == {
        "good.py": None,
        "bad\\xffname.py": "path-not-utf8",
        "zz.py\\n# helper.py": "path-control-char",
        "line\\u2028sep.py": "path-control-char",
        "pkg\\xfe/inner.py": "path-not-utf8",  # a directory's name counts as well
    }


def test_git_checkout_names_are_checked_like_a_directory(tmp_path):
    task = _one(make_git(tmp_path / "origin"))
    assert task.kind == "git"
    reasons = _reasons(task)
    assert reasons["good.py"] is None
    assert reasons["bad\\xffname.py"] == "path-not-utf8"
    assert reasons["zz.py\\n# helper.py"] == "path-control-char"


def test_tar_member_names_gnu_and_pax(tmp_path):
    reasons = _reasons(_one(make_tar(tmp_path / "proj.tar.gz")))
    assert reasons == {
        "good.py": None,
        "bad\\xffname.py": "path-not-utf8",
        "zz.py\\n# helper.py": "path-control-char",
    }
    assert _reasons(_one(tmp_path / "pax.tar")) == {
        "good.py": None,
        "p\\nq.py": "path-control-char",
    }


def test_zip_member_names_without_the_utf8_flag_are_read_as_bytes(tmp_path):
    reasons = _reasons(_one(make_zip(tmp_path / "proj.zip")))
    assert reasons == {
        "good.py": None,
        "bad\\xffname.py": "path-not-utf8",  # not cp437 text: the bytes are not UTF-8
        "zz.py\\n# helper.py": "path-control-char",
    }


def test_stack_tables_paths_and_repository_names(tmp_path):
    tasks = expand_source(str(make_parquet(tmp_path / "stack.parquet")), TaskOptions())
    assert [t.name for t in tasks] == ["org/nl\\nname", "org/t"]  # escaped repository name
    assert _reasons(tasks[1]) == {
        "good.py": None,
        "zz.py\\n# helper.py": "path-control-char",
        "line\\u2028sep.py": "path-control-char",
    }
    (task,) = expand_source(str(make_jsonl(tmp_path / "stack.jsonl")), TaskOptions())
    assert _reasons(task) == {
        "good.py": None,
        "\\ud800.py": "path-not-utf8",
        "zz.py\\n# helper.py": "path-control-char",
    }


def test_a_build_over_every_source_kind_with_bad_names_finishes(tmp_path):
    sources = [
        str(make_directory(tmp_path / "dirrepo")),
        make_git(tmp_path / "gitrepo"),
        str(make_tar(tmp_path / "tarrepo.tar.gz")),
        str(tmp_path / "pax.tar"),
        str(make_zip(tmp_path / "ziprepo.zip")),
        str(make_parquet(tmp_path / "stack.parquet")),
        str(make_jsonl(tmp_path / "stack.jsonl")),
    ]
    out = tmp_path / "out"
    config = CorpusConfig()
    config.decontam.hub = False
    config.dedup.exact_samples = config.dedup.near = False  # the good files are near copies
    report = build_corpus(expand_sources(sources), out, config, workers=2, progress=False).report
    assert report["repositories_failed"] == []
    removed = _rows(out / "removed")
    by_reason: dict[str, set[str]] = {}
    for row in removed:
        by_reason.setdefault(row["reason"], set()).add(row["path"])
    assert by_reason["path-not-utf8"] == {"bad\\xffname.py", "pkg\\xfe/inner.py", "\\ud800.py"}
    assert by_reason["path-control-char"] == {
        "zz.py\\n# helper.py",
        "line\\u2028sep.py",
        "p\\nq.py",
    }
    samples = _rows(out / "samples")
    kept = {(s["repo"], p) for s in samples for p in s["paths"]}
    # Every source's ordinary file survives.
    assert {r for r, p in kept if p == "good.py"} == {
        "dirrepo",
        "gitrepo",
        "tarrepo",
        "pax",
        "ziprepo",
        "org/t",
        "org/j",
        "org/nl\\nname",
    }
    for sample in samples:
        for path in sample["paths"]:
            assert "\n" not in path and name_problem(path) is None
    json.loads((out / "report.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("fault", "step", "reason"),
    [
        ("read:victim", "read", "error:read"),
        ("language:victim", "language", "error:language"),
        ("alpha_fraction:victim", "alpha_fraction", "error:alpha_fraction"),
        ("file_dedup:victim", "file_dedup", "error:file_dedup"),
        ("decontam:victim", "decontam", "error:decontam"),
        ("screening:victim", "syntax", "error:screening"),
    ],
)
def test_a_step_that_raises_for_one_file_removes_that_file_only(
    tmp_path, monkeypatch, fault, step, reason
):
    repo = tmp_path / "repo"
    repo.mkdir()
    for i in range(3):
        (repo / f"mod{i}.py").write_text(DISTINCT[i])
    (repo / "victim.py").write_text(DISTINCT[3])
    config = CorpusConfig()
    config.decontam.hub = False
    config.order.header_single_files = False
    clean = build_corpus(expand_sources([str(repo)]), tmp_path / "clean", config, progress=False)
    monkeypatch.setenv(FAIL_STEP_ENV, fault)
    out = tmp_path / "out"
    report = build_corpus(expand_sources([str(repo)]), out, config, progress=False).report
    assert report["repositories_failed"] == []
    errors = [r for r in _rows(out / "removed") if r["reason"].startswith("error:")]
    assert [(r["path"], r["step"], r["reason"]) for r in errors] == [("victim.py", step, reason)]
    assert "RuntimeError: injected fault" in errors[0]["detail"]
    kept = sorted(p for s in _rows(out / "samples") for p in s["paths"])
    assert kept == ["mod0.py", "mod1.py", "mod2.py"]
    assert report["files_kept"] == clean.report["files_kept"] - 1 == 3
    assert_funnel_adds_up(report)


def test_a_step_that_raises_for_every_file_fails_the_repository_not_the_build(
    tmp_path, monkeypatch
):
    """An error that is not one file's (the step raises whatever it is given) costs the
    repository, counted, and the other repositories are built."""
    from repoloom.corpus import pipeline

    def broken(docs, config, log):
        raise RuntimeError("screening is broken")

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "m.py").write_text(_text(1))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "m.py").write_text(_text(2))
    monkeypatch.setattr(pipeline, "screen_documents", broken)
    config = CorpusConfig()
    config.decontam.hub = False
    sources = [str(tmp_path / "a"), str(tmp_path / "b")]
    report = build_corpus(expand_sources(sources), tmp_path / "out", config, progress=False).report
    assert [f["repo"] for f in report["repositories_failed"]] == ["a", "b"]
    assert "screening is broken" in report["repositories_failed"][0]["error"]
