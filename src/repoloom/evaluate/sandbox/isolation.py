"""How a sandbox worker is isolated: the (uid, gid) it drops to, what of the host it sees
(``SYSTEM_DIRS``, the interpreter's prefixes, binds), its environment, the bubblewrap /
unshare command lines that start it, and which mode this machine supports (probed once)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

# The pool's logger name: what an operator filters on did not change when this file was split off.
log = logging.getLogger("repoloom.evaluate.sandbox")

ISOLATIONS = ("auto", "bwrap", "unshare", "none")
#: Size of each worker's private /tmp (jobs' working directories live there).
TMPFS_BYTES = 512 << 20
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_warned: set[str] = set()
_probe_cache: dict[tuple[str, int | None], bool] = {}


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
            env={"PATH": SAFE_PATH, "LANG": "C.UTF-8"},
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
    env = {"PATH": SAFE_PATH, "LANG": "C.UTF-8", "HOME": "/tmp"}
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
