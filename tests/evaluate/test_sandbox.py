"""The sandbox attack suite: every attack is contained, the sample fails, the evaluator goes on."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from pathlib import Path

import pytest

from repoloom.evaluate import sandbox
from repoloom.evaluate.sandbox import Job, Limits, SandboxPool, resolve_isolation

REPO = Path(__file__).resolve().parents[2]
MODES = [m for m in ("bwrap", "unshare") if sandbox._probe(m)]


def _processes_with(marker: str) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmd = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmd:
                pids.append(int(name))
    return pids


@pytest.fixture(
    scope="module",
    params=MODES
    or [
        pytest.param(
            "none",
            marks=pytest.mark.skip(reason="neither bubblewrap nor user namespaces available"),
        )
    ],
)
def pool(request):
    with SandboxPool(workers=2, isolation=request.param) as p:
        yield p


def _ok(pool: SandboxPool) -> None:
    """The evaluator goes on: a correct program still passes afterwards."""
    r = pool.run(Job(code="def f(x):\n    return x * 2\nassert f(21) == 42\n", timeout=5))
    assert r.passed, r.result


def test_isolation_is_real_when_available():
    if not MODES:
        pytest.skip("no namespace isolation on this machine")
    assert resolve_isolation("auto") in MODES


def test_plain_pass_and_fail_verdicts(pool):
    assert pool.run(Job(code="assert sum(range(4)) == 6")).result == "passed"
    r = pool.run(Job(code="assert 1 == 2, 'wrong answer'"))
    assert (r.passed, r.result) == (False, "failed: wrong answer")
    r = pool.run(Job(code="def f(:\n"))
    assert not r.passed and r.result.startswith("failed: ")


def test_runs_unprivileged(pool):
    r = pool.run(Job(code="import os\nprint(os.getuid(), os.geteuid())\nassert os.geteuid() != 0"))
    assert r.passed, (r.result, r.output)


def test_tcp_connection_blocked(pool):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    code = (
        "import socket\n"
        f"s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        "s.sendall(b'hello')\n"
    )
    try:
        r = pool.run(Job(code=code, timeout=5))
        assert not r.passed
        server.setblocking(False)
        with pytest.raises(BlockingIOError):  # nothing is waiting in the listen backlog
            server.accept()
    finally:
        server.close()
    _ok(pool)


def test_write_outside_workdir_blocked(pool, tmp_path):
    if pool.mode == "none":
        pytest.skip("a read-only file system needs bubblewrap or unshare")
    target_dir = tmp_path / "open"
    target_dir.mkdir()
    os.chmod(tmp_path, 0o777)
    os.chmod(target_dir, 0o777)  # even a world-writable directory must stay untouched
    targets = [target_dir / "pwned.txt", REPO / "PWNED_BY_SANDBOX_TEST"]
    code = "\n".join(f"open({str(p)!r}, 'w').write('x')" for p in targets)
    r = pool.run(Job(code=code))
    assert not r.passed
    for p in targets:
        assert not p.exists(), f"{p} was written"
    # Writing inside the private working directory is fine.
    r = pool.run(
        Job(code="open('scratch.txt', 'w').write('ok')\nassert open('scratch.txt').read() == 'ok'")
    )
    assert r.passed, r.result


def test_home_file_hidden(pool):
    home = Path(os.path.expanduser("~"))
    secret = secrets.token_hex(16)
    planted = home / f".repoloom-sandbox-secret-{secret[:8]}"
    planted.write_text(secret)
    os.chmod(planted, 0o644)
    try:
        code = f"data = open({str(planted)!r}).read()\nprint(data)\nassert data == {secret!r}"
        r = pool.run(Job(code=code))
        assert not r.passed
        assert secret not in r.output
    finally:
        planted.unlink()


def test_fork_bomb_contained(pool):
    code = "import os\nwhile True:\n    os.fork()\n"
    start = time.monotonic()
    r = pool.run(Job(code=code, timeout=3, limits=Limits(processes=32)))
    assert not r.passed
    assert time.monotonic() - start < 20
    _ok(pool)


def test_allocate_100_gb_fails(pool):
    r = pool.run(Job(code="x = bytearray(100 * 1024 ** 3)\nx[-1] = 1\n"))
    assert not r.passed
    _ok(pool)


def test_infinite_loop_times_out(pool):
    start = time.monotonic()
    r = pool.run(Job(code="while True:\n    pass\n", timeout=1.5))
    assert (r.passed, r.result) == (False, "timed out")
    assert time.monotonic() - start < 6
    _ok(pool)


def test_ignoring_sigterm_does_not_help(pool):
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "while True:\n    time.sleep(0.1)\n"
    )
    r = pool.run(Job(code=code, timeout=1.5))
    assert (r.passed, r.result) == (False, "timed out")
    _ok(pool)


def test_kill_the_parent(pool):
    code = (
        "import os, signal, time\n"
        "for pid in (os.getppid(), 1):\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n"
        "time.sleep(0.5)\n"
        "raise SystemExit('the test was never run')\n"
    )
    r = pool.run(Job(code=code, timeout=3))
    assert not r.passed
    _ok(pool)
    _ok(pool)  # both workers still (or again) serve


def test_background_process_is_killed_and_fails_the_sample(pool):
    marker = str(900000 + secrets.randbelow(99999))
    code = (
        "import os\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        f"    os.execv('/bin/sleep', ['sleep', '{marker}'])\n"
        "assert True\n"
    )
    r = pool.run(Job(code=code, timeout=5))
    assert not r.passed
    assert "background" in r.result
    time.sleep(0.2)
    assert _processes_with(marker) == [], "a background process outlived its sample"


def test_filling_the_disk_is_bounded(pool):
    if pool.mode == "none":
        pytest.skip("a size-limited private /tmp needs bubblewrap or unshare")
    code = (
        "chunk = b'x' * (8 << 20)\n"
        "for i in range(1000):\n"
        "    with open(f'f{i}', 'wb') as fh:\n"
        "        fh.write(chunk)\n"
    )
    r = pool.run(Job(code=code, timeout=20))
    assert not r.passed and "No space left" in r.result
    _ok(pool)
    # The space is given back after the job: the same amount fits again.
    code = "for i in range(25):\n    open(f'g{i}', 'wb').write(b'x' * (8 << 20))\n"
    r = pool.run(Job(code=code, timeout=20))
    assert r.passed, r.result


def test_output_is_capped(pool):
    r = pool.run(Job(code="import sys\nsys.stdout.write('x' * 5_000_000)\n", output_cap=1000))
    assert r.passed, r.result
    assert len(r.output) == 1000 and r.output_truncated


def test_argv_jobs_compile_and_run(pool):
    job = Job(
        kind="argv",
        files={"main.sh": 'echo hello; test "$(cat data.txt)" = 42', "data.txt": "42"},
        steps=[["/bin/bash", "main.sh"]],
        timeout=5,
    )
    r = pool.run(job)
    assert r.passed and "hello" in r.output
    job.files["data.txt"] = "41"
    assert not pool.run(job).passed


def test_many_jobs_in_parallel(pool):
    jobs = [Job(code=f"assert {i} * 2 == {2 * i + (i % 7 == 0)}") for i in range(60)]
    results = pool.map(jobs)
    assert [r.passed for r in results] == [i % 7 != 0 for i in range(60)]


def test_warning_names_isolation(caplog):
    sandbox._warned.discard("none")
    with caplog.at_level(logging.WARNING, logger="repoloom.evaluate.sandbox"):
        with SandboxPool(workers=1, isolation="none") as p:
            assert p.run(Job(code="assert True")).passed
        with SandboxPool(workers=1, isolation="none"):
            pass
    warnings = [r.getMessage() for r in caplog.records if "isolation in force" in r.getMessage()]
    assert len(warnings) == 1 and "NOT a sandbox" in warnings[0]


def test_unknown_isolation_is_an_error():
    with pytest.raises(ValueError):
        resolve_isolation("chroot")
