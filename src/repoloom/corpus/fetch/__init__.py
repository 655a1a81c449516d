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

Layout: ``manifest`` (entries, pins, results), ``common`` (hashing, tools, statistics), one module
per source (``pypi``, ``npm``, ``debian``, ``jdk``, ``local``), ``fetcher`` (records, pruning,
the parallel fetch and the lock file) and ``cli`` (``repoloom corpus fetch``). A new source is a
module with its download (and unpacking) function, a name in ``SOURCES`` and a line in
``Downloader`` or ``_Fetcher.fetch``.
"""

from repoloom.corpus.fetch.common import (
    Workspace,
    archive_stats,
    check_sha,
    only_new_file,
    run_tool,
    safe_rmtree,
    sha256_file,
    tree_stats,
)
from repoloom.corpus.fetch.debian import (
    DEB_SOURCE_BASES,
    Apt,
    extract_deb,
    find_deb_source_root,
)
from repoloom.corpus.fetch.fetcher import (
    Downloader,
    fetch_manifest,
    repository_paths,
    write_lock,
)
from repoloom.corpus.fetch.jdk import DEFAULT_JDK_SRC_ZIPS, split_src_zip
from repoloom.corpus.fetch.manifest import (
    ARCHIVE_SUFFIXES,
    LOCK_NAME,
    LOCK_VERSION,
    SOURCES,
    STATE_DIR,
    Artefact,
    FetchedEntry,
    FetchError,
    FetchResult,
    Manifest,
    ShaMismatchError,
    builtin_manifests,
    load_manifest,
    parse_manifest,
    resolve_manifest,
)

__all__ = [
    "ARCHIVE_SUFFIXES",
    "DEB_SOURCE_BASES",
    "DEFAULT_JDK_SRC_ZIPS",
    "LOCK_NAME",
    "LOCK_VERSION",
    "SOURCES",
    "STATE_DIR",
    "Apt",
    "Artefact",
    "Downloader",
    "FetchError",
    "FetchResult",
    "FetchedEntry",
    "Manifest",
    "ShaMismatchError",
    "Workspace",
    "archive_stats",
    "builtin_manifests",
    "check_sha",
    "extract_deb",
    "fetch_manifest",
    "find_deb_source_root",
    "load_manifest",
    "only_new_file",
    "parse_manifest",
    "repository_paths",
    "resolve_manifest",
    "run_tool",
    "safe_rmtree",
    "sha256_file",
    "split_src_zip",
    "tree_stats",
    "write_lock",
]
