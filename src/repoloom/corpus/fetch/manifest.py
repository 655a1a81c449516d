"""Fetch manifests: what a pinned corpus is (sources, entries, pins) and what a fetch produced.

A manifest (YAML) lists artefacts, each pinned to an exact version and the sha256 of the file
that is downloaded; the sources and their download tools are described in
:mod:`repoloom.corpus.fetch` and have one module each (``pypi``, ``npm``, ``debian``, ``jdk``,
``local``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from repoloom.errors import UserError

SOURCES = ("pypi", "npm", "deb", "jdk", "local")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
LOCK_NAME = "manifest.lock.json"
STATE_DIR = ".fetch"  # hidden: downloads in progress, cached .debs and per-output state
LOCK_VERSION = 1
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
        # Every field in declaration order, less `skipped` (never in the lock file) and an empty
        # `extra`.
        record = {k: v for k, v in asdict(self).items() if k != "skipped"}
        if not record["extra"]:
            del record["extra"]
        return record


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
