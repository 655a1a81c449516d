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


# --- Verdict forgery: only the program's real behaviour may decide "passed". -----------------

# A wrong solution followed by the checker that would catch it (as a benchmark program ends).
_WRONG_THEN_CHECK = (
    "\ndef candidate(x):\n    return x + 1\n"
    "def check(f):\n    assert f(2) == 4, 'wrong answer'\n"
    "check(candidate)\n"
)

_FORGERIES = {
    # every plausible verdict format, raw and length-prefixed like the worker's replies
    "payloads": (
        "import json, struct\n"
        "msgs = [b'passed', b'P' + b'0' * 32, b'Ppassed', b'P',"
        " json.dumps({'result': 'passed', 'passed': True}).encode()]\n"
        "payloads = msgs + [struct.pack('>I', len(m)) + m for m in msgs]\n"
    ),
}


def _forge_fds(then: str, only_passed: bool) -> str:
    return (
        _FORGERIES["payloads"]
        + ("payloads = [b'passed']\n" if only_passed else "")
        + "import os, sys\n"
        "for fd in range(0, 1024):\n"
        "    for p in payloads:\n"
        "        try:\n            os.write(fd, p)\n        except OSError:\n            pass\n"
        "sys.stdout.write('passed\\n')\nsys.stderr.write('passed\\n')\n" + then
    )


@pytest.mark.parametrize("only_passed", [True, False], ids=["bare-passed", "all-formats"])
@pytest.mark.parametrize(
    "then",
    [
        "os._exit(0)\n",
        "sys.stdout.flush()\nos._exit(0)\n",
        "raise SystemExit(0)\n",
        "os.kill(os.getpid(), 9)\n",
        _WRONG_THEN_CHECK,
    ],
    ids=["exit0", "flush-exit0", "systemexit", "sigkill", "wrong-answer"],
)
def test_writing_passed_to_every_fd_is_not_a_verdict(pool, then, only_passed):
    r = pool.run(Job(code=_forge_fds(then, only_passed), timeout=5))
    assert not r.passed, r.result
    assert r.result.startswith("failed"), r.result
    _ok(pool)


def test_printing_the_verdict_is_not_a_verdict(pool):
    code = (
        _FORGERIES["payloads"] + "import sys\n"
        "for p in payloads:\n"
        "    sys.stdout.buffer.write(p + b'\\n')\n    sys.stderr.buffer.write(p + b'\\n')\n"
        "print('passed')\n" + _WRONG_THEN_CHECK
    )
    r = pool.run(Job(code=code, timeout=5))
    assert (r.passed, r.result) == (False, "failed: wrong answer")
    assert "passed" in r.output  # the text was printed, and ignored


@pytest.mark.parametrize(
    "exit_stmt",
    [
        "import os\nos._exit(0)\n",
        "import os\nos._exit(1)\n",
        "import posix\nposix._exit(0)\n",
        "import sys\nsys.exit(0)\n",
        "import sys\nsys.exit()\n",
        "raise SystemExit\n",
        "import os\nos.execv('/bin/true', ['true'])\n",
        "import ctypes\nctypes.CDLL(None)._exit(0)\n",
        "import os\nif os.fork():\n    os._exit(0)\n",
    ],
    ids=["_exit0", "_exit1", "posix_exit0", "sys.exit0", "sys.exit", "SystemExit", "exec-true",
         "libc_exit", "fork-parent-exits"],
)  # fmt: skip
def test_exiting_before_the_tests_run_fails(pool, exit_stmt):
    """sys.exit(0) / os._exit(0) / exec of a clean-exiting program before the checker runs."""
    r = pool.run(Job(code=exit_stmt + _WRONG_THEN_CHECK, timeout=5))
    assert not r.passed, r.result
    assert r.result.startswith("failed"), r.result


def test_patching_exit_and_write_does_not_reach_the_harness(pool):
    code = (
        "import os, posix\n"
        "real_write, real_exit = os.write, os._exit\n"
        "os.write = posix.write = lambda fd, data: real_write(fd, b'passed')\n"
        "os._exit = posix._exit = lambda code: real_exit(0)\n"
        "os.getpid = lambda: -1\n" + _WRONG_THEN_CHECK
    )
    r = pool.run(Job(code=code, timeout=5))
    assert (r.passed, r.result) == (False, "failed: wrong answer")


_PATCHES = {
    "builtins.abs": "import builtins\nbuiltins.abs = lambda x: 0\n",
    "builtins.all": "import builtins\nbuiltins.all = lambda it: True\n",
    "builtins.len": "import builtins\nbuiltins.len = lambda x: 3\n",
    "builtins.isinstance": "import builtins\nbuiltins.isinstance = lambda *a: True\n",
    "__builtins__[abs]": "__builtins__['abs'] = lambda x: 0\n",
    "math.isclose": "import math\nmath.isclose = lambda *a, **k: True\n",
    "sys.modules[math]": (
        "import sys, types\nfake = types.ModuleType('math')\n"
        "fake.isclose = lambda *a, **k: True\nsys.modules['math'] = fake\n"
    ),
    "builtins.BaseException": (
        "import builtins\nbuiltins.BaseException = type('Never', (Exception,), {})\n"
    ),
    "builtins.AssertionError": (
        "import builtins\nbuiltins.AssertionError = type('Never', (Exception,), {})\n"
    ),
    "operator.eq": "import operator\noperator.eq = lambda a, b: True\n",
}
# Checkers that a wrong candidate (returns 3 where 4 is due) fails, unless the patch bites.
_CHECKER = (
    "\ndef candidate(x):\n    return x + 1\n"
    "def check(f):\n"
    "    import math, operator\n"
    "    assert abs(f(2) - 4) < 1e-9\n"
    "    assert all(f(x) == 2 * x for x in [2])\n"
    "    assert len(str(f(2))) == 3\n"
    "    assert isinstance(f(2), str)\n"
    "    assert math.isclose(f(2), 4)\n"
    "    assert operator.eq(f(2), 4)\n"
    "check(candidate)\n"
)


@pytest.mark.parametrize("patch", list(_PATCHES), ids=list(_PATCHES))
def test_monkeypatching_what_the_checker_uses_fails(pool, patch):
    # Each checker line alone would catch the wrong candidate: make every line but the one
    # the patch defeats pass, so only the patch can turn the run green in-process.
    lines = _CHECKER.splitlines()
    targets = {
        "builtins.abs": "abs(",
        "__builtins__[abs]": "abs(",
        "builtins.all": "all(",
        "builtins.len": "len(",
        "builtins.isinstance": "isinstance(",
        "math.isclose": "math.isclose",
        "sys.modules[math]": "math.isclose",
        "operator.eq": "operator.eq",
    }
    keep = targets.get(patch)
    checker = "\n".join(
        ln for ln in lines if not ln.strip().startswith("assert ") or (keep and keep in ln)
    )
    if patch in ("builtins.BaseException", "builtins.AssertionError"):
        checker = _WRONG_THEN_CHECK
    r = pool.run(Job(code=_PATCHES[patch] + checker, timeout=5))
    assert not r.passed, r.result
    assert r.result.startswith("failed: "), r.result


def test_patched_checker_really_would_pass_in_process(pool):
    """The attack is real: without the patch the checker fails, with it the asserts pass."""
    ok_line = "assert abs((2 + 1) - 4) < 1e-9\n"
    r = pool.run(Job(code="import builtins\nbuiltins.abs = lambda x: 0\n" + ok_line))
    assert r.result == "failed: the program changed builtins.abs", r.result
    assert pool.run(Job(code=ok_line)).result.startswith("failed")


def test_leaving_a_trace_function_fails(pool):
    code = "import sys\nsys.settrace(lambda *a: None)\n" + "assert True\n"
    r = pool.run(Job(code=code))
    assert not r.passed and "trace" in r.result, r.result


def test_ordinary_module_use_is_not_tampering(pool):
    """No false alarms: programs that use (not rebind) the protected modules pass."""
    code = (
        "import math, re, random, decimal, functools, collections, sys, heapq, json, string\n"
        "import statistics, fractions, itertools, operator, bisect, copy\n"
        "import concurrent.futures, collections.abc, typing, dataclasses\n"
        "random.seed(42); decimal.getcontext().prec = 50; sys.setrecursionlimit(5000)\n"
        "@functools.lru_cache(None)\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
        "assert fib(30) == 832040 and math.isclose(math.sqrt(2) ** 2, 2)\n"
        "assert re.fullmatch(r'a+', 'aaa') and collections.Counter('aab')['a'] == 2\n"
        "assert statistics.mean([1, 2, 3]) == 2 and fractions.Fraction(1, 2) * 2 == 1\n"
        "heapq.heappush(h := [], 3); assert json.loads(json.dumps(h)) == [3]\n"
        "print(copy.deepcopy({'a': [1]}), string.ascii_lowercase[:3], bisect.bisect([1, 3], 2))\n"
    )
    r = pool.run(Job(code=code))
    assert r.passed, (r.result, r.output)


def test_argv_job_cannot_forge_its_verdict(pool):
    script = (
        "for fd in $(seq 0 64); do printf 'passedP' >&$fd; done 2>/dev/null\n"
        "cat /proc/$PPID/mem > /dev/null 2>&1 && echo READ-PARENT-MEMORY\n"
        "echo passed\n"
        "exit 3\n"
    )
    r = pool.run(Job(kind="argv", files={"m.sh": script}, steps=[["/bin/bash", "m.sh"]]))
    assert (r.passed, r.result) == (False, "failed: step 1 (bash) exit 3"), r.result
    assert "READ-PARENT-MEMORY" not in r.output


# --- Jobs are isolated from each other and from their worker. ---------------------------------

_LEAVE_BEHIND = """
import os
secret = {secret!r}
for d in ('.', '/tmp', '/var/tmp', '/dev/shm', os.path.dirname(os.getcwd())):
    try:
        with open(os.path.join(d, 'left-' + secret), 'w') as fh:
            fh.write(secret)
    except OSError:
        pass
# try to plant directories a later job might be given
for name in ['job-' + '0' * 24] + ['job%d_%d' % (os.getppid(), i) for i in range(1, 50)]:
    try:
        os.makedirs(os.path.join(os.path.dirname(os.getcwd()), name))
    except OSError:
        pass
import time
time.sleep({sleep})
"""

_LOOK_FOR = """
import os, time
time.sleep({sleep})
found = []
mine = os.getcwd()
root_dir = os.path.dirname(mine)
for root in ('/tmp', '/var/tmp', '/dev/shm'):
    for d, dirs, files in os.walk(root):
        # read-only binds of the interpreter (a checkout under /tmp) hold nothing a job wrote
        dirs[:] = [x for x in dirs if not os.path.ismount(os.path.join(d, x))]
        if d not in (mine, root_dir) and d.startswith(root_dir + '/'):
            try:
                open(os.path.join(d, 'intruder'), 'w').write('x')
                found.append('wrote into ' + d)
            except OSError:
                pass
        for f in files:
            try:
                if {secret!r} in open(os.path.join(d, f), errors='replace').read():
                    found.append(os.path.join(d, f))
            except OSError:
                pass
assert not found, found
assert os.listdir('.') == [], os.listdir('.')
"""


def test_a_job_cannot_read_what_an_earlier_job_left(pool):
    if pool.mode == "none":
        pytest.skip("private per-worker /tmp needs bubblewrap or unshare")
    with SandboxPool(workers=1, isolation=pool.mode) as one:
        secret = secrets.token_hex(16)
        r = one.run(Job(code=_LEAVE_BEHIND.format(secret=secret, sleep=0)))
        assert r.passed, r.result
        r = one.run(Job(code=_LOOK_FOR.format(secret=secret, sleep=0)))
        assert r.passed, (r.result, r.output)


def test_a_job_cannot_reach_a_concurrent_jobs_directory(pool):
    if pool.mode == "none":
        pytest.skip("separate per-worker file systems need bubblewrap or unshare")
    secret = secrets.token_hex(16)
    jobs = [
        Job(code=_LEAVE_BEHIND.format(secret=secret, sleep=1.2), timeout=8),
        Job(code=_LOOK_FOR.format(secret=secret, sleep=0.4), timeout=8),
    ]
    a, b = pool.map(jobs)
    assert a.passed, a.result
    assert b.passed, (b.result, b.output)


def test_a_job_cannot_signal_or_trace_its_worker(pool):
    if pool.mode == "none":
        pytest.skip("the worker is protected by being the PID namespace's init")
    pids = sorted(w.proc.pid for w in pool._all)
    respawns = pool.respawns
    code = (
        "import ctypes, os, signal, time\n"
        "parent = os.getppid()\n"
        "for sig in (signal.SIGSTOP, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,\n"
        "            signal.SIGQUIT, signal.SIGUSR1, signal.SIGSEGV, signal.SIGPIPE,\n"
        "            signal.SIGALRM, signal.SIGKILL):\n"
        "    for pid in {parent, 1}:\n"
        "        try:\n            os.kill(pid, sig)\n        except OSError:\n            pass\n"
        "time.sleep(0.3)\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.ptrace(16, parent, None, None) == -1, 'attached to the worker'\n"
        "try:\n"
        "    open(f'/proc/{parent}/mem', 'rb').read(1)\n"
        "    raise SystemExit('read the worker memory')\n"
        "except OSError:\n    pass\n"
    )
    r = pool.run(Job(code=code, timeout=5))
    assert r.passed, (r.result, r.output)
    _ok(pool)
    _ok(pool)
    assert pool.respawns == respawns
    assert sorted(w.proc.pid for w in pool._all) == pids


def test_rewriting_the_harness_module_does_not_help(pool):
    """The worker's own globals are reachable (sys.modules['__main__']); the running harness
    does not consult them after the program."""
    code = (
        "import builtins, sys\n"
        "main = sys.modules['__main__']\n"
        "for name in dir(main):\n"
        "    obj = getattr(main, name)\n"
        "    if callable(obj) and hasattr(obj, '__code__'):\n"
        "        try:\n"
        "            obj.__code__ = (lambda *a, **k: None).__code__\n"
        "            obj.__defaults__ = None\n"
        "        except (TypeError, ValueError, AttributeError):\n"
        "            pass\n"
        "main._SNAPSHOT = ()\nmain._PROTECTED = ()\n"
        "builtins.abs = lambda x: 0\n"
        "assert abs((2 + 1) - 4) < 1e-9\n"
    )
    r = pool.run(Job(code=code, timeout=5))
    assert (r.passed, r.result) == (False, "failed: the program changed builtins.abs"), r.result
    _ok(pool)
