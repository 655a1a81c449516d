"""The Ray Data executor against the local executor, on real repositories (issue 4).

One local Ray runtime (``ray.init(num_cpus=2)``) serves the module. The corpus: four of the
pinned demo repositories (PyPI sdist, npm tarball, Debian Go and PHP sources), an exact copy of
one (so dedup has work), an empty repository, a corrupt archive, a repository of odd names (not
UTF-8, a newline) with a file a step raises for (issue 13), and a Stack-layout Parquet table made
from a fifth real repository (read by ``ray.data.read_parquet`` on Ray).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repoloom.codebase.sources import expand_sources, iter_repository_files
from repoloom.corpus.build import build_corpus
from repoloom.corpus.config import CorpusConfig, ReadConfig
from repoloom.corpus.steps import FAIL_STEP_ENV

ray = pytest.importorskip("ray", reason="ray is not installed")

from repoloom.corpus import ray_executor  # noqa: E402
from repoloom.corpus.ray_executor import build_corpus_ray  # noqa: E402

pytestmark = pytest.mark.network
DEMO = ("click-8.1.7.tar.gz", "axios-1.6.5.tgz", "golang-github-spf13-cobra-dev-1.6.1-1")
DEMO += ("php-monolog-2.9.1-1",)
# Report entries that may differ between executors: where the build came from (the source
# fingerprints are computed per executor) and how many part files hold the rows.
ALLOWED_REPORT_DIFFERENCES = {"manifest", "parts"}


def _config() -> CorpusConfig:
    config = CorpusConfig()
    config.decontam.hub = False  # no hub from tests: HumanEval from the installed wheel only
    config.output.rows_per_part = 50
    return config


@pytest.fixture(scope="module")
def ray_runtime(tmp_path_factory):
    marker = tmp_path_factory.mktemp("kill") / "killed"
    # Workers inherit the environment of the runtime: the kill hook is armed later by a file.
    os.environ[ray_executor.KILL_ONCE_ENV] = str(marker)
    # Issue 13: screening raises for odd-names/victim.py, on both executors (local forks inherit).
    os.environ[FAIL_STEP_ENV] = "screening:victim"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield marker
    ray.shutdown()
    os.environ.pop(ray_executor.KILL_ONCE_ENV, None)
    os.environ.pop(FAIL_STEP_ENV, None)


@pytest.fixture(scope="module")
def sources(demo_repos, tmp_path_factory) -> tuple[list[str], list[str]]:
    cache = demo_repos
    root = tmp_path_factory.mktemp("ray-corpus")
    repos = root / "repos"
    repos.mkdir()
    for name in DEMO:
        source = cache / name
        if source.is_dir():
            shutil.copytree(source, repos / name)
        else:
            shutil.copy(source, repos / name)
    shutil.copy(cache / "click-8.1.7.tar.gz", repos / "click-copy-8.1.7.tar.gz")
    (repos / "empty-repo").mkdir()
    odd = repos / "odd-names"
    odd.mkdir()
    (odd / "helpers.py").write_text(
        "def clamp(value, low, high):\n    return max(low, min(value, high))\n"
    )
    (odd / "victim.py").write_text("def victim_function(items):\n    return sorted(set(items))\n")
    (odd / "zz.py\n# helper.py").write_text("z = 3\n")
    with open(os.path.join(os.fsencode(odd), b"bad\xffname.py"), "wb") as handle:
        handle.write(b"y = 2\n")
    (repos / "broken.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    # Stack-layout tables: one row per file (repo_name, path, content), one repository per file.
    tables = root / "stack"
    tables.mkdir()
    for part, name in (("a", "librust-regex-syntax-dev-0.6.27-1"), ("b", "rich-13.7.1.tar.gz")):
        task = expand_sources([str(cache / name)])[0]
        rows = [
            {
                "repo_name": task.name,
                "path": raw.path,
                "content": raw.data.decode("utf-8", "replace"),
            }
            for raw in iter_repository_files(task, ReadConfig())
            if raw.data is not None
        ]
        rows.sort(key=lambda r: r["path"])
        rows.append({"repo_name": task.name, "path": "x.py\ny.py", "content": "x = 1\n"})
        pq.write_table(pa.Table.from_pylist(rows), tables / f"{part}.parquet", row_group_size=200)
    return [str(tables / "a.parquet"), str(tables / "b.parquet")], [str(repos)]


def _rows(out: str, name: str) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in ray_executor.iter_output(out, name))


def _brief(rows: list[str]) -> list[str]:
    return [json.dumps({k: v for k, v in json.loads(r).items() if k != "text"})[:300] for r in rows]


def _assert_same_build(local: Path, other: str) -> None:
    for name in ("samples", "removed"):
        expected, got = _rows(str(local), name), _rows(other, name)
        if expected != got:
            only_local = _brief(sorted(set(expected) - set(got)))[:5]
            only_other = _brief(sorted(set(got) - set(expected)))[:5]
            pytest.fail(f"{name} differ: local only {only_local}; ray only {only_other}")
    expected = json.loads((local / "report.json").read_text())
    store = ray_executor.Store(other)
    got = store.read_json("report.json")
    assert expected.keys() == got.keys()
    for key in expected.keys() - ALLOWED_REPORT_DIFFERENCES:
        assert expected[key] == got[key], key


@pytest.fixture(scope="module")
def local_build(sources, tmp_path_factory) -> Path:
    tables, repos_dirs = sources
    out = tmp_path_factory.mktemp("local") / "corpus"
    build_corpus(expand_sources(tables, repos_dirs), out, _config(), workers=2, progress=False)
    return out


def test_killed_worker_and_killed_driver_lose_nothing_and_match_the_local_executor(
    ray_runtime, sources, local_build, tmp_path, monkeypatch
):
    """One run loses a worker (SIGKILL during the file-level steps: Ray retries its task) and
    then its driver (after the signatures stage); the same command started again finishes from
    the stages on disk. Input and output go through URIs (a directory of tables is one source)."""
    tables, repos_dirs = sources
    table_dir = f"file://{Path(tables[0]).parent}/"
    out_path = tmp_path / "corpus"
    out = f"file://{out_path}"
    marker = ray_runtime
    assert not marker.exists()
    Path(f"{marker}.armed").touch()  # arms the hook: the first file-level batch kills its worker
    monkeypatch.setenv(ray_executor.STOP_AFTER_ENV, "signatures")
    with pytest.raises(SystemExit):
        build_corpus_ray([table_dir], out, _config(), repos_dirs=repos_dirs)
    assert marker.exists(), "no worker was killed"
    assert int(marker.read_text()) != os.getpid()
    assert (out_path / "_work" / "ray" / "repos.done").exists()
    assert not (out_path / "samples").exists()
    monkeypatch.delenv(ray_executor.STOP_AFTER_ENV)
    report = build_corpus_ray([table_dir], out, _config(), repos_dirs=repos_dirs).report
    run = json.loads((out_path / "run.json").read_text())
    assert run["executor"]["name"] == "ray"
    stages = run["executor"]["stages"]
    assert "repos" not in stages and "signatures" not in stages  # reused, not redone
    assert "pairs" in stages
    _assert_same_build(local_build, out)
    assert report["repositories"] == len(DEMO) + 6  # + copy, empty, broken, odd, 2 table repos
    odd = {
        (r["path"], r["reason"])
        for r in ray_executor.iter_output(out, "removed")
        if r["repo"] == "odd-names" or r["path"] == "x.py\\ny.py"
    }
    assert {
        ("bad\\xffname.py", "path-not-utf8"),
        ("zz.py\\n# helper.py", "path-control-char"),
        ("x.py\\ny.py", "path-control-char"),
        ("victim.py", "error:screening"),
    } <= odd
    assert [f["repo"] for f in report["repositories_failed"]] == ["broken"]
    assert "corrupt archive" in report["repositories_failed"][0]["error"]
    assert report["dedup"]["exact_dup"] >= 1  # the copy of click
    assert not (out_path / "_work").exists()
    # Started again on the finished output: nothing to do, the same report.
    assert build_corpus_ray([table_dir], out, _config(), repos_dirs=repos_dirs).report == report
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset(
        "parquet", data_files=str(out_path / "samples" / "*.parquet"), split="train"
    )
    assert loaded.num_rows == report["samples"]["count"]
    assert set(loaded.column_names) >= {"repo", "sample_id", "text", "paths", "languages"}


def test_an_unreachable_cluster_is_an_error_not_a_fallback(sources, tmp_path):
    tables, _ = sources
    command = [sys.executable, "-m", "repoloom", "corpus", "build", *tables]
    command += ["--out", str(tmp_path / "x"), "--executor", "ray", "--address", "127.0.0.1:9"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "cannot reach the Ray cluster at '127.0.0.1:9'" in done.stderr
    assert not (tmp_path / "x" / "samples").exists()
    command = [sys.executable, "-m", "repoloom", "corpus", "build", *tables]
    command += ["--out", str(tmp_path / "y"), "--address", "auto"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "--address needs --executor ray" in done.stderr


def test_the_cli_joins_a_running_cluster_by_address(sources, tmp_path):
    """`ray start --head` is a cluster of one node: the driver joins it by host:port."""
    import signal
    import socket
    import tempfile
    import time

    tables, repos_dirs = sources
    click = str(Path(repos_dirs[0]) / "click-8.1.7.tar.gz")
    port = _free_port()
    short_tmp = tempfile.mkdtemp(prefix="rlray", dir="/tmp")  # AF_UNIX paths: < 108 bytes
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    env.pop(ray_executor.KILL_ONCE_ENV, None)
    ray_cli = str(Path(sys.executable).with_name("ray"))
    head = [ray_cli, "start", "--head", "--block", "--port", str(port), "--num-cpus", "1"]
    head += ["--include-dashboard", "false", "--temp-dir", short_tmp]
    # --block: the head lives as long as this process group, which the test ends itself (a plain
    # `ray stop` would stop every Ray runtime on the machine, this module's included).
    process = subprocess.Popen(
        head, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "the Ray head did not start"
                time.sleep(1)
        local = tmp_path / "local"
        build_corpus(expand_sources([click]), local, _config(), workers=1, progress=False)
        config = tmp_path / "config.yaml"
        config.write_text("decontam:\n  hub: false\noutput:\n  rows_per_part: 50\n")
        command = [sys.executable, "-m", "repoloom", "corpus", "build", click, "--config"]
        command += [str(config), "--out", str(tmp_path / "ray-out"), "--executor", "ray"]
        command += ["--address", f"127.0.0.1:{port}"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "1 repositories" in done.stdout
        _assert_same_build(local, str(tmp_path / "ray-out"))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(short_tmp, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_file_level_dedup_on_ray_matches_the_local_executor(ray_runtime, sources, tmp_path):
    """Both dedup passes (cross-repository exact files and file-level near-dedup, then whole
    samples) on Ray give the local executor's samples, removed rows and report. A repository
    that shares one file with another loses only that file: its sample is rendered again."""
    tables, repos_dirs = sources
    extra = tmp_path / "extra"
    (extra / "shares-a-file").mkdir(parents=True)
    helpers = Path(repos_dirs[0]) / "odd-names" / "helpers.py"
    shutil.copy(helpers, extra / "shares-a-file" / "helpers.py")
    (extra / "shares-a-file" / "own.py").write_text("def own(x):\n    return x * 2\n")
    config = _config()
    config.dedup.level = "file"
    config.dedup.exact_files_across_repos = True
    dirs = [*repos_dirs, str(extra)]
    local = tmp_path / "local"
    build_corpus(expand_sources(tables, dirs), local, config, workers=2, progress=False)
    out = str(tmp_path / "ray")
    report = build_corpus_ray(tables, out, config, repos_dirs=dirs).report
    _assert_same_build(local, out)
    files = report["dedup"]["files"]
    assert files["exact_dup"] >= 2 and files["samples_out"] < files["samples_in"]
    shared = [s for s in ray_executor.iter_output(out, "samples") if s["repo"] == "shares-a-file"]
    assert [s["paths"] for s in shared] == [["own.py"]]


def test_a_build_without_samples_reports_dedup_alike_on_both_executors(ray_runtime, tmp_path):
    """Repositories that yield no sample (an empty one, one of data files only): dedup has
    nothing to compare, and both executors say so the same way (one predicate, `dedup_runs`)."""
    repos = tmp_path / "repos"
    (repos / "empty-repo").mkdir(parents=True)
    (repos / "data-only").mkdir()
    (repos / "data-only" / "blob.bin").write_bytes(bytes(range(256)) * 8)
    config = _config()
    local = build_corpus(expand_sources([], [str(repos)]), tmp_path / "local", config, workers=1)
    on_ray = build_corpus_ray([], str(tmp_path / "ray"), config, repos_dirs=[str(repos)])
    assert local.report["samples"]["count"] == on_ray.report["samples"]["count"] == 0
    assert local.report["dedup"] == on_ray.report["dedup"] == {"enabled": False}
