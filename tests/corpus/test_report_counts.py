"""Issue 13, item 6: counts after every stage, the corpus-level dedup included, in the CLI
summary, `report.json` and the funnel of `report.html`; "kept" is the count in the samples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from repoloom.cli import main
from repoloom.codebase.sources import expand_sources
from repoloom.corpus.build import build_corpus
from repoloom.corpus.config import CorpusConfig

from .conftest import assert_funnel_adds_up, make_repos


def _config() -> CorpusConfig:
    config = CorpusConfig()
    config.decontam.hub = False
    return config


def _in_samples(out: Path) -> tuple[int, int]:
    rows = pq.read_table(out / "samples").to_pylist()
    return len(rows), sum(len(r["paths"]) for r in rows)


def _repos_with_a_copy(root: Path) -> list[str]:
    repos = make_repos(root / "repos", 3)
    shutil.copytree(repos / "repo001", root / "copy-of-repo001")  # every sample a duplicate
    return [*map(str, sorted(repos.iterdir())), str(root / "copy-of-repo001")]


def test_kept_is_the_count_in_the_samples_after_sample_dedup(tmp_path):
    out = tmp_path / "out"
    report = build_corpus(
        expand_sources(_repos_with_a_copy(tmp_path)), out, _config(), progress=False
    ).report
    n_samples, n_files = _in_samples(out)
    assert report["dedup"]["exact_dup"] > 0
    assert report["files_kept"] == n_files
    assert report["samples"]["count"] == n_samples and report["samples"]["files"] == n_files
    last = report["steps"][-1]
    assert last["step"] == "dedup_samples"
    assert last["in"] == report["files_before_dedup"] > n_files  # the copy's files left
    assert last["samples_in"] - last["samples_out"] == sum(last["samples_dropped"].values())
    assert last["samples_out"] == n_samples
    assert_funnel_adds_up(report)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<td>dedup_samples</td>" in html and f"{n_files:,} kept" in html


def test_a_file_level_pass_is_its_own_stage(tmp_path):
    config = _config()
    config.dedup.exact_files_across_repos = True
    out = tmp_path / "out"
    report = build_corpus(
        expand_sources(_repos_with_a_copy(tmp_path)), out, config, progress=False
    ).report
    names = [s["step"] for s in report["steps"]]
    assert names[-2:] == ["dedup_files", "dedup_samples"]
    files_stage = report["steps"][-2]
    assert files_stage["dropped"].get("exact-dup-file", 0) > 0
    assert report["files_kept"] == _in_samples(out)[1]
    assert_funnel_adds_up(report)


def test_cli_summary_prints_every_stage_and_the_kept_count_of_the_samples(tmp_path, capsys):
    sources = _repos_with_a_copy(tmp_path)
    out = tmp_path / "out"
    config = tmp_path / "corpus.yaml"
    config.write_text("decontam:\n  hub: false\n")
    assert main(["corpus", "build", *sources, "--out", str(out), "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    n_files = _in_samples(out)[1]
    assert f"{n_files:,} kept" in printed
    (line,) = [x for x in printed.splitlines() if x.startswith("files after each step:")]
    assert line.startswith(f"files after each step: read {report['steps'][0]['out']:,}")
    assert line.endswith(f"dedup_samples {n_files:,}")
