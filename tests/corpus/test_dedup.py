"""Corpus-level dedup: exact and near-duplicate repositories, keep rule, determinism, resume."""

import dataclasses
import json
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import repoloom.corpus.dedup.lsh as lsh_module
import repoloom.corpus.dedup.signatures as signatures_module
from repoloom.codebase.sources import expand_sources
from repoloom.corpus.build import build_corpus
from repoloom.corpus.config import CorpusConfig, DecontamConfig, DedupConfig
from repoloom.corpus.dedup import bucket_pairs
from repoloom.corpus.schema import BUCKET_ROW

SITE = Path(np.__file__).parents[1]  # site-packages of the test environment: real packages


def copy_package(name: str, target: Path) -> Path:
    shutil.copytree(SITE / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """h11 three times (original, one edited file, an exact copy) and two unrelated packages."""
    root = tmp_path_factory.mktemp("repos")
    original = copy_package("h11", root / "h11-a")
    edited = copy_package("h11", root / "h11-b")
    target = edited / "h11" / "_util.py"
    target.write_text(target.read_text() + "\n\ndef added_helper():\n    return 'new in b'\n")
    for repo in (original, edited):  # a file-level sample, byte-identical in all three copies
        (repo / "README.md").write_text("# h11\n\nA pure-Python HTTP/1.1 protocol library.\n")
    shutil.copytree(original, root / "h11-c")
    copy_package("sniffio", root / "sniffio")
    copy_package("markupsafe", root / "markupsafe")
    return root


def config(**dedup) -> CorpusConfig:
    cfg = CorpusConfig()
    cfg.decontam = DecontamConfig(benchmarks=["humaneval"])  # the wheel: fast and offline
    cfg.dedup = dataclasses.replace(DedupConfig(), **dedup)
    cfg.output.rows_per_part = 7
    return cfg


def build(corpus: Path, out: Path, cfg=None, workers=1):
    return build_corpus(
        expand_sources([], [str(corpus)]), out, cfg or config(), workers=workers, progress=False
    )


def snapshot(out: Path) -> dict[str, bytes]:
    names = [p for p in sorted(out.rglob("*")) if p.is_file() and p.name != "run.json"]
    return {str(p.relative_to(out)): p.read_bytes() for p in names}


def test_bucket_pairs_link_every_bucket_member():
    rows = np.zeros(7, dtype=BUCKET_ROW)
    rows["band"] = [0, 0, 0, 1, 1, 0, 2]
    rows["key"] = [5, 5, 5, 5, 5, 9, 5]
    rows["doc"] = [8, 2, 4, 4, 3, 1, 7]
    pairs = bucket_pairs(rows).tolist()
    # bucket (0,5) = {2,4,8}: star from 2 plus chain; bucket (1,5) = {3,4}; singletons give nothing
    assert pairs == [[2, 4], [2, 8], [3, 4], [4, 8]]
    assert bucket_pairs(rows[:1]).shape == (0, 2)


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    result = build(corpus, out)
    return out, result.report


def test_near_and_exact_duplicate_repositories_are_removed(reference):
    out, report = reference
    samples = pq.read_table(out / "samples").to_pylist()
    removed = pq.read_table(out / "removed").to_pylist()
    dropped = [r for r in removed if r["step"] == "dedup"]
    by_repo = {}
    for row in dropped:
        by_repo.setdefault(row["repo"], []).append(row)
    kept_repos = {s["repo"] for s in samples}
    # the h11 package sample: one of the three copies stays, the other two go
    h11_samples = [s for s in samples if s["repo"].startswith("h11") and len(s["paths"]) > 1]
    assert len(h11_samples) == 1
    multi = [r for r in dropped if "(+" in r["path"]]
    assert sorted(r["repo"] for r in multi) == sorted(
        {"h11-a", "h11-b", "h11-c"} - {h11_samples[0]["repo"]}
    )
    reasons = {r["repo"]: r["reason"] for r in multi}
    # keep rule "largest": the edited copy is the largest, the other two are its duplicates
    assert h11_samples[0]["repo"] == "h11-b"
    assert reasons == {"h11-a": "near-dup", "h11-c": "near-dup"}
    details = [json.loads(r["detail"]) for r in multi]
    assert {d["kept_sample_id"] for d in details} == {h11_samples[0]["sample_id"]}
    assert {d["kept_repo"] for d in details} == {"h11-b"}
    assert len({d["cluster"] for d in details}) == 1
    assert all(0.85 <= d["similarity"] <= 1.0 for d in details)
    # unrelated packages are untouched
    assert {"sniffio", "markupsafe"} <= kept_repos
    assert "sniffio" not in by_repo and "markupsafe" not in by_repo
    # single-file samples of h11-a and h11-c that are byte-identical are exact duplicates
    assert any(r["reason"] == "exact-dup" for r in dropped)
    # the counts in the report agree with the rows
    stats = report["dedup"]
    assert stats["exact_dup"] + stats["near_dup"] == len(dropped)
    assert stats["samples_out"] == len(samples) == report["samples"]["count"]
    assert stats["samples_in"] == stats["samples_out"] + len(dropped)
    assert (stats["bands"], stats["rows"]) == (18, 14)
    assert len({s["sample_id"] for s in samples}) == len(samples)
    assert "Dedup (whole samples)" in (out / "report.html").read_text()


def test_keep_first_rule_and_switches(corpus, tmp_path):
    first = build(corpus, tmp_path / "first", config(keep="first")).report
    samples = pq.read_table(tmp_path / "first" / "samples").to_pylist()
    h11 = [s["repo"] for s in samples if s["repo"].startswith("h11") and len(s["paths"]) > 1]
    assert h11 == ["h11-a"]  # the earliest in task (sorted source) order
    removed = pq.read_table(tmp_path / "first" / "removed").to_pylist()
    reasons = {r["repo"]: r["reason"] for r in removed if "(+" in r["path"]}
    assert reasons == {"h11-b": "near-dup", "h11-c": "exact-dup"}  # relative to the kept h11-a
    exact_only = build(corpus, tmp_path / "exact", config(near=False)).report
    assert exact_only["dedup"]["near_dup"] == 0 and exact_only["dedup"]["exact_dup"] >= 1
    samples = pq.read_table(tmp_path / "exact" / "samples").to_pylist()
    h11 = sorted(s["repo"] for s in samples if s["repo"].startswith("h11") and len(s["paths"]) > 1)
    assert h11 == ["h11-a", "h11-b"]  # the exact copy h11-c is gone, the edited one stays
    off = build(corpus, tmp_path / "off", config(near=False, exact_samples=False)).report
    assert off["dedup"] == {"enabled": False}
    assert off["samples"]["count"] == first["dedup"]["samples_in"]


def test_same_output_for_any_worker_count(corpus, reference, tmp_path):
    out, _ = reference
    build(corpus, tmp_path / "w2", workers=2)
    assert snapshot(tmp_path / "w2") == snapshot(out)


def _killed_build(corpus: Path, out: Path, target: str, after: int) -> None:
    """Child process: run the build and die hard (no cleanup) after `after` calls of `target`."""
    module = signatures_module if target == "sign_repository" else lsh_module
    original = getattr(module, target)
    calls = {"n": 0}

    def dying(*args, **kwargs):
        if calls["n"] == after:
            os._exit(137)
        calls["n"] += 1
        return original(*args, **kwargs)

    setattr(module, target, dying)
    build(corpus, out)
    os._exit(0)


@pytest.mark.parametrize("target,after", [("sign_repository", 2), ("bucket_pairs", 5)])
def test_resume_after_a_kill_in_the_middle_of_dedup(corpus, reference, tmp_path, target, after):
    out = tmp_path / "out"
    child = multiprocessing.get_context("fork").Process(
        target=_killed_build, args=(corpus, out, target, after)
    )
    child.start()
    child.join(300)
    assert child.exitcode == 137
    work = out / "_work" / "dedup"
    assert work.exists() and not (out / "samples").exists()
    if target == "bucket_pairs":
        assert (work / "buckets").exists() and not (work / "clusters.npz").exists()
        assert len(list((work / "pairs").glob("part-*.npy"))) == after
    else:
        assert len(list((work / "sign").glob("*.npz"))) == after
    build(corpus, out)
    assert snapshot(out) == snapshot(reference[0])


# ---------------------------------------------------------------------------------------------
# File-level options: cross-repository exact file dedup, near-dedup of files


def test_exact_file_dedup_across_repositories(corpus, tmp_path):
    cfg = config(exact_files_across_repos=True, near=False, exact_samples=False)
    report = build(corpus, tmp_path / "files", cfg).report
    samples = pq.read_table(tmp_path / "files" / "samples").to_pylist()
    removed = [r for r in pq.read_table(tmp_path / "files" / "removed").to_pylist()]
    dropped = [r for r in removed if r["step"] == "dedup"]
    assert dropped and {r["reason"] for r in dropped} == {"exact-dup-file"}
    # every h11 file is identical in the three copies but b's edited _util.py: the first copy
    # (ties in size go to task order) keeps them all, b keeps only its edited file, c nothing
    details = [json.loads(r["detail"]) for r in dropped]
    assert {d["kept_repo"] for d in details} == {"h11-a"}
    assert all(d["kept_path"] == r["path"] for d, r in zip(details, dropped, strict=True))
    assert {r["repo"] for r in dropped} == {"h11-b", "h11-c"}
    h11_a = next(s for s in samples if s["repo"] == "h11-a" and len(s["paths"]) > 1)
    assert "h11/_util.py" in h11_a["paths"]
    assert not [s for s in samples if s["repo"] == "h11-c"]
    (only_b,) = [s for s in samples if s["repo"] == "h11-b"]
    # the rebuilt sample is exactly the file as `assemble` renders a single file
    assert only_b["paths"] == ["h11/_util.py"] and only_b["kind"] == "file"
    assert only_b["text"] == (corpus / "h11-b" / "h11" / "_util.py").read_text()
    assert {"sniffio", "markupsafe"} <= {s["repo"] for s in samples}
    stats = report["dedup"]["files"]
    assert stats["exact_dup"] == len(dropped) and stats["near_dup"] == 0
    assert stats["files_in"] - stats["files_out"] == len(dropped)
    assert report["dedup"]["samples_out"] == len(samples) == report["samples"]["count"]
    assert "Dedup (files, before whole samples)" in (tmp_path / "files" / "report.html").read_text()
    # the same output with two workers
    build(corpus, tmp_path / "files2", cfg, workers=2)
    assert snapshot(tmp_path / "files2") == snapshot(tmp_path / "files")


def test_near_dedup_at_file_level(corpus, tmp_path):
    report = build(corpus, tmp_path / "near", config(level="file")).report
    removed = pq.read_table(tmp_path / "near" / "removed").to_pylist()
    near = [r for r in removed if r["reason"] == "near-dup-file"]
    # the edited _util.py (the largest of its cluster) stays; the two originals are near dups
    assert sorted((r["repo"], r["path"]) for r in near) == [
        ("h11-a", "h11/_util.py"),
        ("h11-c", "h11/_util.py"),
    ]
    details = [json.loads(r["detail"]) for r in near]
    assert {(d["kept_repo"], d["kept_path"]) for d in details} == {("h11-b", "h11/_util.py")}
    assert all(0.85 <= d["similarity"] < 1.0 for d in details)
    # identical files are near duplicates too at file level (similarity 1: labelled exact)
    assert any(r["reason"] == "exact-dup-file" for r in removed)
    assert report["dedup"]["level"] == "file" and report["dedup"]["near_dup"] == 0
    samples = pq.read_table(tmp_path / "near" / "samples").to_pylist()
    assert report["dedup"]["samples_out"] == len(samples)
    assert len({s["sample_id"] for s in samples}) == len(samples)


def test_resume_after_a_kill_in_the_file_level_pass(corpus, tmp_path):
    cfg = config(exact_files_across_repos=True)  # the file pass, then the sample pass on its output
    reference_out = tmp_path / "ref"
    build(corpus, reference_out, cfg)
    out = tmp_path / "out"

    def killed() -> None:
        original = signatures_module.sign_repository
        calls = {"n": 0}

        def dying(*args, **kwargs):
            if calls["n"] == 2:
                os._exit(137)
            calls["n"] += 1
            return original(*args, **kwargs)

        signatures_module.sign_repository = dying
        build(corpus, out, cfg)
        os._exit(0)

    child = multiprocessing.get_context("fork").Process(target=killed)
    child.start()
    child.join(300)
    assert child.exitcode == 137
    assert len(list((out / "_work" / "dedup" / "files" / "sign").glob("*.npz"))) == 2
    build(corpus, out, cfg)
    assert snapshot(out) == snapshot(reference_out)
    report = json.loads((out / "report.json").read_text())
    # the sample pass ran on what the file pass left: no whole sample is a duplicate any more
    assert report["dedup"]["files"]["exact_dup"] > 0 and report["dedup"]["bands"] == 18
    assert report["dedup"]["exact_dup"] == report["dedup"]["near_dup"] == 0
