"""Run model-written programs in a real sandbox, fast (see ``pool`` for the design).

``pool``: :class:`Job`, :class:`Limits`, :class:`JobResult` and :class:`SandboxPool` (warm
sandboxed interpreters); ``isolation``: bubblewrap / unshare / none, what a sandbox sees of the
host, the probe; ``gocache``: Go jobs' read-only warm build cache; ``_worker*.py``: the program
that runs inside the isolation (standard library only, joined into one source by ``pool``).
"""

from repoloom.evaluate.sandbox.gocache import (
    _GO_WARM_PACKAGES,
    _go_cache_root,
    _go_in,
    warm_go_cache,
)
from repoloom.evaluate.sandbox.isolation import (
    _SCRATCH_DIRS,
    GOCACHE_IN_SANDBOX,
    ISOLATIONS,
    SAFE_PATH,
    SHM_BYTES,
    SYSTEM_DIRS,
    TMPFS_BYTES,
    _bwrap_prefix,
    _probe,
    _probe_cache,
    _python_dirs,
    _unprivileged_ids,
    _unshare_prefix,
    _warned,
    _worker_env,
    describe_isolation,
    resolve_isolation,
    sandbox_binds,
    warn_isolation,
)
from repoloom.evaluate.sandbox.pool import _WORKER_SOURCE, Job, JobResult, Limits, SandboxPool

__all__ = [
    "GOCACHE_IN_SANDBOX",
    "ISOLATIONS",
    "SAFE_PATH",
    "SHM_BYTES",
    "SYSTEM_DIRS",
    "TMPFS_BYTES",
    "Job",
    "JobResult",
    "Limits",
    "SandboxPool",
    "_GO_WARM_PACKAGES",
    "_SCRATCH_DIRS",
    "_WORKER_SOURCE",
    "_bwrap_prefix",
    "_go_cache_root",
    "_go_in",
    "_probe",
    "_probe_cache",
    "_python_dirs",
    "_unprivileged_ids",
    "_unshare_prefix",
    "_warned",
    "_worker_env",
    "describe_isolation",
    "resolve_isolation",
    "sandbox_binds",
    "warm_go_cache",
    "warn_isolation",
]
