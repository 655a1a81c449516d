"""Tests of ``repoloom corpus fetch``: manifests, pins, idempotence, .deb and src.zip handling."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from repoloom.corpus import fetch as F
from repoloom.corpus.fetch.cli import register_fetch


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make_tgz(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _write_manifest(path: Path, entries: list[dict]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"name": "t", "artefacts": entries}))
    return path


# ----------------------------------------------------------------------------- manifests


@pytest.mark.parametrize("name", ["demo", "benchmark"])
def test_builtin_manifests_are_valid_and_fully_pinned(name: str) -> None:
    m = F.load_manifest(name)
    assert m.name == name
    assert all(a.sha256 for a in m.artefacts), "every shipped entry pins a sha256"
    for a in m.artefacts:
        if a.source == "jdk":
            assert a.deb_sha256 and a.modules
    assert name in F.builtin_manifests()


def test_benchmark_manifest_meets_the_corpus_targets() -> None:
    m = F.load_manifest("benchmark")
    repos = sum(len(a.modules) if a.source == "jdk" else 1 for a in m.artefacts)
    assert repos >= 50
    assert len({a.language for a in m.artefacts}) >= 6
    # consecutive releases of a package give the dedup step near-duplicate repositories
    versions: dict[str, set[str]] = {}
    for a in m.artefacts:
        if a.source == "pypi":
            versions.setdefault(a.package, set()).add(a.version)
    assert sum(len(v) >= 2 for v in versions.values()) >= 2


def test_manifest_parsing_fields_and_defaults(tmp_path: Path) -> None:
    text = """
name: mine
description: two entries
artefacts:
  - {source: pypi, package: rich, version: 13.7.1, sha256: "%s"}
  - {source: deb, package: golang-github-spf13-cobra-dev, version: 1.6.1-1, subdir: usr/share}
  - {source: jdk, package: openjdk-17-source, version: "17.0.1+1-1", modules: [java.sql]}
""" % ("a" * 64)
    m = F.parse_manifest(text)
    assert m.name == "mine" and len(m.artefacts) == 3
    pypi, deb, jdk = m.artefacts
    assert pypi.is_archive and pypi.name is None and pypi.sha256 == "a" * 64
    assert not deb.is_archive and deb.name == "golang-github-spf13-cobra-dev-1.6.1-1"
    assert deb.subdir == "usr/share"
    assert jdk.modules == ("java.sql",) and jdk.name == "jdk-17.0.1"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"source": "svn", "package": "x", "version": "1"}, "'source' must be one of"),
        ({"source": "pypi", "package": "rich"}, "'version' must pin"),
        ({"source": "pypi", "package": "rich", "version": ">=1.0"}, "'version' must pin"),
        ({"source": "pypi", "package": "rich", "version": "1", "sha256": "xyz"}, "64 lowercase"),
        ({"source": "pypi", "package": "rich", "version": "1", "colour": 1}, "unknown key"),
        ({"source": "local", "version": "1"}, "needs 'path'"),
        ({"source": "pypi", "package": "sympy", "version": 1.10}, "quote it"),
        ({"source": "local", "path": "a.rar"}, "must be a .tar.gz"),
        ({"source": "deb", "package": "p", "version": "1", "subdir": "../x"}, "relative path"),
        ({"source": "npm", "package": "p", "version": "1", "modules": ["a"]}, "'jdk' entries"),
    ],
)
def test_manifest_errors_name_the_problem(entry: dict, message: str) -> None:
    import yaml

    with pytest.raises(F.FetchError, match=message):
        F.parse_manifest(yaml.safe_dump({"artefacts": [entry]}))


def test_manifest_rejects_bad_documents_and_duplicates(tmp_path: Path) -> None:
    with pytest.raises(F.FetchError, match="not valid YAML"):
        F.parse_manifest("artefacts: [unclosed")
    with pytest.raises(F.FetchError, match="non-empty list"):
        F.parse_manifest("artefacts: []")
    dup = "artefacts:\n" + "  - {source: pypi, package: rich, version: '1'}\n" * 2
    with pytest.raises(F.FetchError, match="both produce"):
        F.parse_manifest(dup)
    with pytest.raises(F.FetchError, match="neither a file nor a built-in"):
        F.load_manifest("no-such-manifest")


# ----------------------------------------------------------------------------- pins, idempotence


def test_sha_mismatch_is_a_clear_error_and_keeps_nothing(tmp_path: Path) -> None:
    tgz = _make_tgz(tmp_path / "pkg-1.0.tar.gz", {"pkg-1.0/a.py": "import b\n"})
    man = _write_manifest(
        tmp_path / "m.yaml", [{"source": "local", "path": str(tgz), "sha256": "0" * 64}]
    )
    out = tmp_path / "out"
    with pytest.raises(F.ShaMismatchError, match="sha256 mismatch") as info:
        F.fetch_manifest(F.load_manifest(str(man)), out, progress=False)
    assert _sha(tgz) in str(info.value)
    assert not (out / "pkg-1.0.tar.gz").exists()
    lock = json.loads((out / F.LOCK_NAME).read_text())
    assert lock["complete"] is False and lock["entries"] == []


def test_unpinned_entries_need_explicit_permission(tmp_path: Path) -> None:
    tgz = _make_tgz(tmp_path / "pkg-1.0.tar.gz", {"pkg-1.0/a.py": "x = 1\n"})
    man = F.load_manifest(
        str(_write_manifest(tmp_path / "m.yaml", [{"source": "local", "path": str(tgz)}]))
    )
    with pytest.raises(F.FetchError, match="no sha256 pin"):
        F.fetch_manifest(man, tmp_path / "out", progress=False)
    res = F.fetch_manifest(man, tmp_path / "out", progress=False, allow_unpinned=True)
    assert res.entries[0].sha256 == _sha(tgz)


def test_refetch_is_idempotent_and_repairs_a_corrupted_output(tmp_path: Path) -> None:
    tgz = _make_tgz(
        tmp_path / "pkg-1.0.tar.gz", {"pkg-1.0/a.py": "import b\n", "pkg-1.0/b.py": "y = 2\n"}
    )
    man = F.load_manifest(
        str(
            _write_manifest(
                tmp_path / "m.yaml",
                [{"source": "local", "path": "pkg-1.0.tar.gz", "sha256": _sha(tgz)}],
            )
        )
    )
    out = tmp_path / "out"
    first = F.fetch_manifest(man, out, progress=False)
    assert first.n_fetched == 1 and first.n_skipped == 0
    entry = first.entries[0]
    assert (entry.kind, entry.n_files, entry.n_bytes) == ("archive", 2, 15)
    assert entry.extensions == {"py": [2, 15]}
    mtime = (out / "pkg-1.0.tar.gz").stat().st_mtime_ns
    lock1 = (out / F.LOCK_NAME).read_text()

    second = F.fetch_manifest(man, out, progress=False)
    assert second.n_fetched == 0 and second.n_skipped == 1
    assert (out / "pkg-1.0.tar.gz").stat().st_mtime_ns == mtime
    assert (out / F.LOCK_NAME).read_text() == lock1

    (out / "pkg-1.0.tar.gz").write_bytes(b"truncated")
    third = F.fetch_manifest(man, out, progress=False)
    assert third.n_fetched == 1
    assert _sha(out / "pkg-1.0.tar.gz") == _sha(tgz)
    assert F.repository_paths(out) == [out / "pkg-1.0.tar.gz"]


def test_entries_dropped_from_the_manifest_are_pruned(tmp_path: Path) -> None:
    a = _make_tgz(tmp_path / "a-1.tar.gz", {"a-1/a.py": "x = 1\n"})
    b = _make_tgz(tmp_path / "b-1.tar.gz", {"b-1/b.py": "y = 2\n"})
    both = [{"source": "local", "path": str(p), "sha256": _sha(p)} for p in (a, b)]
    out = tmp_path / "out"
    F.fetch_manifest(
        F.load_manifest(str(_write_manifest(tmp_path / "m.yaml", both))), out, progress=False
    )
    (out / "mine.tar.gz").write_bytes(b"user data")  # not the fetcher's: must stay
    one = F.load_manifest(str(_write_manifest(tmp_path / "m1.yaml", both[:1])))
    res = F.fetch_manifest(one, out, progress=False)
    assert res.n_skipped == 1
    assert sorted(p.name for p in out.iterdir()) == [
        ".fetch",
        "a-1.tar.gz",
        "manifest.lock.json",
        "mine.tar.gz",
    ]


def test_corrupt_archive_with_matching_pin_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad-1.0.tar.gz"
    bad.write_bytes(b"this is not gzip")
    man = _write_manifest(
        tmp_path / "m.yaml", [{"source": "local", "path": str(bad), "sha256": _sha(bad)}]
    )
    with pytest.raises(F.FetchError, match="not a readable archive"):
        F.fetch_manifest(F.load_manifest(str(man)), tmp_path / "out", progress=False)


# ----------------------------------------------------------------------------- .deb


def _build_deb(tmp_path: Path) -> Path:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed (Debian tools)")
    root = tmp_path / "debroot"
    src = root / "usr/share/gocode/src/example.org/tiny"
    (src / "sub").mkdir(parents=True)
    (src / "go.mod").write_text("module example.org/tiny\n")
    (src / "main.go").write_text(
        'package main\nimport "example.org/tiny/sub"\nfunc main() { sub.F() }\n'
    )
    (src / "sub/sub.go").write_text("package sub\nfunc F() {}\n")
    (src / "escape").symlink_to("/etc/passwd")
    (src / "inside").symlink_to("sub/sub.go")
    doc = root / "usr/share/doc/golang-example-tiny-dev"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("MIT\n")
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN/control").write_text(
        "Package: golang-example-tiny-dev\nVersion: 1.0-1\nArchitecture: all\n"
        "Maintainer: t <t@example.org>\nDescription: tiny\n"
    )
    deb = tmp_path / "golang-example-tiny-dev_1.0-1_all.deb"
    subprocess.run(
        ["dpkg-deb", "-Zgzip", "-b", str(root), str(deb)], check=True, capture_output=True
    )
    return deb


def test_deb_source_extraction_gives_the_source_root(tmp_path: Path) -> None:
    deb = _build_deb(tmp_path)
    man = _write_manifest(
        tmp_path / "m.yaml", [{"source": "local", "path": str(deb), "sha256": _sha(deb)}]
    )
    out = tmp_path / "out"
    res = F.fetch_manifest(F.load_manifest(str(man)), out, progress=False)
    repo = out / "golang-example-tiny-dev_1.0-1_all"
    assert res.entries[0].outputs == [repo.name]
    assert sorted(str(p.relative_to(repo)) for p in repo.rglob("*")) == [
        "go.mod",
        "inside",
        "main.go",
        "sub",
        "sub/sub.go",
    ]
    assert (repo / "inside").is_symlink()  # a link inside the tree stays
    assert res.entries[0].extra == {"symlinks_dropped": 1}
    assert res.entries[0].n_files == 3  # go.mod, main.go, sub/sub.go (links are not counted)
    again = F.fetch_manifest(F.load_manifest(str(man)), out, progress=False)
    assert again.n_skipped == 1


def test_find_deb_source_root_fallbacks(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    (tree / "usr/share/cargo/registry/tiny-0.1.0/src").mkdir(parents=True)
    (tree / "usr/share/cargo/registry/tiny-0.1.0/src/lib.rs").write_text("mod a;\n")
    assert F.find_deb_source_root(tree) == tree / "usr/share/cargo/registry/tiny-0.1.0"
    assert F.find_deb_source_root(tree, "usr/share/cargo") == tree / "usr/share/cargo"
    with pytest.raises(F.FetchError, match="not a directory"):
        F.find_deb_source_root(tree, "usr/nope")
    other = tmp_path / "o"
    (other / "opt/x").mkdir(parents=True)
    (other / "usr/share/doc/x").mkdir(parents=True)
    (other / "opt/x/a.c").write_text("int x;\n")
    assert F.find_deb_source_root(other) == other
    assert not (other / "usr/share/doc").exists()


# ----------------------------------------------------------------------------- src.zip


def _make_src_zip(path: Path, entries: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in entries.items():
            zf.writestr(name, text)
    return path


def test_src_zip_is_split_into_one_repository_per_module(tmp_path: Path) -> None:
    src_zip = _make_src_zip(
        tmp_path / "src.zip",
        {
            "java.base/java/lang/Object.java": "package java.lang;\npublic class Object {}\n",
            "java.base/java/lang/String.java": "package java.lang;\npublic final class String {}\n",
            "java.sql/java/sql/Driver.java": "package java.sql;\npublic interface Driver {}\n",
            "jdk.jshell/jdk/jshell/JShell.java": "package jdk.jshell;\nclass JShell {}\n",
        },
    )
    entry = {
        "source": "jdk",
        "package": "openjdk-17-source",
        "version": "17.0.1+1-1",
        "path": str(src_zip),
        "sha256": _sha(src_zip),
        "name": "jdk",
        "modules": ["java.base", "java.sql"],
    }
    man = F.load_manifest(str(_write_manifest(tmp_path / "m.yaml", [entry])))
    out = tmp_path / "out"
    res = F.fetch_manifest(man, out, progress=False)
    assert res.entries[0].outputs == ["jdk-java.base", "jdk-java.sql"]
    assert (out / "jdk-java.base/java/lang/String.java").read_text().startswith("package java.lang")
    assert (out / "jdk-java.sql/java/sql/Driver.java").is_file()
    assert not (out / "jdk-jdk.jshell").exists()
    assert res.entries[0].n_files == 3
    assert F.fetch_manifest(man, out, progress=False).n_skipped == 1
    assert F.repository_paths(out) == [out / "jdk-java.base", out / "jdk-java.sql"]


def test_src_zip_rejects_unsafe_paths_and_missing_modules(tmp_path: Path) -> None:
    evil = _make_src_zip(tmp_path / "evil.zip", {"java.base/../../x.java": "class X {}\n"})
    with pytest.raises(F.FetchError, match="unsafe"):
        F.split_src_zip(evil, tmp_path, "jdk")
    ok = _make_src_zip(tmp_path / "ok.zip", {"java.base/A.java": "class A {}\n"})
    with pytest.raises(F.FetchError, match="no module"):
        F.split_src_zip(ok, tmp_path, "jdk", ["java.sql"])
    assert not list(tmp_path.glob("jdk-*"))


# ----------------------------------------------------------------------------- CLI


def test_cli_fetches_a_local_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tgz = _make_tgz(tmp_path / "pkg-2.0.tgz", {"package/index.js": "require('./a')\n"})
    man = _write_manifest(
        tmp_path / "m.yaml", [{"source": "local", "path": str(tgz), "sha256": _sha(tgz)}]
    )
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register_fetch(sub)
    args = parser.parse_args(
        ["fetch", "--manifest", str(man), "--out", str(tmp_path / "o"), "--no-progress"]
    )
    assert args.func(args) == 0
    assert (tmp_path / "o/pkg-2.0.tgz").is_file()
    assert "1 repositories" in capsys.readouterr().err


# ----------------------------------------------------------------------------- network


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.network
def test_fetch_one_tiny_pinned_sdist_from_pypi(tmp_path: Path, monkeypatch) -> None:
    if not _pypi_reachable():
        pytest.skip("PyPI is not reachable (offline)")
    sha = "1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926"
    man = _write_manifest(
        tmp_path / "m.yaml",
        [{"source": "pypi", "package": "six", "version": "1.16.0", "sha256": sha}],
    )
    # A relative --out (as `make demo` passes): the download tools run in other directories.
    monkeypatch.chdir(tmp_path)
    res = F.fetch_manifest(F.load_manifest(str(man)), Path("out"), progress=False)
    assert res.entries[0].outputs == ["six-1.16.0.tar.gz"]
    assert (tmp_path / "out" / "six-1.16.0.tar.gz").is_file()
    assert res.entries[0].extensions["py"][0] >= 2
