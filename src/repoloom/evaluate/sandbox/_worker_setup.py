"""The sandbox worker, part 3: its own setup inside the isolation (unshare mode's private root
and pivot_root; dropping to the jobs' uid)."""

# Part of the sandbox worker's source: ``repoloom.evaluate.sandbox.pool`` joins _worker.py,
# _worker_checked.py and _worker_setup.py into one program and runs it with ``python -I -c``
# inside the isolation (standard library only, never imported as a module). Names defined in
# the other parts are used freely, hence no F821 checks here.
# ruff: noqa: F821

import json
import os

_MS = {
    "ro": 1, "nosuid": 2, "nodev": 4, "noexec": 8, "noatime": 1024, "nodiratime": 2048,
    "relatime": 1 << 21, "strictatime": 1 << 24,
}  # fmt: skip
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
MNT_DETACH = 2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41}


def _private_mounts():
    """unshare mode: build the sandbox's root the way bubblewrap does. In our own mount
    namespace a fresh tmpfs becomes ``/``; into it go the system directories and the binds
    (read-only), ``/proc``, a few ``/dev`` nodes and private size-limited tmpfs on ``/tmp``,
    ``/var/tmp`` and ``/dev/shm``; then pivot_root drops the host's tree. Returns the
    operations that failed; raises SystemExit when no private root could be made."""
    spec = os.environ.get("REPOLOOM_PRIVATE_MOUNTS")
    if not spec:
        return []
    import ctypes

    cfg = json.loads(spec)
    libc = ctypes.CDLL(None, use_errno=True)
    errors = []

    def mount(src, target, fstype, flags, data=None):
        rc = libc.mount(
            None if src is None else src.encode(),
            target.encode(),
            None if fstype is None else fstype.encode(),
            ctypes.c_ulong(flags),
            None if data is None else data.encode(),
        )
        if rc != 0:
            errors.append(f"{target}: {os.strerror(ctypes.get_errno())}")
        return rc == 0

    def fatal(what):
        raise SystemExit(f"cannot build the sandbox root ({what}): {'; '.join(errors)}")

    if not mount(None, "/", None, MS_REC | MS_PRIVATE):
        fatal("make / private")
    # Open the sources first: some (an interpreter under /tmp) are about to be covered.
    sources = []
    for src, dst in cfg["binds"]:
        try:
            sources.append((os.open(src, os.O_PATH), dst))
        except OSError as e:
            errors.append(f"{src}: {e.strerror}")
    root = "/tmp"  # the new root: a tmpfs over /tmp, seen in this namespace only
    if not mount("tmpfs", root, "tmpfs", _MS["nosuid"] | _MS["nodev"], "mode=755,size=4m"):
        fatal("tmpfs root")

    def bind(src, dst, is_file=False):
        target = root + dst
        try:
            if is_file:
                os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
                open(target, "a").close()
            else:
                os.makedirs(target, mode=0o755, exist_ok=True)
        except OSError as e:
            errors.append(f"{dst}: {e.strerror}")
            return False
        return mount(src, target, None, MS_BIND | MS_REC)

    for path, kind, target in cfg["system"]:
        if kind == "symlink":
            os.symlink(target, root + path)
        else:
            bind(path, path)
    if not bind("/proc", "/proc"):  # the PID namespace's own (unshare --mount-proc)
        fatal("/proc")
    os.makedirs(root + "/dev", mode=0o755)
    mount("tmpfs", root + "/dev", "tmpfs", _MS["nosuid"] | _MS["noexec"], "mode=755,size=64k")
    for name in ("null", "zero", "full", "random", "urandom", "tty"):
        if os.path.exists("/dev/" + name):
            bind("/dev/" + name, "/dev/" + name, is_file=True)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, f"{root}/dev/{name}")
    private = []  # emptied after every job (see _wipe_scratch)
    for d, size in (
        ("/tmp", cfg.get("tmp_size", 512 << 20)),
        ("/var/tmp", 16 << 20),
        ("/dev/shm", cfg.get("shm_size", 64 << 20)),
    ):
        os.makedirs(root + d, mode=0o755, exist_ok=True)
        if mount(
            "tmpfs", root + d, "tmpfs", _MS["nosuid"] | _MS["nodev"], f"mode=1777,size={size}"
        ):
            private.append(d)
    if "/tmp" not in private:
        fatal("private /tmp")
    os.environ["REPOLOOM_PRIVATE_TMP"] = ":".join(private)
    for fd, dst in sources:
        bind(f"/proc/self/fd/{fd}", dst)
        os.close(fd)
    # Everything bound in is read-only (bind mounts keep their flags until remounted; a
    # recursive bind's submounts are remounted one by one).
    with open("/proc/self/mountinfo") as fh:
        mounts = [line.split() for line in fh]
    skip = {root} | {root + d for d in private}
    for fields in mounts:
        target = fields[4].replace("\\040", " ")
        if not target.startswith(root + "/") or target in skip:
            continue
        if target.startswith((root + "/proc", root + "/dev")):
            continue
        flags = MS_REMOUNT | MS_BIND | _MS["ro"]
        for opt in fields[5].split(","):
            flags |= _MS.get(opt, 0)
        mount(None, target, None, flags)
    os.chdir(root)
    number = _SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is not None and libc.syscall(number, b".", b".") == 0:
        # The old root is now stacked on the new one: detach it.
        if libc.umount2(b".", MNT_DETACH) != 0:
            fatal("detach the old root")
    else:
        if not mount(root, "/", None, MS_MOVE):
            fatal("move the new root")
        os.chroot(".")
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | _MS["ro"] | _MS["nosuid"] | _MS["nodev"])
    return errors


def _drop_privileges():
    spec = os.environ.get("REPOLOOM_DROP_TO")
    if not spec:
        return
    uid, gid = (int(x) for x in spec.split(":"))
    os.chown(WORKROOT, uid, gid)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() == 0 or os.geteuid() == 0:
        raise SystemExit("refusing to run jobs as root")
