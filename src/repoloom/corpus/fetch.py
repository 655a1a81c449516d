"""Fetch a pinned corpus of real repositories from package registries.

A manifest (YAML) lists artefacts, each pinned to an exact version and the sha256 of the file
that is downloaded:

- ``pypi``: a source distribution, ``pip download --no-binary NAME --no-deps NAME==VER``;
- ``npm``: a package tarball, ``npm pack NAME@VER``;
- ``deb``: a Debian package that carries source (``golang-*-dev``, ``librust-*-dev``, ``php-*``,
  header-only C/C++ libraries), ``apt-get download NAME=VER``; its files are unpacked with
  ``dpkg-deb -x`` and the source tree root (``usr/share/gocode/src/<import path>``,
  ``usr/share/cargo/registry/<crate>``, ``usr/share/php/<package>``, ``usr/include/...``) becomes
  one repository directory;
- ``jdk``: the JDK's ``src.zip`` (a local copy when its sha256 matches the pin, otherwise the
  Debian package that ships it), split into one repository directory per JDK module;
- ``local``: a file already on disk (an archive or a ``.deb``), for one's own artefacts and tests.

Archives (``.tar.gz``, ``.tgz``, ``.zip``) stay archives in the output directory, which the corpus
builder reads directly; ``.deb`` and ``src.zip`` contents become directories. Fetching is
idempotent: an output whose recorded sha256 still matches its pin is skipped, so an interrupted
fetch resumes where it stopped. ``DIR/manifest.lock.json`` records what was fetched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from repoloom.cli import UserError

log = logging.getLogger(__name__)

SOURCES = ("pypi", "npm", "deb", "jdk", "local")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
LOCK_NAME = "manifest.lock.json"
STATE_DIR = ".fetch"  # hidden: downloads in progress, cached .debs and per-output state
LOCK_VERSION = 1
# Where a Debian package keeps the source tree, tried in this order.
DEB_SOURCE_BASES = (
    "usr/share/gocode/src",
    "usr/share/cargo/registry",
    "usr/share/php",
    "usr/include",
    "usr/share/java",
    "usr/src",
    "usr/lib/python3/dist-packages",
    "usr/share/javascript",
    "usr/share/nodejs",
)
DEFAULT_JDK_SRC_ZIPS = (
    "/usr/lib/jvm/java-17-openjdk-amd64/lib/src.zip",
    "/usr/lib/jvm/openjdk-17/lib/src.zip",
)
# Never descend into these when looking for a package's root: they are inside a repository.
_SOURCE_DIR_NAMES = frozenset({"src", "lib", "source", "sources", "test", "tests"})
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]*$")
_PACKAGE_RE = re.compile(r"^(@[A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._+-]*$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+~:_-]*$")
_ENTRY_KEYS = {
    "source",
    "package",
    "version",
    "sha256",
    "name",
    "path",
    "subdir",
    "modules",
    "deb_sha256",
    "language",
    "note",
}


class FetchError(UserError):
    """A fetch that cannot succeed as asked (bad manifest, pin mismatch, registry failure)."""


class ShaMismatchError(FetchError):
    """The downloaded artefact's sha256 differs from the pin in the manifest."""


@dataclass(frozen=True)
class Artefact:
    """One pinned manifest entry."""

    source: str
    package: str
    version: str
    sha256: str | None
    name: str | None  # output name; None for a registry archive: the registry's file name
    key: str  # unique identifier of the entry, used for its state record
    path: str | None = None  # local file (required for ``local``, optional for deb/jdk)
    subdir: str | None = None  # deb: directory inside the package that is the repository root
    modules: tuple[str, ...] | None = None  # jdk: modules to keep (None: all)
    deb_sha256: str | None = None  # jdk: sha256 of the Debian package that carries src.zip
    language: str | None = None  # informational

    @property
    def is_archive(self) -> bool:
        """True when the output stays an archive file rather than a directory."""
        if self.source in ("pypi", "npm"):
            return True
        if self.source == "local":
            return not str(self.path).endswith(".deb")
        return False

    def label(self) -> str:
        return f"{self.source}:{self.package}=={self.version}"


@dataclass
class Manifest:
    name: str
    description: str
    artefacts: list[Artefact]
    path: Path | None = None


@dataclass
class FetchedEntry:
    """What one artefact produced, as written to the lock file."""

    name: str
    source: str
    package: str
    version: str
    sha256: str
    artefact_bytes: int
    outputs: list[str]  # paths relative to the output directory
    kind: str  # "archive" or "directory"
    n_files: int
    n_bytes: int  # uncompressed bytes of regular files
    skipped: bool = False
    extensions: dict[str, list[int]] = field(default_factory=dict)  # ext -> [files, bytes]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "package": self.package,
            "version": self.version,
            "sha256": self.sha256,
            "artefact_bytes": self.artefact_bytes,
            "outputs": self.outputs,
            "kind": self.kind,
            "n_files": self.n_files,
            "n_bytes": self.n_bytes,
            "extensions": self.extensions,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass
class FetchResult:
    out_dir: Path
    entries: list[FetchedEntry]
    lock_path: Path

    @property
    def n_fetched(self) -> int:
        return sum(not e.skipped for e in self.entries)

    @property
    def n_skipped(self) -> int:
        return sum(e.skipped for e in self.entries)


# ----------------------------------------------------------------------------- manifest


def builtin_manifests() -> list[str]:
    """Names of the manifests shipped with repoloom."""
    folder = resources.files("repoloom.corpus") / "manifests"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve_manifest(name_or_path: str) -> tuple[str, Path | None]:
    """Return the YAML text of a built-in manifest name or a path, and the path when a file."""
    candidate = Path(name_or_path).expanduser()
    if candidate.is_file():
        return candidate.read_text(encoding="utf-8"), candidate
    if "/" not in name_or_path and not name_or_path.endswith((".yaml", ".yml")):
        res = resources.files("repoloom.corpus") / "manifests" / f"{name_or_path}.yaml"
        if res.is_file():
            return res.read_text(encoding="utf-8"), None
    raise FetchError(
        f"manifest {name_or_path!r} is neither a file nor a built-in manifest "
        f"(built-in: {', '.join(builtin_manifests())})"
    )


def load_manifest(name_or_path: str) -> Manifest:
    """Load and validate a manifest; every problem is a FetchError naming the entry and key."""
    text, path = resolve_manifest(name_or_path)
    return parse_manifest(text, path=path, origin=name_or_path)


def parse_manifest(text: str, *, path: Path | None = None, origin: str = "<manifest>") -> Manifest:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FetchError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise FetchError(f"{origin}: a manifest is a mapping with an 'artefacts' list")
    unknown = set(data) - {"name", "description", "artefacts"}
    if unknown:
        raise FetchError(f"{origin}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    raw = data.get("artefacts")
    if not isinstance(raw, list) or not raw:
        raise FetchError(f"{origin}: 'artefacts' must be a non-empty list")
    artefacts = [_parse_entry(item, i, origin, path) for i, item in enumerate(raw)]
    seen: dict[str, str] = {}
    for a in artefacts:
        for out in [f"key:{a.key}", *_planned_outputs(a)]:
            if out in seen:
                raise FetchError(
                    f"{origin}: {a.label()} and {seen[out]} both produce output {out!r}; "
                    "give one of them a different 'name'"
                )
            seen[out] = a.label()
    name = data.get("name") or (path.stem if path else origin)
    return Manifest(str(name), str(data.get("description") or ""), artefacts, path)


def _parse_entry(item: Any, index: int, origin: str, manifest_path: Path | None) -> Artefact:
    where = f"{origin}: artefacts[{index}]"
    if not isinstance(item, dict):
        raise FetchError(f"{where}: each entry is a mapping")
    unknown = set(item) - _ENTRY_KEYS
    if unknown:
        raise FetchError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}")
    source = item.get("source")
    if source not in SOURCES:
        raise FetchError(f"{where}: 'source' must be one of {', '.join(SOURCES)} (got {source!r})")
    if source == "local" and not item.get("path"):
        raise FetchError(f"{where}: a 'local' entry needs 'path'")
    if isinstance(item.get("version"), int | float):
        raise FetchError(
            f"{where}: 'version' {item['version']!r} was read as a number; quote it "
            "(YAML turns 1.10 into 1.1)"
        )
    package = str(item.get("package") or "")
    version = str(item.get("version") or "")
    if source == "local" and not package:
        package = Path(str(item.get("path", ""))).name
    if source == "local" and not version:
        version = "local"
    if not package or not _PACKAGE_RE.match(package):
        raise FetchError(f"{where}: 'package' is missing or not a package name ({package!r})")
    where = f"{origin}: {source}:{package}"
    if not version or not _VERSION_RE.match(version):
        raise FetchError(f"{where}: 'version' must pin an exact version (got {version!r})")
    for key in ("sha256", "deb_sha256"):
        value = item.get(key)
        if value is not None and not _SHA_RE.match(str(value)):
            raise FetchError(f"{where}: '{key}' must be 64 lowercase hex digits (got {value!r})")
    local_path = item.get("path")
    if source == "local" and not local_path:
        raise FetchError(f"{where}: a 'local' entry needs 'path'")
    if local_path is not None:
        p = Path(str(local_path)).expanduser()
        if not p.is_absolute() and manifest_path is not None:
            p = manifest_path.parent / p
        local_path = str(p)
    if source == "local" and not str(local_path).endswith((*ARCHIVE_SUFFIXES, ".deb")):
        raise FetchError(f"{where}: 'path' must be a .tar.gz, .tgz, .zip or .deb file")
    modules = item.get("modules")
    if modules is not None:
        if source != "jdk":
            raise FetchError(f"{where}: 'modules' applies to 'jdk' entries only")
        if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
            raise FetchError(f"{where}: 'modules' must be a list of JDK module names")
        modules = tuple(modules)
    subdir = item.get("subdir")
    if subdir is not None:
        sub = PurePosixPath(str(subdir))
        if sub.is_absolute() or ".." in sub.parts:
            raise FetchError(f"{where}: 'subdir' must be a relative path inside the package")
    key = _default_name(source, package, version, local_path)
    name = item.get("name")
    if name is None and source not in ("pypi", "npm"):
        name = key
    if name is not None and not _NAME_RE.match(str(name)):
        raise FetchError(f"{where}: 'name' {name!r} is not a valid file name")
    if name is not None and source in ("pypi", "npm") and not str(name).endswith(ARCHIVE_SUFFIXES):
        raise FetchError(f"{where}: 'name' of an archive must end in .tar.gz, .tgz or .zip")
    return Artefact(
        source=source,
        package=package,
        version=version,
        sha256=item.get("sha256"),
        name=None if name is None else str(name),
        key=f"{source}-{key}",
        path=local_path,
        subdir=str(subdir) if subdir is not None else None,
        modules=modules,
        deb_sha256=item.get("deb_sha256"),
        language=item.get("language"),
    )


def _default_name(source: str, package: str, version: str, local_path: str | None) -> str:
    if source == "local" and local_path:
        local = Path(local_path)
        return local.stem if local.suffix == ".deb" else local.name
    safe_version = re.sub(r"[^A-Za-z0-9._-]", "_", version.split(":")[-1])
    safe_package = package.lstrip("@").replace("/", "-")
    if source == "jdk":
        upstream = version.split(":")[-1].split("+")[0].split("-")[0]
        return "jdk-" + re.sub(r"[^A-Za-z0-9._-]", "_", upstream)
    return f"{safe_package}-{safe_version}"


def _planned_outputs(a: Artefact) -> list[str]:
    if a.name is None:
        return []
    if a.source == "jdk":
        return [f"{a.name}-{m}" for m in (a.modules or ("*",))]
    return [a.name]


# ----------------------------------------------------------------------------- helpers


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _run(cmd: list[str], cwd: Path, what: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which(cmd[0])
    if exe is None:
        raise FetchError(f"{what}: the command {cmd[0]!r} is not installed")
    log.debug("run %s (cwd %s)", " ".join(cmd), cwd)
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        raise FetchError(f"{what}: `{' '.join(cmd)}` failed:\n  " + "\n  ".join(tail))
    return proc


def _only_new_file(folder: Path, what: str, suffixes: Iterable[str]) -> Path:
    files = [p for p in folder.iterdir() if p.is_file() and p.name.endswith(tuple(suffixes))]
    if len(files) != 1:
        names = ", ".join(p.name for p in folder.iterdir()) or "nothing"
        raise FetchError(f"{what}: expected one downloaded file, found {names}")
    return files[0]


def _check_sha(path: Path, expected: str | None, what: str, allow_unpinned: bool) -> str:
    actual = sha256_file(path)
    if expected is None:
        if not allow_unpinned:
            raise FetchError(
                f"{what}: no sha256 pin in the manifest (downloaded sha256 is {actual}); "
                "add it, or pass --allow-unpinned to record it in the lock file only"
            )
        log.warning("%s is not pinned; its sha256 is %s", what, actual)
        return actual
    if actual != expected:
        raise ShaMismatchError(
            f"{what}: sha256 mismatch: the manifest pins {expected} but {path.name} has "
            f"{actual}. The artefact changed upstream or the pin is wrong; nothing was kept."
        )
    return actual


def _archive_stats(path: Path) -> tuple[int, int, dict[str, list[int]]]:
    files = 0
    size = 0
    exts: dict[str, list[int]] = {}

    def add(name: str, n: int) -> None:
        nonlocal files, size
        files += 1
        size += n
        slot = exts.setdefault(_ext(name), [0, 0])
        slot[0] += 1
        slot[1] += n

    try:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if not info.is_dir():
                        add(info.filename, info.file_size)
        else:
            with tarfile.open(path, "r:*") as tf:
                for member in tf:
                    if member.isfile():
                        add(member.name, member.size)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FetchError(f"{path.name}: not a readable archive ({exc})") from exc
    return files, size, exts


def _tree_stats(root: Path) -> tuple[int, int, dict[str, list[int]]]:
    files = 0
    size = 0
    exts: dict[str, list[int]] = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = Path(dirpath, n)
            if p.is_symlink() or not p.is_file():
                continue
            s = p.stat().st_size
            files += 1
            size += s
            slot = exts.setdefault(_ext(n), [0, 0])
            slot[0] += 1
            slot[1] += s
    return files, size, exts


def _ext(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base.lstrip(".") else ""


def _safe_rmtree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


# ----------------------------------------------------------------------------- downloaders


class Downloader:
    """Runs the registry clients; one instance per fetch (apt-get update at most once)."""

    def __init__(self) -> None:
        self._apt_lock = threading.Lock()
        self._apt_updated = False

    def pypi(self, a: Artefact, dest: Path) -> Path:
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                a.package,
                "--disable-pip-version-check",
                "-q",
                "-d",
                str(dest),
                f"{a.package}=={a.version}",
            ],
            dest,
            a.label(),
        )
        return _only_new_file(dest, a.label(), (".tar.gz", ".zip", ".tar.bz2"))

    def npm(self, a: Artefact, dest: Path) -> Path:
        _run(
            [
                "npm",
                "pack",
                "--silent",
                "--pack-destination",
                str(dest),
                f"{a.package}@{a.version}",
            ],
            dest,
            a.label(),
        )
        return _only_new_file(dest, a.label(), (".tgz",))

    def deb(self, package: str, version: str, dest: Path) -> Path:
        what = f"deb:{package}={version}"
        if shutil.which("apt-get") is None:
            raise FetchError(f"{what}: apt-get is not installed (Debian/Ubuntu only)")
        cmd = ["apt-get", "download", "-q", f"{package}={version}"]
        proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True)
        if proc.returncode != 0:
            # Missing or old package lists are the usual cause: update once, then try again.
            with self._apt_lock:
                self._apt_update(what)
            proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True)
        if proc.returncode != 0:
            have = self._apt_versions(package)
            raise FetchError(
                f"{what}: `{' '.join(cmd)}` failed ({proc.stderr.strip()[-200:]}); available "
                f"versions: {', '.join(have) or 'none'}. Debian replaces versions on updates: "
                "pin an available version and its sha256."
            )
        return _only_new_file(dest, what, (".deb",))

    @staticmethod
    def _apt_versions(package: str) -> list[str]:
        if shutil.which("apt-cache") is None:
            raise FetchError(f"deb:{package}: apt-cache is not installed (Debian/Ubuntu only)")
        proc = subprocess.run(
            ["apt-cache", "madison", package], capture_output=True, text=True, check=False
        )
        versions = []
        for line in proc.stdout.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) >= 2 and parts[0] == package:
                versions.append(parts[1])
        return versions

    def _apt_update(self, what: str) -> None:
        if self._apt_updated:
            return
        self._apt_updated = True
        log.info("running apt-get update (package lists are missing or old)")
        proc = subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise FetchError(
                f"{what}: not in the package lists and `apt-get update` failed "
                f"(run it as root): {proc.stderr.strip()[-300:]}"
            )


# ----------------------------------------------------------------------------- extraction


def find_deb_source_root(tree: Path, subdir: str | None = None) -> Path:
    """The directory of an unpacked .deb that is the repository's source root.

    With ``subdir`` that directory. Otherwise the first of DEB_SOURCE_BASES that exists, descended
    while it holds exactly one entry and that entry is a directory not named like a source folder
    (``usr/share/gocode/src`` -> ``github.com/spf13/cobra``). Falls back to the whole tree without ``usr/share/doc``.
    """
    if subdir:
        root = tree / subdir
        if not root.is_dir():
            raise FetchError(f"'subdir' {subdir!r} is not a directory of the package")
        return root
    for base in DEB_SOURCE_BASES:
        root = tree / base
        if not root.is_dir():
            continue
        while True:
            children = [c for c in root.iterdir()]
            if (
                len(children) == 1
                and children[0].is_dir()
                and not children[0].is_symlink()
                and children[0].name not in _SOURCE_DIR_NAMES
            ):
                root = children[0]
            else:
                break
        if any(root.iterdir()):
            return root
    doc = tree / "usr" / "share" / "doc"
    if doc.is_dir():
        shutil.rmtree(doc)
    return tree


def _drop_escaping_symlinks(root: Path) -> int:
    """Remove symlinks that are absolute or point outside ``root``; return how many."""
    dropped = 0
    real_root = root.resolve()
    for dirpath, dirs, names in os.walk(root):
        for n in [*dirs, *names]:
            p = Path(dirpath, n)
            if not p.is_symlink():
                continue
            target = os.readlink(p)
            resolved = (p.parent / target).resolve()
            inside = not os.path.isabs(target) and (
                resolved == real_root or real_root in resolved.parents
            )
            if not inside or not resolved.exists():
                p.unlink()
                dropped += 1
    return dropped


def extract_deb(deb: Path, dest: Path, subdir: str | None = None) -> dict[str, int]:
    """Unpack a .deb's files and move its source root to ``dest`` (which must not exist)."""
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".deb-") as tmp:
        tree = Path(tmp, "tree")
        tree.mkdir()
        _run(["dpkg-deb", "-x", str(deb), str(tree)], tree, f"unpack {deb.name}")
        root = find_deb_source_root(tree, subdir)
        dropped = _drop_escaping_symlinks(root)
        if not any(root.iterdir()):
            raise FetchError(f"{deb.name}: the package has no source files")
        os.replace(root, dest)
    return {"symlinks_dropped": dropped}


def split_src_zip(
    src_zip: Path, out_dir: Path, prefix: str, modules: Iterable[str] | None = None
) -> list[str]:
    """Extract a JDK src.zip into one directory per module, ``out_dir/<prefix>-<module>``.

    Entries whose path is absolute or contains ``..`` are rejected. Returns the output names.
    """
    wanted = set(modules) if modules is not None else None
    by_module: dict[str, list[zipfile.ZipInfo]] = {}
    try:
        zf = zipfile.ZipFile(src_zip)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FetchError(f"{src_zip}: not a readable zip ({exc})") from exc
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            pure = PurePosixPath(info.filename)
            if pure.is_absolute() or ".." in pure.parts or len(pure.parts) < 2:
                raise FetchError(f"{src_zip.name}: unsafe or unexpected entry {info.filename!r}")
            module = pure.parts[0]
            if wanted is None or module in wanted:
                by_module.setdefault(module, []).append(info)
        if wanted is not None:
            missing = sorted(wanted - set(by_module))
            if missing:
                raise FetchError(f"{src_zip.name}: no module(s) {', '.join(missing)}")
        names = []
        for module in sorted(by_module):
            name = f"{prefix}-{module}"
            final = out_dir / name
            tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{name}-"))
            try:
                for info in by_module[module]:
                    rel = PurePosixPath(*PurePosixPath(info.filename).parts[1:])
                    target = tmp.joinpath(*rel.parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                _safe_rmtree(final)
                os.replace(tmp, final)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp)
            names.append(name)
    return names


# ----------------------------------------------------------------------------- fetch


class _Fetcher:
    def __init__(self, out_dir: Path, downloader: Downloader, allow_unpinned: bool) -> None:
        self.out = out_dir
        self.state = out_dir / STATE_DIR
        self.cache = self.state / "cache"
        self.records = self.state / "state"
        self.tmp = self.state / "tmp"
        for d in (self.cache, self.records, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self.dl = downloader
        self.allow_unpinned = allow_unpinned

    # -- per-entry state records (what an earlier run produced, and its verified sha256)
    def _record_path(self, a: Artefact) -> Path:
        return self.records / f"{a.key}.json"

    def _load_record(self, a: Artefact) -> dict[str, Any] | None:
        try:
            rec = json.loads(self._record_path(a).read_text())
        except (OSError, ValueError):
            return None
        same = (
            rec.get("source") == a.source
            and rec.get("package") == a.package
            and rec.get("version") == a.version
            and (a.sha256 is None or rec.get("sha256") == a.sha256)
            and (a.name is None or rec.get("name") == a.name)
            and rec.get("modules") == (list(a.modules) if a.modules else None)
            and rec.get("subdir") == a.subdir
            and bool(rec.get("outputs"))
        )
        if not same:
            return None
        outputs = [self.out / o for o in rec["outputs"]]
        if rec.get("kind") == "archive":
            # Archives are re-hashed: cheap, and it catches a truncated or replaced file.
            if not outputs[0].is_file() or sha256_file(outputs[0]) != rec.get("sha256"):
                return None
        elif not all(o.is_dir() for o in outputs):
            return None
        return rec

    def _save_record(self, a: Artefact, entry: FetchedEntry) -> None:
        rec = entry.to_json()
        rec["modules"] = list(a.modules) if a.modules else None
        rec["subdir"] = a.subdir
        tmp = self._record_path(a).with_suffix(".json.tmp")
        tmp.write_text(json.dumps(rec, indent=1, sort_keys=True))
        os.replace(tmp, self._record_path(a))

    def prune(self, keep: Iterable[Artefact]) -> list[str]:
        """Remove outputs of entries fetched earlier that the manifest no longer lists.

        Only what an earlier fetch recorded is removed, so ``--repos-dir DIR`` sees exactly the
        manifest's repositories; files that the user put into DIR are left alone.
        """
        keys = {a.key for a in keep}
        recorded: dict[str, list[str]] = {}
        for rec_path in sorted(self.records.glob("*.json")):
            try:
                recorded[rec_path.stem] = list(json.loads(rec_path.read_text())["outputs"])
            except (OSError, ValueError, KeyError, TypeError):
                recorded[rec_path.stem] = []
        protected = {o for k, outs in recorded.items() if k in keys for o in outs}
        removed = []
        for key, outputs in recorded.items():
            if key in keys:
                continue
            rec_path = self.records / f"{key}.json"
            for o in outputs:
                target = self.out / o
                if not o or o in protected or "/" in o or o.startswith("."):
                    continue
                if target.exists() or target.is_symlink():
                    _safe_rmtree(target)
                    removed.append(o)
            rec_path.unlink()
        return removed

    def fetch(self, a: Artefact) -> FetchedEntry:
        rec = self._load_record(a)
        if rec is not None:
            return _entry_from_record(rec, skipped=True)
        if a.is_archive:
            entry = self._fetch_archive(a)
        elif a.source == "jdk":
            entry = self._fetch_jdk(a)
        else:
            entry = self._fetch_deb(a)
        self._save_record(a, entry)
        return entry

    def _download(self, a: Artefact, dest: Path) -> Path:
        if a.source == "pypi":
            return self.dl.pypi(a, dest)
        if a.source == "npm":
            return self.dl.npm(a, dest)
        if a.source == "local":
            src = Path(str(a.path))
            if not src.is_file():
                raise FetchError(f"{a.label()}: local file {src} does not exist")
            target = dest / src.name
            shutil.copyfile(src, target)
            return target
        raise AssertionError(a.source)

    def _fetch_archive(self, a: Artefact) -> FetchedEntry:
        with tempfile.TemporaryDirectory(dir=self.tmp, prefix="dl-") as tmp:
            got = self._download(a, Path(tmp))
            sha = _check_sha(got, a.sha256, a.label(), self.allow_unpinned)
            _archive_stats(got)  # refuse a corrupt archive before it lands
            final = self.out / (a.name or got.name)
            os.replace(got, final)
        return self._archive_entry(a, final, sha, skipped=False)

    def _archive_entry(self, a: Artefact, path: Path, sha: str, skipped: bool) -> FetchedEntry:
        n_files, n_bytes, exts = _archive_stats(path)
        return FetchedEntry(
            name=path.name,
            source=a.source,
            package=a.package,
            version=a.version,
            sha256=sha,
            artefact_bytes=path.stat().st_size,
            outputs=[path.name],
            kind="archive",
            n_files=n_files,
            n_bytes=n_bytes,
            skipped=skipped,
            extensions=exts,
        )

    def _cached_deb(self, package: str, version: str, sha: str | None, what: str) -> Path:
        """A verified .deb in the cache: reuse it when it matches the pin, else download."""
        safe = re.sub(r"[^A-Za-z0-9._+-]", "_", f"{package}_{version}.deb")
        cached = self.cache / safe
        if cached.is_file() and sha is not None and sha256_file(cached) == sha:
            return cached
        with tempfile.TemporaryDirectory(dir=self.tmp, prefix="deb-") as tmp:
            got = self.dl.deb(package, version, Path(tmp))
            _check_sha(got, sha, what, self.allow_unpinned)
            os.replace(got, cached)
        return cached

    def _fetch_deb(self, a: Artefact) -> FetchedEntry:
        if a.source == "local":
            deb = Path(str(a.path))
            if not deb.is_file():
                raise FetchError(f"{a.label()}: local file {deb} does not exist")
            sha = _check_sha(deb, a.sha256, a.label(), self.allow_unpinned)
        else:
            deb = self._cached_deb(a.package, a.version, a.sha256, a.label())
            sha = sha256_file(deb)
        final = self.out / a.name
        _safe_rmtree(final)
        extra = extract_deb(deb, final, a.subdir)
        n_files, n_bytes, exts = _tree_stats(final)
        return FetchedEntry(
            name=a.name,
            source=a.source,
            package=a.package,
            version=a.version,
            sha256=sha,
            artefact_bytes=deb.stat().st_size,
            outputs=[a.name],
            kind="directory",
            n_files=n_files,
            n_bytes=n_bytes,
            extensions=exts,
            extra=extra,
        )

    def _fetch_jdk(self, a: Artefact) -> FetchedEntry:
        src_zip: Path | None = None
        cached_zip = self.cache / f"{a.name}-src.zip"
        candidates = [a.path] if a.path else list(DEFAULT_JDK_SRC_ZIPS)
        if a.sha256 is not None:
            candidates.append(str(cached_zip))  # verified by an earlier fetch
        for cand in candidates:
            p = Path(str(cand))
            if p.is_file() and (a.sha256 is None or sha256_file(p) == a.sha256):
                src_zip = p
                break
            if p.is_file():
                log.info("%s does not match the pinned sha256; using the Debian package", p)
        extra: dict[str, Any] = {}
        if src_zip is None:
            if a.path and not Path(a.path).is_file() and a.deb_sha256 is None:
                raise FetchError(f"{a.label()}: {a.path} does not exist")
            deb = self._cached_deb(a.package, a.version, a.deb_sha256, a.label())
            extra["deb_sha256"] = sha256_file(deb)
            with tempfile.TemporaryDirectory(dir=self.tmp, prefix="jdk-") as tmp:
                _run(["dpkg-deb", "-x", str(deb), tmp], Path(tmp), f"unpack {deb.name}")
                found = sorted(Path(tmp).rglob("src.zip"))
                if not found:
                    raise FetchError(f"{a.label()}: the package carries no src.zip")
                src_zip = cached_zip
                shutil.move(str(found[0]), src_zip)
            deb.unlink()  # the src.zip is what is kept; the .deb can be downloaded again
        extra["src_zip"] = str(src_zip)
        sha = _check_sha(src_zip, a.sha256, f"{a.label()} src.zip", self.allow_unpinned)
        names = split_src_zip(src_zip, self.out, a.name, a.modules)
        files = size = 0
        exts: dict[str, list[int]] = {}
        for n in names:
            f, s, e = _tree_stats(self.out / n)
            files += f
            size += s
            for k, (c, b) in e.items():
                slot = exts.setdefault(k, [0, 0])
                slot[0] += c
                slot[1] += b
        return FetchedEntry(
            name=a.name,
            source=a.source,
            package=a.package,
            version=a.version,
            sha256=sha,
            artefact_bytes=src_zip.stat().st_size,
            outputs=names,
            kind="directory",
            n_files=files,
            n_bytes=size,
            extensions=exts,
            extra=extra,
        )


def _entry_from_record(rec: dict[str, Any], skipped: bool) -> FetchedEntry:
    return FetchedEntry(
        name=rec["name"],
        source=rec["source"],
        package=rec["package"],
        version=rec["version"],
        sha256=rec["sha256"],
        artefact_bytes=rec["artefact_bytes"],
        outputs=list(rec["outputs"]),
        kind=rec["kind"],
        n_files=rec["n_files"],
        n_bytes=rec["n_bytes"],
        skipped=skipped,
        extensions={k: list(v) for k, v in rec.get("extensions", {}).items()},
        extra=rec.get("extra", {}),
    )


def fetch_manifest(
    manifest: Manifest,
    out_dir: Path,
    *,
    jobs: int = 6,
    allow_unpinned: bool = False,
    progress: bool = True,
    downloader: Downloader | None = None,
    on_done: Callable[[FetchedEntry], None] | None = None,
) -> FetchResult:
    """Fetch every artefact of ``manifest`` into ``out_dir`` and write the lock file.

    Artefacts already present and matching their pins are skipped. The first failure stops the
    fetch after the downloads in flight finish; what completed stays and is reused next time.
    """
    out_dir = Path(out_dir).expanduser().resolve()  # the download tools run in other cwds
    out_dir.mkdir(parents=True, exist_ok=True)
    fetcher = _Fetcher(out_dir, downloader or Downloader(), allow_unpinned)
    for name in fetcher.prune(manifest.artefacts):
        log.info("removed %s: no longer in manifest %s", name, manifest.name)
    results: dict[int, FetchedEntry] = {}
    errors: list[tuple[Artefact, BaseException]] = []

    from repoloom.progress import progress_bar

    with progress_bar("fetch[/] {task.description}", enabled=progress) as bar:
        task = bar.add_task(manifest.name, total=len(manifest.artefacts))
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(fetcher.fetch, a): i for i, a in enumerate(manifest.artefacts)}
            for fut in as_completed(futures):
                i = futures[fut]
                a = manifest.artefacts[i]
                try:
                    entry = fut.result()
                except Exception as exc:  # collected and re-raised below
                    errors.append((a, exc))
                    for other in futures:
                        other.cancel()
                    continue
                results[i] = entry
                if on_done is not None:
                    on_done(entry)
                verb = "kept" if entry.skipped else "fetched"
                bar.update(task, advance=1, description=f"{verb} {entry.name}")
    shutil.rmtree(fetcher.tmp, ignore_errors=True)
    entries = [results[i] for i in sorted(results)]
    lock_path = write_lock(out_dir, manifest, entries, complete=not errors)
    if errors:
        a, exc = errors[0]
        more = f" ({len(errors) - 1} more failure(s))" if len(errors) > 1 else ""
        if isinstance(exc, FetchError):
            if not more:
                raise exc
            raise type(exc)(f"{exc}{more}") from exc
        raise FetchError(f"{a.label()}: {type(exc).__name__}: {exc}{more}") from exc
    return FetchResult(out_dir, entries, lock_path)


def write_lock(
    out_dir: Path, manifest: Manifest, entries: list[FetchedEntry], *, complete: bool
) -> Path:
    totals_ext: dict[str, list[int]] = {}
    for e in entries:
        for k, (c, b) in e.extensions.items():
            slot = totals_ext.setdefault(k, [0, 0])
            slot[0] += c
            slot[1] += b
    lock = {
        "lock_version": LOCK_VERSION,
        "manifest": manifest.name,
        "manifest_path": str(manifest.path) if manifest.path else None,
        "complete": complete,
        "n_artefacts": len(manifest.artefacts),
        "n_repositories": sum(len(e.outputs) for e in entries),
        "artefact_bytes": sum(e.artefact_bytes for e in entries),
        "source_files": sum(e.n_files for e in entries),
        "source_bytes": sum(e.n_bytes for e in entries),
        "by_extension": dict(sorted(totals_ext.items(), key=lambda kv: (-kv[1][1], kv[0]))),
        "entries": [e.to_json() for e in entries],
    }
    path = out_dir / LOCK_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(lock, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def repository_paths(out_dir: Path, lock: dict[str, Any] | None = None) -> list[Path]:
    """The repositories (archives and directories) a completed fetch left in ``out_dir``."""
    if lock is None:
        lock = json.loads((out_dir / LOCK_NAME).read_text())
    return [out_dir / o for e in lock["entries"] for o in e["outputs"]]
