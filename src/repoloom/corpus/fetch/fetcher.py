"""Fetch a manifest: run each entry's source, keep per-entry records so that a re-run skips what
is already there and verified, prune what the manifest dropped, and write the lock file."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from repoloom.corpus.fetch.common import (
    Workspace,
    add_extensions,
    archive_stats,
    check_sha,
    fetched_entry,
    safe_rmtree,
    sha256_file,
)
from repoloom.corpus.fetch.debian import Apt, fetch_deb
from repoloom.corpus.fetch.jdk import fetch_jdk
from repoloom.corpus.fetch.local import copy_local
from repoloom.corpus.fetch.manifest import (
    LOCK_NAME,
    LOCK_VERSION,
    Artefact,
    FetchedEntry,
    FetchError,
    FetchResult,
    Manifest,
)
from repoloom.corpus.fetch.npm import download_tarball
from repoloom.corpus.fetch.pypi import download_sdist
from repoloom.io import write_json_atomic, write_text_atomic
from repoloom.progress import progress_bar

log = logging.getLogger("repoloom.corpus.fetch")


class Downloader:
    """Runs the registry clients; one instance per fetch (apt-get update at most once). Tests
    pass a stand-in with the same methods."""

    def __init__(self) -> None:
        self._apt = Apt()

    def pypi(self, a: Artefact, dest: Path) -> Path:
        return download_sdist(a, dest)

    def npm(self, a: Artefact, dest: Path) -> Path:
        return download_tarball(a, dest)

    def deb(self, package: str, version: str, dest: Path) -> Path:
        return self._apt.download(package, version, dest)

    def archive(self, a: Artefact, dest: Path) -> Path:
        """An archive entry's file (pypi, npm or a local archive) in the folder ``dest``."""
        if a.source == "pypi":
            return self.pypi(a, dest)
        if a.source == "npm":
            return self.npm(a, dest)
        if a.source == "local":
            return copy_local(a, dest)
        raise AssertionError(a.source)


class _Fetcher:
    """Fetches entries into a workspace, skipping those an earlier run's record still vouches for."""

    def __init__(self, ws: Workspace, downloader: Downloader) -> None:
        ws.create()
        self.ws = ws
        self.out = ws.out
        self.records = ws.records
        self.dl = downloader

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
        write_json_atomic(self._record_path(a), rec)

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
                    safe_rmtree(target)
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
            entry = fetch_jdk(self.ws, self.dl.deb, a)
        else:
            entry = fetch_deb(self.ws, self.dl.deb, a)
        self._save_record(a, entry)
        return entry

    def _fetch_archive(self, a: Artefact) -> FetchedEntry:
        with tempfile.TemporaryDirectory(dir=self.ws.tmp, prefix="dl-") as tmp:
            got = self.dl.archive(a, Path(tmp))
            sha = check_sha(got, a.sha256, a.label(), self.ws.allow_unpinned)
            archive_stats(got)  # refuse a corrupt archive before it lands
            final = self.out / (a.name or got.name)
            os.replace(got, final)
        return self._archive_entry(a, final, sha, skipped=False)

    def _archive_entry(self, a: Artefact, path: Path, sha: str, skipped: bool) -> FetchedEntry:
        return fetched_entry(
            a, name=path.name, sha=sha, artefact=path, outputs=[path.name], kind="archive",
            stats=archive_stats(path), skipped=skipped,
        )  # fmt: skip


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
    fetcher = _Fetcher(Workspace(out_dir, allow_unpinned), downloader or Downloader())
    for name in fetcher.prune(manifest.artefacts):
        log.info("removed %s: no longer in manifest %s", name, manifest.name)
    results: dict[int, FetchedEntry] = {}
    errors: list[tuple[Artefact, BaseException]] = []
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
    shutil.rmtree(fetcher.ws.tmp, ignore_errors=True)
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
        add_extensions(totals_ext, e.extensions)
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
    write_text_atomic(path, json.dumps(lock, indent=1) + "\n")
    return path


def repository_paths(out_dir: Path, lock: dict[str, Any] | None = None) -> list[Path]:
    """The repositories (archives and directories) a completed fetch left in ``out_dir``."""
    if lock is None:
        lock = json.loads((out_dir / LOCK_NAME).read_text())
    return [out_dir / o for e in lock["entries"] for o in e["outputs"]]
