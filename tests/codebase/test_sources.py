"""Sources and hostile input: every odd file is counted with a reason, nothing crashes."""

import gzip
import io
import json
import os
import subprocess
import tarfile
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repoloom.codebase.config import ReadConfig
from repoloom.codebase.sources import (
    SourceError,
    TaskOptions,
    expand_repos_dir,
    expand_source,
    expand_sources,
    iter_repository_files,
    safe_member_path,
)


def files_of(task, **read):
    return {f.path: f for f in iter_repository_files(task, ReadConfig(**read))}


def one(source):
    (task,) = expand_source(str(source), TaskOptions())
    return task


def test_directory_skips_git_and_sorts(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    (tmp_path / "b.py").write_text("b")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "z.py").write_text("z")
    got = files_of(one(tmp_path))
    assert list(got) == ["b.py", "a/z.py"] or list(got) == sorted(
        got, key=lambda p: p
    )  # deterministic
    assert set(got) == {"a/z.py", "b.py"}


def test_symlink_loop_and_symlinks_out_of_the_repo_are_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("SECRET = 1\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "ok.py").write_text("x = 1\n")
    os.symlink(outside, repo / "escape_dir")
    os.symlink(outside / "secret.py", repo / "escape.py")
    os.symlink(repo / "loop", repo / "loop")  # a self-referencing link
    (repo / "sub").mkdir()
    os.symlink("..", repo / "sub" / "up")  # a directory loop
    got = files_of(one(repo))
    assert got["ok.py"].data == b"x = 1\n"
    for path in ("escape_dir", "escape.py", "loop", "sub/up"):
        assert got[path].skip_reason == "symlink", path
        assert got[path].data is None
    assert not any("secret" in p for p in got)


def test_huge_file_is_skipped_without_being_read(tmp_path):
    with open(tmp_path / "big.py", "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # 50 MB, sparse
    (tmp_path / "small.py").write_text("x = 1\n")
    got = files_of(one(tmp_path))
    assert got["big.py"].skip_reason == "too-large"
    assert got["big.py"].size == 50 * 1024 * 1024


def test_unreadable_file_and_fifo_are_counted(tmp_path, monkeypatch):
    (tmp_path / "ok.py").write_text("x = 1\n")
    (tmp_path / "locked.py").write_text("y = 2\n")
    os.mkfifo(tmp_path / "pipe")
    real_open = os.open

    def failing_open(path, flags, *args):
        if str(path).endswith("locked.py"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", failing_open)
    got = files_of(one(tmp_path))
    assert got["locked.py"].skip_reason == "unreadable"
    assert "Permission denied" in got["locked.py"].detail
    assert got["pipe"].skip_reason == "not-regular-file"
    assert got["ok.py"].data == b"x = 1\n"


def test_empty_repository_yields_nothing(tmp_path):
    repo = tmp_path / "empty"
    repo.mkdir()
    assert files_of(one(repo)) == {}


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_tar_with_dotdot_and_absolute_paths_reads_nothing_outside(tmp_path):
    archive = tmp_path / "evil-1.0.tar.gz"
    _tar(
        archive,
        [
            ("evil-1.0/ok.py", b"x = 1\n"),
            ("evil-1.0/../../escape.py", b"bad"),
            ("/etc/passwd", b"bad"),
            ("evil-1.0/a/../../../up.py", b"bad"),
        ],
    )
    task = one(archive)
    assert task.name == "evil-1.0"
    got = files_of(task)
    assert got.pop("ok.py").data == b"x = 1\n"  # common top directory stripped
    assert {f.skip_reason for f in got.values()} == {"unsafe-path"}
    assert not (tmp_path.parent / "escape.py").exists()


def test_tar_symlink_members_are_not_followed(tmp_path):
    archive = tmp_path / "links.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("pkg/link.py")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
        data = b"x = 1\n"
        info = tarfile.TarInfo("pkg/real.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    got = files_of(one(archive))
    assert got["link.py"].skip_reason == "symlink"
    assert got["real.py"].data == b"x = 1\n"


def test_zip_with_dotdot_and_absolute_paths(tmp_path):
    archive = tmp_path / "z.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.py", "x = 1\n")
        zf.writestr("../escape.py", "bad")
        zf.writestr("/abs.py", "bad")
        zf.writestr("C:/win.py", "bad")
    got = files_of(one(archive))
    assert got.pop("ok.py").data == b"x = 1\n"
    assert {f.skip_reason for f in got.values()} == {"unsafe-path"}


def test_zip_bomb_member_is_not_inflated(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.txt", b"\0" * (200 * 1024 * 1024))  # 200 MB of zeros, ~200 KB packed
        zf.writestr("ok.py", "x = 1\n")
    assert archive.stat().st_size < 1024 * 1024
    got = files_of(one(archive))
    assert got["bomb.txt"].skip_reason == "too-large"
    assert got["ok.py"].data == b"x = 1\n"


def test_tar_bomb_is_refused_by_the_total_size_guard(tmp_path):
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(3):
            data = b"\0" * (4 * 1024 * 1024)
            info = tarfile.TarInfo(f"p/zeros{i}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(SourceError, match="bomb guard"):
        files_of(one(archive), max_archive_bytes=10 * 1024 * 1024)
    # within the guard: the members are too large to read, and are counted
    got = files_of(one(archive))
    assert {f.skip_reason for f in got.values()} == {"too-large"}


def test_corrupt_archive_is_a_source_error(tmp_path):
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(gzip.compress(b"not a tar at all" * 100)[:50])
    with pytest.raises(SourceError, match="broken archive"):
        files_of(one(archive))


def test_stack_layout_parquet_and_jsonl(tmp_path):
    rows = {
        "max_stars_repo_name": ["org/b", "org/a", "org/b", "org/a"],
        "max_stars_repo_path": ["x.py", "y.py", "z.py", "../evil.py"],
        "content": ["x = 1\n", "y = 2\n", "z = 3\n", "bad"],
    }
    pq.write_table(pa.table(rows), tmp_path / "stack.parquet", row_group_size=3)
    tasks = expand_source(str(tmp_path / "stack.parquet"), TaskOptions())
    assert [t.name for t in tasks] == ["org/a", "org/b"]
    a = files_of(tasks[0])
    assert a["y.py"].data == b"y = 2\n"
    assert a["../evil.py"].skip_reason == "unsafe-path"
    assert set(files_of(tasks[1])) == {"x.py", "z.py"}

    with open(tmp_path / "stack.jsonl", "w") as handle:
        for repo, path, content in zip(*rows.values(), strict=True):
            handle.write(json.dumps({"repo_name": repo, "path": path, "content": content}) + "\n")
    tasks = expand_source(str(tmp_path / "stack.jsonl"), TaskOptions())
    assert [t.name for t in tasks] == ["org/a", "org/b"]
    assert files_of(tasks[1])["z.py"].data == b"z = 3\n"


def test_table_without_known_columns_names_them(tmp_path):
    pq.write_table(pa.table({"foo": ["a"], "bar": ["b"]}), tmp_path / "t.parquet")
    with pytest.raises(SourceError, match="--repo-column"):
        expand_source(str(tmp_path / "t.parquet"), TaskOptions())
    (tmp_path / "bad.jsonl").write_text('{"repo": "a", "path": "x", "content": "y"}\nnot json\n')
    with pytest.raises(SourceError, match="bad.jsonl:2: not valid JSON"):
        expand_source(str(tmp_path / "bad.jsonl"), TaskOptions())


def test_git_source_is_cloned(tmp_path):
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / "m.py").write_text("import os\n")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    for cmd in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "x"]):
        subprocess.run(cmd, cwd=origin, check=True, env=env)
    task = one(f"file://{origin}")
    assert task.kind == "git" and task.name == "origin"
    got = files_of(task)
    assert set(got) == {"m.py"}


def test_missing_and_unsupported_sources_are_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="source not found"):
        expand_sources([str(tmp_path / "nope")])
    (tmp_path / "x.rar").write_bytes(b"x")
    with pytest.raises(SourceError, match="unsupported source"):
        expand_sources([str(tmp_path / "x.rar")])
    with pytest.raises(SourceError, match="no repositories"):
        expand_sources([], [str(tmp_path)])


def test_repos_dir_and_duplicate_names(tmp_path):
    for name in ("b", "a"):
        (tmp_path / "repos" / name).mkdir(parents=True)
    _tar(tmp_path / "repos" / "c-1.0.tar.gz", [("c-1.0/x.py", b"x")])
    tasks = expand_repos_dir(str(tmp_path / "repos"), TaskOptions())
    assert [t.name for t in tasks] == ["a", "b", "c-1.0"]
    (tmp_path / "other" / "a").mkdir(parents=True)
    tasks = expand_sources([str(tmp_path / "other" / "a")], [str(tmp_path / "repos")])
    assert [t.name for t in tasks] == ["a", "b", "c-1.0", "a~2"]


@pytest.mark.parametrize(
    "name,expected",
    [
        ("a/b.py", "a/b.py"),
        ("./a//b.py", "a/b.py"),
        ("../a", None),
        ("/a", None),
        ("a/../../b", None),
        ("a\\..\\..\\b", None),
        ("", None),
    ],
)
def test_safe_member_path(name, expected):
    assert safe_member_path(name) == expected


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
@pytest.mark.parametrize("mode", ["w:gz", "w:xz", "w:bz2", "w:"])
def test_tar_reader_agrees_with_tarfile(tmp_path, fmt, mode):
    long_dir = "d" * 120  # > 100 characters: ustar prefix, GNU longname or PAX path
    members = {
        "proj-1.0/a.py": b"x = 1\n",
        f"proj-1.0/{long_dir}/b.py": b"y = 2\n" * 300,
        "proj-1.0/unicod\u00e9/c.py": "z = '\u00e9'\n".encode(),
        "proj-1.0/empty.py": b"",
    }
    if fmt == tarfile.USTAR_FORMAT:
        members.pop("proj-1.0/unicod\u00e9/c.py")
    archive = tmp_path / "proj-1.0.tar"
    with tarfile.open(archive, mode, format=fmt) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("proj-1.0/sub")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    got = {p: f.data for p, f in files_of(one(archive)).items()}
    assert got == {name.removeprefix("proj-1.0/"): data for name, data in members.items()}


def test_tar_with_bad_checksum_is_a_broken_archive(tmp_path):
    archive = tmp_path / "bad.tar"
    _tar(tmp_path / "ok.tar.gz", [("p/x.py", b"x")])
    raw = bytearray(gzip.decompress((tmp_path / "ok.tar.gz").read_bytes()))
    raw[0] ^= 0x20  # corrupt the name: checksum no longer matches
    archive.write_bytes(bytes(raw))
    with pytest.raises(SourceError, match="broken archive"):
        files_of(one(archive))
