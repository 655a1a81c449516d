"""Go jobs' warm build cache: made once per machine and Go install, bound read-only into every
sandbox (at ``GOCACHE_IN_SANDBOX``), so a job compiles and links only its own file."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from repoloom.evaluate.sandbox.isolation import SAFE_PATH

log = logging.getLogger("repoloom.evaluate.sandbox")  # the pool's logger name, as before the split

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
    env = {"PATH": SAFE_PATH, "LANG": "C.UTF-8", "HOME": str(src), "TMPDIR": str(src)}
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
