"""The builder end to end: samples, removed rows, report, determinism and resume after a kill."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from repoloom.codebase.sources import expand_sources
from repoloom.corpus.build import BuildError, build_corpus
from repoloom.corpus.config import CorpusConfig
from repoloom.corpus.executors import local as build_module

from .conftest import make_repos


def read_dir(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def snapshot(out: Path) -> dict[str, bytes]:
    names = [p for p in sorted(out.rglob("*")) if p.is_file() and p.name != "run.json"]
    return {str(p.relative_to(out)): p.read_bytes() for p in names}


def build(sources, out, workers=1, config=None, **kw):
    return build_corpus(
        expand_sources([str(s) for s in sources]),
        out,
        config or CorpusConfig(),
        workers=workers,
        progress=False,
        **kw,
    )


def test_python_repository_becomes_an_ordered_sample(py_repo, tmp_path):
    result = build([py_repo], tmp_path / "out")
    samples = read_dir(tmp_path / "out" / "samples")
    repo_samples = [s for s in samples if len(s["paths"]) > 1]
    assert len(repo_samples) == 1
    sample = repo_samples[0]
    paths = sample["paths"]
    # every dependency comes before its importer
    for importer, imported in [
        ("pkg/core.py", "pkg/util.py"),
        ("pkg/__init__.py", "pkg/core.py"),
        ("pkg/cli.py", "pkg/core.py"),
        ("tests/test_core.py", "pkg/core.py"),
    ]:
        assert paths.index(imported) < paths.index(importer)
    assert sample["languages"] == ["python"] * len(paths)
    # each file is preceded by its header, in the order of `paths`
    headers = [
        line[2:]
        for line in sample["text"].splitlines()
        if line.startswith("# pkg/") or line.startswith("# tests/")
    ]
    assert headers == paths
    assert sample["n_bytes"] == len(sample["text"].encode())
    # README stays a file-level sample without header
    readme = [s for s in samples if s["paths"] == ["README.md"]][0]
    assert readme["text"].startswith("# Demo package")
    removed = {r["path"]: r["reason"] for r in read_dir(tmp_path / "out" / "removed")}
    assert removed == {
        "logo.png": "binary",
        "data.json": "data-file-size",
        "setup.cfg": "unknown-language",
    }
    report = result.report
    assert report["files_in"] == 9
    assert report["files_kept"] == len(paths) + 1
    assert report["dependencies"]["edges"] >= 4
    assert report["ordering"]["edges_in_order"]["scc"]["all"]["fraction"] == 1.0
    assert report["ordering"]["edges_in_order"]["scc"]["python"]["edges"] >= 4
    assert (tmp_path / "out" / "report.html").read_text().count("<img") == 2
    assert (tmp_path / "out" / "report_funnel.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "out" / "_work").exists()


def test_nothing_vanishes_unaccounted(tmp_path):
    repos = make_repos(tmp_path / "repos", 3)
    result = build(sorted(repos.iterdir()), tmp_path / "out")
    samples = read_dir(tmp_path / "out" / "samples")
    removed = read_dir(tmp_path / "out" / "removed")
    in_samples = sum(len(s["paths"]) for s in samples)
    assert in_samples + len(removed) == result.report["files_in"] == 18


def test_outputs_are_byte_identical_across_reruns_and_worker_counts(tmp_path):
    repos = make_repos(tmp_path / "repos", 6)
    sources = sorted(repos.iterdir())
    config = CorpusConfig()
    config.output.rows_per_part = 4  # several parts, so part boundaries are checked too
    build(sources, tmp_path / "a", workers=1, config=config)
    build(sources, tmp_path / "b", workers=2, config=config)
    a, b = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    assert len([k for k in a if k.startswith("samples/")]) > 1
    assert a == b


def test_resume_after_an_interrupted_run_gives_the_same_output(tmp_path, monkeypatch):
    repos = make_repos(tmp_path / "repos", 5)
    sources = sorted(repos.iterdir())
    build(sources, tmp_path / "clean")

    calls = {"n": 0}
    real = build_module.run_repository

    def dying(task, config, work_dir):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the run dies while the third repository is being processed
        return real(task, config, work_dir)

    monkeypatch.setattr(build_module, "run_repository", dying)
    with pytest.raises(KeyboardInterrupt):
        build(sources, tmp_path / "resumed")
    assert len(list((tmp_path / "resumed" / "_work" / "repos").glob("*.json"))) == 2
    monkeypatch.setattr(build_module, "run_repository", real)

    # a second interruption, this time while the final parts are written
    real_write = build_module._write_parts

    def dying_write(out_dir, tables, schema, compression):
        if out_dir.name == "removed":
            raise KeyboardInterrupt
        return real_write(out_dir, tables, schema, compression)

    monkeypatch.setattr(build_module, "_write_parts", dying_write)
    with pytest.raises(KeyboardInterrupt):
        build(sources, tmp_path / "resumed")
    monkeypatch.setattr(build_module, "_write_parts", real_write)
    build(sources, tmp_path / "resumed")
    assert snapshot(tmp_path / "clean") == snapshot(tmp_path / "resumed")


@pytest.mark.slow
def test_resume_after_sigkill_of_the_whole_process_group(tmp_path):
    repos = make_repos(tmp_path / "repos", 40)
    out = tmp_path / "killed"

    def command(out_dir, workers):
        return [sys.executable, "-m", "repoloom", "corpus", "build", "--repos-dir", str(repos), "--out", str(out_dir), "--workers", str(workers), "--no-progress"]  # fmt: skip

    cmd = command(out, 2)
    subprocess.run(command(tmp_path / "clean", 1), check=True, capture_output=True)
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 60
    markers = out / "_work" / "repos"
    while (
        time.time() < deadline and len(list(markers.glob("*.json")) if markers.exists() else []) < 5
    ):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(markers.glob("*.json")))
    assert 0 < done < 40, done
    subprocess.run(cmd, check=True, capture_output=True)
    assert snapshot(tmp_path / "clean") == snapshot(out)


def test_an_object_store_out_gets_the_same_output(tmp_path):
    """The local executor with a URI --out (fsspec's in-memory filesystem stands for s3://):
    the stages run in a local folder, the parts and the report go up through the store."""
    pytest.importorskip("fsspec", reason="fsspec is not installed")
    from repoloom.corpus.storage import Store

    repos = make_repos(tmp_path / "repos", 3)
    sources = sorted(repos.iterdir())
    build(sources, tmp_path / "disk")
    uri = f"memory://repoloom-test/{os.getpid()}/corpus"
    report = build(sources, uri).report
    store = Store(uri)
    for name in ("samples", "removed"):
        for path in store.parquet_files(name):
            with store.fs.open_input_stream(path) as handle:
                local = tmp_path / "disk" / name / path.rsplit("/", 1)[1]
                assert handle.read() == local.read_bytes()
    assert store.read_json("report.json") == json.loads(
        (tmp_path / "disk" / "report.json").read_text()
    )
    assert report["samples"]["count"] > 0 and not store.exists("_work")
    assert build(sources, uri).report == report  # finished: nothing to do


def test_a_different_build_in_out_is_refused(tmp_path):
    repos = make_repos(tmp_path / "repos", 1)
    sources = sorted(repos.iterdir())
    build(sources, tmp_path / "out")
    build(sources, tmp_path / "out")  # same build: nothing to do, no error
    config = CorpusConfig()
    config.order.mode = "paper"
    with pytest.raises(BuildError, match="another finished build"):
        build(sources, tmp_path / "out", config=config)
    build(sources, tmp_path / "out", config=config, overwrite=True)
    assert (
        json.loads((tmp_path / "out" / "report.json").read_text())["config"]["order"]["mode"]
        == "paper"
    )


def test_a_broken_repository_is_counted_and_the_run_goes_on(tmp_path):
    repos = make_repos(tmp_path / "repos", 2)
    (repos / "broken.tar.gz").write_bytes(b"\x1f\x8b garbage")
    result = build_corpus(
        expand_sources([], [str(repos)]),
        tmp_path / "out",
        CorpusConfig(),
        workers=1,
        progress=False,
    )
    assert [f["repo"] for f in result.report["repositories_failed"]] == ["broken"]
    assert result.report["repositories"] == 3


def test_unparsed_random_mode_and_splitting(tmp_path):
    repos = make_repos(tmp_path / "repos", 1)
    (repos / "repo000" / "extra.md").write_text("# More\n\nAnother markdown document here.\n")
    config = CorpusConfig()
    config.order.unparsed_mode = "random"
    config.order.max_sample_bytes = 60  # every file its own chunk: components are split
    result = build(sorted(repos.iterdir()), tmp_path / "out", config=config)
    assert result.report["ordering"]["components_split"] > 0
    config.order.max_sample_bytes = 10**6
    build(sorted(repos.iterdir()), tmp_path / "out2", config=config)
    samples = read_dir(tmp_path / "out2" / "samples")
    shuffled = [s for s in samples if s["kind"] == "random"]
    assert len(shuffled) == 1 and sorted(shuffled[0]["paths"]) == ["extra.md", "notes.md"]
    assert shuffled[0]["text"].count("\n# ") + shuffled[0]["text"].startswith("# ") >= 2


def test_cli_build_and_order(py_repo, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "repoloom",
            "corpus",
            "build",
            str(py_repo),
            "--out",
            str(tmp_path / "o"),
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert "samples:" in run.stdout
    run = subprocess.run(
        [sys.executable, "-m", "repoloom", "corpus", "order", str(py_repo), "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    payload = json.loads(run.stdout)
    (component,) = [c for c in payload["components"] if len(c) > 1]
    order = [f["path"] for f in component]
    assert order.index("pkg/util.py") < order.index("pkg/core.py")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "repoloom",
            "corpus",
            "build",
            "--out",
            str(tmp_path / "x"),
            "--config",
            str(tmp_path / "missing.yaml"),
            str(py_repo),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert (
        run.returncode == 2 and "cannot read config" in run.stderr and "Traceback" not in run.stderr
    )


def test_empty_repository_and_empty_corpus_give_valid_empty_output(tmp_path):
    (tmp_path / "empty").mkdir()
    result = build([tmp_path / "empty"], tmp_path / "out")
    assert result.report["files_in"] == 0 and result.report["samples"]["count"] == 0
    table = pq.read_table(tmp_path / "out" / "samples")
    assert table.num_rows == 0 and "paths" in table.column_names
